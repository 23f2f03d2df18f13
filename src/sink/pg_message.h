/*
 * pg_message.h -- a PostgreSQL error message without the values of the
 * records it quotes (pg_message.c).
 *
 * libpq's message for a failed write may quote the data: a COPY cut short
 * by a terminated connection ends in "CONTEXT:  COPY task, line 12:
 * \"<the row's values>\"", a constraint in "DETAIL:  Key (id)=(...)". The
 * writer's messages go to logs, `mida stats` and `mida ingest`'s output,
 * and a record's values may be anything a program passed (an argument
 * holding a password): so they keep the message's first lines, up to its
 * DETAIL or CONTEXT, as the refusal of a record never quotes it either
 * (pg_isolate.h). The reader's messages (a user's own query) are left
 * whole.
 */
#ifndef MIDA_SINK_PG_MESSAGE_H
#define MIDA_SINK_PG_MESSAGE_H

#include <stddef.h>

/* msg (NULL: "") up to its first line that opens with "DETAIL:" or
 * "CONTEXT:" (after any indent), into buf of cap bytes (cut to fit).
 * Returns buf. */
const char *mida__pg_message_without_data(const char *msg, char *buf,
                                          size_t cap);

#endif
