/*
 * tbproto_test.c -- unit tests of the Event decoder on bytes written by the
 * real writers (PyTorch's torch.utils.tensorboard.summary, hex below) and
 * on hand-encoded messages for the encodings those writers do not use
 * (half, bfloat16, int64, unpacked values, shapes), plus malformed input.
 */
#include "observe/tbproto.h"

#include "mida.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Serialized Events, from torch.utils.tensorboard.summary (torch 2.13). */
/* scalar("loss", 0.25), wall_time 1700000000.5, step 7: simple_value */
#define EV_SIMPLE "0900002040fc54d94110072a0d0a0b0a046c6f7373150000803e"
/* scalar("acc", 0.75, new_style=True), step 8: float tensor_content */
#define EV_TENSOR                                                              \
  "0900005040fc54d94110082a1e0a1c0a03616363420808012a040000403f4a0b0a090a07"   \
  "7363616c617273"
/* scalar("dbl", 0.1, new_style=True, double_precision=True): double_val */
#define EV_DOUBLE                                                              \
  "09000000000000f03f10092a220a200a0364626c420c080232089a9999999999b93f4a0b"   \
  "0a090a077363616c617273"
/* hparams({"lr":0.01,"opt":"adam","bn":True}, ...)[1]: session_start_info */
#define EV_HPARAMS                                                             \
  "0900000000000000402a620a600a1c5f68706172616d735f2f73657373696f6e5f737461"   \
  "72745f696e666f4a400a3e0a0768706172616d7312331a310a0d0a036f707412061a0461"   \
  "64616d0a0f0a026c721209117b14ae47e17a843f0a0f0a02626e120911000000000000f0"   \
  "3f"
/* text("note", "hi there"), step 4 */
#define EV_TEXT                                                                \
  "09000000000000084010042a330a310a116e6f74652f746578745f73756d6d61727942"     \
  "120807120412020801420868692074686572654a080a060a0474657874"

/* histogram("w", [1, 2, 2, 3], bins=3), step 3: a HistogramProto */
#define EV_HISTO                                                               \
  "0900000040fc54d94110032a780a760a01772a7109000000000000f03f11000000000000"   \
  "08401900000000000010402100000000000020402900000000000032403220000000000000" \
  "f03faaaaaaaaaaaafa3faaaaaaaaaaaa024000000000000008403a20000000000000000000" \
  "0000000000f03f0000000000000040000000000000f03f"

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex) / 2;
  assert_true(n <= cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
    assert_int_equal(sscanf(two, "%x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

/* What the callback saw, and the event it saw it in: the decoder's values
 * borrow the event's bytes (a histogram's buckets are read through them
 * after the callback), so the bytes live as long as what was seen. */
typedef struct seen {
  uint8_t event[512];
  int n;
  mida__tb_value v[8];
  char tags[8][64];
  char texts[8][64];
  char plugins[8][64];
  uint8_t media[8][8]; /* the first bytes of an image or audio clip */
} seen;

static int collect(void *ctx, const mida__tb_event *ev,
                   const mida__tb_value *v) {
  (void)ev;
  seen *s = ctx;
  if (s->n >= 8)
    return 0;
  s->v[s->n] = *v;
  snprintf(s->tags[s->n], 64, "%.*s", (int)v->tag_len, v->tag);
  if (v->text != NULL)
    snprintf(s->texts[s->n], 64, "%.*s", (int)v->text_len, v->text);
  if (v->plugin != NULL)
    snprintf(s->plugins[s->n], 64, "%.*s", (int)v->plugin_len, v->plugin);
  if (v->media.data != NULL)
    memcpy(s->media[s->n], v->media.data,
           v->media.len < 8 ? v->media.len : 8);
  s->n++;
  return 0;
}

static int decode_hex(const char *hex, mida__tb_event *ev, seen *s) {
  memset(s, 0, sizeof *s);
  size_t n = unhex(hex, s->event, sizeof s->event);
  return mida__tb_event_decode(s->event, n, ev, collect, s);
}

static void test_torch_simple_value(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_SIMPLE, &ev, &s), MIDA_OK);
  assert_true(ev.wall_time == 1700000000.5);
  assert_int_equal(ev.step, 7);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, MIDA_TB_SCALAR);
  assert_string_equal(s.tags[0], "loss");
  assert_true(s.v[0].number == 0.25);
}

