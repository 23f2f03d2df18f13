/*
 * nats_trim.c -- purges what every consumer acknowledged from a JetStream
 * stream (nats_trim.h).
 *
 * Why the bound is safe: a consumer's acknowledgement floor is the stream
 * sequence up to which it has acknowledged every message of its filter;
 * the bound is the lowest floor of the consumers whose filter takes the
 * subject, read before the purge, and a floor only moves forward, so a
 * consumer that moves on meanwhile only leaves more behind it than is
 * purged.
 */
#include "sink/nats_trim.h"

#include "mida.h"
#include "sink/nats_error.h"
#include "sink/nats_stream.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Whether the consumer ci reads subject: its filter takes it, or it has
 * none (the whole stream). */
static int reads_subject(const jsConsumerInfo *ci, const char *subject) {
  const char *filter = ci->Config != NULL ? ci->Config->FilterSubject : NULL;
  return filter == NULL || filter[0] == '\0' ||
         mida__nats_subject_matches(filter, subject);
}

/* Whether stream captures subject alone (the stream mida makes), not
 * several subjects, as one an administrator made may. */
static natsStatus captures_it_alone(jsCtx *js, const char *stream,
                                    const char *subject, int *alone) {
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
  if (s != NATS_OK)
    return s;
  *alone = si->Config != NULL && si->Config->SubjectsLen == 1 &&
           strcmp(si->Config->Subjects[0], subject) == 0;
  jsStreamInfo_Destroy(si);
  return NATS_OK;
}

int mida__nats_trim_acknowledged(jsCtx *js, const char *stream,
                                 const char *subject, char *why,
                                 size_t whylen) {
  int alone = 0;
  natsStatus s = captures_it_alone(js, stream, subject, &alone);
  if (s == NATS_NOT_FOUND || (s == NATS_OK && !alone))
    return MIDA_OK; /* no stream; or others' subjects too: theirs to keep */
  if (s != NATS_OK) {
    snprintf(why, whylen, "reading the stream %s: %s", stream,
             mida__nats_error(s));
    return MIDA_EDENIED;
  }
  jsConsumerInfoList *list = NULL;
  jsErrCode jerr = 0;
  s = js_Consumers(&list, js, stream, NULL, &jerr);
  if (s == NATS_NOT_FOUND)
    return MIDA_OK; /* no consumer (or no stream): nothing acknowledged */
  if (s != NATS_OK) {
    snprintf(why, whylen, "listing the consumers of %s: %s", stream,
             mida__nats_error(s));
    return MIDA_EDENIED;
  }
  uint64_t bound = UINT64_MAX;
  for (int i = 0; i < list->Count; i++) {
    const jsConsumerInfo *ci = list->List[i];
    if (ci != NULL && reads_subject(ci, subject) &&
        ci->AckFloor.Stream < bound)
      bound = ci->AckFloor.Stream;
  }
  jsConsumerInfoList_Destroy(list);
  if (bound == UINT64_MAX || bound == 0)
    return MIDA_OK; /* none reads it, or one has acknowledged nothing */
  /* The whole stream up to the bound, not the subject's messages: a purge
   * filtered by subject (nats-server 2.9.10) also drops from a consumer's
   * pending list messages that it did not purge, which were then never
   * redelivered: a consumer killed with messages in hand lost them. */
  jsOptions o;
  jsOptions_Init(&o);
  o.Stream.Purge.Sequence = bound + 1; /* up to bound, included */
  s = js_PurgeStream(js, stream, &o, &jerr);
  if (s != NATS_OK) {
    snprintf(why, whylen, "purging %s: %s", stream, mida__nats_error(s));
    return MIDA_EDENIED;
  }
  return MIDA_OK;
}
