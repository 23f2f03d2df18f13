/*
 * noise.c -- which paths a process opens are not recorded, but counted
 * (see preload.h, mida__pl_noise_scan): /proc, /sys, /dev, the loader's
 * files and shared libraries always; unless MIDA_PRELOAD_RECORD_CODE,
 * installed code (the system's headers and libraries, an interpreter's
 * packages and caches); and the prefixes of MIDA_PRELOAD_IGNORE (the
 * store and its spool, which `mida run` puts there).
 *
 * On every open a program makes, so one pass over the path, sixteen bytes
 * at a time where SSE2 is there; the same pass tells whether the path's
 * file URI is the path itself (no byte to escape), which the close then
 * need not measure. Plain C over a string: tested alone (noise_test.c).
 */
#include "preload/preload.h"

#include "core/fileid.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Never recorded: /proc, /sys and /dev and what is under them, the
 * loader's /etc/ld.so.cache and /etc/ld.so.preload, and shared libraries
 * (mida__pl_is_noise); unless MIDA_PRELOAD_RECORD_CODE, installed code
 * (is_system_code, is_code_component);
 * then the prefixes of MIDA_PRELOAD_IGNORE, which also match longer names
 * (the store "x.db" also covers "x.db-wal"). */
#define MAX_IGNORE 32
static char ignore_text[8192];        /* MIDA_PRELOAD_IGNORE, split */
static const char *ignore[MAX_IGNORE]; /* its prefixes */
static size_t ignore_len[MAX_IGNORE];
static int ignore_count;
static int record_code; /* MIDA_PRELOAD_RECORD_CODE: installed code is data */

void mida__pl_noise_init(const char *list, int code_is_data) {
  ignore_count = 0;
  record_code = code_is_data;
  if (list == NULL)
    return;
  /* Unescaped into ignore_text, each prefix ended by a NUL: a ':' ends
   * one, a '\\' makes the byte after it (a path's own ':' or '\\') a
   * byte of the prefix (`mida run` writes them so: cli/run_preload.c). */
  size_t n = 0;
  char *p = ignore_text;
  for (const char *c = list;; c++) {
    if (*c == '\\' && c[1] != '\0') {
      c++;
    } else if (*c == ':' || *c == '\0') {
      ignore_text[n] = '\0';
      if (p[0] == '/' && ignore_count < MAX_IGNORE) {
        ignore[ignore_count] = p;
        ignore_len[ignore_count++] = (size_t)(ignore_text + n - p);
      }
      if (*c == '\0' || n + 1 >= sizeof ignore_text)
        break;
      p = ignore_text + ++n;
      continue;
    }
    if (n + 1 >= sizeof ignore_text)
      break; /* cut: the prefix cut short is dropped, with what follows */
    ignore_text[n++] = *c;
  }
}

/* Whether abs, len bytes long, starts with the ignored prefix i. Its last
 * eight bytes are compared first, in one load each: the store and the
 * spool often share a directory with the files a command reads and
 * writes, and differ from them at their end (a strncmp() a prefix was
 * ~25 instructions of every open under `mida run`). */
static int ignored(const char *abs, size_t len, int i) {
  size_t n = ignore_len[i];
  if (len < n)
    return 0;
  if (n >= 8) {
    uint64_t a, b;
    memcpy(&a, abs + n - 8, 8);
    memcpy(&b, ignore[i] + n - 8, 8);
    if (a != b)
      return 0;
  }
  return memcmp(abs, ignore[i], n) == 0;
}

/* Whether the last component, base, names a shared library ("x.so",
 * "x.so.6"): the loader's business, not the program's data. */
static int is_shared_library(const char *base) {
  /* The first ".so", as strstr() would find it, by looking at each '.'
   * (strchr): most names have one or none, and strstr's setup costs more
   * than the name. */
  for (const char *q = strchr(base, '.'); q != NULL; q = strchr(q + 1, '.'))
    if (q[1] == 's' && q[2] == 'o')
      return q[3] == '\0' || q[3] == '.';
  return 0;
}

/* Whether a component that starts at q (after a '/') makes the path an
 * interpreter's installed code, which a program reads as it reads its
 * shared libraries: Python's compiled modules (in a __pycache__
 * directory), its standard library and installed packages (under
 * lib/pythonX.Y/, site-packages/ or dist-packages/). A virtual
 * environment's pyvenv.cfg is too (see mida__pl_is_noise); a script run
 * from anywhere else is data. MIDA_PRELOAD_RECORD_CODE (`mida run
 * --record-code`) records them too. */
static int is_code_component(const char *q) {
  /* The first two bytes before any strncmp(): a component like "d5" or
   * "src" is told apart from these at once. */
  switch (q[0]) {
  case '_':
    return q[1] == '_' && strncmp(q, "__pycache__/", 12) == 0;
  case 's':
    return q[1] == 'i' && strncmp(q, "site-packages/", 14) == 0;
  case 'd':
    return q[1] == 'i' && strncmp(q, "dist-packages/", 14) == 0;
  case 'l':
    return q[1] == 'i' && strncmp(q, "lib/python", 10) == 0 && q[10] >= '0' &&
           q[10] <= '9';
  default:
    return 0;
  }
}

/* Whether abs is under directory dir (of n bytes, no trailing '/'), or is
 * it. */
static int under(const char *abs, const char *dir, size_t n) {
  return strncmp(abs, dir, n) == 0 && (abs[n] == '/' || abs[n] == '\0');
}

/* Whether abs is the system's installed code: under a directory of
 * headers or libraries (/usr/include, /usr/lib, /lib, ...), which a
 * compiler reads a hundred of for each file it compiles (the system
 * headers, its own internals, the crt files and archives it links), as a
 * program loads its shared libraries: software, not the build's data.
 * Only asked of a path that starts "/u" or "/l". */
