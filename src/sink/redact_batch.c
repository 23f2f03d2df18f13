/*
 * redact_batch.c -- the secrets of a batch of records, hidden before the
 * batch reaches a store or a broker (redact_batch.h).
 */
#include "sink/redact_batch.h"

#include "core/alloc.h"
#include "mida.h"
#include "core/redact.h"
#include "core/url_text.h"

#include <string.h>

/* The texts of a record that a program chose, in which a URL may carry
 * its secrets. mida's own (host, worker, a cursor's text, a metric's key)
 * are not among them. */
static const uint8_t url_fields[] = {
    MIDA_F_NAME,      MIDA_F_ACTIVITY, MIDA_F_SOURCE_KEY, MIDA_F_USED,
    MIDA_F_GENERATED, MIDA_F_CUSTOM,   MIDA_F_ERROR,      MIDA_F_METADATA,
    MIDA_F_URI,       MIDA_F_DATA_ID};

#define URL_FIELDS (sizeof url_fields / sizeof url_fields[0])

/* Whether the members of field tag with a secret's name are hidden: a
 * task's arguments (`used`) and a workflow's metadata
 * (`mida.workflow("x", token=...)`, MLflow's run tags). */
static int by_name(unsigned tag) {
  return tag == MIDA_F_USED || tag == MIDA_F_METADATA;
}

/* Whether the JSON text holds a member with a secret's name. */
static int has_secret_name(const mida__str *json) {
  return mida__has_secret_stem(json->ptr, json->len) &&
         mida__json_secret_count(json->ptr, json->len) > 0;
}

/* Whether field tag of r is there and holds a secret to hide. */
static int field_has_secret(const mida__rec *r, unsigned tag) {
  const mida__field *f = &r->f[tag];
  if (!f->present || f->v.str.ptr == NULL)
    return 0;
  return (by_name(tag) && has_secret_name(&f->v.str)) ||
         mida__url_text_has_secret(f->v.str.ptr, f->v.str.len);
}

static int rec_has_secret(const mida__rec *r) {
  for (size_t k = 0; k < URL_FIELDS; k++)
    if (field_has_secret(r, url_fields[k]))
      return 1;
  return 0;
}

size_t mida__redact_first(const mida__rec *recs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (rec_has_secret(&recs[i]))
      return i;
  return n;
}

/* Writes field tag's text s, its secrets hidden, into out (made here). */
static int redact_text(unsigned tag, const mida__str *s, mida__buf *out) {
  const char *text = s->ptr;
  size_t len = s->len;
  mida__buf named;
  mida__buf_init(&named, len * 2 + 64);
  int rc = MIDA_OK;
  if (by_name(tag) && has_secret_name(s)) {
    rc = mida__json_redact(text, len, &named);
    text = mida__buf_str(&named);
    len = named.len;
  }
  mida__buf_init(out, len * 2 + 64);
  if (rc == MIDA_OK)
    rc = mida__url_text_redact(text, len, out);
  mida__buf_free(&named);
  return rc;
}

int mida__redact_batch(const mida__rec *recs, size_t n, size_t first,
                       mida__redacted *out) {
  memset(out, 0, sizeof *out);
  out->recs = mida__malloc((n > 0 ? n : 1) * sizeof *out->recs);
  out->texts = mida__calloc((n - first) * URL_FIELDS + 1,
                            sizeof *out->texts);
  if (out->recs == NULL || out->texts == NULL) {
    mida__redacted_free(out);
    return MIDA_ENOMEM;
  }
  memcpy(out->recs, recs, n * sizeof *recs);
  int rc = MIDA_OK;
  for (size_t i = first; i < n && rc == MIDA_OK; i++) {
    for (size_t k = 0; k < URL_FIELDS && rc == MIDA_OK; k++) {
      unsigned tag = url_fields[k];
      if (!field_has_secret(&recs[i], tag))
        continue;
      mida__buf *b = &out->texts[out->ntexts++];
      mida__str *s = &out->recs[i].f[tag].v.str;
      rc = redact_text(tag, s, b);
      if (rc == MIDA_OK) {
        s->ptr = mida__buf_str(b);
        s->len = (uint32_t)b->len;
      }
    }
  }
  if (rc != MIDA_OK)
    mida__redacted_free(out);
  return rc;
}

void mida__redacted_free(mida__redacted *r) {
  if (r->texts != NULL)
    for (size_t i = 0; i < r->ntexts; i++)
      mida__buf_free(&r->texts[i]);
  mida__free(r->texts);
  mida__free(r->recs);
  memset(r, 0, sizeof *r);
}
