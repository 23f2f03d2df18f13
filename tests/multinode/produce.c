/*
 * produce.c -- a producer for the multi-node tests and benchmarks: one
 * workflow of N tasks through the public C API, into the store named by
 * MIDA_STORE (a broker URL in these tests), then mida_close().
 *
 * usage: mida_produce TASKS LABEL [FLUSH_TIMEOUT_MS]
 *
 * Each task gets activity LABEL, used {"i": n, "p": "LABEL"} and generated
 * {"ok": true, "i": n}, and ends FINISHED. Prints "produced N" and the
 * workflow id. Exit status 0 when every call succeeded and the final flush
 * did (retrying it for FLUSH_TIMEOUT_MS, default 120000, while the sink
 * fails, e.g. during a broker outage); 1 otherwise, with the
 * reason on stderr.
 */
#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mida_produce TASKS LABEL [FLUSH_TIMEOUT_MS]\n");
    return 2;
  }
  long tasks = strtol(argv[1], NULL, 10);
  const char *label = argv[2];
  int flush_ms = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 120000;
  char err[512] = "";
  mida_session_t *s = NULL;
  int rc = mida_open(NULL, &s, err, sizeof err);
  if (rc != MIDA_OK) {
    fprintf(stderr, "mida_produce: cannot open: %s\n", err);
    return 1;
  }
  mida_workflow_info_t wi = {.name = label, .source = "api"};
  mida_id_t wf;
  rc = mida_workflow_begin(s, &wi, &wf);
  /* MIDA_PRODUCE_RATE=N: at most N tasks a second, so that an outage can
   * fall in the middle of a run. */
  const char *rate_text = getenv("MIDA_PRODUCE_RATE");
  long rate = rate_text != NULL ? strtol(rate_text, NULL, 10) : 0;
  int64_t t0 = mida_now_ns();
  char used[128], gen[128];
  for (long i = 0; i < tasks && rc == MIDA_OK; i++) {
    if (rate > 0 && i % 100 == 0) {
      int64_t due = t0 + (int64_t)(1e9 * (double)i / (double)rate);
      int64_t now = mida_now_ns();
      if (due > now) {
        struct timespec pause = {(time_t)((due - now) / 1000000000),
                                 (long)((due - now) % 1000000000)};
        nanosleep(&pause, NULL);
      }
    }
    snprintf(used, sizeof used, "{\"i\": %ld, \"p\": \"%s\"}", i, label);
    snprintf(gen, sizeof gen, "{\"ok\": true, \"i\": %ld}", i);
    mida_task_info_t ti = {.activity = label, .workflow = &wf, .used = used};
    mida_id_t t;
    rc = mida_task_begin(s, &ti, &t);
    if (rc == MIDA_OK)
      rc = mida_task_end(s, &t, MIDA_STATUS_FINISHED, gen, NULL);
  }
  if (rc == MIDA_OK)
    rc = mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED);
  if (rc != MIDA_OK) {
    fprintf(stderr, "mida_produce: capture failed: %s\n", mida_strerror(rc));
    mida_close(s);
    return 1;
  }
  /* A broker outage does not end the flush early: it waits up to its
   * timeout while the shipper retries (the journal holds the records). */
  rc = mida_flush(s, flush_ms);
  if (rc != MIDA_OK)
    fprintf(stderr, "mida_produce: flush: %s: %s\n", mida_strerror(rc),
            mida_errmsg(s));
  int crc = mida_close(s);
  if (crc != MIDA_OK)
    fprintf(stderr, "mida_produce: close: %s\n", mida_strerror(crc));
  char wfid[MIDA_ID_STRLEN];
  printf("produced %ld %s\n", tasks, mida_id_format(&wf, wfid));
  return rc == MIDA_OK && crc == MIDA_OK ? 0 : 1;
}
