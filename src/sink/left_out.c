/*
 * left_out.c -- the count of records a broker sink leaves out, per
 * origin, and the notice that names the first (left_out.h).
 */
#include "sink/left_out.h"

#include <stdio.h>
#include <string.h>

static int same_origin(const mida__left_out *lo, const char *host,
                       int64_t pid) {
  return lo->pid == pid && strcmp(lo->host, host) == 0;
}

uint64_t mida__left_out_note(mida__left_out *lo, mida__sink *sink,
                             const mida__origin *o, const mida__rec *rec,
                             size_t bytes, const char *where,
                             const char *why) {
  const char *host = o != NULL && o->host != NULL ? o->host : "";
  int64_t pid = o != NULL ? o->pid : 0;
  if (!same_origin(lo, host, pid)) {
    snprintf(lo->host, sizeof lo->host, "%s", host);
    lo->pid = pid;
    lo->count = 0;
  }
  lo->count++;
  sink->refused++;
  if (sink->notice[0] == '\0') /* the first is kept until taken */
    snprintf(sink->notice, sizeof sink->notice,
             "%s cannot take a %s record of %zu bytes in one message (%s):"
             " it was left out and counted (counter refused), the other"
             " records sent; raise the broker's message size limit to keep"
             " such records",
             where, mida__rec_type_name(rec->type), bytes, why);
  return lo->count;
}
