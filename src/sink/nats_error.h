/*
 * nats_error.h -- libnats' last error as a sentence a user can read, for
 * the nats sink (nats.c) and its stream purge (nats_trim.c).
 *
 * libnats keeps the last error of each thread as "(conn.c:2088): No
 * server available for connection": the place in libnats' own sources
 * that set it, then the reason. The place says nothing to a user and
 * changes with each libnats release; mida's messages give the reason
 * alone, as they do a libpq or hiredis error.
 */
#ifndef MIDA_SINK_NATS_ERROR_H
#define MIDA_SINK_NATS_ERROR_H

/* text without a leading "(FILE:LINE): " (FILE any characters but '(',
 * ')' and ':' and spaces, LINE digits); text itself if it has none. NULL
 * stays NULL. Pure. */
const char *mida__nats_error_reason(const char *text);

#ifdef NATS_H_
/* The last error of libnats in this thread, as its reason (above), else
 * the text of status s (nats.c: libnats is linked into the nats module
 * alone). */
const char *mida__nats_error(natsStatus s);
#endif

#endif /* MIDA_SINK_NATS_ERROR_H */
