/*
 * tbproto.c -- wire-format decoding of TensorBoard's Event messages (see
 * tbproto.h for the fields read). A small bounds-checked reader over the
 * bytes: every length is checked against what is left before it is used,
 * and unknown fields are skipped by their wire type.
 */
#include "observe/tbproto.h"

#include "mida.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Protobuf wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* TensorFlow DataType values that can hold a scalar. */
enum {
  DT_FLOAT = 1,
  DT_DOUBLE = 2,
  DT_INT32 = 3,
  DT_UINT8 = 4,
  DT_INT16 = 5,
  DT_INT8 = 6,
  DT_STRING = 7,
  DT_INT64 = 9,
  DT_BOOL = 10,
  DT_BFLOAT16 = 14,
  DT_UINT16 = 17,
  DT_HALF = 19,
  DT_UINT32 = 22,
  DT_UINT64 = 23
};

/* A window on the input: the bytes not read yet. */
typedef struct pb {
  const uint8_t *p;   /* next byte */
  const uint8_t *end; /* one past the last byte */
} pb;

static void pb_init(pb *r, const uint8_t *buf, size_t len) {
  r->p = buf;
  r->end = buf + len;
}

static bool pb_done(const pb *r) {
  return r->p >= r->end;
}

static int pb_varint(pb *r, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (r->p >= r->end)
      return MIDA_ECORRUPT;
    uint8_t b = *r->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return MIDA_OK;
    }
  }
  return MIDA_ECORRUPT; /* more than ten bytes */
}

static int pb_fixed(pb *r, int bytes, uint64_t *out) {
  if (r->end - r->p < bytes)
    return MIDA_ECORRUPT;
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = (v << 8) | r->p[i];
  r->p += bytes;
  *out = v;
  return MIDA_OK;
}

/* A length-delimited field's bytes as a sub-window. */
static int pb_sub(pb *r, pb *sub) {
  uint64_t len;
  int rc = pb_varint(r, &len);
  if (rc != MIDA_OK)
    return rc;
  if (len > (uint64_t)(r->end - r->p))
    return MIDA_ECORRUPT;
  sub->p = r->p;
  sub->end = r->p + len;
  r->p += len;
  return MIDA_OK;
}

/* The next field's key. Field number 0 and group wire types are corrupt. */
static int pb_key(pb *r, uint32_t *field, int *wt) {
  uint64_t key;
  int rc = pb_varint(r, &key);
  if (rc != MIDA_OK)
    return rc;
  *wt = (int)(key & 7);
  uint64_t num = key >> 3;
  if (num == 0 || num > 0x1fffffff)
    return MIDA_ECORRUPT;
  *field = (uint32_t)num;
  return MIDA_OK;
}

static int pb_skip(pb *r, int wt) {
  uint64_t ignored;
  pb sub;
  switch (wt) {
  case WT_VARINT:
    return pb_varint(r, &ignored);
  case WT_I64:
    return pb_fixed(r, 8, &ignored);
  case WT_LEN:
    return pb_sub(r, &sub);
  case WT_I32:
    return pb_fixed(r, 4, &ignored);
  default:
    return MIDA_ECORRUPT; /* groups (3, 4) are not used by these messages */
  }
}

