/*
 * redis_trim.c -- trims what every group acknowledged from a Redis stream
 * (redis_trim.h).
 *
 * Why the bound is safe: a group's entries older than its oldest pending
 * one, and not after its last delivered one, were all acknowledged by it;
 * the bound is the lowest such point over all groups, read before the
 * trim, and each group's point only moves forward, so a group that moves
 * on meanwhile only leaves more behind it than is trimmed.
 */
#include "sink/redis_trim.h"

#include "mida.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream entry's id, <milliseconds>-<sequence>. */
typedef struct entry_id {
  unsigned long long ms;  /* its time part */
  unsigned long long seq; /* its sequence within that millisecond */
} entry_id;

/* Reads the id text s into id; 0 if s is not one. */
static int parse_id(const char *s, entry_id *id) {
  char *end;
  errno = 0;
  id->ms = strtoull(s, &end, 10);
  if (end == s || *end != '-' || errno != 0)
    return 0;
  const char *seq = end + 1;
  id->seq = strtoull(seq, &end, 10);
  return end != seq && *end == '\0' && errno == 0;
}

static int id_before(entry_id a, entry_id b) {
  return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq);
}

/* The value of field name in the reply r of fields and values
 * [name1, value1, name2, value2, ...], or NULL. */
static const redisReply *field(const redisReply *r, const char *name) {
  for (size_t i = 0; i + 1 < r->elements; i += 2)
    if (r->element[i]->type == REDIS_REPLY_STRING &&
        strcmp(r->element[i]->str, name) == 0)
      return r->element[i + 1];
  return NULL;
}

/* Says what r is, when it is not the answer wanted: MIDA_EIO when there
 * is none (the link broke), else MIDA_EDENIED with Redis's error. */
static int refused(mida__redis_link *l, redisReply *r, const char *what,
                   char *why, size_t whylen) {
  int rc = r == NULL ? MIDA_EIO : MIDA_EDENIED;
  snprintf(why, whylen, "%s: %s", what,
           r == NULL                         ? mida__redis_link_error(l)
           : r->type == REDIS_REPLY_ERROR ? r->str
                                             : "unexpected reply");
  if (r != NULL)
    freeReplyObject(r);
  return rc;
}

/* Where the group g (one element of XINFO GROUPS) may be trimmed up to:
 * its oldest pending entry, else its last delivered one, in *at. */
static int group_bound(mida__redis_link *l, const char *stream,
                       const redisReply *g, entry_id *at, char *why,
                       size_t whylen) {
  const redisReply *name = field(g, "name");
  const redisReply *last = field(g, "last-delivered-id");
  const redisReply *pending = field(g, "pending");
  if (name == NULL || name->type != REDIS_REPLY_STRING || last == NULL ||
      last->type != REDIS_REPLY_STRING || !parse_id(last->str, at) ||
      pending == NULL || pending->type != REDIS_REPLY_INTEGER) {
    snprintf(why, whylen, "XINFO GROUPS: unexpected reply");
    return MIDA_EDENIED;
  }
  if (pending->integer == 0)
    return MIDA_OK;
  /* [count, oldest id, newest id, consumers]; the oldest is nil when the
   * group acknowledged everything since XINFO: its last delivered then
   * stands. */
  redisReply *r =
      mida__redis_link_command(l, "XPENDING %s %s", stream, name->str);
  if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
    return refused(l, r, "XPENDING", why, whylen);
  entry_id oldest;
  if (r->element[1]->type == REDIS_REPLY_STRING &&
      parse_id(r->element[1]->str, &oldest) && id_before(oldest, *at))
    *at = oldest;
  freeReplyObject(r);
  return MIDA_OK;
}

int mida__redis_trim_acknowledged(mida__redis_link *l, const char *stream,
                                  char *why, size_t whylen) {
  redisReply *groups = mida__redis_link_command(l, "XINFO GROUPS %s", stream);
  if (groups != NULL && groups->type == REDIS_REPLY_ERROR &&
      strstr(groups->str, "no such key") != NULL) {
    freeReplyObject(groups); /* gone with a Redis restarted empty */
    return MIDA_OK;
  }
  if (groups == NULL || groups->type != REDIS_REPLY_ARRAY)
    return refused(l, groups, "XINFO GROUPS", why, whylen);
  entry_id bound = {0, 0};
  int rc = MIDA_OK;
  for (size_t i = 0; i < groups->elements && rc == MIDA_OK; i++) {
    entry_id at;
    const redisReply *g = groups->element[i];
    if (g->type != REDIS_REPLY_ARRAY) {
      snprintf(why, whylen, "XINFO GROUPS: unexpected reply");
      rc = MIDA_EDENIED;
      break;
    }
    rc = group_bound(l, stream, g, &at, why, whylen);
    if (rc == MIDA_OK && (i == 0 || id_before(at, bound)))
      bound = at;
  }
  size_t n = groups->elements;
  freeReplyObject(groups);
  if (rc != MIDA_OK || n == 0 || (bound.ms == 0 && bound.seq == 0))
    return rc; /* no group, or one that has read nothing: nothing to trim */
  char minid[48];
  snprintf(minid, sizeof minid, "%llu-%llu", bound.ms, bound.seq);
  redisReply *r =
      mida__redis_link_command(l, "XTRIM %s MINID %s", stream, minid);
  if (r == NULL || r->type != REDIS_REPLY_INTEGER)
    return refused(l, r, "XTRIM", why, whylen);
  freeReplyObject(r);
  return MIDA_OK;
}
