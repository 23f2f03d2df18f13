/*
 * merge.c -- the merge-rule table of the stores, and the folding of a
 * batch's records into row images that both SQL stores do (see merge.h).
 */
#include "sink/merge.h"

#include "core/alloc.h"
#include "mida.h"

#include <string.h>

/* A column, and one that a task's runs summarise (merge.h, from_runs). */
#define COLUMN(name, tag, rule)                                                \
  { name, tag, rule, 0 }
#define SUMMARISED(name, tag, rule)                                            \
  { name, tag, rule, 1 }

static const mida__merge_column task_columns[] = {
    COLUMN("id", MIDA_F_ID, MIDA_RULE_KEY),
    COLUMN("workflow_id", MIDA_F_WORKFLOW, MIDA_RULE_LAST),
    COLUMN("campaign_id", MIDA_F_CAMPAIGN, MIDA_RULE_LAST),
    COLUMN("parent_id", MIDA_F_PARENT, MIDA_RULE_LAST),
    COLUMN("activity", MIDA_F_ACTIVITY, MIDA_RULE_LAST),
    COLUMN("status", MIDA_F_STATUS, MIDA_RULE_STATUS),
    COLUMN("submitted", MIDA_F_SUBMITTED, MIDA_RULE_MIN),
    SUMMARISED("started", MIDA_F_STARTED, MIDA_RULE_MIN),
    SUMMARISED("ended", MIDA_F_ENDED, MIDA_RULE_MAX),
    SUMMARISED("host", MIDA_F_HOST, MIDA_RULE_ORIGIN),
    SUMMARISED("pid", MIDA_F_PID, MIDA_RULE_ORIGIN),
    SUMMARISED("worker", MIDA_F_WORKER, MIDA_RULE_LAST),
    COLUMN("source_key", MIDA_F_SOURCE_KEY, MIDA_RULE_LAST),
    COLUMN("used", MIDA_F_USED, MIDA_RULE_JSON),
    COLUMN("generated", MIDA_F_GENERATED, MIDA_RULE_JSON),
    COLUMN("custom", MIDA_F_CUSTOM, MIDA_RULE_JSON),
    COLUMN("error", MIDA_F_ERROR, MIDA_RULE_LAST),
    SUMMARISED("telemetry", MIDA_F_TELEMETRY, MIDA_RULE_JSON),
};

static const mida__merge_column workflow_columns[] = {
    COLUMN("id", MIDA_F_ID, MIDA_RULE_KEY),
    COLUMN("campaign_id", MIDA_F_CAMPAIGN, MIDA_RULE_LAST),
    COLUMN("parent_id", MIDA_F_PARENT, MIDA_RULE_LAST),
    COLUMN("name", MIDA_F_NAME, MIDA_RULE_LAST),
    COLUMN("source", MIDA_F_SOURCE, MIDA_RULE_LAST),
    COLUMN("user", MIDA_F_USER, MIDA_RULE_LAST),
    COLUMN("host", MIDA_F_HOST, MIDA_RULE_ORIGIN),
    COLUMN("pid", MIDA_F_PID, MIDA_RULE_ORIGIN),
    COLUMN("started", MIDA_F_STARTED, MIDA_RULE_MIN),
    COLUMN("ended", MIDA_F_ENDED, MIDA_RULE_MAX),
    COLUMN("status", MIDA_F_STATUS, MIDA_RULE_STATUS),
    COLUMN("metadata", MIDA_F_METADATA, MIDA_RULE_JSON),
};

/* One execution of a task (mida_task_run). */
static const mida__merge_column run_columns[] = {
    COLUMN("id", MIDA_F_ID, MIDA_RULE_KEY),
    COLUMN("task_id", MIDA_F_TASK, MIDA_RULE_LAST),
    COLUMN("status", MIDA_F_STATUS, MIDA_RULE_STATUS),
    COLUMN("started", MIDA_F_STARTED, MIDA_RULE_MIN),
    COLUMN("ended", MIDA_F_ENDED, MIDA_RULE_MAX),
    COLUMN("host", MIDA_F_HOST, MIDA_RULE_ORIGIN),
    COLUMN("pid", MIDA_F_PID, MIDA_RULE_ORIGIN),
    COLUMN("worker", MIDA_F_WORKER, MIDA_RULE_LAST),
    COLUMN("error", MIDA_F_ERROR, MIDA_RULE_LAST),
    COLUMN("telemetry", MIDA_F_TELEMETRY, MIDA_RULE_JSON),
};

