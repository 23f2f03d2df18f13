/*
 * mlflow_lives.h -- the lives of an MLflow run, which the MLflow observer
 * records as runs (executions) of the run's task.
 *
 * MLflow lets a script resume a run that ended (mlflow.start_run(run_id=
 * ...)): the run is RUNNING again, keeps its start_time and, in both the
 * file and the SQL stores, its end_time, until it ends again with a new
 * end_time and status. MLflow keeps no other trace of the resume. The
 * observer counts a run's lives: life 1 from MLflow's start_time; a new
 * life each time it sees the run not ended after it had seen the life
 * before ended, started when it saw that. Each life is a run of the task
 * (mida_task_run, table task_run), so that the task is RUNNING again while
 * resumed and shows its attempts (the store's summary, schema.h).
 *
 * The observer keeps a run's life in the store's source_cursor table, key
 * "life.<run uuid>", text "<n> <started ns> <R|E>" (version 1: R while
 * the life is seen running, E once seen ended), written when it changes,
 * after the records it covers; a restarted observer reads it back, so that
 * reading an unchanged run again makes no new life, and a run resumed while
 * no observer ran is still seen resumed. A run without a cursor is in its
 * first life. What passes between two reads is not seen: a run resumed and
 * ended again between them stays in its life, with the later end.
 */
#ifndef MIDA_OBSERVE_MLFLOW_LIVES_H
#define MIDA_OBSERVE_MLFLOW_LIVES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIDA__MLF_LIFE_KEY "life." /* the cursor key's prefix */

typedef struct mida__mlf_life {
  int64_t n;          /* the run's life: 1, and 1 more per resume; 0: the
                         run was never seen */
  int64_t started_ns; /* when the life started (ns since the epoch) */
  bool ended;         /* the life was seen ended */
} mida__mlf_life;

/* Moves life to what MLflow says of the run now: ended (its status is
 * FINISHED, FAILED or KILLED), its start_time (ns, for life 1), at now_ns
 * (the time a new life starts). Returns whether life changed, i.e. its
 * cursor is to be written. */
bool mida__mlf_life_step(mida__mlf_life *life, bool ended, int64_t start_ns,
                         int64_t now_ns);

/* Writes life's cursor text into buf (cap bytes); returns its length, or
 * 0 when it does not fit. */
size_t mida__mlf_life_format(const mida__mlf_life *life, char *buf,
                             size_t cap);

/* Reads a cursor text back into life; returns false (life untouched) for
 * a text that is not one. */
bool mida__mlf_life_parse(const char *text, mida__mlf_life *life);

#endif /* MIDA_OBSERVE_MLFLOW_LIVES_H */
