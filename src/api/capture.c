/*
 * capture.c -- the capture calls of the public API: workflows, tasks, runs,
 * data, dependencies and metrics.
 *
 * This is the hot path. Each call checks its arguments (JSON included),
 * computes the exact size of its record, reserves a frame in the journal,
 * encodes the record straight into it and commits it: a clock read, a
 * compare-and-swap and a copy, with no lock, no system call and no
 * allocation. Per-task telemetry (src/telemetry/telemetry.h), on by default,
 * adds one getrusage() to mida_task_begin (none when the thread's latest
 * snapshot is recent) and to mida_task_end, and the summary to the end
 * record; it allocates nothing either. A task's begin reads the clock once
 * (its id, its start time, the snapshot's age), its end once (the end
 * snapshot's time is its end time). Errors are reported through
 * mida__session_error(), which formats only on the failure path.
 */
#include "api/session.h"

#include "core/alloc.h"
#include "core/host.h"
#include "core/id.h"
#include "core/json.h"
#include "core/record.h"
#include "core/thread_task.h"
#include "telemetry/telemetry.h"

#include <string.h>
#include <unistd.h>

/* A string argument about to be encoded. */
typedef struct arg {
  const char *s; /* NULL when absent */
  size_t len;    /* bytes */
} arg;

static arg text_arg(const char *s) {
  arg a = {s, s != NULL ? strlen(s) : 0};
  return a;
}

/* A JSON-object argument: checked before anything is written. */
static int json_arg(const mida_session_t *s, const char *what,
                    const char *text, arg *out) {
  *out = text_arg(text);
  if (text == NULL)
    return MIDA_OK;
  size_t where = 0;
  if (mida__json_check(text, out->len, true, &where) != MIDA_OK)
    return mida__session_error(s, MIDA_EJSON,
                               "%s is not a JSON object (error at byte %zu)",
                               what, where);
  return MIDA_OK;
}

/* Rejects a caller's struct smaller than version 1 of its type. */
static int struct_ok(const mida_session_t *s, const char *what,
                     size_t struct_size, size_t v1_size) {
  if (mida__struct_size_ok(struct_size, v1_size))
    return MIDA_OK;
  return mida__session_error(s, MIDA_EINVAL,
                             "%s: struct_size %zu is neither 0 nor the "
                             "size of a %s",
                             what, struct_size, what);
}

static size_t str_size(const arg *a) {
  return a->s != NULL ? mida__enc_size_str(a->len) : 0;
}

/* Checks the session for a capture call. */
static int usable(const mida_session_t *s) {
  if (s == NULL)
    return mida__set_error(MIDA_EINVAL, "no session");
  if (atomic_load_explicit(&s->closed, memory_order_relaxed))
    return mida__session_error(s, MIDA_ECLOSED, "the session is closed");
  return MIDA_OK;
}

/* Reserves a frame for a record of payload size bytes and starts encoding
 * into it. */
static int begin_record(mida_session_t *s, uint16_t type, size_t size,
                        mida__slot *slot, mida__enc *enc) {
  int rc = mida__journal_reserve(s->journal, type, size, slot);
  if (rc == MIDA_EFULL) {
    /* Why there is no room, when the journal knows (no spool, a full
     * disk, MIDA_SPOOL_MAX): "journal full" alone sent people looking
     * for a journal that was never made. */
    char why[384];
    if (mida__journal_space(s->journal, why, sizeof why) != MIDA_OK &&
        why[0] != '\0')
      return mida__session_error(s, rc,
                                 "no room to keep it (%s): record dropped "
                                 "(counted)",
                                 why);
    return mida__session_error(s, rc,
                               "journal full: record dropped (counted)");
  }
  if (rc == MIDA_ETOOBIG)
    return mida__session_error(s, rc,
                               "record of %zu bytes is too big for the "
                               "journal (raise MIDA_JOURNAL_BYTES)",
                               size);
  if (rc != MIDA_OK)
    return mida__session_error(s, rc, "journal: %s", mida_strerror(rc));
  mida__enc_init(enc, slot->payload, slot->len);
  return MIDA_OK;
}

static void end_record(mida_session_t *s, mida__slot *slot) {
  mida__journal_commit(s->journal, slot);
}

static void enc_arg(mida__enc *e, unsigned tag, const arg *a) {
  if (a->s != NULL)
    mida__enc_str(e, tag, a->s, a->len);
}