static void test_torch_float_tensor_content(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_TENSOR, &ev, &s), MIDA_OK);
  assert_int_equal(ev.step, 8);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, MIDA_TB_SCALAR);
  assert_string_equal(s.tags[0], "acc");
  assert_true(s.v[0].number == 0.75);
  assert_string_equal(s.plugins[0], "scalars");
}

static void test_torch_double_val(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_DOUBLE, &ev, &s), MIDA_OK);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, MIDA_TB_SCALAR);
  assert_true(s.v[0].number == 0.1); /* exact: the double's own bits */
}

static void test_torch_hparams(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_HPARAMS, &ev, &s), MIDA_OK);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.tags[0], "opt");
  assert_int_equal(s.v[0].kind, MIDA_TB_HPARAM_STRING);
  assert_string_equal(s.texts[0], "adam");
  assert_string_equal(s.tags[1], "lr");
  assert_int_equal(s.v[1].kind, MIDA_TB_HPARAM_NUMBER);
  assert_true(s.v[1].number == 0.01);
  assert_string_equal(s.tags[2], "bn");
  assert_true(s.v[2].number == 1.0);
}

static void test_torch_text(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_TEXT, &ev, &s), MIDA_OK);
  assert_int_equal(ev.step, 4);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, MIDA_TB_TEXT);
  assert_string_equal(s.tags[0], "note/text_summary");
  assert_string_equal(s.texts[0], "hi there");
}

static void test_torch_histogram(void **state) {
  (void)state;
  mida__tb_event ev;
  seen s;
  assert_int_equal(decode_hex(EV_HISTO, &ev, &s), MIDA_OK);
  assert_int_equal(ev.step, 3);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.v[0].kind, MIDA_TB_HISTOGRAM);
  const mida__tb_histogram *h = &s.v[0].histo;
  assert_true(h->count == 4 && h->min == 1 && h->max == 3 && h->sum == 8 &&
              h->sum_squares == 18 && h->exact);
  assert_int_equal(h->nbuckets, 4);
  double l, r, c, total = 0;
  for (size_t i = 0; i < h->nbuckets; i++) {
    mida__tb_histogram_bucket(h, i, &l, &r, &c);
    total += c;
  }
  assert_true(total == 4);
  mida__tb_histogram_bucket(h, 3, &l, &r, &c);
  assert_true(r == 3.0 && c == 1.0);
  mida__tb_histogram_bucket(h, 0, &l, &r, &c);
  assert_true(l == -1.7976931348623157e308 && r == 1.0 && c == 0);
}

/* ---- a tiny encoder for the encodings the writers above do not use ---- */

typedef struct enc {
  uint8_t b[512];
  size_t n;
} enc;

