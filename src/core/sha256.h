/*
 * sha256.h -- SHA-256 (FIPS 180-4), for content digests of data items
 * ("sha256:<hex>", the form mida_data_info_t.digest documents), e.g. the
 * images and audio a TensorBoard log holds.
 */
#ifndef MIDA_CORE_SHA256_H
#define MIDA_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct mida__sha256 {
  uint32_t h[8];     /* the state */
  uint64_t bytes;    /* message bytes so far */
  uint8_t block[64]; /* a partial block */
  size_t used;       /* bytes in block */
} mida__sha256;

void mida__sha256_init(mida__sha256 *c);
void mida__sha256_add(mida__sha256 *c, const void *data, size_t len);
void mida__sha256_done(mida__sha256 *c, uint8_t out[32]);

/* "sha256:" and the 64 hex digits of data's digest into out (72 bytes,
 * its NUL included). */
#define MIDA_SHA256_TEXT 72
void mida__sha256_text(const void *data, size_t len,
                       char out[MIDA_SHA256_TEXT]);

#endif /* MIDA_CORE_SHA256_H */