static void enc_opt_id(mida__enc *e, unsigned tag, const mida_id_t *id) {
  if (!mida__id_nil(id))
    mida__enc_id(e, tag, id);
}

static size_t opt_id_size(const mida_id_t *id) {
  return mida__id_nil(id) ? 0 : mida__enc_size_id();
}

int mida__session_put(mida_session_t *s, const mida__rec *rec) {
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  size_t size = mida__rec_encoded_size(rec);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, rec->type, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__rec_encode(rec, slot.payload, slot.len);
  end_record(s, &slot);
  return MIDA_OK;
}

/* ---- campaigns and workflows ------------------------------------------ */

mida_id_t mida_campaign_id(const mida_session_t *s, const char *name) {
  if (name != NULL)
    return mida_id_from_name("campaign", name);
  mida_id_t nil = {{0}};
  return s != NULL ? s->campaign : nil;
}

/* Keeps campaign as workflow wf's, for its tasks (task_campaign). Past
 * the table's bound it is not kept: its tasks get the session's. */
static void keep_campaign(mida_session_t *s, const mida_id_t *wf,
                          const mida_id_t *campaign) {
  pthread_mutex_lock(&s->workflow_lock);
  mida__wf_campaigns *t = atomic_load(&s->wf_campaigns);
  if (t == NULL) {
    t = mida__calloc(1, sizeof *t);
    if (t != NULL)
      atomic_store_explicit(&s->wf_campaigns, t, memory_order_release);
  }
  if (t != NULL)
    (void)mida__wf_campaigns_put(t, wf, campaign);
  pthread_mutex_unlock(&s->workflow_lock);
}

/* Records a campaign by name (idempotent: the store merges it). */
static int put_campaign(mida_session_t *s, const mida_id_t *id,
                        const char *name, int64_t now) {
  arg n = text_arg(name);
  size_t size = mida__enc_size_id() + str_size(&n) + mida__enc_size_num();
  mida__slot slot;
  mida__enc e;
  int rc = begin_record(s, MIDA_REC_CAMPAIGN, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, id);
  enc_arg(&e, MIDA_F_NAME, &n);
  mida__enc_i64(&e, MIDA_F_CREATED, now);
  end_record(s, &slot);
  return MIDA_OK;
}

int mida_workflow_begin(mida_session_t *s, const mida_workflow_info_t *info,
                        mida_id_t *out) {
  if (info == NULL || out == NULL)
    return mida__session_error(s, MIDA_EINVAL,
                               "workflow info and out are required");
  int rc = usable(s);
  if (rc == MIDA_OK)
    rc = struct_ok(s, "mida_workflow_info_t", info->struct_size,
                   MIDA__WORKFLOW_INFO_V1);
  if (rc != MIDA_OK)
    return rc;
  *out = mida_id_new();
  if (s->disabled)
    return MIDA_OK;
  arg meta;
  rc = json_arg(s, "workflow metadata", info->metadata, &meta);
  if (rc != MIDA_OK)
    return rc;
  int64_t now = info->started_ns ? info->started_ns : mida_now_ns();

  const char *campaign_name =
      info->campaign != NULL ? info->campaign : s->campaign_name;
  mida_id_t campaign = {{0}};
  if (campaign_name != NULL) {
    campaign = mida_id_from_name("campaign", campaign_name);
    rc = put_campaign(s, &campaign, campaign_name, now);
    if (rc != MIDA_OK)
      return rc;
  }

  arg name = text_arg(info->name);
  arg source = text_arg(info->source != NULL ? info->source : "api");
  arg user = text_arg(mida__username());
  arg host = text_arg(mida__hostname());
  size_t size = mida__enc_size_id() + opt_id_size(&campaign) +
                (info->parent ? opt_id_size(info->parent) : 0) +
                str_size(&name) + str_size(&source) + str_size(&user) +
                str_size(&host) + 3 * mida__enc_size_num() + str_size(&meta);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_WORKFLOW, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, out);
  enc_opt_id(&e, MIDA_F_CAMPAIGN, &campaign);
  if (info->parent != NULL)
    enc_opt_id(&e, MIDA_F_PARENT, info->parent);
  enc_arg(&e, MIDA_F_NAME, &name);
  enc_arg(&e, MIDA_F_SOURCE, &source);
  enc_arg(&e, MIDA_F_USER, &user);
  enc_arg(&e, MIDA_F_HOST, &host);
  mida__enc_i64(&e, MIDA_F_PID, (int64_t)getpid());
  mida__enc_i64(&e, MIDA_F_STARTED, now);
  mida__enc_i64(&e, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  enc_arg(&e, MIDA_F_METADATA, &meta);
  end_record(s, &slot);

  if (!info->keep_default) {
    pthread_mutex_lock(&s->workflow_lock);
    mida__shared_id_store(&s->workflow, out);
    pthread_mutex_unlock(&s->workflow_lock);
  }
  if (!mida_id_is_nil(&campaign) &&
      memcmp(campaign.bytes, s->campaign.bytes, sizeof campaign.bytes) != 0)
    keep_campaign(s, out, &campaign);
  return MIDA_OK;
}

