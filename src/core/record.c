/*
 * record.c -- encoding and decoding of records (format in record.h).
 *
 * The encoder writes straight into journal memory on the capture hot path,
 * so it only copies bytes; the decoder runs in the shipper and borrows the
 * frame's bytes instead of copying them.
 */
#include "core/record.h"

#include <string.h>

/* The kind of each tag's value; 0 for unused tags. */
static const mida__kind field_kinds[MIDA_F_COUNT] = {
#define MIDA_FIELD_KIND(fname, tag, fkind) [tag] = MIDA_KIND_##fkind,
    MIDA_FIELD_MAP(MIDA_FIELD_KIND)
#undef MIDA_FIELD_KIND
};

/* Field names as the store's columns and the CLI spell them. */
static const char *const field_names[MIDA_F_COUNT] = {
    [MIDA_F_ID] = "id",
    [MIDA_F_WORKFLOW] = "workflow",
    [MIDA_F_CAMPAIGN] = "campaign",
    [MIDA_F_PARENT] = "parent",
    [MIDA_F_TASK] = "task",
    [MIDA_F_NAME] = "name",
    [MIDA_F_ACTIVITY] = "activity",
    [MIDA_F_STATUS] = "status",
    [MIDA_F_SUBMITTED] = "submitted",
    [MIDA_F_STARTED] = "started",
    [MIDA_F_ENDED] = "ended",
    [MIDA_F_HOST] = "host",
    [MIDA_F_PID] = "pid",
    [MIDA_F_WORKER] = "worker",
    [MIDA_F_SOURCE_KEY] = "source_key",
    [MIDA_F_USED] = "used",
    [MIDA_F_GENERATED] = "generated",
    [MIDA_F_CUSTOM] = "custom",
    [MIDA_F_ERROR] = "error",
    [MIDA_F_METADATA] = "metadata",
    [MIDA_F_SOURCE] = "source",
    [MIDA_F_USER] = "user",
    [MIDA_F_KIND] = "kind",
    [MIDA_F_URI] = "uri",
    [MIDA_F_DIGEST] = "digest",
    [MIDA_F_SIZE] = "size",
    [MIDA_F_ROLE] = "role",
    [MIDA_F_KEY] = "key",
    [MIDA_F_STEP] = "step",
    [MIDA_F_TS] = "ts",
    [MIDA_F_VALUE] = "value",
    [MIDA_F_TEXT] = "text",
    [MIDA_F_VALUE_I] = "value_i",
    [MIDA_F_TELEMETRY] = "telemetry",
    [MIDA_F_CREATED] = "created",
    [MIDA_F_DATA_ID] = "data_id",
    [MIDA_F_BYTES] = "bytes",
};

static const char *const type_names[MIDA_REC_TYPE_COUNT] = {
    [MIDA_REC_PAD] = "pad",           [MIDA_REC_CAMPAIGN] = "campaign",
    [MIDA_REC_WORKFLOW] = "workflow", [MIDA_REC_TASK] = "task",
    [MIDA_REC_DATA] = "data",         [MIDA_REC_DEP] = "dep",
    [MIDA_REC_METRIC] = "metric",     [MIDA_REC_TELEMETRY] = "telemetry",
    [MIDA_REC_CURSOR] = "cursor",     [MIDA_REC_COUNTER] = "counter",
    [MIDA_REC_LOST] = "lost",
    [MIDA_REC_RUN] = "run",
};

mida__kind mida__field_kind(unsigned tag) {
  return tag < MIDA_F_COUNT ? field_kinds[tag] : 0;
}

const char *mida__field_name(unsigned tag) {
  return tag < MIDA_F_COUNT ? field_names[tag] : NULL;
}

const char *mida__rec_type_name(unsigned type) {
  return type < MIDA_REC_TYPE_COUNT ? type_names[type] : NULL;
}

/* ---- encoding ---------------------------------------------------------- */

void mida__enc_init(mida__enc *e, void *buf, size_t cap) {
  e->buf = buf;
  e->cap = cap;
  e->len = 0;
  e->overflow = false;
}

