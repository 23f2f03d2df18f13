/*
 * tb_items.c -- TensorBoard's histograms, images, audio and texts as data
 * item records (see tb_items.h).
 */
#include "observe/tb_items.h"

#include "core/json.h"
#include "mida.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#define MAX_META (4u << 20) /* longest metadata built */

void mida__tb_item_scratch_init(mida__tb_item_scratch *s) {
  mida__buf_init(&s->id, 8192);
  mida__buf_init(&s->meta, MAX_META);
  s->digest[0] = '\0';
}

void mida__tb_item_scratch_free(mida__tb_item_scratch *s) {
  mida__buf_free(&s->id);
  mida__buf_free(&s->meta);
}

const char *mida__tb_item_kind(mida__tb_kind k) {
  switch (k) {
  case MIDA_TB_HISTOGRAM:
    return "histogram";
  case MIDA_TB_IMAGE:
    return "image";
  case MIDA_TB_AUDIO:
    return "audio";
  case MIDA_TB_TEXT:
    return "text";
  default:
    return NULL;
  }
}

/* ,"name":v */
static int add_number(mida__buf *b, const char *name, double v) {
  int rc = mida__buf_printf(b, ",\"%s\":", name);
  return rc == MIDA_OK ? mida__json_add_double(b, v) : rc;
}

static int add_int(mida__buf *b, const char *name, int64_t v) {
  return mida__buf_printf(b, ",\"%s\":%" PRId64, name, v);
}

static int histogram_meta(mida__buf *b, const mida__tb_histogram *h) {
  int rc = add_number(b, "count", h->count);
  if (rc == MIDA_OK)
    rc = add_number(b, "min", h->min);
  if (rc == MIDA_OK)
    rc = add_number(b, "max", h->max);
  if (rc == MIDA_OK)
    rc = add_number(b, "mean", h->count > 0 ? h->sum / h->count : NAN);
  if (rc == MIDA_OK)
    rc = add_number(b, "sum", h->sum);
  if (rc == MIDA_OK && !isnan(h->sum_squares))
    rc = add_number(b, "sum_squares", h->sum_squares);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, h->exact ? ",\"exact\":true" : ",\"exact\":false");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ",\"buckets\":[");
  int first = 1;
  for (size_t i = 0; rc == MIDA_OK && i < h->nbuckets; i++) {
    double left, right, count;
    mida__tb_histogram_bucket(h, i, &left, &right, &count);
    if (count == 0)
      continue;
    rc = mida__buf_adds(b, first ? "[" : ",[");
    first = 0;
    if (rc == MIDA_OK)
      rc = mida__json_add_double(b, left);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ",");
    if (rc == MIDA_OK)
      rc = mida__json_add_double(b, right);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ",");
    if (rc == MIDA_OK)
      rc = mida__json_add_double(b, count);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "]");
  }
  return rc == MIDA_OK ? mida__buf_adds(b, "]") : rc;
}

/* The longest prefix of s[0..len) of at most max bytes that ends on a
 * whole UTF-8 character. */
static size_t utf8_cut(const char *s, size_t len, size_t max) {
  if (len <= max)
    return len;
  size_t n = max;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  return n;
}

int mida__tb_item_record(const mida__tb_event *ev, const mida__tb_value *v,
                         const mida__tb_origin *at,
                         mida__tb_item_scratch *scratch, mida__rec *rec) {
  const char *kind = mida__tb_item_kind(v->kind);
  if (kind == NULL)
    return MIDA_EINVAL;
  mida__buf *id = &scratch->id, *meta = &scratch->meta;
  mida__buf_reset(id);
  mida__buf_reset(meta);
  int rc = mida__buf_printf(id, "tensorboard:%s#%" PRId64 "/%u", at->file,
                            at->record_offset, at->value_index);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(meta, "{\"tag\":");
  if (rc == MIDA_OK)
    rc = mida__json_add_string(meta, v->tag, v->tag_len);
  if (rc == MIDA_OK)
    rc = add_int(meta, "step", ev->step);
  if (rc == MIDA_OK)
    rc = add_number(meta, "wall_time", ev->wall_time);
  const uint8_t *bytes = NULL;
  size_t len = 0;
  switch (v->kind) {
  case MIDA_TB_HISTOGRAM:
    if (rc == MIDA_OK)
      rc = histogram_meta(meta, &v->histo);
    break;
  case MIDA_TB_IMAGE:
    bytes = v->media.data;
    len = v->media.len;
    if (rc == MIDA_OK)
      rc = add_int(meta, "width", v->media.width);
    if (rc == MIDA_OK)
      rc = add_int(meta, "height", v->media.height);
    if (rc == MIDA_OK)
      rc = add_int(meta, "colorspace", v->media.colorspace);
    break;
  case MIDA_TB_AUDIO:
    bytes = v->media.data;
    len = v->media.len;
    if (rc == MIDA_OK)
      rc = add_number(meta, "sample_rate", v->media.sample_rate);
    if (rc == MIDA_OK)
      rc = add_int(meta, "channels", v->media.channels);
    if (rc == MIDA_OK)
      rc = add_int(meta, "frames", v->media.frames);
    if (rc == MIDA_OK && v->media.content_type != NULL) {
      rc = mida__buf_adds(meta, ",\"content_type\":");
      if (rc == MIDA_OK)
        rc = mida__json_add_string(meta, v->media.content_type,
                                   v->media.content_type_len);
    }
    break;
  default: { /* MIDA_TB_TEXT */
    bytes = (const uint8_t *)v->text;
    len = v->text_len;
    size_t keep = utf8_cut(v->text, v->text_len, MIDA_TB_TEXT_MAX);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(meta, ",\"text\":");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(meta, v->text, keep);
    if (rc == MIDA_OK && keep < v->text_len)
      rc = mida__buf_adds(meta, ",\"text_truncated\":true");
    break;
  }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(meta, "}");
  if (rc != MIDA_OK)
    return rc;
  memset(rec, 0, sizeof *rec);
  rec->type = MIDA_REC_DATA;
  mida__rec_set_str(rec, MIDA_F_DATA_ID, id->ptr, id->len);
  mida__rec_set_str(rec, MIDA_F_URI, id->ptr, id->len);
  mida__rec_set_str(rec, MIDA_F_KIND, kind, (size_t)-1);
  mida__rec_set_str(rec, MIDA_F_METADATA, meta->ptr, meta->len);
  if (bytes != NULL) {
    mida__rec_set_i64(rec, MIDA_F_SIZE, (int64_t)len);
    mida__sha256_text(bytes, len, scratch->digest);
    mida__rec_set_str(rec, MIDA_F_DIGEST, scratch->digest, (size_t)-1);
  }
  mida__rec_set_id(rec, MIDA_F_TASK, at->task);
  mida__rec_set_i64(rec, MIDA_F_ROLE, MIDA_GENERATED);
  mida__rec_set_str(rec, MIDA_F_NAME, v->tag, v->tag_len);
  return MIDA_OK;
}