static void put_varint(enc *e, uint64_t v) {
  while (v >= 0x80) {
    e->b[e->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  e->b[e->n++] = (uint8_t)v;
}

static void put_key(enc *e, unsigned field, unsigned wt) {
  put_varint(e, (uint64_t)field << 3 | wt);
}

static void put_bytes(enc *e, unsigned field, const void *p, size_t len) {
  put_key(e, field, 2);
  put_varint(e, len);
  memcpy(e->b + e->n, p, len);
  e->n += len;
}

static void put_fixed(enc *e, unsigned field, uint64_t v, int bytes) {
  put_key(e, field, bytes == 8 ? 1 : 5);
  for (int i = 0; i < bytes; i++)
    e->b[e->n++] = (uint8_t)(v >> (8 * i));
}

/* An Event with one value "t" holding the given TensorProto bytes. */
static int decode_tensor(const enc *tensor, seen *s, mida__tb_event *ev) {
  enc value = {{0}, 0}, summary = {{0}, 0}, event = {{0}, 0};
  put_bytes(&value, 1, "t", 1);
  put_bytes(&value, 8, tensor->b, tensor->n);
  put_bytes(&summary, 1, value.b, value.n);
  /* The summary comes before the step: field order is not fixed. */
  put_bytes(&event, 5, summary.b, summary.n);
  put_key(&event, 2, 0);
  put_varint(&event, 42);
  memset(s, 0, sizeof *s);
  assert_true(event.n <= sizeof s->event);
  memcpy(s->event, event.b, event.n);
  return mida__tb_event_decode(s->event, event.n, ev, collect, s);
}

/* An Event (step 9) with one value "v" whose field (4 image, 6 audio, 8
 * tensor ...) holds body, and metadata naming plugin when not NULL. */
static int decode_value(unsigned field, const enc *body, const char *plugin,
                        seen *s, mida__tb_event *ev) {
  enc value = {{0}, 0}, summary = {{0}, 0}, event = {{0}, 0};
  enc pd = {{0}, 0}, md = {{0}, 0};
  put_bytes(&value, 1, "v", 1);
  put_bytes(&value, field, body->b, body->n);
  if (plugin != NULL) {
    put_bytes(&pd, 1, plugin, strlen(plugin));
    put_bytes(&md, 1, pd.b, pd.n);
    put_bytes(&value, 9, md.b, md.n);
  }
  put_bytes(&summary, 1, value.b, value.n);
  put_key(&event, 2, 0);
  put_varint(&event, 9);
  put_bytes(&event, 5, summary.b, summary.n);
  memset(s, 0, sizeof *s);
  return mida__tb_event_decode(event.b, event.n, ev, collect, s);
}

static void test_image_and_audio(void **state) {
  (void)state;
  enc img = {{0}, 0};
  put_key(&img, 1, 0);
  put_varint(&img, 2); /* height */
  put_key(&img, 2, 0);
  put_varint(&img, 3); /* width */
  put_key(&img, 3, 0);
  put_varint(&img, 3); /* RGB */
  put_bytes(&img, 4, "\x89PNG", 4);
  seen s;
  mida__tb_event ev;
  assert_int_equal(decode_value(4, &img, NULL, &s, &ev), MIDA_OK);
  assert_int_equal(s.v[0].kind, MIDA_TB_IMAGE);
  assert_int_equal(s.v[0].media.width, 3);
  assert_int_equal(s.v[0].media.height, 2);
  assert_int_equal(s.v[0].media.len, 4);
  assert_memory_equal(s.media[0], "\x89PNG", 4);
  enc aud = {{0}, 0};
  float rate = 8000.0f;
  uint32_t bits;
  memcpy(&bits, &rate, 4);
  put_fixed(&aud, 1, bits, 4);
  put_key(&aud, 2, 0);
  put_varint(&aud, 1);
  put_key(&aud, 3, 0);
  put_varint(&aud, 16);
  put_bytes(&aud, 4, "RIFF", 4);
  put_bytes(&aud, 5, "audio/wav", 9);
  assert_int_equal(decode_value(6, &aud, NULL, &s, &ev), MIDA_OK);
  assert_int_equal(s.v[0].kind, MIDA_TB_AUDIO);
  assert_true(s.v[0].media.sample_rate == 8000.0);
  assert_int_equal(s.v[0].media.frames, 16);
  assert_int_equal(s.v[0].media.content_type_len, 9);
}

/* TensorFlow 2's histograms: a k x 3 tensor of left, right, count. */
static void test_tensor_histogram_and_other_kinds(void **state) {
  (void)state;
  double rows[6] = {0.0, 1.0, 2.0, 1.0, 3.0, 6.0};
  enc shape = {{0}, 0}, dim = {{0}, 0}, t = {{0}, 0};
  put_key(&dim, 1, 0);
  put_varint(&dim, 2);
  put_bytes(&shape, 2, dim.b, dim.n);
  dim.n = 0;
  put_key(&dim, 1, 0);
  put_varint(&dim, 3);
  put_bytes(&shape, 2, dim.b, dim.n);
  put_key(&t, 1, 0);
  put_varint(&t, 2); /* DT_DOUBLE */
  put_bytes(&t, 2, shape.b, shape.n);
  put_bytes(&t, 4, rows, sizeof rows);
  seen s;
  mida__tb_event ev;
  assert_int_equal(decode_value(8, &t, "histograms", &s, &ev), MIDA_OK);
  assert_int_equal(s.v[0].kind, MIDA_TB_HISTOGRAM);
  const mida__tb_histogram *h = &s.v[0].histo;
  assert_true(h->count == 8 && h->min == 0 && h->max == 3 && !h->exact);
  assert_true(h->sum == 2 * 0.5 + 6 * 2.0);
  /* The same tensor for another plugin: not recorded, named by it. */
  assert_int_equal(decode_value(8, &t, "pr_curves", &s, &ev), MIDA_OK);
  assert_int_equal(s.v[0].kind, MIDA_TB_OTHER);
  assert_string_equal(s.plugins[0], "pr_curves"); /* other is the plugin */
  assert_true(s.v[0].other_len == 9);
  assert_int_equal(decode_value(8, &t, NULL, &s, &ev), MIDA_OK);
  assert_true(s.v[0].other_len == 6); /* "tensor", a static string */
  assert_memory_equal(s.v[0].other, "tensor", 6);
  /* A graph is a field of the Event itself. */
  enc event = {{0}, 0};
  put_bytes(&event, 4, "\x0a\x00", 2);
  put_bytes(&event, 8, "\x0a\x00", 2);
  assert_int_equal(mida__tb_event_decode(event.b, event.n, &ev, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(ev.fields, MIDA_TB_EV_GRAPH | MIDA_TB_EV_RUN_METADATA);
}

static void test_half_val(void **state) {
  (void)state;
  enc t = {{0}, 0};
  put_key(&t, 1, 0);
  put_varint(&t, 19); /* DT_HALF */
  put_key(&t, 13, 0);
  put_varint(&t, 0x3e00); /* 1.5 */
  seen s;
  mida__tb_event ev;
  assert_int_equal(decode_tensor(&t, &s, &ev), MIDA_OK);
  assert_int_equal(ev.step, 42);
  assert_int_equal(s.v[0].kind, MIDA_TB_SCALAR);
  assert_true(s.v[0].number == 1.5);
}

static void test_bfloat16_content(void **state) {
  (void)state;
  enc t = {{0}, 0};
  put_key(&t, 1, 0);
  put_varint(&t, 14);            /* DT_BFLOAT16 */
  uint8_t two[2] = {0x20, 0xc0}; /* -2.5 */
  put_bytes(&t, 4, two, 2);
  seen s;
  mida__tb_event ev;
  assert_int_equal(decode_tensor(&t, &s, &ev), MIDA_OK);
  assert_true(s.v[0].number == -2.5);
}

static void test_unpacked_float_and_int64(void **state) {
  (void)state;
  float f = -3.25f;
  uint32_t bits;
  memcpy(&bits, &f, 4);
  enc t = {{0}, 0};
  put_key(&t, 1, 0);
  put_varint(&t, 1);
  put_fixed(&t, 5, bits, 4); /* not packed */
  seen s;
  mida__tb_event ev;
  assert_int_equal(decode_tensor(&t, &s, &ev), MIDA_OK);
  assert_true(s.v[0].number == -3.25);
  enc u = {{0}, 0};
  put_key(&u, 1, 0);
  put_varint(&u, 9); /* DT_INT64 */
  put_key(&u, 10, 0);
  put_varint(&u, (uint64_t)(int64_t)-7);
  assert_int_equal(decode_tensor(&u, &s, &ev), MIDA_OK);
  assert_true(s.v[0].number == -7.0);
}

static void test_shape_one_is_scalar_three_is_not(void **state) {
  (void)state;
  for (int dims = 1; dims <= 3; dims += 2) {
    enc dim = {{0}, 0}, shape = {{0}, 0}, t = {{0}, 0};
    put_key(&dim, 1, 0);
    put_varint(&dim, (uint64_t)dims);
    put_bytes(&shape, 2, dim.b, dim.n);
    put_key(&t, 1, 0);
    put_varint(&t, 2);
    put_bytes(&t, 2, shape.b, shape.n);
    uint64_t d[3] = {0x3ff0000000000000ull, 0, 0};
    put_bytes(&t, 4, d, 8 * (size_t)dims);
    seen s;
    mida__tb_event ev;
    assert_int_equal(decode_tensor(&t, &s, &ev), MIDA_OK);
    assert_int_equal(s.v[0].kind, dims == 1 ? MIDA_TB_SCALAR : MIDA_TB_OTHER);
    if (dims == 1)
      assert_true(s.v[0].number == 1.0);
  }
}

static void test_nan_and_inf_pass_through(void **state) {
  (void)state;
  for (int i = 0; i < 2; i++) {
    double v = i == 0 ? NAN : -INFINITY;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    enc t = {{0}, 0};
    put_key(&t, 1, 0);
    put_varint(&t, 2);
    put_fixed(&t, 6, bits, 8);
    seen s;
    mida__tb_event ev;
    assert_int_equal(decode_tensor(&t, &s, &ev), MIDA_OK);
    if (i == 0)
      assert_true(isnan(s.v[0].number));
    else
      assert_true(isinf(s.v[0].number) && s.v[0].number < 0);
  }
}

static void test_every_truncation_is_safe(void **state) {
  (void)state;
  const char *all[] = {EV_SIMPLE, EV_TENSOR, EV_DOUBLE, EV_HPARAMS, EV_TEXT};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) {
    uint8_t buf[512];
    size_t n = unhex(all[k], buf, sizeof buf);
    int corrupt = 0;
    for (size_t len = 0; len < n; len++) {
      uint8_t copy[512];
      memcpy(copy, buf, len);
      mida__tb_event ev;
      seen s;
      memset(&s, 0, sizeof s);
      if (mida__tb_event_decode(copy, len, &ev, collect, &s) == MIDA_ECORRUPT)
        corrupt++;
    }
    assert_true(corrupt > 0); /* cutting inside a field is noticed */
  }
}

static void test_wrong_wire_type_is_corrupt(void **state) {
  (void)state;
  enc e = {{0}, 0};
  put_key(&e, 2, 2); /* step as bytes */
  put_varint(&e, 1);
  e.b[e.n++] = 0;
  mida__tb_event ev;
  assert_int_equal(mida__tb_event_decode(e.b, e.n, &ev, NULL, NULL),
                   MIDA_ECORRUPT);
  uint8_t group[] = {0x0b}; /* field 1, start group */
  assert_int_equal(mida__tb_event_decode(group, 1, &ev, NULL, NULL),
                   MIDA_ECORRUPT);
  uint8_t longvarint[12];
  memset(longvarint, 0xff, sizeof longvarint);
  assert_int_equal(
      mida__tb_event_decode(longvarint, sizeof longvarint, &ev, NULL, NULL),
      MIDA_ECORRUPT);
}

static int stop_at_first(void *ctx, const mida__tb_event *ev,
                         const mida__tb_value *v) {
  (void)ctx;
  (void)ev;
  (void)v;
  return 77;
}

static void test_callback_stops_decoding(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = unhex(EV_SIMPLE, buf, sizeof buf);
  mida__tb_event ev;
  assert_int_equal(mida__tb_event_decode(buf, n, &ev, stop_at_first, NULL), 77);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_torch_simple_value),
      cmocka_unit_test(test_torch_float_tensor_content),
      cmocka_unit_test(test_torch_double_val),
      cmocka_unit_test(test_torch_hparams),
      cmocka_unit_test(test_torch_text),
      cmocka_unit_test(test_torch_histogram),
      cmocka_unit_test(test_image_and_audio),
      cmocka_unit_test(test_tensor_histogram_and_other_kinds),
      cmocka_unit_test(test_half_val),
      cmocka_unit_test(test_bfloat16_content),
      cmocka_unit_test(test_unpacked_float_and_int64),
      cmocka_unit_test(test_shape_one_is_scalar_three_is_not),
      cmocka_unit_test(test_nan_and_inf_pass_through),
      cmocka_unit_test(test_every_truncation_is_safe),
      cmocka_unit_test(test_wrong_wire_type_is_corrupt),
      cmocka_unit_test(test_callback_stops_decoding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
