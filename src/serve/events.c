/*
 * events.c -- GET /api/events: a Server-Sent Events stream of new and
 * changed workflows and tasks (a task whose metric points grew is a
 * changed task).
 *
 * One poller thread looks at the store every event_poll_ms (200 ms by
 * default) for rows whose change number (schema.h, "Change numbers") lies
 * in [cursor, horizon): two index range scans on task_by_seq and
 * workflow_by_seq, which cost nothing when nothing changed. What it finds
 * becomes one SSE message per kind, kept in a ring of the last
 * EVENT_RING messages; every open stream (one thread each, http.c) waits
 * on a condition variable and copies the messages it has not sent yet.
 * So any number of open dashboards cost the store one query pair per
 * poll, and a task that ends is on every open page within a poll interval
 * and a network round trip.
 *
 * A stream that falls more than EVENT_RING messages behind, a poll that
 * finds more than EVENT_MAX_TASKS changed tasks (a bulk load) or more
 * than MIDA_SERVE_EVENT_MAX bytes of them, or one
 * that finds the horizon gone back (another store at the URL) gets an
 * "event: reset": the page reloads what it shows instead of applying
 * changes one by one. Messages carry ids, from 1; a client that
 * reconnects with ?since=ID resumes after it, and one whose ID this
 * server never sent (it was restarted) gets the reset at once.
 *
 * What a stream misses is counted in srv->drops (serve.h, shown by
 * /api/stats): the resets of streams too far behind and the messages they
 * skipped, the polls sent as a reset, a message that could not be made.
 */
#include "serve/serve.h"
#include "report/workflow_status.h"

#include "core/alloc.h"
#include "mida.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENT_RING 256
#define EVENT_MAX_TASKS 2000
#define EVENT_MAX_WORKFLOWS 200

struct mida__serve_events {
  mida__serve *srv;       /* the server */
  pthread_t thread;       /* the poller */
  pthread_mutex_t lock;   /* guards what follows */
  pthread_cond_t changed; /* a message was added, or stopping */
  char *ring[EVENT_RING]; /* framed messages; message n at n % RING */
  int64_t head;           /* the id of the next message */
  int stopping;           /* 1 once stop was asked */
  int64_t cursor;         /* change numbers below this were looked at */
  char last_error[512];   /* the poller's last store error, "" if none */
};

/* The columns of a changed task (a task summary without its documents). */
static const char task_sql[] =
    "SELECT t.id, t.workflow_id, t.activity, t.status, t.submitted,"
    " t.started, t.ended, t.host, t.worker, t.seq FROM task t"
    " WHERE t.seq >= ?1 AND t.seq < ?2 ORDER BY t.seq LIMIT ?3";
static const char task_kinds[] = "ssssiiissi";

/* The columns of a changed workflow: those of its row on the overview,
 * which the page draws from the event alone (its status as
 * workflow_status.h derives it: a run that begins or ends changes its
 * experiment's), and its task counts. */
static const char workflow_sql[] =
    "SELECT w.id, w.campaign_id, w.name, w.source, w.host,"
    " " MIDA_WORKFLOW_STATUS_SQL " AS status, w.started, w.ended, w.seq,"
    " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id"
    " AND t.status = 'RUNNING') AS running_tasks,"
    " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id"
    " AND t.status = 'FINISHED') AS finished_tasks,"
    " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id"
    " AND t.status = 'ERROR') AS error_tasks,"
    " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id) AS tasks"
    " FROM workflow w WHERE w.id IN (SELECT id FROM workflow"
    " WHERE seq >= ?1 AND seq < ?2 UNION SELECT workflow_id FROM task"
    " WHERE seq >= ?1 AND seq < ?2 AND workflow_id IS NOT NULL)"
    " LIMIT ?3";
static const char workflow_kinds[] = "ssssssiiiiiii";

/* ---- the ring --------------------------------------------------------- */

/* Adds one message (kind, JSON data) to the ring. The data becomes one
 * line: SSE ends a field at a newline, and JSON has newlines only as
 * whitespace between tokens (inside strings they are escaped). */
static void publish(mida__serve_events *ev, const char *kind, char *data) {
  for (char *p = data; *p != '\0'; p++)
    if (*p == '\n' || *p == '\r')
      *p = ' ';
  mida__buf m;
  mida__buf_init(&m, MIDA_SERVE_EVENT_MAX);
  pthread_mutex_lock(&ev->lock);
  int64_t id = ev->head;
  int rc = mida__buf_printf(&m, "id: %" PRId64 "\nevent: %s\ndata: %s\n\n", id,
                            kind, data);
  if (rc != MIDA_OK) { /* past MIDA_SERVE_EVENT_MAX: the pages reload */
    atomic_fetch_add(&ev->srv->drops.batches_reset, 1);
    rc = mida__buf_printf(&m,
                          "id: %" PRId64 "\nevent: reset\ndata: {\"reason\":"
                          " \"many changes\"}\n\n",
                          id);
  }
  if (rc == MIDA_OK) {
    char **slot = &ev->ring[id % EVENT_RING];
    mida__free(*slot);
    *slot = m.ptr; /* the buffer's memory is the message now */
    ev->head++;
    pthread_cond_broadcast(&ev->changed);
  } else {
    atomic_fetch_add(&ev->srv->drops.events_unmade, 1);
    mida__buf_free(&m);
  }
  pthread_mutex_unlock(&ev->lock);
}

