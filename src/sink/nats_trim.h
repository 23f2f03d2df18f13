/*
 * nats_trim.h -- purges from a JetStream stream the messages of mida's
 * subject that every durable consumer has acknowledged, for nats.c's
 * consumer.
 *
 * An acknowledged message stays in a stream of JetStream's default
 * retention (limits, none set): without a purge the server would keep
 * every record ever shipped, on its disk, until it runs out. A consumer
 * of `mida ingest` therefore purges, now and then, the subject's messages
 * up to the lowest acknowledgement floor of the stream's consumers that
 * read the subject (each group is one durable consumer). What a group has
 * not acknowledged yet stays, so that no group loses a message; a group
 * that is never read again keeps everything after its last read (delete
 * it: nats consumer rm). A stream that an administrator made for several
 * subjects is left alone: its retention is theirs to set.
 */
#ifndef MIDA_SINK_NATS_TRIM_H
#define MIDA_SINK_NATS_TRIM_H

#include <nats/nats.h>
#include <stddef.h>

/* Purges subject's acknowledged messages from stream, as above. Returns
 * MIDA_OK (purged, or nothing to purge) or MIDA_EDENIED with why in why
 * (the server refused: no permission for the consumer list or the purge
 * API; or it could not be reached). Purging late loses nothing. */
int mida__nats_trim_acknowledged(jsCtx *js, const char *stream,
                                 const char *subject, char *why,
                                 size_t whylen);

#endif /* MIDA_SINK_NATS_TRIM_H */
