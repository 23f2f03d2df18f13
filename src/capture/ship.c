/*
 * ship.c -- journal frames into a sink (ship.h).
 */
#include "capture/ship.h"

size_t mida__decode_frames(const mida__frame *frames, size_t n,
                           mida__rec *recs, uint64_t *undecodable) {
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    if (frames[i].version != MIDA_RECORD_VERSION ||
        mida__rec_decode(frames[i].type, frames[i].payload, frames[i].len,
                         &recs[used]) != MIDA_OK) {
      (*undecodable)++;
      continue;
    }
    used++;
  }
  return used;
}

int mida__ship_frames(mida__sink *sink, const mida__frame *frames, size_t n,
                      mida__rec *recs, const mida__origin *origin,
                      uint64_t *undecodable) {
  size_t used = mida__decode_frames(frames, n, recs, undecodable);
  if (used == 0)
    return MIDA_OK;
  return mida__sink_put_batch(sink, recs, used, origin);
}
