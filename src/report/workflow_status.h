/*
 * workflow_status.h -- a workflow's status as mida's readers give it (the
 * API and so the dashboard: serve/workflows.c and serve/events.c; `mida
 * workflows` and `mida show`: cli/list.c and cli/show.c; `mida diff` and
 * the PROV and RO-Crate exports: diff.c, prov.c, rocrate.c): the stored
 * one, but for an MLflow experiment, which has no status of its own. (The
 * OpenLineage export keeps the stored one: an experiment is no run, and
 * gets no end event with a time it does not have.)
 *
 * MLflow keeps a status per run and none per experiment, so the observer
 * (src/observe/mlflow.c) writes an experiment's workflow without one, and
 * could not keep one right if it wrote it: the store's merge never lowers
 * a status (sink/merge.h), while an experiment runs again whenever a new
 * run of it begins. Its readers derive it from the runs each time they read
 * the workflow:
 *
 *   RUNNING  while any of its runs is RUNNING or SUBMITTED (MLflow's
 *            SCHEDULED);
 *   else     the status of its newest run that has one (by start, else
 *            submission or end; ids break ties): FINISHED, ERROR
 *            (FAILED), CANCELLED (KILLED), LOST -- what became of the last
 *            thing tried;
 *   UNKNOWN  while it has runs and none of them has a status;
 *   NULL     while it has no run (the dashboard says "no run yet").
 *
 * A status stored on an experiment's row is not read: recovery once made
 * every experiment LOST with its observer's pid (docs/observers.md). The
 * first probe is an index range scan of task_by_workflow(workflow_id,
 * status); the second reads the experiment's runs, once none is running.
 * Both are the same SQL on SQLite and PostgreSQL (a missing time sorts as
 * 0 on both).
 */
#ifndef MIDA_REPORT_WORKFLOW_STATUS_H
#define MIDA_REPORT_WORKFLOW_STATUS_H

/* The status of the workflow aliased w, as an SQL expression. */
#define MIDA_WORKFLOW_STATUS_SQL                                             \
  "(CASE WHEN w.source = 'mlflow' THEN coalesce("                              \
  "(SELECT 'RUNNING' FROM task r WHERE r.workflow_id = w.id"                   \
  " AND r.status IN ('RUNNING', 'SUBMITTED') LIMIT 1),"                        \
  " (SELECT r.status FROM task r WHERE r.workflow_id = w.id"                   \
  " AND r.status IS NOT NULL"                                                  \
  " ORDER BY coalesce(r.started, r.submitted, r.ended, 0) DESC, r.id DESC"     \
  " LIMIT 1),"                                                                 \
  " (SELECT 'UNKNOWN' FROM task r WHERE r.workflow_id = w.id LIMIT 1))"        \
  " ELSE w.status END)"

#endif /* MIDA_REPORT_WORKFLOW_STATUS_H */