static double double_of_bits(uint64_t bits) {
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

static double float_of_bits(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return (double)f;
}

/* IEEE 754 binary16 to double. */
static double half_to_double(uint16_t h) {
  int sign = (h >> 15) & 1;
  int exp = (h >> 10) & 0x1f;
  int frac = h & 0x3ff;
  double v;
  if (exp == 0)
    v = ldexp((double)frac, -24);
  else if (exp == 31)
    v = frac != 0 ? NAN : INFINITY;
  else
    v = ldexp((double)(frac | 0x400), exp - 25);
  return sign ? -v : v;
}

/* ---- TensorProto --------------------------------------------------------- */

/* One repeated numeric field: how many values, and the first. */
typedef struct numlist {
  uint64_t count; /* values seen */
  uint64_t first; /* raw bits (fixed) or varint of the first one */
} numlist;

static void numlist_add(numlist *l, uint64_t v) {
  if (l->count == 0)
    l->first = v;
  l->count++;
}

/* Reads a repeated numeric field, packed (wt 2) or not. elem is 0 for
 * varints, else the fixed width (4 or 8) with want its wire type. */
static int read_numlist(pb *r, int wt, int elem, numlist *l) {
  uint64_t v;
  int rc;
  int want = elem == 0 ? WT_VARINT : (elem == 8 ? WT_I64 : WT_I32);
  if (wt == want) {
    rc = elem == 0 ? pb_varint(r, &v) : pb_fixed(r, elem, &v);
    if (rc == MIDA_OK)
      numlist_add(l, v);
    return rc;
  }
  if (wt != WT_LEN)
    return MIDA_ECORRUPT;
  pb sub;
  rc = pb_sub(r, &sub);
  while (rc == MIDA_OK && !pb_done(&sub)) {
    rc = elem == 0 ? pb_varint(&sub, &v) : pb_fixed(&sub, elem, &v);
    if (rc == MIDA_OK)
      numlist_add(l, v);
  }
  return rc;
}

typedef struct tensor {
  uint64_t dtype;    /* DataType */
  int64_t elements;  /* product of the shape's dims; -1 if unknown */
  int ndims;         /* dims in the shape */
  int64_t dims[4];   /* the first four */
  pb content;        /* tensor_content */
  numlist floats;    /* float_val (5) */
  numlist doubles;   /* double_val (6) */
  numlist ints;      /* int_val (7) */
  numlist int64s;    /* int64_val (10) */
  numlist bools;     /* bool_val (11) */
  numlist halves;    /* half_val (13) */
  uint64_t nstrings; /* string_val (8) count */
  pb first_string;   /* the first string_val */
} tensor;

static int read_shape(pb *r, tensor *t) {
  int64_t n = 1;
  int64_t *elements = &t->elements;
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field == 2 && wt == WT_LEN) { /* dim */
      pb dim;
      rc = pb_sub(r, &dim);
      int64_t size = 0; /* a Dim without size has size 0 */
      while (rc == MIDA_OK && !pb_done(&dim)) {
        uint32_t df;
        int dwt;
        rc = pb_key(&dim, &df, &dwt);
        if (rc == MIDA_OK && df == 1 && dwt == WT_VARINT) {
          uint64_t v;
          rc = pb_varint(&dim, &v);
          size = (int64_t)v;
        } else if (rc == MIDA_OK) {
          rc = pb_skip(&dim, dwt);
        }
      }
      if (rc != MIDA_OK)
        return rc;
      if (t->ndims < 4)
        t->dims[t->ndims] = size;
      t->ndims++;
      if (size < 0 || n < 0)
        n = -1;
      else if (size != 0 && n > INT64_MAX / size)
        n = -1;
      else
        n *= size;
    } else if (field == 3 && wt == WT_VARINT) { /* unknown_rank */
      uint64_t v;
      rc = pb_varint(r, &v);
      if (rc != MIDA_OK)
        return rc;
      if (v != 0)
        n = -1;
    } else {
      rc = pb_skip(r, wt);
      if (rc != MIDA_OK)
        return rc;
    }
  }
  *elements = n;
  return MIDA_OK;
}

