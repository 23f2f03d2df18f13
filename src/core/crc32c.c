/*
 * crc32c.c -- CRC-32C (Castagnoli), the checksum of journal frames and
 * broker messages (see crc32c.h).
 *
 * The polynomial is 0x1EDC6F41, used bit-reflected (0x82F63B78), with the
 * register preset to all ones and the result inverted, as in iSCSI, ext4 and
 * SSE4.2. The inversions happen inside each call, so that a CRC can be
 * extended: crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b.
 *
 * Two implementations give the same values: the SSE4.2 crc32 instruction,
 * eight bytes per step, and a portable slicing-by-8 table. The choice is
 * made once, on first use, from what the CPU reports: as glibc's dynamic
 * loader found it at start (<sys/platform/x86.h>), else one CPUID. Not
 * __builtin_cpu_init(), which runs some twenty CPUIDs: in a virtual
 * machine each one exits to the hypervisor, and on the VM where mida is
 * measured that was ~65 us, a tenth of the preload library's cost in every
 * process (`mida run`, which journals into every program it observes).
 * The table (8 KiB, ~13,000 instructions) is built only where it is used.
 */
#include "core/crc32c.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* The one place that decides whether the hardware path can be compiled. */
#if (defined(__x86_64__) || defined(__i386__)) &&                              \
    (defined(__GNUC__) || defined(__clang__))
#define MIDA_HAVE_SSE42_CRC 1
#include <cpuid.h>
#include <nmmintrin.h>
#if defined(__has_include)
#if __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#endif
#endif
#else
#define MIDA_HAVE_SSE42_CRC 0
#endif

#define CRC32C_POLY_REFLECTED 0x82F63B78u

typedef uint32_t (*crc_fn)(uint32_t crc, const void *data, size_t len);

/* table[k][b]: the CRC register after b followed by k zero bytes. */
static uint32_t table[8][256];
/* Set once by choose(); read without pthread_once() once set (an acquire
 * load: a journal's commit takes two checksums per record). */
static _Atomic(crc_fn) chosen;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Reads 8 bytes as a little-endian integer from any alignment. */
static inline uint64_t load_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void build_table(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int k = 0; k < 8; k++)
      c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
    table[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = table[0][b];
    for (int k = 1; k < 8; k++) {
      c = table[0][c & 0xff] ^ (c >> 8);
      table[k][b] = c;
    }
  }
}

/* The portable path: a byte at a time up to 8-byte alignment, then eight
 * table look-ups per 8 bytes. */
static uint32_t crc32c_table(uint32_t crc, const void *data, size_t len) {
  const uint8_t *p = data;
  uint32_t c = ~crc;
  while (len > 0 && ((uintptr_t)p & 7) != 0) {
    c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    len--;
  }
  while (len >= 8) {
    uint64_t v = load_le64(p) ^ c;
    c = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
        table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
        table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
        table[1][(v >> 48) & 0xff] ^ table[0][(v >> 56) & 0xff];
    p += 8;
    len -= 8;
  }
  while (len > 0) {
    c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    len--;
  }
  return ~c;
}

#if MIDA_HAVE_SSE42_CRC
/* The hardware path: the crc32 instruction computes exactly this CRC. */
/* The register c, not inverted, extended over len bytes of data. */
__attribute__((target("sse4.2"), always_inline)) static inline uint32_t
crc32c_sse42_extend(uint32_t c, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 0 && ((uintptr_t)p & 7) != 0) {
    c = _mm_crc32_u8(c, *p++);
    len--;
  }
#if defined(__x86_64__)
  uint64_t c64 = c;
  /* Four words a step: a journal checksums every record it commits, and
   * the loop's own counting cost more than its crc32 instructions. */
  while (len >= 32) {
    uint64_t v[4];
    memcpy(v, p, sizeof v);
    c64 = _mm_crc32_u64(c64, v[0]);
    c64 = _mm_crc32_u64(c64, v[1]);
    c64 = _mm_crc32_u64(c64, v[2]);
    c64 = _mm_crc32_u64(c64, v[3]);
    p += 32;
    len -= 32;
  }
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    len -= 8;
  }
  c = (uint32_t)c64;
  /* The last 0 to 7 bytes in at most three steps. */
  if (len >= 4) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    c = _mm_crc32_u32(c, v);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    c = _mm_crc32_u16(c, v);
    p += 2;
    len -= 2;
  }
#else
  while (len >= 4) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    c = _mm_crc32_u32(c, v);
    p += 4;
    len -= 4;
  }
#endif
  while (len > 0) {
    c = _mm_crc32_u8(c, *p++);
    len--;
  }
  return c;
}

__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42(uint32_t crc, const void *data, size_t len) {
  return ~crc32c_sse42_extend(~crc, data, len);
}

/* Eight bytes at word (one crc32 instruction), then len bytes of data. */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_sse42_8_then(uint32_t crc, const void *word, const void *data,
                    size_t len) {
  uint64_t v;
  memcpy(&v, word, sizeof v);
#if defined(__x86_64__)
  uint32_t c = (uint32_t)_mm_crc32_u64(~crc, v);
#else
  uint32_t c = _mm_crc32_u32(_mm_crc32_u32(~crc, (uint32_t)v),
                             (uint32_t)(v >> 32));
#endif
  return ~crc32c_sse42_extend(c, data, len);
}
#endif

#if MIDA_HAVE_SSE42_CRC
/* Whether the CPU has SSE4.2 (and the OS lets it be used). */
static int have_sse42(void) {
#if defined(CPU_FEATURE_ACTIVE)
  return CPU_FEATURE_ACTIVE(SSE4_2);
#else
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) != 0;
#endif
}
#endif

static void choose(void) {
#if MIDA_HAVE_SSE42_CRC
  if (have_sse42()) {
    atomic_store_explicit(&chosen, crc32c_sse42, memory_order_release);
    return;
  }
#endif
  pthread_once(&table_once, build_table);
  atomic_store_explicit(&chosen, crc32c_table, memory_order_release);
}

/* The implementation choose() picked, picked on the first call. */
static inline crc_fn chosen_fn(void) {
  crc_fn f = atomic_load_explicit(&chosen, memory_order_acquire);
  if (f == NULL) {
    pthread_once(&init_once, choose);
    f = atomic_load_explicit(&chosen, memory_order_relaxed);
  }
  return f;
}

uint32_t mida__crc32c(uint32_t crc, const void *data, size_t len) {
  crc_fn f = chosen_fn();
  return f(crc, data, len);
}

uint32_t mida__crc32c_8_then(uint32_t crc, const void *word,
                             const void *data, size_t len) {
  crc_fn f = chosen_fn();
#if MIDA_HAVE_SSE42_CRC
  if (f == crc32c_sse42)
    return crc32c_sse42_8_then(crc, word, data, len);
#endif
  return f(f(crc, word, 8), data, len);
}

uint32_t mida__crc32c_sw(uint32_t crc, const void *data, size_t len) {
  pthread_once(&table_once, build_table);
  return crc32c_table(crc, data, len);
}
