/*
 * tfrecord.h -- TFRecord framing, the container of TensorBoard event files.
 *
 * An event file (name contains "tfevents") is a sequence of records:
 *
 *   record := length:u64le  length_crc:u32le  data[length]  data_crc:u32le
 *
 * where length_crc is the masked CRC-32C of the 8 length bytes and data_crc
 * the masked CRC-32C of the data; masked(c) = ((c >> 15) | (c << 17)) +
 * 0xa282ead8 (mod 2^32). Each data is one serialized tensorflow.Event
 * (decoded by tbproto.h). Writers append whole records, so a file that ends
 * inside a record is still being written: the reader waits and resumes at
 * the record's start. The framer works on bytes in memory and never
 * allocates; the TensorBoard observer (tensorboard.c) feeds it the bytes of
 * a file from the offset it has read up to.
 */
#ifndef MIDA_OBSERVE_TFRECORD_H
#define MIDA_OBSERVE_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

/* Bytes around the data of one record: length, length CRC, data CRC. */
#define MIDA_TFR_HEADER 12
#define MIDA_TFR_OVERHEAD 16

/* What mida__tfr_next() found at the start of the bytes. */
typedef enum mida__tfr_status {
  MIDA_TFR_RECORD = 0,    /* a whole record with good checksums */
  MIDA_TFR_PARTIAL = 1,   /* the bytes end inside a record: read more later */
  MIDA_TFR_BAD_DATA = 2,  /* the header is good but the data's CRC is not:
                             skip the record (consumed covers it) */
  MIDA_TFR_BAD_HEADER = 3 /* the length's CRC is wrong or the length is over
                             the cap: no record starts here; consumed is 1,
                             so the caller scans forward byte by byte */
} mida__tfr_status;

/* One step of the framer. */
typedef struct mida__tfr_frame {
  const uint8_t *data; /* RECORD: the record's data, inside the input */
  size_t data_len;     /* RECORD: its length in bytes */
  size_t consumed;     /* bytes to advance past (0 for PARTIAL) */
  size_t needed;       /* PARTIAL: bytes the whole record takes, when the
                          header is complete (else MIDA_TFR_HEADER) */
} mida__tfr_frame;

/* The masked CRC-32C of len bytes, as TFRecord stores it. */
uint32_t mida__tfr_masked_crc(const void *data, size_t len);

/* Looks at the record that starts at buf[0] (len bytes available). Records
 * longer than max_data bytes are treated as a bad header. Fills out and
 * returns a mida__tfr_status. Never reads outside buf[0..len). */
mida__tfr_status mida__tfr_next(const uint8_t *buf, size_t len, size_t max_data,
                                mida__tfr_frame *out);

/* Writes one record around data into out (cap bytes). Returns the bytes
 * written (len + MIDA_TFR_OVERHEAD), or 0 if cap is too small. For tests,
 * fuzzing and benchmarks. */
size_t mida__tfr_write(uint8_t *out, size_t cap, const void *data, size_t len);

#endif /* MIDA_OBSERVE_TFRECORD_H */
