/*
 * iso_time_sql.h -- the SQL text that prints a column of nanoseconds since
 * the epoch as an ISO 8601 time in UTC, for the reading verbs (`mida show`,
 * `tasks`, `workflows`, `telemetry`), the source-key messages and the
 * stores' views task_v and workflow_v (schema.h, postgres.c), which print
 * the same text as the verbs on both stores.
 *
 * The time is cut to the millisecond (or the second) below it, as
 * mida__report_iso_time() does in C for `mida diff` and the exports.
 * SQLite's strftime() of the seconds (`started / 1e9`) rounds to the
 * nearest millisecond, so a task begun at 20.9996 s was 21.000 in `mida
 * show` and 21 in `mida tasks`, 20.999 in `mida diff`; the PostgreSQL
 * store's strftime() (postgres.c) rounds to the nearest microsecond
 * first, so 20.9999996 s was 21.000 there. Dividing the integer column
 * first (an integer division on both stores) leaves whole milliseconds,
 * which neither store's strftime moves.
 *
 * NS is a string literal naming the column (`"t.started"`); the result is
 * a string literal, with the `%` of strftime's format as they are (not for
 * a printf format: pass it as a `%s` argument there).
 */
#ifndef MIDA_SINK_ISO_TIME_SQL_H
#define MIDA_SINK_ISO_TIME_SQL_H

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
#define MIDA_ISO_MS_SQL(NS)                                                    \
  "strftime('%Y-%m-%dT%H:%M:%fZ', (" NS ") / 1000000 / 1e3, 'unixepoch')"

/* "YYYY-MM-DDTHH:MM:SSZ" */
#define MIDA_ISO_S_SQL(NS)                                                     \
  "strftime('%Y-%m-%dT%H:%M:%SZ', (" NS ") / 1000000000, 'unixepoch')"

#endif
