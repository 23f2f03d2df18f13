/*
 * bench_observe_tfevents.c -- event-file parsing throughput of the
 * TensorBoard observer: TFRecord framing with both CRC checks
 * (observe/tfrecord.c) and Event decoding (observe/tbproto.c), over an
 * in-memory file of scalar events as PyTorch's SummaryWriter writes them,
 * once with simple_value and once with the tensor encoding (new_style:
 * float tensor_content with scalars plugin metadata). Prints scalars/s and
 * MB/s (median of 5 passes) and a final JSON line.
 */
#include "benchutil.h"

#include "observe/tbproto.h"
#include "observe/tfrecord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS 1000000
#define PASSES 5

typedef struct enc {
  uint8_t b[256];
  size_t n;
} enc;

static void put_varint(enc *e, uint64_t v) {
  while (v >= 0x80) {
    e->b[e->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  e->b[e->n++] = (uint8_t)v;
}

static void put_bytes(enc *e, unsigned field, const void *p, size_t len) {
  put_varint(e, (uint64_t)field << 3 | 2);
  put_varint(e, len);
  memcpy(e->b + e->n, p, len);
  e->n += len;
}

static void put_fixed(enc *e, unsigned field, const void *p, int bytes) {
  put_varint(e, (uint64_t)field << 3 | (bytes == 8 ? 1 : 5));
  memcpy(e->b + e->n, p, (size_t)bytes);
  e->n += (size_t)bytes;
}

/* One Event: wall_time, step, summary{value{tag "train/loss", ...}}. */
static size_t make_event(uint8_t *out, int64_t step, int tensor) {
  enc value = {{0}, 0}, summary = {{0}, 0}, ev = {{0}, 0};
  float v = 1.0f / (float)(step + 1);
  put_bytes(&value, 1, "train/loss", 10);
  if (tensor) {
    enc t = {{0}, 0}, md = {{0}, 0}, pd = {{0}, 0};
    put_varint(&t, 1 << 3);
    put_varint(&t, 1); /* DT_FLOAT */
    put_bytes(&t, 4, &v, 4);
    put_bytes(&pd, 1, "scalars", 7);
    put_bytes(&md, 1, pd.b, pd.n);
    put_bytes(&value, 8, t.b, t.n);
    put_bytes(&value, 9, md.b, md.n);
  } else {
    put_fixed(&value, 2, &v, 4);
  }
  put_bytes(&summary, 1, value.b, value.n);
  double wall = 1.7e9 + (double)step * 0.001;
  put_fixed(&ev, 1, &wall, 8);
  put_varint(&ev, 2 << 3);
  put_varint(&ev, (uint64_t)step);
  put_bytes(&ev, 5, summary.b, summary.n);
  return mida__tfr_write(out, 512, ev.b, ev.n);
}

static int count_scalar(void *ctx, const mida__tb_event *ev,
                        const mida__tb_value *v) {
  (void)ev;
  if (v->kind == MIDA_TB_SCALAR) {
    double *sum = ctx;
    *sum += v->number;
  }
  return 0;
}

static double run(const uint8_t *file, size_t len, size_t *scalars) {
  int64_t t0 = bench_now();
  size_t pos = 0, n = 0;
  double sum = 0;
  while (pos < len) {
    mida__tfr_frame fr;
    if (mida__tfr_next(file + pos, len - pos, 1u << 20, &fr) !=
        MIDA_TFR_RECORD) {
      fprintf(stderr, "bench: unexpected frame at %zu\n", pos);
      exit(1);
    }
    mida__tb_event ev;
    mida__tb_event_decode(fr.data, fr.data_len, &ev, count_scalar, &sum);
    n++;
    pos += fr.consumed;
  }
  int64_t t1 = bench_now();
  *scalars = sum > 0 ? n : 0;
  return (double)(t1 - t0) / 1e9;
}

int main(void) {
  const char *names[2] = {"simple_value", "tensor"};
  double rate[2], mbps[2];
  for (int tensor = 0; tensor < 2; tensor++) {
    uint8_t *file = malloc((size_t)EVENTS * 128);
    if (file == NULL)
      return 1;
    size_t len = 0;
    for (int64_t i = 0; i < EVENTS; i++)
      len += make_event(file + len, i, tensor);
    double secs[PASSES];
    size_t scalars = 0;
    for (int p = 0; p < PASSES; p++)
      secs[p] = run(file, len, &scalars);
    /* median of the passes */
    for (int i = 0; i < PASSES; i++)
      for (int j = i + 1; j < PASSES; j++)
        if (secs[j] < secs[i]) {
          double t = secs[i];
          secs[i] = secs[j];
          secs[j] = t;
        }
    double med = secs[PASSES / 2];
    rate[tensor] = (double)scalars / med;
    mbps[tensor] = (double)len / med / 1e6;
    printf("tfevents %-12s %d events, %.1f MB: %.2f M scalars/s, "
           "%.0f MB/s (median of %d)\n",
           names[tensor], EVENTS, (double)len / 1e6, rate[tensor] / 1e6,
           mbps[tensor], PASSES);
    free(file);
  }
  printf("{\"bench\":\"observe_tfevents\",\"events\":%d,"
         "\"simple_scalars_per_s\":%.0f,\"simple_mb_per_s\":%.1f,"
         "\"tensor_scalars_per_s\":%.0f,\"tensor_mb_per_s\":%.1f}\n",
         EVENTS, rate[0], mbps[0], rate[1], mbps[1]);
  return 0;
}
