/*
 * zip.c -- a ZIP archive written as a stream (report.h), for the RO-Crate
 * as one file: `mida export rocrate OUT.zip`, and an HTTP download.
 *
 * Each entry is a local header with the "sizes follow" flag (bit 3), the
 * raw deflate stream of its content (zlib, level 6), and a data descriptor
 * with its CRC-32 and sizes; the central directory and its end record
 * close the archive. Nothing is sought back, so the archive can go to a
 * pipe or a socket, and only one entry's zlib state is held. Names are
 * UTF-8 (bit 11). ZIP64 is not written: an entry or archive past 4 GiB
 * is MIDA_ETOOBIG, with a message to export a directory instead.
 *
 * Why zlib rather than stored entries: a crate is JSON, which deflate
 * shrinks about tenfold, and zlib is on every machine that builds mida.
 */
#include "report/report_int.h"

#include "core/alloc.h"
#include "mida.h"

#include <string.h>
#include <time.h>
#include <zlib.h>

#define ZIP_MAX_ENTRIES 16
#define ZIP_NAME_MAX 256
#define ZIP_LIMIT 0xFFFFFFFFull

typedef struct zip_entry {
  char name[ZIP_NAME_MAX]; /* path in the archive */
  uint32_t crc;            /* CRC-32 of the content */
  uint64_t csize, usize;   /* compressed and plain sizes, bytes */
  uint64_t offset;         /* where its local header starts */
} zip_entry;

struct mida__zip {
  mida__report_io *under;               /* where the archive goes */
  mida__report_io *io;                  /* the io handed to the report */
  z_stream zs;                          /* the open entry's deflate state */
  int in_entry;                         /* 1 between begin and end */
  zip_entry entries[ZIP_MAX_ENTRIES];   /* written so far */
  int n;                                /* entries used */
  uint64_t pos;                         /* bytes written to under */
  uint16_t dos_time, dos_date;          /* the entries' time */
  unsigned char out[64 * 1024];         /* deflate output */
};

static int emit(mida__zip *z, const void *data, size_t len) {
  if (z->pos + len > ZIP_LIMIT)
    return mida__report_fail(z->io, MIDA_ETOOBIG,
                             "the crate is over 4 GiB, more than a ZIP "
                             "without ZIP64 holds: export a directory");
  int rc = z->under->write(z->under->ctx, data, len);
  if (rc == MIDA_OK)
    z->pos += len;
  return rc;
}

