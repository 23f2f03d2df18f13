/*
 * redis_trim.h -- deletes from a Redis stream the entries that every
 * consumer group has acknowledged, for redis.c's consumer.
 *
 * XACK takes an entry out of a group's pending list but leaves it in the
 * stream: without a trim, Redis would keep every record ever shipped, in
 * memory (about 390 bytes a task), until it runs out. A consumer of
 * `mida ingest` therefore trims, now and then, up to the oldest entry that
 * some group may still need: for each group of the stream (XINFO GROUPS),
 * its oldest pending entry (XPENDING), or, when none is pending, the last
 * entry delivered to it; then XTRIM MINID. What a group has not read yet
 * -- another store's group, one made and not yet started -- stays, so
 * that no group loses an entry; a group that is never read again keeps
 * everything after its last read (delete it: XGROUP DESTROY).
 */
#ifndef MIDA_SINK_REDIS_TRIM_H
#define MIDA_SINK_REDIS_TRIM_H

#include "sink/redis_link.h"

#include <stddef.h>

/* Trims stream on l as above. Returns MIDA_OK (trimmed, or nothing to
 * trim), MIDA_EDENIED when Redis refused a command (an ACL without
 * +xinfo|groups, +xpending or +xtrim; a Redis older than 6.2, which has
 * no MINID), with Redis's error in why, or MIDA_EIO when the link broke
 * (it must then be closed). Trimming late loses nothing. */
int mida__redis_trim_acknowledged(mida__redis_link *l, const char *stream,
                                  char *why, size_t whylen);

#endif /* MIDA_SINK_REDIS_TRIM_H */
