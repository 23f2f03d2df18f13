/*
 * ship.h -- journal frames into a sink: what the shipper (shipper.c) and
 * recovery (recovery.c) share, so that neither needs the other's header.
 */
#ifndef MIDA_CAPTURE_SHIP_H
#define MIDA_CAPTURE_SHIP_H

#include "capture/journal.h"
#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>

#define MIDA_SHIP_BATCH 4096 /* frames per sink batch */

/* Decodes n frames into recs, leaving out (and counting in *undecodable)
 * those that do not decode. Returns the number of records. */
size_t mida__decode_frames(const mida__frame *frames, size_t n,
                           mida__rec *recs, uint64_t *undecodable);

/* Decodes frames into recs (same count) and sends them to sink with origin.
 * Frames that do not decode are left out and counted in *undecodable.
 * Returns the sink's result. Used by the shipper and by recovery. */
int mida__ship_frames(mida__sink *sink, const mida__frame *frames, size_t n,
                      mida__rec *recs, const mida__origin *origin,
                      uint64_t *undecodable);

#endif /* MIDA_CAPTURE_SHIP_H */