static int read_tensor(pb *r, tensor *t) {
  memset(t, 0, sizeof *t);
  t->elements = 1; /* no shape: a scalar */
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    pb sub;
    switch (field) {
    case 1:
      rc = wt == WT_VARINT ? pb_varint(r, &t->dtype) : MIDA_ECORRUPT;
      break;
    case 2:
      rc = wt == WT_LEN ? pb_sub(r, &sub) : MIDA_ECORRUPT;
      if (rc == MIDA_OK)
        rc = read_shape(&sub, t);
      break;
    case 4:
      rc = wt == WT_LEN ? pb_sub(r, &t->content) : MIDA_ECORRUPT;
      break;
    case 5:
      rc = read_numlist(r, wt, 4, &t->floats);
      break;
    case 6:
      rc = read_numlist(r, wt, 8, &t->doubles);
      break;
    case 7:
      rc = read_numlist(r, wt, 0, &t->ints);
      break;
    case 8:
      rc = wt == WT_LEN ? pb_sub(r, &sub) : MIDA_ECORRUPT;
      if (rc == MIDA_OK && t->nstrings++ == 0)
        t->first_string = sub;
      break;
    case 10:
      rc = read_numlist(r, wt, 0, &t->int64s);
      break;
    case 11:
      rc = read_numlist(r, wt, 0, &t->bools);
      break;
    case 13:
      rc = read_numlist(r, wt, 0, &t->halves);
      break;
    default:
      rc = pb_skip(r, wt);
      break;
    }
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}

static uint64_t load_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

/* The single number a one-element numeric tensor holds. Returns true if t
 * is one. */
static bool tensor_scalar(const tensor *t, double *out) {
  if (t->elements != 1)
    return false;
  size_t clen = (size_t)(t->content.end - t->content.p);
  const numlist *list = NULL;
  int width = 0; /* of one element in tensor_content */
  switch (t->dtype) {
  case DT_FLOAT:
    list = &t->floats;
    width = 4;
    break;
  case DT_DOUBLE:
    list = &t->doubles;
    width = 8;
    break;
  case DT_INT32:
  case DT_INT16:
  case DT_INT8:
  case DT_UINT8:
  case DT_UINT16:
    list = &t->ints;
    width = t->dtype == DT_INT32                              ? 4
            : (t->dtype == DT_INT16 || t->dtype == DT_UINT16) ? 2
                                                              : 1;
    break;
  case DT_INT64:
    list = &t->int64s;
    width = 8;
    break;
  case DT_BOOL:
    list = &t->bools;
    width = 1;
    break;
  case DT_HALF:
  case DT_BFLOAT16:
    list = &t->halves;
    width = 2;
    break;
  default:
    return false;
  }
  uint64_t bits;
  if (clen > 0) {
    if (clen != (size_t)width)
      return false;
    bits = load_le(t->content.p, width);
  } else if (list->count >= 1) {
    bits = list->first;
  } else {
    return false;
  }
  switch (t->dtype) {
  case DT_FLOAT:
    *out = float_of_bits((uint32_t)bits);
    break;
  case DT_DOUBLE:
    *out = double_of_bits(bits);
    break;
  case DT_HALF:
    *out = half_to_double((uint16_t)bits);
    break;
  case DT_BFLOAT16:
    *out = float_of_bits((uint32_t)(bits & 0xffff) << 16);
    break;
  case DT_INT32:
    *out = (double)(int32_t)(uint32_t)bits;
    break;
  case DT_INT16:
    *out = (double)(int16_t)(uint16_t)bits;
    break;
  case DT_INT8:
    *out = (double)(int8_t)(uint8_t)bits;
    break;
  case DT_UINT8:
    *out = (double)(uint8_t)bits;
    break;
  case DT_UINT16:
    *out = (double)(uint16_t)bits;
    break;
  case DT_INT64:
    *out = (double)(int64_t)bits;
    break;
  default: /* DT_BOOL */
    *out = bits != 0 ? 1.0 : 0.0;
    break;
  }
  return true;
}

/* ---- hparams --------------------------------------------------------- */

/* One map entry of session_start_info.hparams: key and google.protobuf.Value.
 */