/* ---- the poller ------------------------------------------------------- */

/* Publishes the rows of sql in [from, to) as one message of kind. */
static int publish_changes(mida__serve_events *ev, mida__sink *sink,
                           const char *kind, const char *sql, const char *kinds,
                           int64_t from, int64_t to, size_t max,
                           int *overflow) {
  char a[24], b[24], c[24];
  snprintf(a, sizeof a, "%" PRId64, from);
  snprintf(b, sizeof b, "%" PRId64, to);
  snprintf(c, sizeof c, "%zu", max + 1);
  const char *params[3] = {a, b, c};
  mida__resp tmp;
  mida__resp_init(&tmp);
  mida__rows_info info = {.max_rows = max};
  int rc = mida__buf_adds(&tmp.body, "[");
  if (rc == MIDA_OK)
    rc = mida__serve_rows_on(sink, &tmp, sql, params, 3, kinds, &info);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&tmp.body, "]");
  if (rc == MIDA_OK && info.more)
    *overflow = 1;
  else if (rc == MIDA_OK && info.nrows > 0)
    publish(ev, kind, tmp.body.ptr);
  mida__resp_free(&tmp);
  return rc;
}

static void poll_once(mida__serve_events *ev) {
  mida__serve *srv = ev->srv;
  mida__sink *sink = NULL;
  char err[512];
  int rc = mida__serve_acquire(&srv->pool, 1000, &sink, err, sizeof err);
  if (rc != MIDA_OK) {
    snprintf(ev->last_error, sizeof ev->last_error, "%s", err);
    return;
  }
  int64_t horizon = 0;
  rc = mida__serve_horizon(sink, &horizon);
  int overflow = 0;
  if (rc == MIDA_OK && ev->cursor < 0)
    ev->cursor = horizon; /* the stream carries what changes from now on */
  if (rc == MIDA_OK && horizon < ev->cursor) {
    /* Another store at the URL (a SQLite file deleted and made again, a
     * database restored): its change numbers start again below those
     * looked at, and what the pages show is of the old one. */
    publish(ev, "reset", (char[]){"{\"reason\": \"another store\"}"});
    ev->cursor = horizon;
  }
  if (rc == MIDA_OK && horizon > ev->cursor) {
    rc = publish_changes(ev, sink, "workflows", workflow_sql, workflow_kinds,
                         ev->cursor, horizon, EVENT_MAX_WORKFLOWS, &overflow);
    if (rc == MIDA_OK && !overflow)
      rc = publish_changes(ev, sink, "tasks", task_sql, task_kinds, ev->cursor,
                           horizon, EVENT_MAX_TASKS, &overflow);
    if (rc == MIDA_OK && overflow) {
      atomic_fetch_add(&srv->drops.batches_reset, 1);
      publish(ev, "reset", (char[]){"{\"reason\": \"many changes\"}"});
    }
    if (rc == MIDA_OK)
      ev->cursor = horizon;
  }
  if (rc != MIDA_OK)
    snprintf(ev->last_error, sizeof ev->last_error, "%s",
             mida__sink_errmsg(sink));
  else
    ev->last_error[0] = '\0';
  mida__serve_release(&srv->pool, sink, rc == MIDA_ESTORE);
}

/* Waits one poll interval, or until the server stops: a stop wakes it
 * (mida__serve_events_stop broadcasts `changed`). Its nanosleep(2) made a
 * server started with --poll-ms 60000 take up to a minute to exit on
 * SIGTERM. Returns whether the server is stopping. */
static int wait_interval(mida__serve_events *ev) {
  struct timespec deadline;
  mida__serve_deadline(ev->srv->event_poll_ms, &deadline);
  pthread_mutex_lock(&ev->lock);
  int timed_out = 0;
  while (!ev->stopping && !timed_out)
    timed_out =
        pthread_cond_timedwait(&ev->changed, &ev->lock, &deadline) == ETIMEDOUT;
  int stopping = ev->stopping;
  pthread_mutex_unlock(&ev->lock);
  return stopping;
}

static void *poller(void *arg) {
  mida__serve_events *ev = arg;
  pthread_mutex_lock(&ev->lock);
  int stopping = ev->stopping;
  pthread_mutex_unlock(&ev->lock);
  while (!stopping) {
    poll_once(ev);
    stopping = wait_interval(ev);
  }
  return NULL;
}

