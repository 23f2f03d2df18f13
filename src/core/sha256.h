/*
 * sha256.h -- SHA-256 (FIPS 180-4), for content digests of data
 * ("sha256:<64 hex digits>", the form data.digest takes).
 */
#ifndef MIDA_CORE_SHA256_H
#define MIDA_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct mida__sha256 {
  uint32_t h[8];       /* chaining state */
  uint64_t bytes;      /* message bytes so far */
  uint8_t block[64];   /* a partial block */
  size_t used;         /* bytes in block */
} mida__sha256;

void mida__sha256_init(mida__sha256 *c);
void mida__sha256_update(mida__sha256 *c, const void *data, size_t len);
/* Writes the 32-byte digest. */
void mida__sha256_final(mida__sha256 *c, uint8_t out[32]);

#endif /* MIDA_CORE_SHA256_H */