static int emit_hparam(pb *entry, const mida__tb_event *ev, mida__tb_value *v,
                       mida__tb_value_fn fn, void *ctx) {
  pb key = {NULL, NULL}, value = {NULL, NULL};
  bool has_value = false;
  while (!pb_done(entry)) {
    uint32_t field;
    int wt;
    int rc = pb_key(entry, &field, &wt);
    if (rc == MIDA_OK && field == 1 && wt == WT_LEN)
      rc = pb_sub(entry, &key);
    else if (rc == MIDA_OK && field == 2 && wt == WT_LEN) {
      rc = pb_sub(entry, &value);
      has_value = true;
    } else if (rc == MIDA_OK)
      rc = pb_skip(entry, wt);
    if (rc != MIDA_OK)
      return rc;
  }
  if (!has_value || key.p == NULL)
    return MIDA_OK; /* nothing to say */
  v->kind = 0;
  while (!pb_done(&value)) {
    uint32_t field;
    int wt;
    uint64_t bits = 0;
    int rc = pb_key(&value, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field == 2 && wt == WT_I64) {
      rc = pb_fixed(&value, 8, &bits);
      v->kind = MIDA_TB_HPARAM_NUMBER;
      v->number = double_of_bits(bits);
    } else if (field == 3 && wt == WT_LEN) {
      pb s;
      rc = pb_sub(&value, &s);
      v->kind = MIDA_TB_HPARAM_STRING;
      v->text = (const char *)s.p;
      v->text_len = (size_t)(s.end - s.p);
    } else if (field == 4 && wt == WT_VARINT) {
      rc = pb_varint(&value, &bits);
      v->kind = MIDA_TB_HPARAM_BOOL;
      v->number = bits != 0 ? 1.0 : 0.0;
    } else {
      rc = pb_skip(&value, wt); /* null, struct and list values */
    }
    if (rc != MIDA_OK)
      return rc;
  }
  if (v->kind == 0 || fn == NULL)
    return MIDA_OK;
  v->tag = (const char *)key.p;
  v->tag_len = (size_t)(key.end - key.p);
  return fn(ctx, ev, v);
}

/* HParamsPluginData: only session_start_info (3) carries values. The
 * experiment (2: the hparams' domains) and session_end_info (4: a status)
 * are handed on as values not kept, so that they are counted. */
static int emit_hparams(pb *content, const mida__tb_event *ev,
                        mida__tb_value *v, mida__tb_value_fn fn, void *ctx) {
  while (!pb_done(content)) {
    uint32_t field;
    int wt;
    int rc = pb_key(content, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field != 3 || wt != WT_LEN) {
      rc = pb_skip(content, wt);
      if (rc != MIDA_OK)
        return rc;
      if ((field == 2 || field == 4) && wt == WT_LEN && fn != NULL) {
        v->kind = MIDA_TB_OTHER;
        v->other = field == 2 ? "hparams_experiment" : "hparams_session_end";
        v->other_len = strlen(v->other);
        rc = fn(ctx, ev, v);
        if (rc != MIDA_OK)
          return rc;
      }
      continue;
    }
    pb start;
    rc = pb_sub(content, &start);
    while (rc == MIDA_OK && !pb_done(&start)) {
      uint32_t sf;
      int swt;
      rc = pb_key(&start, &sf, &swt);
      if (rc == MIDA_OK && sf == 1 && swt == WT_LEN) {
        pb entry;
        rc = pb_sub(&start, &entry);
        if (rc == MIDA_OK)
          rc = emit_hparam(&entry, ev, v, fn, ctx);
      } else if (rc == MIDA_OK) {
        rc = pb_skip(&start, swt);
      }
    }
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}

/* ---- histograms, images, audio ------------------------------------------ */

void mida__tb_histogram_bucket(const mida__tb_histogram *h, size_t i,
                               double *left, double *right, double *count) {
  if (h->b != NULL) { /* HistogramProto */
    *left = i == 0 ? -DBL_MAX : double_of_bits(load_le(h->a + 8 * (i - 1), 8));
    *right = double_of_bits(load_le(h->a + 8 * i, 8));
    *count = double_of_bits(load_le(h->b + 8 * i, 8));
    return;
  }
  double v[3];
  for (int k = 0; k < 3; k++) {
    uint64_t bits = load_le(h->a + (size_t)h->width * (3 * i + (size_t)k),
                            h->width);
    v[k] = h->width == 8 ? double_of_bits(bits)
                         : float_of_bits((uint32_t)bits);
  }
  *left = v[0];
  *right = v[1];
  *count = v[2];
}

/* A HistogramProto. MIDA_EUNSUPPORTED for buckets not packed (valid, but
 * not what any writer known here produces). */
static int read_histo(pb *r, mida__tb_histogram *h) {
  memset(h, 0, sizeof *h);
  h->exact = 1;
  pb limits = {NULL, NULL}, counts = {NULL, NULL};
  bool unpacked = false;
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    uint64_t bits = 0;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field >= 1 && field <= 5 && wt == WT_I64) {
      rc = pb_fixed(r, 8, &bits);
      double d = double_of_bits(bits);
      if (field == 1)
        h->min = d;
      else if (field == 2)
        h->max = d;
      else if (field == 3)
        h->count = d;
      else if (field == 4)
        h->sum = d;
      else
        h->sum_squares = d;
    } else if ((field == 6 || field == 7) && wt == WT_LEN) {
      rc = pb_sub(r, field == 6 ? &limits : &counts);
    } else if ((field == 6 || field == 7) && wt == WT_I64) {
      unpacked = true;
      rc = pb_fixed(r, 8, &bits);
    } else {
      rc = pb_skip(r, wt);
    }
    if (rc != MIDA_OK)
      return rc;
  }
  if (unpacked)
    return MIDA_EUNSUPPORTED;
  size_t nl = limits.p != NULL ? (size_t)(limits.end - limits.p) : 0;
  size_t nc = counts.p != NULL ? (size_t)(counts.end - counts.p) : 0;
  if (nl % 8 != 0 || nc != nl)
    return MIDA_ECORRUPT;
  h->nbuckets = nl / 8;
  h->a = limits.p;
  h->b = counts.p != NULL ? counts.p : (const uint8_t *)"";
  return MIDA_OK;
}

