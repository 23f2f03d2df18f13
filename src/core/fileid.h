/*
 * fileid.h -- how a file is named in the store: its URI and its version.
 *
 * A file is data whose uri is "file://" followed by its absolute path,
 * percent-encoded where RFC 3986 wants it (every byte that is not a pchar
 * or '/'), and whose id is the version of the file that was seen:
 * "inode:<dev>:<inode>:<mtime_ns>:<size>" (src/sink/schema.h). Every
 * source that sees a file names it this way -- the `mida run` preload
 * library (src/preload) and the MLflow observer for a dataset read from a
 * local file -- so that one file version seen by two workflows is one data
 * row, and the lineage walk crosses from one workflow to the other.
 *
 * No allocation: the URI can be written in place (the preload library
 * encodes it straight into a journal frame).
 */
#ifndef MIDA_CORE_FILEID_H
#define MIDA_CORE_FILEID_H

#include <stddef.h>
#include <sys/stat.h>

/* The length of path's file URI, without the NUL. */
size_t mida__file_uri_len(const char *path);

/* The same, and strlen(path) into *path_len: one pass for both. */
size_t mida__file_uri_measure(const char *path, size_t *path_len);

/* Writes path's file URI into out: exactly mida__file_uri_len(path) bytes,
 * no NUL. */
void mida__file_uri_write(char *out, const char *path);

#if defined(__SSE2__)
#include <emmintrin.h>

/* The bytes of x that are among those most paths are made of -- '-', '.',
 * '/', digits, letters and '_', each of which stands for itself in a URI
 * -- as a bit mask, by two signed range comparisons and one equality.
 * Sixteen bytes at a time for the preload library's scan of every path it
 * opens (src/preload/files.c) and for mida__file_uri_measure. */
static inline unsigned mida__uri_plain_mask16(__m128i x) {
  /* Each range in one signed comparison: an add moves its top to 127, so
   * that what was above it wraps to the negatives (a byte from 0x80 lands
   * below the range too). Letters in one range, their case folded by
   * setting bit 5 ('A'-'Z' onto 'a'-'z'; nothing else lands there). */
  __m128i digits = _mm_cmpgt_epi8(_mm_add_epi8(x, _mm_set1_epi8(127 - '9')),
                                  _mm_set1_epi8(126 - ('9' - '-')));
  __m128i folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
  __m128i letters =
      _mm_cmpgt_epi8(_mm_add_epi8(folded, _mm_set1_epi8(127 - 'z')),
                     _mm_set1_epi8(126 - ('z' - 'a')));
  __m128i under = _mm_cmpeq_epi8(x, _mm_set1_epi8('_'));
  return (unsigned)_mm_movemask_epi8(
      _mm_or_si128(_mm_or_si128(digits, letters), under));
}
#endif

/* The same, given uri_len = mida__file_uri_len(path): a path with nothing
 * to encode (the common case) is copied as it is. */
void mida__file_uri_write_len(char *out, const char *path, size_t uri_len);

/* The same, given path_len = strlen(path) too (mida__file_uri_measure). */
void mida__file_uri_write_known(char *out, const char *path, size_t path_len,
                                size_t uri_len);

/* path's file URI into buf, NUL-terminated. Returns MIDA_OK, or
 * MIDA_ETOOBIG when it does not fit in cap bytes. */
int mida__file_uri(const char *path, char *buf, size_t cap);

/* The absolute path that a file reference names, into buf: "file:///p"
 * or "file://localhost/p" (percent-decoded), or an absolute path "/p" as
 * it is. Returns MIDA_OK; MIDA_EINVAL for anything else (a relative path,
 * another scheme or host, "%00" or a bad escape); MIDA_ETOOBIG when it
 * does not fit in cap bytes. */
int mida__file_uri_path(const char *ref, char *buf, size_t cap);

/* The id of the file version st describes ("inode:..." above) into buf,
 * NUL-terminated. Returns MIDA_OK or MIDA_ETOOBIG. */
int mida__file_version_id(const struct stat *st, char *buf, size_t cap);

/* Room for mida__file_version_id_write: "inode:" and four numbers of up
 * to 20 digits with their separators and the NUL (90 bytes; the writer
 * stores numbers eight bytes at a time, and never past those). */
#define MIDA_FILE_VERSION_ID_BYTES 96

/* The same into out (MIDA_FILE_VERSION_ID_BYTES bytes), which is always
 * big enough; returns its length, without the NUL. On the preload
 * library's close path: no check, no copy. */
size_t mida__file_version_id_write(char *out, const struct stat *st);

#endif /* MIDA_CORE_FILEID_H */
