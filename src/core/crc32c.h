/*
 * crc32c.h -- CRC-32C (Castagnoli), the checksum of journal frames and
 * broker messages.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (chosen once, at
 * first use) and a slicing-by-8 table otherwise; both give the same values.
 */
#ifndef MIDA_CORE_CRC32C_H
#define MIDA_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes of data. */
uint32_t mida__crc32c(uint32_t crc, const void *data, size_t len);

/* mida__crc32c(mida__crc32c(crc, word, 8), data, len) in one call: a
 * journal frame's eight header bytes, then its payload (not adjacent). */
uint32_t mida__crc32c_8_then(uint32_t crc, const void *word,
                             const void *data, size_t len);

/* The portable implementation, for tests that compare the two. */
uint32_t mida__crc32c_sw(uint32_t crc, const void *data, size_t len);

#endif /* MIDA_CORE_CRC32C_H */