/* The "histograms" plugin's tensor: k rows of left edge, right edge,
 * count, as DT_DOUBLE or DT_FLOAT tensor_content. */
static bool tensor_histogram(const tensor *t, mida__tb_histogram *h) {
  memset(h, 0, sizeof *h);
  int width = t->dtype == DT_DOUBLE ? 8 : t->dtype == DT_FLOAT ? 4 : 0;
  if (width == 0 || t->ndims != 2 || t->dims[1] != 3 || t->dims[0] < 0 ||
      t->content.p == NULL)
    return false;
  size_t k = (size_t)t->dims[0];
  if ((size_t)(t->content.end - t->content.p) != k * 3 * (size_t)width)
    return false;
  h->nbuckets = k;
  h->a = t->content.p;
  h->width = width;
  h->sum_squares = NAN;
  bool any = false;
  for (size_t i = 0; i < k; i++) {
    double l, r, c;
    mida__tb_histogram_bucket(h, i, &l, &r, &c);
    h->count += c;
    h->sum += c * (l + r) / 2;
    if (c != 0 && !any) {
      h->min = l;
      any = true;
    }
    if (c != 0)
      h->max = r;
  }
  return true;
}

static int read_media(pb *r, bool audio, mida__tb_media *m) {
  memset(m, 0, sizeof *m);
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    uint64_t v = 0;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field == 4 && wt == WT_LEN) {
      pb data;
      rc = pb_sub(r, &data);
      m->data = data.p;
      m->len = (size_t)(data.end - data.p);
    } else if (audio && field == 5 && wt == WT_LEN) {
      pb ct;
      rc = pb_sub(r, &ct);
      m->content_type = (const char *)ct.p;
      m->content_type_len = (size_t)(ct.end - ct.p);
    } else if (audio && field == 1 && wt == WT_I32) {
      rc = pb_fixed(r, 4, &v);
      m->sample_rate = float_of_bits((uint32_t)v);
    } else if (field >= 1 && field <= 3 && wt == WT_VARINT) {
      rc = pb_varint(r, &v);
      int64_t n = (int64_t)v;
      if (audio && field == 2)
        m->channels = n;
      else if (audio && field == 3)
        m->frames = n;
      else if (!audio && field == 1)
        m->height = (int32_t)n;
      else if (!audio && field == 2)
        m->width = (int32_t)n;
      else if (!audio)
        m->colorspace = (int32_t)n;
    } else {
      rc = pb_skip(r, wt);
    }
    if (rc != MIDA_OK)
      return rc;
  }
  if (m->data == NULL)
    m->data = (const uint8_t *)"";
  return MIDA_OK;
}