/* The campaign of a task of workflow wf: the one wf was begun with here,
 * when it named its own, else the session's. */
static mida_id_t task_campaign(mida_session_t *s, const mida_id_t *wf) {
  mida__wf_campaigns *t =
      atomic_load_explicit(&s->wf_campaigns, memory_order_acquire);
  mida_id_t campaign;
  if (t != NULL && mida__wf_campaigns_get(t, wf, &campaign))
    return campaign;
  return s->campaign;
}

int mida_workflow_end(mida_session_t *s, const mida_id_t *wf,
                      mida_status_t status) {
  if (wf == NULL || mida_id_is_nil(wf))
    return mida__session_error(s, MIDA_EINVAL, "a workflow id is required");
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  size_t size = mida__enc_size_id() + 2 * mida__enc_size_num();
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_WORKFLOW, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, wf);
  mida__enc_i64(&e, MIDA_F_ENDED, mida_now_ns());
  mida__enc_i64(&e, MIDA_F_STATUS, status);
  end_record(s, &slot);
  return MIDA_OK;
}

/* ---- tasks ------------------------------------------------------------- */

int mida_task_begin(mida_session_t *s, const mida_task_info_t *info,
                    mida_id_t *out) {
  if (info == NULL || out == NULL)
    return mida__session_error(s, MIDA_EINVAL,
                               "task info and out are required");
  int rc = usable(s);
  if (rc == MIDA_OK)
    rc = struct_ok(s, "mida_task_info_t", info->struct_size,
                   MIDA__TASK_INFO_V1);
  if (rc != MIDA_OK)
    return rc;
  mida_status_t status =
      info->status != 0 ? info->status : MIDA_STATUS_RUNNING;
  if (status != MIDA_STATUS_RUNNING && status != MIDA_STATUS_SUBMITTED)
    return mida__session_error(s, MIDA_EINVAL,
                               "a task begins RUNNING or SUBMITTED, not %d",
                               (int)status);
  /* One reading of the clock for the new id, the start (or submission)
   * time and the telemetry's snapshot age. */
  int64_t now = 0;
  if (info->id != NULL) {
    *out = *info->id;
  } else {
    now = mida_now_ns();
    *out = mida__id_new_at(now);
  }
  if (s->disabled)
    return MIDA_OK;
  arg used, custom;
  rc = json_arg(s, "used", info->used, &used);
  if (rc == MIDA_OK)
    rc = json_arg(s, "custom", info->custom, &custom);
  if (rc != MIDA_OK)
    return rc;
  arg activity = text_arg(info->activity);
  arg key = text_arg(info->source_key);
  arg worker = text_arg(info->worker);
  mida_id_t wf = info->workflow != NULL ? *info->workflow
                                        : mida__shared_id_load(&s->workflow);
  mida_id_t campaign = task_campaign(s, &wf);
  const mida_id_t *parent =
      info->parent != NULL ? info->parent : &s->parent_task;
  /* A submitted task has not started: it has a submission time (now, if
   * the caller gave none) and no start time. */
  int running = status == MIDA_STATUS_RUNNING;
  int64_t submitted = info->submitted_ns;
  if (now == 0 && ((!running && submitted == 0) ||
                   (running && info->started_ns == 0)))
    now = mida_now_ns();
  if (!running && submitted == 0)
    submitted = now;

  size_t size = mida__enc_size_id() + opt_id_size(&wf) +
                opt_id_size(&campaign) + opt_id_size(parent) +
                str_size(&activity) + mida__enc_size_num() +
                (running ? mida__enc_size_num() : 0) +
                (submitted != 0 ? mida__enc_size_num() : 0) +
                str_size(&used) + str_size(&custom) + str_size(&key) +
                str_size(&worker);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_TASK, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, out);
  enc_opt_id(&e, MIDA_F_WORKFLOW, &wf);
  enc_opt_id(&e, MIDA_F_CAMPAIGN, &campaign);
  enc_opt_id(&e, MIDA_F_PARENT, parent);
  enc_arg(&e, MIDA_F_ACTIVITY, &activity);
  mida__enc_i64(&e, MIDA_F_STATUS, status);
  if (submitted != 0)
    mida__enc_i64(&e, MIDA_F_SUBMITTED, submitted);
  if (running)
    mida__enc_i64(&e, MIDA_F_STARTED,
                  info->started_ns ? info->started_ns : now);
  enc_arg(&e, MIDA_F_USED, &used);
  enc_arg(&e, MIDA_F_CUSTOM, &custom);
  enc_arg(&e, MIDA_F_SOURCE_KEY, &key);
  enc_arg(&e, MIDA_F_WORKER, &worker);
  end_record(s, &slot);
  /* A task that begins RUNNING runs on this thread: the files it opens now
   * are the task's (core/thread_task.h), and the telemetry snapshots
   * bracket its work (taken last, so that they bracket the task's own
   * work only). A SUBMITTED one runs elsewhere or later (a Dask
   * scheduler submits keys that workers run): the thread's files are not
   * its, and no mida_task_end here would ever pop it. */
  if (running) {
    mida__thread_task_push(out);
    mida__telemetry_task_begin(s->telemetry_task, out, now);
  }
  return MIDA_OK;
}

