/*
 * workflow_error.h -- why a workflow failed, as the exports say it (the
 * OpenLineage FAIL event's error message facet, the RO-Crate run's
 * `error`, the PROV activity's `mida:error`: openlineage.c, rocrate.c,
 * prov.c).
 *
 * The store keeps no error on a workflow: a workflow ends ERROR because
 * something in it failed, and that something is a task, whose error the
 * store has. The reason given is the error of its root task (the command
 * of a `mida run`: "exit status 3", "killed by signal 9 (KILL)"), a task
 * of the workflow with no parent task in it; failing a root with an
 * error, that of any failed task of the workflow (a `with mida.workflow`
 * block left by a task's exception: the exception). Among several, the
 * one that started first (ids break ties), so that the cause, not its
 * consequences, is said. NULL when no failed task of it has an error.
 *
 * The subquery is an index range scan of task_by_workflow(workflow_id,
 * status), the same SQL on SQLite and PostgreSQL. Callers use it only for
 * a workflow whose status is ERROR: a finished workflow may hold a failed
 * task that it recovered from.
 */
#ifndef MIDA_REPORT_WORKFLOW_ERROR_H
#define MIDA_REPORT_WORKFLOW_ERROR_H

/* The error of the workflow aliased w, as an SQL expression. */
#define MIDA_WORKFLOW_ERROR_SQL                                              \
  "(SELECT e.error FROM task e WHERE e.workflow_id = w.id"                     \
  " AND e.status = 'ERROR' AND e.error IS NOT NULL"                            \
  " ORDER BY CASE WHEN e.parent_id IS NULL OR NOT EXISTS (SELECT 1"            \
  " FROM task ep WHERE ep.id = e.parent_id"                                    \
  " AND ep.workflow_id = e.workflow_id) THEN 0 ELSE 1 END,"                    \
  " coalesce(e.started, e.submitted, e.ended, 0), e.id LIMIT 1)"

#endif /* MIDA_REPORT_WORKFLOW_ERROR_H */
