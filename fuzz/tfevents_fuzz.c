/*
 * tfevents_fuzz.c -- libFuzzer target for the TensorBoard event-file
 * parser: the TFRecord framer (observe/tfrecord.c) walked over the input as
 * the observer walks a file, including its byte-by-byte resynchronization,
 * and the Event decoder (observe/tbproto.c) on every record found and on the
 * whole input, with every histogram, image, audio clip and text turned into
 * its data item record (observe/tb_items.c). Neither may read out of
 * bounds; the framer must always make progress and never step past the
 * input.
 */
#include "observe/tb_items.h"
#include "observe/tbproto.h"
#include "observe/tfrecord.h"

#include "core/json.h"
#include "mida.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int touch(void *ctx, const mida__tb_event *ev, const mida__tb_value *v) {
  size_t *sum = ctx;
  /* Read every borrowed byte, so ASan checks the pointers handed out. */
  for (size_t i = 0; i < v->tag_len; i++)
    *sum += (unsigned char)v->tag[i];
  for (size_t i = 0; v->text != NULL && i < v->text_len; i++)
    *sum += (unsigned char)v->text[i];
  for (size_t i = 0; v->plugin != NULL && i < v->plugin_len; i++)
    *sum += (unsigned char)v->plugin[i];
  for (size_t i = 0; v->kind == MIDA_TB_OTHER && i < v->other_len; i++)
    *sum += (unsigned char)v->other[i];
  for (size_t i = 0; v->media.data != NULL && i < v->media.len; i++)
    *sum += v->media.data[i];
  for (size_t i = 0; v->media.content_type != NULL &&
                     i < v->media.content_type_len;
       i++)
    *sum += (unsigned char)v->media.content_type[i];
  if (v->kind == MIDA_TB_HISTOGRAM) {
    for (size_t i = 0; i < v->histo.nbuckets; i++) {
      double l, r, c;
      mida__tb_histogram_bucket(&v->histo, i, &l, &r, &c);
      *sum += (size_t)(c != c) + (size_t)(l < r);
    }
  }
  *sum += (size_t)ev->step;
  if (mida__tb_item_kind(v->kind) != NULL) {
    static const mida_id_t task = {{1}};
    mida__tb_origin at = {"/f", 0, 0, &task};
    mida__tb_item_scratch s;
    mida__tb_item_scratch_init(&s);
    mida__rec rec;
    if (mida__tb_item_record(ev, v, &at, &s, &rec) == MIDA_OK &&
        mida__json_check(s.meta.ptr, s.meta.len, true, NULL) != MIDA_OK)
      abort(); /* the metadata must be a JSON object */
    mida__tb_item_scratch_free(&s);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  size_t sum = 0;
  mida__tb_event ev;
  (void)mida__tb_event_decode(copy, size, &ev, touch, &sum);
  size_t pos = 0;
  while (pos < size) {
    mida__tfr_frame fr;
    mida__tfr_status st = mida__tfr_next(copy + pos, size - pos, 1u << 20, &fr);
    if (st == MIDA_TFR_PARTIAL)
      break;
    if (fr.consumed == 0 || fr.consumed > size - pos)
      abort();
    if (st == MIDA_TFR_RECORD) {
      if (fr.data < copy + pos || fr.data + fr.data_len > copy + size)
        abort();
      (void)mida__tb_event_decode(fr.data, fr.data_len, &ev, touch, &sum);
    }
    pos += fr.consumed;
  }
  free(copy);
  volatile size_t sink = sum; /* keeps the reads from being optimized out */
  (void)sink;
  return 0;
}