static int is_system_code(const char *abs) {
  static const struct {
    const char *dir;
    size_t len;
  } dirs[] = {
      {"/usr/include", 12},
      {"/usr/lib", 8},
      {"/usr/lib32", 10},
      {"/usr/lib64", 10},
      {"/usr/libexec", 12},
      {"/usr/local/include", 18},
      {"/usr/local/lib", 14},
      {"/lib", 4},
      {"/lib32", 6},
      {"/lib64", 6},
  };
  if (strncmp(abs, "/usr/", 5) != 0 && strncmp(abs, "/lib", 4) != 0)
    return 0;
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
    if (under(abs, dirs[i].dir, dirs[i].len))
      return 1;
  return 0;
}

int mida__pl_is_noise(const char *abs) {
  int uri_plain;
  return mida__pl_noise_scan(abs, strlen(abs), &uri_plain);
}

/* On every open a program makes, so one pass over the path: the default
 * prefixes are told apart by their second byte, and the components are
 * looked at as the scan for the last one meets them; the same pass tells
 * whether the path's URI is the path itself, which the close then need
 * not measure. */
int mida__pl_noise_scan(const char *abs, size_t len, int *uri_plain) {
  *uri_plain = 0;
  switch (abs[1]) {
  case 'p':
    if (under(abs, "/proc", 5))
      return 1;
    break;
  case 's':
    if (under(abs, "/sys", 4))
      return 1;
    break;
  case 'd':
    if (under(abs, "/dev", 4))
      return 1;
    break;
  case 'u':
  case 'l':
    if (!record_code && is_system_code(abs))
      return 1;
    break;
  case 'e':
    if (strncmp(abs, "/etc/ld.so.", 11) == 0 &&
        (strncmp(abs + 11, "cache", 5) == 0 ||
         strncmp(abs + 11, "preload", 7) == 0))
      return 1;
    break;
  default:
    break;
  }
  for (int i = 0; i < ignore_count; i++)
    if (ignored(abs, len, i))
      return 1;
  int code = !record_code;
  const char *base = NULL;
  int plain = 0;
#if defined(__SSE2__)
  /* Sixteen bytes at a time, as bit masks (one strchr() a component cost
   * more than the component): the '/'s, which end each component and the
   * last one's start; the bytes after a '/' that may begin an
   * interpreter's code component (is_code_component: '_', 's', 'd', 'l'),
   * the only components looked at; and the '.'s of the last sixteen
   * bytes, where a short last component's ".so" is. A path of sixteen
   * bytes or more ends with a load of its last sixteen, overlapping the
   * one before (fresh: the bytes not seen yet); a shorter one is read
   * from a zeroed copy. */
  const __m128i slash = _mm_set1_epi8('/');
  unsigned plain_bits = 0xFFFF, carry = 0, dots = 0;
  const char *at = abs; /* where the last chunk starts */
  size_t i = 0;
  do {
    __m128i x;
    unsigned fresh = 0xFFFF;
    if (len - i >= 16) {
      at = abs + i;
      x = _mm_loadu_si128((const __m128i *)(const void *)at);
    } else if (len >= 16) {
      at = abs + len - 16;
      x = _mm_loadu_si128((const __m128i *)(const void *)at);
      fresh = (0xFFFFu << (16 - (len - i))) & 0xFFFF;
      carry = 0; /* the '/' before is in this load */
    } else {
      char tail[16] = {0};
      memcpy(tail, abs, len);
      x = _mm_loadu_si128((const __m128i *)(const void *)tail);
      fresh = (1u << len) - 1; /* the copy's zeros are no '/' */
    }
    plain_bits &= mida__uri_plain_mask16(x) | ~fresh;
    unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, slash));
    if (m != 0)
      base = at + (32 - __builtin_clz(m));
    unsigned starts = ((m << 1) | carry) & fresh;
    carry = m >> 15;
    if (code && starts != 0) {
      __m128i first = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('_')),
                       _mm_cmpeq_epi8(x, _mm_set1_epi8('s'))),
          _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('d')),
                       _mm_cmpeq_epi8(x, _mm_set1_epi8('l'))));
      unsigned maybe = starts & (unsigned)_mm_movemask_epi8(first);
      for (; maybe != 0; maybe &= maybe - 1)
        if (is_code_component(at + __builtin_ctz(maybe)))
          return 1;
    }
    i += 16;
    if (i >= len)
      dots = (unsigned)_mm_movemask_epi8(
          _mm_cmpeq_epi8(x, _mm_set1_epi8('.')));
  } while (i < len);
  plain = plain_bits == 0xFFFF;
  if (base == NULL)
    return 0;
  int library;
  if (base >= at) {
    /* The last component is in the last load: its first ".so", as
     * is_shared_library finds it. */
    dots &= ~0u << (base - at);
    library = 0;
    for (; dots != 0; dots &= dots - 1) {
      const char *q = at + __builtin_ctz(dots);
      if (q[1] == 's' && q[2] == 'o') {
        library = q[3] == '\0' || q[3] == '.';
        break;
      }
    }
  } else {
    library = is_shared_library(base);
  }
#else
  for (size_t i = 0; i < len; i++) {
    if (abs[i] != '/')
      continue;
    base = abs + i + 1;
    if (code && is_code_component(base))
      return 1;
  }
  if (base == NULL)
    return 0;
  int library = is_shared_library(base);
#endif
  if (library ||
      (code && base[0] == 'p' && strcmp(base, "pyvenv.cfg") == 0))
    return 1;
  *uri_plain = plain;
  return 0;
}