static const mida__merge_column campaign_columns[] = {
    COLUMN("id", MIDA_F_ID, MIDA_RULE_KEY),
    COLUMN("name", MIDA_F_NAME, MIDA_RULE_LAST),
    COLUMN("created", MIDA_F_CREATED, MIDA_RULE_MIN),
    COLUMN("metadata", MIDA_F_METADATA, MIDA_RULE_JSON),
};

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

_Static_assert(COUNT_OF(task_columns) <= MIDA_MERGE_MAX_COLUMNS,
               "raise MIDA_MERGE_MAX_COLUMNS");

const mida__merge_entity mida__merge_entities[MIDA_ENT_COUNT] = {
    [MIDA_ENT_TASK] = {"task", task_columns, COUNT_OF(task_columns)},
    [MIDA_ENT_WORKFLOW] = {"workflow", workflow_columns,
                           COUNT_OF(workflow_columns)},
    [MIDA_ENT_CAMPAIGN] = {"campaign", campaign_columns,
                           COUNT_OF(campaign_columns)},
    [MIDA_ENT_RUN] = {"task_run", run_columns, COUNT_OF(run_columns)},
};

const char *const mida__status_names[] = {
    "UNKNOWN", "SUBMITTED", "RUNNING", "FINISHED",
    "CANCELLED", "ERROR", "LOST", NULL,
};

/* By rank; each status's number is its mida_status_t. */
static const struct {
  const char *name;
  int64_t number;
} statuses[] = {
    {"UNKNOWN", MIDA_STATUS_UNKNOWN},   {"SUBMITTED", MIDA_STATUS_SUBMITTED},
    {"RUNNING", MIDA_STATUS_RUNNING},   {"LOST", MIDA_STATUS_LOST},
    {"FINISHED", MIDA_STATUS_FINISHED}, {"CANCELLED", MIDA_STATUS_CANCELLED},
    {"ERROR", MIDA_STATUS_ERROR},
};

int mida__status_rank(int64_t status) {
  for (int i = 0; i < COUNT_OF(statuses); i++)
    if (statuses[i].number == status)
      return i;
  return 0;
}

const char *mida__status_name(int64_t status) {
  return statuses[mida__status_rank(status)].name;
}

int mida__status_rank_of_name(const char *name, size_t len) {
  for (int i = 0; i < COUNT_OF(statuses); i++)
    if (len == strlen(statuses[i].name) &&
        memcmp(name, statuses[i].name, len) == 0)
      return i;
  return -1;
}

/* ---- folding a batch ---------------------------------------------------- */

int mida__merge_takes(int rule, int64_t incoming, int64_t held) {
  switch (rule) {
  case MIDA_RULE_MIN:
    return incoming < held;
  case MIDA_RULE_MAX:
    return incoming > held;
  case MIDA_RULE_STATUS:
    return mida__status_rank(incoming) > mida__status_rank(held);
  default:
    return 1;
  }
}

static uint64_t id_hash(const mida_id_t *id, int entity) {
  uint64_t a, b;
  memcpy(&a, id->bytes, 8);
  memcpy(&b, id->bytes + 8, 8);
  uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ (uint64_t)entity) *
               0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 31);
}

int mida__fold_reset(mida__fold *f, size_t n) {
  if (n > UINT32_MAX / 4)
    return MIDA_EINVAL;
  size_t want = 16;
  while (want < 2 * n)
    want *= 2;
  if (want > f->cap) {
    mida__free(f->slots);
    f->slots = mida__malloc(want * sizeof *f->slots);
    f->cap = f->slots != NULL ? want : 0;
    f->size = 0;
    if (f->slots == NULL)
      return MIDA_ENOMEM;
  }
  /* Clearing all cap slots cost a batch of a few records as much as the
   * largest batch ever (~49,000 instructions a batch in a Dask process,
   * bench_dask_ir.py). */
  memset(f->slots, 0, want * sizeof *f->slots);
  f->size = want;
  return MIDA_OK;
}

mida__fold_slot *mida__fold_find(mida__fold *f, int entity,
                                 const mida_id_t *id) {
  size_t mask = f->size - 1;
  size_t i = (size_t)id_hash(id, entity) & mask;
  for (; f->slots[i].image != 0; i = (i + 1) & mask) {
    mida__fold_slot *s = &f->slots[i];
    if (s->entity == entity && memcmp(&s->id, id, sizeof *id) == 0)
      return s;
  }
  f->slots[i].entity = entity;
  f->slots[i].id = *id;
  return &f->slots[i];
}

void mida__fold_free(mida__fold *f) {
  mida__free(f->slots);
  f->slots = NULL;
  f->cap = 0;
  f->size = 0;
}
