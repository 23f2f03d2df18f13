/*
 * proc.c -- bounded readers and parsers of /proc files for the telemetry
 * sampler (see proc.h).
 *
 * Every parser walks the text with a cursor (pos < len is checked before
 * every byte is looked at), reads unsigned decimals that saturate at
 * UINT64_MAX instead of overflowing, and treats anything unexpected as
 * "field not found" rather than guessing. The text is outside input: a
 * kernel we have not seen, a test directory, or the fuzzer.
 */
#include "telemetry/proc.h"

#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int mida__proc_read(const char *root, const char *rel, char *buf, size_t cap,
                    size_t *len) {
  *len = 0;
  if (cap < 2)
    return MIDA_EINVAL;
  buf[0] = '\0';
  char path[512];
  int n = snprintf(path, sizeof path, "%s/%s", root, rel);
  if (n < 0 || (size_t)n >= sizeof path)
    return MIDA_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return MIDA_EIO;
  size_t got = 0;
  int rc = MIDA_OK;
  for (;;) {
    if (got == cap - 1) {
      char probe;
      ssize_t more = read(fd, &probe, 1);
      if (more > 0)
        rc = MIDA_ETOOBIG;
      break;
    }
    ssize_t r = read(fd, buf + got, cap - 1 - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      rc = MIDA_EIO;
      break;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *len = got;
  return rc;
}

/* ---- the cursor ---------------------------------------------------------- */

typedef struct cursor {
  const char *p; /* the text */
  size_t len;    /* its length */
  size_t pos;    /* next byte to look at */
} cursor;

static int is_space(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void skip_spaces(cursor *c) {
  while (c->pos < c->len && is_space(c->p[c->pos]))
    c->pos++;
}

/* Moves past the end of the current line. */
static void next_line(cursor *c) {
  while (c->pos < c->len && c->p[c->pos] != '\n')
    c->pos++;
  if (c->pos < c->len)
    c->pos++;
}

/* Reads an unsigned decimal after optional blanks; saturates. Returns 1 if
 * at least one digit was read. */
static int read_u64(cursor *c, uint64_t *out) {
  skip_spaces(c);
  uint64_t v = 0;
  size_t start = c->pos;
  while (c->pos < c->len && is_digit(c->p[c->pos])) {
    unsigned d = (unsigned)(c->p[c->pos] - '0');
    v = (v > (UINT64_MAX - d) / 10) ? UINT64_MAX : v * 10 + d;
    c->pos++;
  }
  if (c->pos == start)
    return 0;
  *out = v;
  return 1;
}

/* Reads a signed decimal (a leading '-' allowed) into an unsigned counter;
 * negative values (which no counter should have) read as 0. */
static int read_i64_as_u64(cursor *c, uint64_t *out) {
  skip_spaces(c);
  int neg = c->pos < c->len && c->p[c->pos] == '-';
  if (neg)
    c->pos++;
  uint64_t v;
  if (!read_u64(c, &v))
    return 0;
  *out = neg ? 0 : v;
  return 1;
}

/* Reads "12.34" as a double, digits only (no exponent, no sign). */
static int read_fixed(cursor *c, double *out) {
  uint64_t whole;
  if (!read_u64(c, &whole))
    return 0;
  double v = (double)whole;
  if (c->pos < c->len && c->p[c->pos] == '.') {
    c->pos++;
    double scale = 0.1;
    while (c->pos < c->len && is_digit(c->p[c->pos])) {
      v += scale * (c->p[c->pos] - '0');
      scale /= 10;
      c->pos++;
    }
  }
  *out = v;
  return 1;
}

/* The next token of the current line as (ptr, len), without moving past
 * the line's end. */
static size_t token(cursor *c, const char **tok) {
  skip_spaces(c);
  size_t start = c->pos;
  while (c->pos < c->len && !is_space(c->p[c->pos]) && c->p[c->pos] != '\n')
    c->pos++;
  *tok = c->p + start;
  return c->pos - start;
}

static int token_is(const char *tok, size_t n, const char *word) {
  size_t w = strlen(word);
  return n == w && memcmp(tok, word, w) == 0;
}

/* ---- per-process files --------------------------------------------------- */

int mida__proc_parse_pstat(const char *text, size_t len,
                           mida__proc_pstat *out) {
  memset(out, 0, sizeof *out);
  /* The command name is in parentheses and may hold anything, ')' and
   * newlines included: the fields start after the last ')'. */
  size_t close = len;
  for (size_t i = len; i > 0; i--) {
    if (text[i - 1] == ')') {
      close = i - 1;
      break;
    }
  }
  if (close == len)
    return MIDA_ECORRUPT;
  cursor c = {text, len, close + 1};
  /* Field 3 (state) is token 0 after ')'. */
  uint64_t v[22] = {0};
  int have = 0;
  for (int i = 0; i < 22; i++) {
    if (i == 0) {
      const char *tok;
      if (token(&c, &tok) != 1)
        break;
      out->state = tok[0];
    } else if (!read_i64_as_u64(&c, &v[i])) {
      break;
    }
    have = i + 1;
  }
  if (have < 13)
    return MIDA_ECORRUPT;
  out->ppid = v[1];
  out->minflt = v[7];
  out->majflt = v[9];
  out->utime_ticks = v[11];
  out->stime_ticks = v[12];
  if (have > 17)
    out->threads = v[17];
  if (have > 19)
    out->start_ticks = v[19];
  if (have > 20)
    out->vsize = v[20];
  if (have > 21)
    out->rss_pages = v[21];
  return MIDA_OK;
}

int mida__proc_parse_statm(const char *text, size_t len,
                           mida__proc_statm *out) {
  memset(out, 0, sizeof *out);
  cursor c = {text, len, 0};
  if (!read_u64(&c, &out->size) || !read_u64(&c, &out->resident))
    return MIDA_ECORRUPT;
  (void)read_u64(&c, &out->shared);
  return MIDA_OK;
}

int mida__proc_parse_keyed(const char *text, size_t len,
                           const char *const *keys, int n, uint64_t *values,
                           uint64_t *found) {
  *found = 0;
  if (n > 64)
    n = 64;
  for (int i = 0; i < n; i++)
    values[i] = 0;
  cursor c = {text, len, 0};
  while (c.pos < c.len) {
    size_t start = c.pos;
    while (c.pos < c.len && c.p[c.pos] != ':' && c.p[c.pos] != '\n')
      c.pos++;
    if (c.pos < c.len && c.p[c.pos] == ':') {
      size_t klen = c.pos - start;
      c.pos++;
      for (int i = 0; i < n; i++) {
        if (strlen(keys[i]) == klen &&
            memcmp(keys[i], text + start, klen) == 0 &&
            (*found & (1ULL << i)) == 0) {
          uint64_t v;
          if (read_u64(&c, &v)) {
            values[i] = v;
            *found |= 1ULL << i;
          }
          break;
        }
      }
    }
    next_line(&c);
  }
  return *found != 0 ? MIDA_OK : MIDA_ECORRUPT;
}

/* ---- host-wide files ----------------------------------------------------- */

int mida__proc_parse_sysstat(const char *text, size_t len,
                             mida__proc_sysstat *out) {
  memset(out, 0, sizeof *out);
  cursor c = {text, len, 0};
  int have_cpu = 0;
  while (c.pos < c.len) {
    const char *tok;
    size_t n = token(&c, &tok);
    if (token_is(tok, n, "cpu") && !have_cpu) {
      uint64_t *f[8] = {&out->user,   &out->nice, &out->system,
                        &out->idle,   &out->iowait, &out->irq,
                        &out->softirq, &out->steal};
      int got = 0;
      for (int i = 0; i < 8 && read_u64(&c, f[i]); i++)
        got++;
      have_cpu = got >= 4;
    } else if (n > 3 && memcmp(tok, "cpu", 3) == 0 && is_digit(tok[3])) {
      out->ncpu++;
    } else if (token_is(tok, n, "ctxt")) {
      (void)read_u64(&c, &out->ctxt);
    } else if (token_is(tok, n, "procs_running")) {
      (void)read_u64(&c, &out->procs_running);
    } else if (token_is(tok, n, "procs_blocked")) {
      (void)read_u64(&c, &out->procs_blocked);
    }
    next_line(&c);
  }
  return have_cpu ? MIDA_OK : MIDA_ECORRUPT;
}

int mida__proc_parse_loadavg(const char *text, size_t len,
                             mida__proc_loadavg *out) {
  memset(out, 0, sizeof *out);
  cursor c = {text, len, 0};
  if (!read_fixed(&c, &out->load1) || !read_fixed(&c, &out->load5) ||
      !read_fixed(&c, &out->load15))
    return MIDA_ECORRUPT;
  if (read_u64(&c, &out->running) && c.pos < c.len && c.p[c.pos] == '/') {
    c.pos++;
    (void)read_u64(&c, &out->total);
  }
  return MIDA_OK;
}

int mida__proc_parse_netdev(const char *text, size_t len,
                            mida__proc_netdev *out) {
  memset(out, 0, sizeof *out);
  cursor c = {text, len, 0};
  while (c.pos < c.len) {
    skip_spaces(&c);
    size_t start = c.pos;
    while (c.pos < c.len && c.p[c.pos] != ':' && c.p[c.pos] != '\n' &&
           !is_space(c.p[c.pos]))
      c.pos++;
    if (c.pos < c.len && c.p[c.pos] == ':' && c.pos > start) {
      int loopback = c.pos - start == 2 && memcmp(text + start, "lo", 2) == 0;
      c.pos++;
      uint64_t v[16];
      int got = 0;
      while (got < 16 && read_u64(&c, &v[got]))
        got++;
      if (got >= 11 && !loopback) {
        out->rx_bytes += v[0];
        out->rx_packets += v[1];
        out->rx_errors += v[2];
        out->tx_bytes += v[8];
        out->tx_packets += v[9];
        out->tx_errors += v[10];
        out->interfaces++;
      }
    }
    next_line(&c);
  }
  return MIDA_OK;
}

/* Whether name (n bytes) is left out of the disk sum by its prefix. */
static int not_a_disk(const char *name, size_t n) {
  static const char *const skip[] = {"loop", "ram", "zram", "dm-", "md",
                                     "sr",   "fd",  "nbd"};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++) {
    size_t k = strlen(skip[i]);
    if (n >= k && memcmp(name, skip[i], k) == 0)
      return 1;
  }
  return 0;
}

/* Whether name is disk followed by digits, or by 'p' and digits. */
static int is_partition_of(const char *name, size_t n, const char *disk,
                           size_t dn) {
  if (n <= dn || memcmp(name, disk, dn) != 0)
    return 0;
  size_t i = dn;
  if (name[i] == 'p' && dn > 0 && is_digit(disk[dn - 1]))
    i++;
  if (i == n)
    return 0;
  for (; i < n; i++)
    if (!is_digit(name[i]))
      return 0;
  return 1;
}

#define MAX_DISKS 64
#define MAX_DISK_NAME 32

int mida__proc_parse_diskstats(const char *text, size_t len,
                               mida__proc_diskstats *out) {
  memset(out, 0, sizeof *out);
  char disks[MAX_DISKS][MAX_DISK_NAME];
  size_t disk_len[MAX_DISKS];
  int ndisks = 0;
  cursor c = {text, len, 0};
  while (c.pos < c.len) {
    uint64_t major, minor;
    const char *name = NULL;
    size_t n = 0;
    if (read_u64(&c, &major) && read_u64(&c, &minor))
      n = token(&c, &name);
    uint64_t v[11];
    int got = 0;
    while (n > 0 && got < 11 && read_u64(&c, &v[got]))
      got++;
    if (got >= 10 && n < MAX_DISK_NAME && !not_a_disk(name, n)) {
      int partition = 0;
      for (int i = 0; i < ndisks && !partition; i++)
        partition = is_partition_of(name, n, disks[i], disk_len[i]);
      if (!partition) {
        if (ndisks < MAX_DISKS) {
          memcpy(disks[ndisks], name, n);
          disk_len[ndisks++] = n;
        }
        out->reads += v[0];
        out->read_sectors += v[2];
        out->writes += v[4];
        out->write_sectors += v[6];
        out->io_ms += v[9];
        out->disks++;
      }
    }
    next_line(&c);
  }
  return MIDA_OK;
}
