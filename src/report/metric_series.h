/*
 * metric_series.h -- the metric series of a scope's tasks, each with its
 * last point, as the exports give them: the PROV entity of a series
 * (prov.c) and a task's metrics in the task walk (common.c), which the
 * RO-Crate and OpenLineage exports write (rocrate.c, openlineage.c).
 *
 * A series is the points of one (task, key). Its last point is that of
 * the highest step, a point without a step coming before any with one,
 * then of the latest time: the same on SQLite and PostgreSQL, which order
 * NULLs differently. Each of the three lookups reads the series' points
 * through the metric table's key (task_id, key, ...).
 */
#ifndef MIDA_REPORT_METRIC_SERIES_H
#define MIDA_REPORT_METRIC_SERIES_H

/* One column of the last point of the series of metric m. */
#define MIDA_METRIC_LAST_SQL(col)                                              \
  "(SELECT l." col " FROM metric l WHERE l.task_id = m.task_id"                \
  " AND l.key = m.key ORDER BY CASE WHEN l.step IS NULL THEN 0 ELSE 1 END"     \
  " DESC, l.step DESC, l.ts DESC LIMIT 1)"

/* The series of the scope's tasks ({t}, report_int.h): task_id, key,
 * points (how many), and the last point's value (NULL for NaN, which
 * SQLite stores as NULL), step (NULL: none) and ts (ns). Unordered. */
#define MIDA_METRIC_SERIES_SQL                                                 \
  "SELECT m.task_id AS task_id, m.key AS key, count(*) AS points, "           \
  MIDA_METRIC_LAST_SQL("value") " AS value, "                                  \
  MIDA_METRIC_LAST_SQL("step") " AS step, "                                    \
  MIDA_METRIC_LAST_SQL("ts") " AS ts FROM metric m JOIN task t"                \
  " ON t.id = m.task_id WHERE {t} GROUP BY m.task_id, m.key"

#endif /* MIDA_REPORT_METRIC_SERIES_H */