static void put16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* Deflates len bytes (flush Z_FINISH at the end) and writes the output. */
static int deflate_some(mida__zip *z, const char *data, size_t len,
                        int flush) {
  zip_entry *e = &z->entries[z->n - 1];
  z->zs.next_in = (Bytef *)data;
  z->zs.avail_in = (uInt)len;
  int zr;
  do {
    z->zs.next_out = z->out;
    z->zs.avail_out = sizeof z->out;
    zr = deflate(&z->zs, flush);
    if (zr == Z_STREAM_ERROR)
      return mida__report_fail(z->io, MIDA_EIO, "deflate failed");
    size_t got = sizeof z->out - z->zs.avail_out;
    e->csize += got;
    int rc = got > 0 ? emit(z, z->out, got) : MIDA_OK;
    if (rc != MIDA_OK)
      return rc;
  } while (z->zs.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
  return MIDA_OK;
}

static int zip_write(void *ctx, const char *data, size_t len) {
  mida__zip *z = ctx;
  if (!z->in_entry)
    return MIDA_EINVAL;
  zip_entry *e = &z->entries[z->n - 1];
  /* Large writes are cut so that avail_in (an unsigned int) holds them. */
  while (len > 0) {
    size_t part = len > (1u << 30) ? (1u << 30) : len;
    e->crc = (uint32_t)crc32(e->crc, (const Bytef *)data, (uInt)part);
    e->usize += part;
    if (e->usize > ZIP_LIMIT)
      return mida__report_fail(z->io, MIDA_ETOOBIG,
                               "%s is over 4 GiB: export a directory",
                               e->name);
    int rc = deflate_some(z, data, part, Z_NO_FLUSH);
    if (rc != MIDA_OK)
      return rc;
    data += part;
    len -= part;
  }
  return MIDA_OK;
}

static int zip_begin(void *ctx, const char *name) {
  mida__zip *z = ctx;
  size_t nlen = strlen(name);
  if (z->in_entry || z->n == ZIP_MAX_ENTRIES || nlen >= ZIP_NAME_MAX)
    return MIDA_EINVAL;
  if (deflateInit2(&z->zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return MIDA_ENOMEM;
  zip_entry *e = &z->entries[z->n++];
  memset(e, 0, sizeof *e);
  memcpy(e->name, name, nlen + 1);
  e->offset = z->pos;
  z->in_entry = 1;
  unsigned char h[30];
  put32(h, 0x04034b50);
  put16(h + 4, 20);             /* version needed: 2.0 (deflate) */
  put16(h + 6, 0x0008 | 0x0800); /* sizes follow; UTF-8 name */
  put16(h + 8, 8);              /* deflate */
  put16(h + 10, z->dos_time);
  put16(h + 12, z->dos_date);
  put32(h + 14, 0); /* crc, sizes: in the data descriptor */
  put32(h + 18, 0);
  put32(h + 22, 0);
  put16(h + 26, (unsigned)nlen);
  put16(h + 28, 0);
  int rc = emit(z, h, sizeof h);
  if (rc == MIDA_OK)
    rc = emit(z, name, nlen);
  return rc;
}

static int zip_end(void *ctx) {
  mida__zip *z = ctx;
  if (!z->in_entry)
    return MIDA_EINVAL;
  int rc = deflate_some(z, "", 0, Z_FINISH);
  deflateEnd(&z->zs);
  z->in_entry = 0;
  if (rc != MIDA_OK)
    return rc;
  zip_entry *e = &z->entries[z->n - 1];
  unsigned char d[16];
  put32(d, 0x08074b50);
  put32(d + 4, e->crc);
  put32(d + 8, e->csize);
  put32(d + 12, e->usize);
  return emit(z, d, sizeof d);
}

int mida__zip_new(mida__report_io *under, mida__zip **out,
                  mida__report_io *io) {
  mida__zip *z = mida__calloc(1, sizeof *z);
  *out = z;
  if (z == NULL)
    return MIDA_ENOMEM;
  z->under = under;
  z->io = io;
  time_t now = time(NULL);
  struct tm tm;
  if (localtime_r(&now, &tm) != NULL && tm.tm_year >= 80) {
    z->dos_time = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) |
                             (tm.tm_sec / 2));
    z->dos_date = (uint16_t)(((tm.tm_year - 80) << 9) |
                             ((tm.tm_mon + 1) << 5) | tm.tm_mday);
  }
  memset(io, 0, sizeof *io);
  io->write = zip_write;
  io->begin_file = zip_begin;
  io->end_file = zip_end;
  io->ctx = z;
  io->progress = under->progress;
  io->progress_ctx = under->progress_ctx;
  return MIDA_OK;
}

int mida__zip_finish(mida__zip *z) {
  if (z->in_entry)
    return MIDA_EINVAL;
  uint64_t start = z->pos;
  int rc = MIDA_OK;
  for (int i = 0; i < z->n && rc == MIDA_OK; i++) {
    const zip_entry *e = &z->entries[i];
    size_t nlen = strlen(e->name);
    unsigned char c[46];
    put32(c, 0x02014b50);
    put16(c + 4, (3 << 8) | 20); /* made by: Unix, 2.0 */
    put16(c + 6, 20);
    put16(c + 8, 0x0008 | 0x0800);
    put16(c + 10, 8);
    put16(c + 12, z->dos_time);
    put16(c + 14, z->dos_date);
    put32(c + 16, e->crc);
    put32(c + 20, e->csize);
    put32(c + 24, e->usize);
    put16(c + 28, (unsigned)nlen);
    put16(c + 30, 0); /* extra */
    put16(c + 32, 0); /* comment */
    put16(c + 34, 0); /* disk */
    put16(c + 36, 0); /* internal attributes */
    put32(c + 38, (uint64_t)0100644 << 16); /* a regular file, rw-r--r-- */
    put32(c + 42, e->offset);
    rc = emit(z, c, sizeof c);
    if (rc == MIDA_OK)
      rc = emit(z, e->name, nlen);
  }
  if (rc != MIDA_OK)
    return rc;
  unsigned char end[22];
  put32(end, 0x06054b50);
  put16(end + 4, 0);
  put16(end + 6, 0);
  put16(end + 8, (unsigned)z->n);
  put16(end + 10, (unsigned)z->n);
  put32(end + 12, z->pos - start);
  put32(end + 16, start);
  put16(end + 20, 0);
  return emit(z, end, sizeof end);
}

void mida__zip_free(mida__zip *z) {
  if (z == NULL)
    return;
  if (z->in_entry)
    deflateEnd(&z->zs);
  mida__free(z);
}