/* Writes a field's tag and kind and the value bytes, or notes overflow. */
static void enc_put(mida__enc *e, unsigned tag, mida__kind kind,
                    const void *head, size_t head_len, const void *body,
                    size_t body_len) {
  size_t need = 2 + head_len + body_len;
  if (e->overflow || need > e->cap - e->len) {
    e->overflow = true;
    e->len += need;
    return;
  }
  uint8_t *p = e->buf + e->len;
  p[0] = (uint8_t)tag;
  p[1] = (uint8_t)kind;
  memcpy(p + 2, head, head_len);
  if (body_len > 0)
    memcpy(p + 2 + head_len, body, body_len);
  e->len += need;
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

void mida__enc_id(mida__enc *e, unsigned tag, const mida_id_t *id) {
  enc_put(e, tag, MIDA_KIND_ID, id->bytes, 16, NULL, 0);
}

void mida__enc_i64(mida__enc *e, unsigned tag, int64_t v) {
  uint8_t le[8];
  put_le64(le, (uint64_t)v);
  enc_put(e, tag, MIDA_KIND_I64, le, 8, NULL, 0);
}

void mida__enc_f64(mida__enc *e, unsigned tag, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  uint8_t le[8];
  put_le64(le, bits);
  enc_put(e, tag, MIDA_KIND_F64, le, 8, NULL, 0);
}

void mida__enc_str(mida__enc *e, unsigned tag, const char *s, size_t len) {
  if (s == NULL)
    return;
  if (len == (size_t)-1)
    len = strlen(s);
  if (len > UINT32_MAX) {
    e->overflow = true;
    return;
  }
  uint8_t le[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                   (uint8_t)(len >> 24)};
  enc_put(e, tag, MIDA_KIND_STR, le, 4, s, len);
}

char *mida__enc_str_reserve(mida__enc *e, unsigned tag, size_t len) {
  size_t need = 2 + 4 + len;
  if (len > UINT32_MAX || e->overflow || need > e->cap - e->len) {
    e->overflow = true;
    e->len += need;
    return NULL;
  }
  uint8_t *p = e->buf + e->len;
  p[0] = (uint8_t)tag;
  p[1] = (uint8_t)MIDA_KIND_STR;
  for (int i = 0; i < 4; i++)
    p[2 + i] = (uint8_t)(len >> (8 * i));
  e->len += need;
  return (char *)p + 6;
}

/* ---- decoding ---------------------------------------------------------- */

int mida__rec_decode(uint16_t type, const void *payload, size_t len,
                     mida__rec *rec) {
  memset(rec, 0, sizeof *rec);
  rec->type = type;
  const uint8_t *p = payload;
  const uint8_t *end = p + len;
  while (p < end) {
    if (end - p < 2)
      return MIDA_ECORRUPT;
    unsigned tag = p[0];
    mida__kind kind = p[1];
    p += 2;
    size_t size;
    switch (kind) {
    case MIDA_KIND_ID:
      size = 16;
      break;
    case MIDA_KIND_I64:
    case MIDA_KIND_F64:
      size = 8;
      break;
    case MIDA_KIND_STR:
      if (end - p < 4)
        return MIDA_ECORRUPT;
      size = 4 + (size_t)get_le32(p);
      break;
    default:
      return MIDA_ECORRUPT; /* cannot know how long it is: stop */
    }
    if ((size_t)(end - p) < size)
      return MIDA_ECORRUPT;
    mida__kind expected = mida__field_kind(tag);
    if (expected == 0) { /* a newer producer's field: skip it */
      p += size;
      continue;
    }
    if (expected != kind || rec->f[tag].present)
      return MIDA_ECORRUPT;
    mida__field *f = &rec->f[tag];
    f->present = true;
    switch (kind) {
    case MIDA_KIND_ID:
      memcpy(f->v.id.bytes, p, 16);
      break;
    case MIDA_KIND_I64:
      f->v.i64 = (int64_t)get_le64(p);
      break;
    case MIDA_KIND_F64: {
      uint64_t bits = get_le64(p);
      memcpy(&f->v.f64, &bits, sizeof bits);
      break;
    }
    case MIDA_KIND_STR:
      f->v.str.ptr = (const char *)p + 4;
      f->v.str.len = (uint32_t)(size - 4);
      break;
    }
    p += size;
  }
  return MIDA_OK;
}

size_t mida__rec_encoded_size(const mida__rec *rec) {
  size_t n = 0;
  for (unsigned tag = 1; tag < MIDA_F_COUNT; tag++) {
    if (!rec->f[tag].present)
      continue;
    switch (mida__field_kind(tag)) {
    case MIDA_KIND_ID:
      n += mida__enc_size_id();
      break;
    case MIDA_KIND_I64:
    case MIDA_KIND_F64:
      n += mida__enc_size_num();
      break;
    case MIDA_KIND_STR:
      n += mida__enc_size_str(rec->f[tag].v.str.len);
      break;
    }
  }
  return n;
}

void mida__rec_set_id(mida__rec *rec, unsigned tag, const mida_id_t *id) {
  rec->f[tag].present = true;
  rec->f[tag].v.id = *id;
}

void mida__rec_set_i64(mida__rec *rec, unsigned tag, int64_t v) {
  rec->f[tag].present = true;
  rec->f[tag].v.i64 = v;
}

void mida__rec_set_f64(mida__rec *rec, unsigned tag, double v) {
  rec->f[tag].present = true;
  rec->f[tag].v.f64 = v;
}

void mida__rec_set_str(mida__rec *rec, unsigned tag, const char *s,
                       size_t len) {
  rec->f[tag].present = true;
  rec->f[tag].v.str.ptr = s;
  rec->f[tag].v.str.len = (uint32_t)(len == (size_t)-1 ? strlen(s) : len);
}

void mida__rec_counter(mida__rec *rec, const char *host, int64_t pid,
                       const char *key, int64_t value) {
  memset(rec, 0, sizeof *rec);
  rec->type = MIDA_REC_COUNTER;
  if (host != NULL)
    mida__rec_set_str(rec, MIDA_F_HOST, host, (size_t)-1);
  if (pid != 0)
    mida__rec_set_i64(rec, MIDA_F_PID, pid);
  mida__rec_set_str(rec, MIDA_F_KEY, key, (size_t)-1);
  mida__rec_set_i64(rec, MIDA_F_VALUE_I, value);
}

size_t mida__rec_encode(const mida__rec *rec, void *buf, size_t cap) {
  mida__enc e;
  mida__enc_init(&e, buf, cap);
  for (unsigned tag = 1; tag < MIDA_F_COUNT; tag++) {
    const mida__field *f = &rec->f[tag];
    if (!f->present)
      continue;
    switch (mida__field_kind(tag)) {
    case MIDA_KIND_ID:
      mida__enc_id(&e, tag, &f->v.id);
      break;
    case MIDA_KIND_I64:
      mida__enc_i64(&e, tag, f->v.i64);
      break;
    case MIDA_KIND_F64:
      mida__enc_f64(&e, tag, f->v.f64);
      break;
    case MIDA_KIND_STR:
      mida__enc_str(&e, tag, f->v.str.ptr ? f->v.str.ptr : "", f->v.str.len);
      break;
    }
  }
  return e.overflow ? 0 : e.len;
}
