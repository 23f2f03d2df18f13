/*
 * journal_fuzz.c -- libFuzzer target for the reader of orphan journal
 * segments, the code that parses files left in the spool directory by
 * crashed (or hostile) processes.
 *
 * The first input byte picks how the rest becomes a segment file:
 *   0: the bytes are the whole file (header validation);
 *   1: a valid header with head and tail from the input, the rest copied
 *      into the ring (frame validation and the resync scan);
 *   2: a valid header and a run of frames built from the input, each one
 *      well formed or damaged as its flags say, starting anywhere in the
 *      ring and on any lap (wrap-around, PAD frames, torn and stale frames).
 * Each file is then opened with mida__orphan_open() and read to the end
 * with peek and release. Nothing may crash, hang or read out of bounds.
 *
 * Build and run by hand (from the repository root):
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Iinclude -Isrc -I. src/core/alloc.c src/core/crc32c.c \
 *     src/capture/journal.c src/capture/spool_dir.c src/capture/spool_pool.c \
 *     fuzz/journal_fuzz.c -o /tmp/journal_fuzz
 *   /tmp/journal_fuzz -max_total_time=60 -max_len=70000
 */
#include "capture/journal.h"

#include "core/crc32c.h"
#include "core/record.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RING MIDA_JOURNAL_MIN_RING
#define FILE_BYTES (MIDA_JOURNAL_HEADER_BYTES + RING)
#define MAX_FRAMES 8

/* Flags of a built frame (mode 2). */
#define F_BAD_CRC 1u
#define F_NO_COMMIT 2u
#define F_OTHER_LAP 4u
#define F_PAD 8u

static uint8_t file_image[FILE_BYTES];
static char seg_path[256];

/* A cursor over the fuzzer's input. */
typedef struct input {
  const uint8_t *p; /* next byte */
  size_t left;      /* bytes left */
} input;

static uint64_t take(input *in, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && in->left > 0; i++, in->left--)
    v |= (uint64_t)*in->p++ << (8 * i);
  return v;
}

static void put64(uint8_t *p, uint64_t v) {
  memcpy(p, &v, 8);
}

static void write_header(uint64_t head, uint64_t tail) {
  memset(file_image, 0, MIDA_JOURNAL_HEADER_BYTES);
  memcpy(file_image, "MIDAJRN1", 8);
  uint32_t version = MIDA_JOURNAL_VERSION;
  uint32_t header_bytes = MIDA_JOURNAL_HEADER_BYTES;
  memcpy(file_image + 8, &version, 4);
  memcpy(file_image + 12, &header_bytes, 4);
  put64(file_image + 16, RING);
  put64(file_image + 32, 1234);
  memcpy(file_image + 48, "fuzzhost", 8);
  put64(file_image + 128, tail);
  put64(file_image + 136, head);
}

/* Writes a frame at logical position pos; returns the position after it. */
static uint64_t build_frame(input *in, uint64_t pos) {
  uint8_t *ring = file_image + MIDA_JOURNAL_HEADER_BYTES;
  uint32_t len = (uint32_t)(take(in, 2) % 2048);
  uint16_t type = (uint16_t)take(in, 1);
  unsigned flags = (unsigned)take(in, 1);
  uint64_t room = RING - pos % RING;
  if (room < MIDA_FRAME_HEADER_BYTES)
    return pos + room;
  if ((flags & F_PAD) != 0 || MIDA_FRAME_HEADER_BYTES + len > room) {
    type = MIDA_REC_PAD;
    len = (uint32_t)(room - MIDA_FRAME_HEADER_BYTES);
  } else if (type == MIDA_REC_PAD) {
    type = MIDA_REC_TASK;
  }
  uint8_t *f = ring + pos % RING;
  memset(f, 0, MIDA_FRAME_HEADER_BYTES);
  memcpy(f + 8, &len, 4);
  memcpy(f + 12, &type, 2);
  f[14] = MIDA_RECORD_VERSION;
  uint32_t crc = mida__crc32c(0, f + 8, 8);
  uint64_t size = room;
  if (type != MIDA_REC_PAD) {
    for (uint32_t i = 0; i < len; i++)
      f[MIDA_FRAME_HEADER_BYTES + i] = (uint8_t)take(in, 1);
    crc = mida__crc32c(crc, f + MIDA_FRAME_HEADER_BYTES, len);
    size = MIDA_FRAME_HEADER_BYTES + ((len + 7u) & ~7u);
  }
  if ((flags & F_BAD_CRC) != 0)
    crc ^= 1;
  memcpy(f + 16, &crc, 4);
  uint64_t commit = pos ^ MIDA_FRAME_MAGIC;
  if ((flags & F_OTHER_LAP) != 0)
    commit = (pos + RING) ^ MIDA_FRAME_MAGIC;
  if ((flags & F_NO_COMMIT) == 0)
    put64(f, commit);
  return pos + size;
}

static size_t build_file(const uint8_t *data, size_t size) {
  input in = {data + 1, size - 1};
  switch (data[0] % 3) {
  case 0: {
    size_t n = in.left < FILE_BYTES ? in.left : FILE_BYTES;
    memcpy(file_image, in.p, n);
    return n;
  }
  case 1: {
    uint64_t head = take(&in, 8);
    uint64_t tail = take(&in, 8);
    write_header(head, tail);
    memset(file_image + MIDA_JOURNAL_HEADER_BYTES, 0, RING);
    size_t n = in.left < RING ? in.left : RING;
    memcpy(file_image + MIDA_JOURNAL_HEADER_BYTES, in.p, n);
    return FILE_BYTES;
  }
  default: {
    memset(file_image + MIDA_JOURNAL_HEADER_BYTES, 0, RING);
    uint64_t lap = take(&in, 1) % 4;
    uint64_t head = lap * RING + (take(&in, 2) % (RING / 8)) * 8;
    uint64_t pos = head;
    while (in.left >= 4 && pos - head < RING - 4096)
      pos = build_frame(&in, pos);
    uint64_t tail = pos;
    if (take(&in, 1) == 0xff)
      tail = take(&in, 8); /* a damaged tail word */
    write_header(head, tail);
    return FILE_BYTES;
  }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  if (seg_path[0] == '\0') {
    char dir[] = "/tmp/mida-journal-fuzz-XXXXXX";
    if (mkdtemp(dir) == NULL)
      abort();
    snprintf(seg_path, sizeof seg_path, "%s/fuzz.0.mj", dir);
  }
  size_t bytes = build_file(data, size);
  int fd = open(seg_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    abort();
  if (write(fd, file_image, bytes) != (ssize_t)bytes)
    abort();
  close(fd);

  mida__orphan *o = NULL;
  if (mida__orphan_open(seg_path, &o, NULL, 0) == MIDA_OK) {
    mida__frame frames[MAX_FRAMES];
    uint32_t sum = 0;
    /* Every peek that returns frames moves the head, so this ends. */
    for (;;) {
      uint64_t mark;
      size_t n = mida__orphan_peek(o, frames, MAX_FRAMES, &mark);
      if (n == 0)
        break;
      for (size_t i = 0; i < n; i++)
        sum = mida__crc32c(sum, frames[i].payload, frames[i].len);
      mida__orphan_release(o, mark);
    }
    (void)mida__orphan_host(o);
    (void)mida__orphan_corrupt(o);
    (void)mida__orphan_dropped(o);
    (void)sum;
    mida__orphan_close(o, false);
  }
  unlink(seg_path);
  return 0;
}