/* ---- Summary.Value ----------------------------------------------------- */

static int read_metadata(pb *r, pb *plugin, pb *content) {
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field != 1 || wt != WT_LEN) {
      rc = pb_skip(r, wt);
      if (rc != MIDA_OK)
        return rc;
      continue;
    }
    pb pd;
    rc = pb_sub(r, &pd);
    while (rc == MIDA_OK && !pb_done(&pd)) {
      uint32_t pf;
      int pwt;
      rc = pb_key(&pd, &pf, &pwt);
      if (rc == MIDA_OK && pf == 1 && pwt == WT_LEN)
        rc = pb_sub(&pd, plugin);
      else if (rc == MIDA_OK && pf == 2 && pwt == WT_LEN)
        rc = pb_sub(&pd, content);
      else if (rc == MIDA_OK)
        rc = pb_skip(&pd, pwt);
    }
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}

static bool window_is(const pb *w, const char *s) {
  size_t n = strlen(s);
  return w->p != NULL && (size_t)(w->end - w->p) == n &&
         memcmp(w->p, s, n) == 0;
}

static int decode_value(pb *r, mida__tb_event *ev, mida__tb_value_fn fn,
                        void *ctx) {
  pb tag = {NULL, NULL}, plugin = {NULL, NULL}, content = {NULL, NULL};
  pb tensor_bytes = {NULL, NULL}, image = {NULL, NULL}, histo = {NULL, NULL};
  pb audio = {NULL, NULL};
  bool has_simple = false, has_tensor = false;
  double simple = 0;
  while (!pb_done(r)) {
    uint32_t field;
    int wt;
    int rc = pb_key(r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    uint64_t bits = 0;
    pb md;
    switch (field) {
    case 1:
      rc = wt == WT_LEN ? pb_sub(r, &tag) : MIDA_ECORRUPT;
      break;
    case 2:
      rc = wt == WT_I32 ? pb_fixed(r, 4, &bits) : MIDA_ECORRUPT;
      has_simple = true;
      simple = float_of_bits((uint32_t)bits);
      break;
    case 4:
      rc = wt == WT_LEN ? pb_sub(r, &image) : MIDA_ECORRUPT;
      break;
    case 5:
      rc = wt == WT_LEN ? pb_sub(r, &histo) : MIDA_ECORRUPT;
      break;
    case 6:
      rc = wt == WT_LEN ? pb_sub(r, &audio) : MIDA_ECORRUPT;
      break;
    case 8:
      rc = wt == WT_LEN ? pb_sub(r, &tensor_bytes) : MIDA_ECORRUPT;
      has_tensor = true;
      break;
    case 9:
      rc = wt == WT_LEN ? pb_sub(r, &md) : MIDA_ECORRUPT;
      if (rc == MIDA_OK)
        rc = read_metadata(&md, &plugin, &content);
      break;
    default:
      rc = pb_skip(r, wt);
      break;
    }
    if (rc != MIDA_OK)
      return rc;
  }
  ev->nvalues++;
  mida__tb_value v;
  memset(&v, 0, sizeof v);
  v.tag = tag.p != NULL ? (const char *)tag.p : "";
  v.tag_len = (size_t)(tag.end - tag.p);
  if (plugin.p != NULL) {
    v.plugin = (const char *)plugin.p;
    v.plugin_len = (size_t)(plugin.end - plugin.p);
  }
  if (window_is(&plugin, "hparams")) {
    if (content.p == NULL)
      return MIDA_OK;
    return emit_hparams(&content, ev, &v, fn, ctx);
  }
  /* What is not recorded is named by its plugin, else by its form. */
  v.kind = MIDA_TB_OTHER;
  v.other = v.plugin != NULL ? v.plugin : "other";
  v.other_len = v.plugin != NULL ? v.plugin_len : 5;
  int rc = MIDA_OK;
  if (has_simple) {
    v.kind = MIDA_TB_SCALAR;
    v.number = simple;
  } else if (histo.p != NULL) {
    rc = read_histo(&histo, &v.histo);
    if (rc == MIDA_OK)
      v.kind = MIDA_TB_HISTOGRAM;
    if (rc == MIDA_EUNSUPPORTED) {
      v.other = "histogram";
      v.other_len = 9;
      rc = MIDA_OK;
    }
  } else if (image.p != NULL || audio.p != NULL) {
    rc = read_media(image.p != NULL ? &image : &audio, image.p == NULL,
                    &v.media);
    v.kind = image.p != NULL ? MIDA_TB_IMAGE : MIDA_TB_AUDIO;
  } else if (has_tensor) {
    tensor t;
    rc = read_tensor(&tensor_bytes, &t);
    if (rc != MIDA_OK)
      return rc;
    if (t.dtype == DT_STRING && t.nstrings > 0 && window_is(&plugin, "text")) {
      v.kind = MIDA_TB_TEXT;
      v.text = (const char *)t.first_string.p;
      v.text_len = (size_t)(t.first_string.end - t.first_string.p);
    } else if (window_is(&plugin, "histograms") &&
               tensor_histogram(&t, &v.histo)) {
      v.kind = MIDA_TB_HISTOGRAM;
    } else if (tensor_scalar(&t, &v.number)) {
      v.kind = MIDA_TB_SCALAR;
    } else if (v.plugin == NULL) {
      v.other = "tensor";
      v.other_len = 6;
    }
  }
  if (rc != MIDA_OK)
    return rc;
  return fn != NULL ? fn(ctx, ev, &v) : MIDA_OK;
}

/* ---- Event ------------------------------------------------------------- */

int mida__tb_event_decode(const uint8_t *buf, size_t len, mida__tb_event *ev,
                          mida__tb_value_fn fn, void *ctx) {
  memset(ev, 0, sizeof *ev);
  pb r, summary = {NULL, NULL};
  pb_init(&r, buf, len);
  /* First the event's own fields, wherever they are, then the values. */
  while (!pb_done(&r)) {
    uint32_t field;
    int wt;
    uint64_t v = 0;
    int rc = pb_key(&r, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field == 1) {
      rc = wt == WT_I64 ? pb_fixed(&r, 8, &v) : MIDA_ECORRUPT;
      ev->wall_time = double_of_bits(v);
    } else if (field == 2) {
      rc = wt == WT_VARINT ? pb_varint(&r, &v) : MIDA_ECORRUPT;
      ev->step = (int64_t)v;
    } else if (field == 5) {
      rc = wt == WT_LEN ? pb_sub(&r, &summary) : MIDA_ECORRUPT;
      ev->has_summary = 1;
    } else {
      static const unsigned flag_of[10] = {
          [4] = MIDA_TB_EV_GRAPH,        [6] = MIDA_TB_EV_LOG_MESSAGE,
          [7] = MIDA_TB_EV_SESSION_LOG,  [8] = MIDA_TB_EV_RUN_METADATA,
          [9] = MIDA_TB_EV_META_GRAPH};
      if (field < 10)
        ev->fields |= flag_of[field];
      rc = pb_skip(&r, wt);
    }
    if (rc != MIDA_OK)
      return rc;
  }
  if (!ev->has_summary)
    return MIDA_OK;
  while (!pb_done(&summary)) {
    uint32_t field;
    int wt;
    int rc = pb_key(&summary, &field, &wt);
    if (rc != MIDA_OK)
      return rc;
    if (field == 1 && wt == WT_LEN) {
      pb value;
      rc = pb_sub(&summary, &value);
      if (rc == MIDA_OK)
        rc = decode_value(&value, ev, fn, ctx);
    } else {
      rc = pb_skip(&summary, wt);
    }
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}