int mida_task_end(mida_session_t *s, const mida_id_t *task,
                  mida_status_t status, const char *generated,
                  const char *error) {
  if (task == NULL || mida__id_nil(task))
    return mida__session_error(s, MIDA_EINVAL, "a task id is required");
  if ((unsigned)status > MIDA_STATUS_LOST)
    return mida__session_error(s, MIDA_EINVAL, "unknown status %d",
                               (int)status);
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  arg gen;
  rc = json_arg(s, "generated", generated, &gen);
  if (rc != MIDA_OK)
    return rc;
  arg err = text_arg(error);
  mida__thread_task_pop(task);
  char tel_buf[MIDA_TELEMETRY_JSON_MAX];
  arg tel = {NULL, 0};
  int64_t ended = 0; /* the clock as read right after the snapshot */
  tel.len = mida__telemetry_task_end(s->telemetry_task, task, tel_buf,
                                     sizeof tel_buf, &ended);
  if (tel.len > 0)
    tel.s = tel_buf;
  if (ended == 0)
    ended = mida_now_ns();
  size_t size = mida__enc_size_id() + 2 * mida__enc_size_num() +
                str_size(&gen) + str_size(&err) + str_size(&tel);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_TASK, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, task);
  mida__enc_i64(&e, MIDA_F_STATUS, status);
  mida__enc_i64(&e, MIDA_F_ENDED, ended);
  enc_arg(&e, MIDA_F_GENERATED, &gen);
  enc_arg(&e, MIDA_F_ERROR, &err);
  enc_arg(&e, MIDA_F_TELEMETRY, &tel);
  end_record(s, &slot);
  return MIDA_OK;
}

int mida_task_update(mida_session_t *s, const mida_id_t *task,
                     const mida_task_update_t *u) {
  if (task == NULL || mida_id_is_nil(task) || u == NULL)
    return mida__session_error(s, MIDA_EINVAL,
                               "a task id and an update are required");
  if ((unsigned)u->status > MIDA_STATUS_LOST)
    return mida__session_error(s, MIDA_EINVAL, "unknown status %d",
                               (int)u->status);
  int rc = usable(s);
  if (rc == MIDA_OK)
    rc = struct_ok(s, "mida_task_update_t", u->struct_size,
                   MIDA__TASK_UPDATE_V1);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  arg used, gen, cus, tel;
  rc = json_arg(s, "used", u->used, &used);
  if (rc == MIDA_OK)
    rc = json_arg(s, "generated", u->generated, &gen);
  if (rc == MIDA_OK)
    rc = json_arg(s, "custom", u->custom, &cus);
  if (rc == MIDA_OK)
    rc = json_arg(s, "telemetry", u->telemetry, &tel);
  if (rc != MIDA_OK)
    return rc;
  arg err = text_arg(u->error);
  arg worker = text_arg(u->worker);
  size_t size = mida__enc_size_id() +
                (u->status != 0 ? mida__enc_size_num() : 0) +
                (u->started_ns != 0 ? mida__enc_size_num() : 0) +
                (u->ended_ns != 0 ? mida__enc_size_num() : 0) +
                (u->pid != 0 ? mida__enc_size_num() : 0) + str_size(&used) +
                str_size(&gen) + str_size(&cus) + str_size(&tel) +
                str_size(&err) + str_size(&worker);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_TASK, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, task);
  if (u->status != 0)
    mida__enc_i64(&e, MIDA_F_STATUS, u->status);
  if (u->started_ns != 0)
    mida__enc_i64(&e, MIDA_F_STARTED, u->started_ns);
  if (u->ended_ns != 0)
    mida__enc_i64(&e, MIDA_F_ENDED, u->ended_ns);
  if (u->pid != 0)
    mida__enc_i64(&e, MIDA_F_PID, u->pid);
  enc_arg(&e, MIDA_F_USED, &used);
  enc_arg(&e, MIDA_F_GENERATED, &gen);
  enc_arg(&e, MIDA_F_CUSTOM, &cus);
  enc_arg(&e, MIDA_F_TELEMETRY, &tel);
  enc_arg(&e, MIDA_F_ERROR, &err);
  enc_arg(&e, MIDA_F_WORKER, &worker);
  end_record(s, &slot);
  return MIDA_OK;
}