int mida__serve_events_start(mida__serve *srv, char *err, size_t errlen) {
  mida__serve_events *ev = mida__calloc(1, sizeof *ev);
  if (ev == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  ev->srv = srv;
  ev->cursor = -1;
  /* Ids start at 1: a reset before any message says head - 1, which
   * ?since= takes (it takes no negative id). */
  ev->head = 1;
  if (srv->event_poll_ms <= 0)
    srv->event_poll_ms = 200;
  pthread_mutex_init(&ev->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&ev->changed, &attr);
  pthread_condattr_destroy(&attr);
  if (pthread_create(&ev->thread, NULL, poller, ev) != 0) {
    pthread_mutex_destroy(&ev->lock);
    pthread_cond_destroy(&ev->changed);
    mida__free(ev);
    snprintf(err, errlen, "cannot start the event poller");
    return MIDA_EIO;
  }
  srv->events = ev;
  return MIDA_OK;
}

void mida__serve_events_stop(mida__serve *srv) {
  mida__serve_events *ev = srv->events;
  if (ev == NULL)
    return;
  pthread_mutex_lock(&ev->lock);
  int already = ev->stopping;
  ev->stopping = 1;
  pthread_cond_broadcast(&ev->changed);
  pthread_mutex_unlock(&ev->lock);
  if (!already)
    pthread_join(ev->thread, NULL);
}

void mida__serve_events_free(mida__serve *srv) {
  mida__serve_events *ev = srv->events;
  if (ev == NULL)
    return;
  mida__serve_events_stop(srv);
  for (int i = 0; i < EVENT_RING; i++)
    mida__free(ev->ring[i]);
  pthread_mutex_destroy(&ev->lock);
  pthread_cond_destroy(&ev->changed);
  mida__free(ev);
  srv->events = NULL;
}

int mida__serve_events_next(mida__serve *srv, int64_t *cursor, int wait_ms,
                            mida__buf *out) {
  mida__serve_events *ev = srv->events;
  if (ev == NULL)
    return 0;
  struct timespec deadline;
  mida__serve_deadline(wait_ms, &deadline);
  pthread_mutex_lock(&ev->lock);
  if (*cursor < 0)
    *cursor = ev->head; /* a new stream starts at the next message */
  int timed_out = 0;
  /* An id past the last one sent is of an earlier server: the reset below
   * goes at once, not after a wait in which changes would be missed. */
  while (!ev->stopping && *cursor == ev->head && !timed_out)
    timed_out =
        pthread_cond_timedwait(&ev->changed, &ev->lock, &deadline) == ETIMEDOUT;
  int rc = MIDA_OK;
  if (ev->stopping) {
    pthread_mutex_unlock(&ev->lock);
    return 0;
  }
  if (*cursor < ev->head - EVENT_RING || *cursor > ev->head) {
    /* Behind the ring: a client that stalled, or resumed after a long
     * time away, misses what it did not read. (An id past the head is of
     * an earlier server: nothing of this one's was missed.) */
    if (*cursor < ev->head - EVENT_RING) {
      atomic_fetch_add(&srv->drops.streams_behind, 1);
      atomic_fetch_add(&srv->drops.events_skipped, ev->head - *cursor);
    }
    rc = mida__buf_printf(out,
                          "id: %" PRId64 "\nevent: reset\ndata: {\"reason\":"
                          " \"too far behind\"}\n\n",
                          ev->head - 1);
    *cursor = ev->head;
  }
  for (; *cursor < ev->head && rc == MIDA_OK; ++*cursor) {
    const char *message = ev->ring[*cursor % EVENT_RING];
    size_t len = strlen(message);
    /* What does not fit waits for the next call; one always fits in an
     * empty buffer of MIDA_SERVE_EVENT_BUF. */
    if (out->len > 0 && len > out->max - out->len)
      break;
    rc = mida__buf_add(out, message, len);
  }
  if (rc == MIDA_OK && out->len == 0)
    rc = mida__buf_adds(out, ": keep-alive\n\n");
  pthread_mutex_unlock(&ev->lock);
  return rc == MIDA_OK ? 1 : -1;
}

/* GET /api/events[?since=ID]: the stream (http.c sends it). */
static int get_events(mida__serve *srv, const mida__req *req,
                      mida__resp *resp) {
  long long since = -1;
  if (!mida__param_int(req, resp, "since", 0, INT64_MAX, &since))
    return MIDA_OK;
  if (srv->events == NULL)
    return mida__resp_error(resp, 503, "the event stream is not running");
  resp->events = 1;
  resp->events_from = since < 0           ? -1
                      : since < INT64_MAX ? since + 1
                                          : INT64_MAX;
  resp->content_type = "text/event-stream";
  return MIDA_OK;
}

const mida__route mida__serve_routes_events[] = {
    {"/api/events", get_events, "since"},
    {NULL, NULL, NULL},
};
