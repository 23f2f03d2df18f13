/*
 * url_scrub.c -- another library's message about a URL, made safe to show
 * (url_scrub.h).
 *
 * The URL's secrets are gathered first, in each of the forms a library
 * may repeat them, into a fixed room on the stack (no allocation on an
 * error path); the message is then copied with every quoted token that
 * holds one, and every other appearance of one, masked.
 */
#include "core/url_scrub.h"

#include "core/conninfo.h"
#include "core/hex.h"
#include "core/redact.h"
#include "core/url.h"

#include <stdio.h>
#include <string.h>

#define MAX_FORMS 24
#define FORMS_ROOM 6144
/* A secret shorter than this is masked only inside a quoted token. */
#define MIN_BARE_SECRET 3

/* The forms of a URL's secrets: each as written, percent-decoded and
 * escaped for libpq. */
typedef struct forms {
  const char *at[MAX_FORMS];
  size_t len[MAX_FORMS];
  int n;
  char room[FORMS_ROOM];
  size_t used;
  int overflow; /* a form did not fit: the message is withheld */
} forms;

/* Where the next form of up to n bytes is written, or NULL (overflow). */
static char *room_for(forms *f, size_t n) {
  if (f->n == MAX_FORMS || sizeof f->room - f->used < n) {
    f->overflow = 1;
    return NULL;
  }
  return f->room + f->used;
}

/* Keeps the n bytes written at room_for's place as a form, unless empty or
 * kept already. */
static void keep(forms *f, size_t n) {
  const char *s = f->room + f->used;
  if (n == 0)
    return;
  for (int i = 0; i < f->n; i++)
    if (f->len[i] == n && memcmp(f->at[i], s, n) == 0)
      return;
  f->at[f->n] = s;
  f->len[f->n++] = n;
  f->used += n;
}

/* Adds the secret s[0..n) as written, percent-decoded (a '%' that starts
 * no escape kept as it is) and with '@' and '/' escaped. */
static void add_secret(forms *f, const char *s, size_t n) {
  char *d = room_for(f, n);
  if (d == NULL)
    return;
  memcpy(d, s, n);
  keep(f, n);
  if ((d = room_for(f, n)) == NULL)
    return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int hi = s[i] == '%' && i + 2 < n ? mida__hex_value(s[i + 1]) : -1;
    int lo = hi >= 0 ? mida__hex_value(s[i + 2]) : -1;
    if (lo >= 0) {
      d[k++] = (char)(hi * 16 + lo);
      i += 2;
    } else {
      d[k++] = s[i];
    }
  }
  keep(f, k);
  if ((d = room_for(f, 3 * n)) == NULL)
    return;
  k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *esc = s[i] == '@' ? "%40" : s[i] == '/' ? "%2F" : NULL;
    if (esc != NULL) {
      memcpy(d + k, esc, 3);
      k += 3;
    } else {
      d[k++] = s[i];
    }
  }
  keep(f, k);
}

/* The secrets of url: its userinfo's, its secret query parameters', and
 * the values of its secret key=value words (core/conninfo.h), those in
 * quotes also without them, as libpq reads them. */
static void gather(forms *f, const char *url) {
  size_t off, len;
  if (mida__url_secret_span(url, &off, &len))
    add_secret(f, url + off, len);
  const char *params = mida__url_params(url);
  size_t from = 0;
  while (params != NULL &&
         mida__url_next_secret_value(params, &from, &off, &len))
    add_secret(f, params + off, len);
  from = 0;
  while (mida__conninfo_next_secret(url, &from, &off, &len)) {
    add_secret(f, url + off, len);
    if (len > 0 && url[off] == '\'') {
      size_t closed = len >= 2 && url[off + len - 1] == '\'' ? 1 : 0;
      add_secret(f, url + off + 1, len - 1 - closed);
    }
  }
}

/* Whether s[0..n) holds any form, of any length. */
static int holds_secret(const char *s, size_t n, const forms *f) {
  for (int i = 0; i < f->n; i++)
    for (size_t j = 0; j + f->len[i] <= n; j++)
      if (memcmp(s + j, f->at[i], f->len[i]) == 0)
        return 1;
  return 0;
}

/* The length of the longest form of MIN_BARE_SECRET bytes or more that s
 * starts with; 0 for none. */
static size_t secret_at(const char *s, const forms *f) {
  size_t best = 0;
  for (int i = 0; i < f->n; i++)
    if (f->len[i] >= MIN_BARE_SECRET && f->len[i] > best &&
        strncmp(s, f->at[i], f->len[i]) == 0)
      best = f->len[i];
  return best;
}

/* Appends a quoted token that holds one of f's secrets: the redacted URL
 * when it is a URL whose redaction hides them all, "***" otherwise. */
static void put_masked_token(char *buf, size_t buflen, size_t *o,
                             const char *token, size_t n, const forms *f) {
  char url[MIDA_URL_SHOWN], shown[MIDA_URL_SHOWN];
  if (n < sizeof url) {
    memcpy(url, token, n);
    url[n] = '\0';
    mida__url_redact(url, shown, sizeof shown);
    if (strstr(url, "://") != NULL &&
        !holds_secret(shown, strlen(shown), f)) {
      mida__url_put(buf, buflen, o, shown, strlen(shown), 1);
      return;
    }
  }
  mida__url_put(buf, buflen, o, MIDA_REDACTED, strlen(MIDA_REDACTED), 1);
}

const char *mida__url_scrub(const char *msg, const char *url, char *buf,
                            size_t buflen) {
  if (buf == NULL || buflen == 0)
    return "";
  buf[0] = '\0';
  if (msg == NULL)
    return buf;
  forms f;
  f.n = 0;
  f.used = 0;
  f.overflow = 0;
  if (url != NULL)
    gather(&f, url);
  if (f.overflow) {
    snprintf(buf, buflen, "(the message is withheld: it may repeat a "
                          "secret of the URL)");
    return buf;
  }
  size_t o = 0;
  const char *p = msg;
  while (*p != '\0' && o + 1 < buflen) {
    const char *end = *p == '"' ? strchr(p + 1, '"') : NULL;
    if (end != NULL && holds_secret(p + 1, (size_t)(end - p - 1), &f)) {
      mida__url_put(buf, buflen, &o, "\"", 1, 0);
      put_masked_token(buf, buflen, &o, p + 1, (size_t)(end - p - 1), &f);
      mida__url_put(buf, buflen, &o, "\"", 1, 0);
      p = end + 1;
      continue;
    }
    size_t m = secret_at(p, &f);
    if (m > 0) {
      mida__url_put(buf, buflen, &o, MIDA_REDACTED, strlen(MIDA_REDACTED), 1);
      p += m;
      continue;
    }
    buf[o++] = *p++;
  }
  buf[o] = '\0';
  return buf;
}