void mida_task_enter(const mida_id_t *task) {
  if (task != NULL && !mida_id_is_nil(task))
    mida__thread_task_push(task);
}

void mida_task_leave(const mida_id_t *task) {
  if (task != NULL)
    mida__thread_task_pop(task);
}

int mida_task_annotate(mida_session_t *s, const mida_id_t *task,
                       const char *generated, const char *custom) {
  mida_task_update_t u = {.generated = generated, .custom = custom};
  return mida_task_update(s, task, &u);
}

void mida_task_usage_begin(mida_session_t *s, const mida_id_t *task) {
  if (s != NULL && task != NULL && !s->disabled)
    mida__telemetry_task_begin(s->telemetry_task, task, 0);
}

size_t mida_task_usage_end(mida_session_t *s, const mida_id_t *task,
                           char *buf, size_t cap) {
  if (s == NULL || task == NULL || buf == NULL || s->disabled)
    return 0;
  return mida__telemetry_task_end(s->telemetry_task, task, buf, cap, NULL);
}

int mida_task_run(mida_session_t *s, const mida_id_t *run,
                  const mida_task_run_t *r) {
  if (run == NULL || mida_id_is_nil(run) || r == NULL || r->task == NULL ||
      mida_id_is_nil(r->task))
    return mida__session_error(s, MIDA_EINVAL,
                               "a run id and the run's task are required");
  if ((unsigned)r->status > MIDA_STATUS_LOST)
    return mida__session_error(s, MIDA_EINVAL, "unknown status %d",
                               (int)r->status);
  int rc = usable(s);
  if (rc == MIDA_OK)
    rc = struct_ok(s, "mida_task_run_t", r->struct_size, MIDA__TASK_RUN_V1);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  arg tel;
  rc = json_arg(s, "telemetry", r->telemetry, &tel);
  if (rc != MIDA_OK)
    return rc;
  arg err = text_arg(r->error);
  arg worker = text_arg(r->worker);
  size_t size = 2 * mida__enc_size_id() +
                (r->status != 0 ? mida__enc_size_num() : 0) +
                (r->started_ns != 0 ? mida__enc_size_num() : 0) +
                (r->ended_ns != 0 ? mida__enc_size_num() : 0) + str_size(&tel) +
                str_size(&err) + str_size(&worker);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_RUN, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_ID, run);
  mida__enc_id(&e, MIDA_F_TASK, r->task);
  if (r->status != 0)
    mida__enc_i64(&e, MIDA_F_STATUS, r->status);
  if (r->started_ns != 0)
    mida__enc_i64(&e, MIDA_F_STARTED, r->started_ns);
  if (r->ended_ns != 0)
    mida__enc_i64(&e, MIDA_F_ENDED, r->ended_ns);
  enc_arg(&e, MIDA_F_WORKER, &worker);
  enc_arg(&e, MIDA_F_ERROR, &err);
  enc_arg(&e, MIDA_F_TELEMETRY, &tel);
  end_record(s, &slot);
  return MIDA_OK;
}

int mida_task_dep(mida_session_t *s, const mida_id_t *task,
                  const mida_id_t *upstream) {
  if (task == NULL || upstream == NULL || mida_id_is_nil(task) ||
      mida_id_is_nil(upstream))
    return mida__session_error(s, MIDA_EINVAL,
                               "task and upstream ids are required");
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_DEP, 2 * mida__enc_size_id(), &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_TASK, task);
  mida__enc_id(&e, MIDA_F_PARENT, upstream);
  end_record(s, &slot);
  return MIDA_OK;
}

/* ---- data and metrics -------------------------------------------------- */

int mida_data(mida_session_t *s, const mida_id_t *task, mida_role_t role,
              const mida_data_info_t *data) {
  if (data == NULL || data->uri == NULL || data->uri[0] == '\0')
    return mida__session_error(s, MIDA_EINVAL, "data needs a URI");
  if (role != MIDA_USED && role != MIDA_GENERATED)
    return mida__session_error(s, MIDA_EINVAL,
                               "role must be MIDA_USED or MIDA_GENERATED");
  int rc = usable(s);
  if (rc == MIDA_OK)
    rc = struct_ok(s, "mida_data_info_t", data->struct_size,
                   MIDA__DATA_INFO_V1);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  arg meta;
  rc = json_arg(s, "data metadata", data->metadata, &meta);
  if (rc != MIDA_OK)
    return rc;
  arg uri = text_arg(data->uri);
  arg digest = text_arg(data->digest != NULL && data->digest[0] != '\0'
                            ? data->digest
                            : NULL);
  arg id = digest.s != NULL ? digest : uri;
  arg kind = text_arg(data->kind != NULL ? data->kind : "file");
  arg name = text_arg(data->name);
  const mida_id_t *t = (task != NULL && !mida_id_is_nil(task)) ? task : NULL;
  size_t size = str_size(&id) + str_size(&kind) + str_size(&uri) +
                str_size(&digest) + str_size(&name) + str_size(&meta) +
                (data->size >= 0 ? mida__enc_size_num() : 0) +
                (t != NULL ? mida__enc_size_id() + mida__enc_size_num() : 0);
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_DATA, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  enc_arg(&e, MIDA_F_DATA_ID, &id);
  enc_arg(&e, MIDA_F_KIND, &kind);
  enc_arg(&e, MIDA_F_URI, &uri);
  enc_arg(&e, MIDA_F_DIGEST, &digest);
  if (data->size >= 0)
    mida__enc_i64(&e, MIDA_F_SIZE, data->size);
  enc_arg(&e, MIDA_F_METADATA, &meta);
  if (t != NULL) {
    mida__enc_id(&e, MIDA_F_TASK, t);
    mida__enc_i64(&e, MIDA_F_ROLE, role);
    enc_arg(&e, MIDA_F_NAME, &name);
  }
  end_record(s, &slot);
  return MIDA_OK;
}

int mida_metric(mida_session_t *s, const mida_id_t *task, const char *key,
                int64_t step, int64_t ts_ns, double value) {
  if (task == NULL || mida_id_is_nil(task) || key == NULL || key[0] == '\0')
    return mida__session_error(s, MIDA_EINVAL,
                               "a metric needs a task and a key");
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  arg k = text_arg(key);
  size_t size = mida__enc_size_id() + str_size(&k) +
                (step != MIDA_NO_STEP ? mida__enc_size_num() : 0) +
                2 * mida__enc_size_num();
  mida__slot slot;
  mida__enc e;
  rc = begin_record(s, MIDA_REC_METRIC, size, &slot, &e);
  if (rc != MIDA_OK)
    return rc;
  mida__enc_id(&e, MIDA_F_TASK, task);
  enc_arg(&e, MIDA_F_KEY, &k);
  if (step != MIDA_NO_STEP)
    mida__enc_i64(&e, MIDA_F_STEP, step);
  mida__enc_i64(&e, MIDA_F_TS, ts_ns ? ts_ns : mida_now_ns());
  mida__enc_f64(&e, MIDA_F_VALUE, value);
  end_record(s, &slot);
  return MIDA_OK;
}

/* ---- counters ------------------------------------------------------------ */

int mida_counter(mida_session_t *s, const char *key, int64_t value) {
  if (key == NULL || key[0] == '\0')
    return mida__session_error(s, MIDA_EINVAL, "a counter needs a key");
  int rc = usable(s);
  if (rc != MIDA_OK || s->disabled)
    return rc;
  mida__rec rec;
  mida__rec_counter(&rec, mida__hostname(), (int64_t)getpid(), key, value);
  return mida__session_put(s, &rec);
}
