/*
 * mlflow_mirror.c -- the file store reader's mirror (mlflow_file.h): an
 * in-memory SQLite database with the tables and columns of MLflow's SQL
 * stores, and the rows each kind of file of a file store becomes, as
 * MLflow's SQL stores would hold them (a run's numeric status and source
 * type named, NaN as 0 with is_nan, latest metrics by (step, timestamp,
 * value), model links as RUN_INPUT / RUN_OUTPUT of the run).
 */
#include "observe/mlflow_file.h"

#include "core/alloc.h"
#include "core/errors.h"
#include "observe/yaml.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* The mirror: MLflow's SQL schema, the columns mlflow.c reads. */
static const char mirror_schema[] =
    "CREATE TABLE alembic_version(version_num TEXT);"
    "INSERT INTO alembic_version VALUES('mlflow-file-store');"
    "CREATE TABLE experiments(experiment_id TEXT PRIMARY KEY, name TEXT,"
    " artifact_location TEXT, lifecycle_stage TEXT, creation_time INTEGER,"
    " last_update_time INTEGER);"
    "CREATE TABLE runs(run_uuid TEXT PRIMARY KEY, name TEXT, source_type TEXT,"
    " source_name TEXT, user_id TEXT, status TEXT, start_time INTEGER,"
    " end_time INTEGER, lifecycle_stage TEXT, artifact_uri TEXT,"
    " experiment_id TEXT, source_version TEXT, entry_point_name TEXT);"
    "CREATE TABLE params(key TEXT, value TEXT, run_uuid TEXT,"
    " PRIMARY KEY(run_uuid, key));"
    "CREATE TABLE tags(key TEXT, value TEXT, run_uuid TEXT,"
    " PRIMARY KEY(run_uuid, key));"
    "CREATE TABLE experiment_tags(key TEXT, value TEXT, experiment_id TEXT,"
    " PRIMARY KEY(experiment_id, key));"
    "CREATE TABLE latest_metrics(key TEXT, value REAL, timestamp INTEGER,"
    " step INTEGER, is_nan INTEGER, run_uuid TEXT,"
    " PRIMARY KEY(run_uuid, key));"
    "CREATE TABLE metrics(id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT,"
    " value REAL, timestamp INTEGER, run_uuid TEXT, step INTEGER,"
    " is_nan INTEGER);"
    "CREATE TABLE datasets(dataset_uuid TEXT PRIMARY KEY, experiment_id TEXT,"
    " name TEXT, digest TEXT, dataset_source_type TEXT, dataset_source TEXT,"
    " dataset_schema TEXT, dataset_profile TEXT);"
    "CREATE TABLE inputs(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " input_uuid TEXT, source_type TEXT, source_id TEXT,"
    " destination_type TEXT, destination_id TEXT);"
    "CREATE TABLE input_tags(input_uuid TEXT, name TEXT, value TEXT,"
    " PRIMARY KEY(input_uuid, name));"
    "CREATE TABLE logged_models(model_id TEXT PRIMARY KEY,"
    " experiment_id TEXT, name TEXT, artifact_location TEXT,"
    " creation_timestamp_ms INTEGER, last_updated_timestamp_ms INTEGER,"
    " status INTEGER, model_type TEXT, source_run_id TEXT);"
    "CREATE TABLE logged_model_params(model_id TEXT, param_key TEXT,"
    " param_value TEXT, PRIMARY KEY(model_id, param_key));"
    "CREATE TABLE logged_model_tags(model_id TEXT, tag_key TEXT,"
    " tag_value TEXT, PRIMARY KEY(model_id, tag_key));"
    "CREATE TABLE logged_model_metrics(model_id TEXT, metric_name TEXT,"
    " metric_timestamp_ms INTEGER, metric_step INTEGER, metric_value REAL,"
    " run_id TEXT, dataset_name TEXT, dataset_digest TEXT,"
    " path TEXT);"
    "CREATE INDEX model_metrics_by_path ON logged_model_metrics(path);";

static int db_error(mida__mlf_mirror *m, const char *what) {
  return mida__set_error(MIDA_EIO, "%s: the file store's mirror: %s: %s",
                         m->where, what, sqlite3_errmsg(m->db));
}

/* Runs sql with n text parameters (NULL binds NULL; a length of -1 means
 * up to the NUL). */
static int exec_n(mida__mlf_mirror *m, const char *sql, int n,
                  const char *const *vals, const int *lens) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
    return db_error(m, "prepare");
  for (int i = 0; i < n; i++)
    if (vals[i] != NULL)
      sqlite3_bind_text(st, i + 1, vals[i], lens != NULL ? lens[i] : -1,
                        SQLITE_STATIC);
  int src = sqlite3_step(st);
  sqlite3_finalize(st);
  if (src != SQLITE_DONE && src != SQLITE_ROW)
    return db_error(m, "write");
  if (sqlite3_changes(m->db) > 0)
    m->changed = 1;
  return MIDA_OK;
}

static int exec_v(mida__mlf_mirror *m, const char *sql, int n,
                  const char *const *vals) {
  return exec_n(m, sql, n, vals, NULL);
}

static const char *const run_status_names[] = {
    NULL, "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"};
static const char *const source_type_names[] = {
    NULL, "NOTEBOOK", "JOB", "PROJECT", "LOCAL", "UNKNOWN"};

/* MLflow's number for a status or source type, as its SQL stores name
 * it; the text itself when it is not one of them. */
static const char *enum_name(const char *v, const char *const *names,
                             int count) {
  if (v == NULL)
    return NULL;
  char *end = NULL;
  long n = strtol(v, &end, 10);
  if (end != v && *end == '\0' && n > 0 && n < count)
    return names[n];
  if (end != v && *end == '\0' && n == 1000 && names == source_type_names)
    return "UNKNOWN";
  return v;
}

static const char *get(const mida__yaml *y, const char *key) {
  return mida__yaml_get(y, NULL, key, NULL);
}

static int load_experiment(mida__mlf_mirror *m, mida__fs_file *f,
                           const mida__yaml *y) {
  const char *id = get(y, "experiment_id");
  if (id == NULL)
    return MIDA_ECORRUPT; /* caught half-written */
  const char *v[6] = {id,
                      get(y, "name"),
                      get(y, "artifact_location"),
                      get(y, "lifecycle_stage"),
                      get(y, "creation_time"),
                      get(y, "last_update_time")};
  (void)f;
  return exec_v(m,
                "INSERT OR REPLACE INTO experiments VALUES(?1, ?2, ?3, ?4,"
                " CAST(?5 AS INTEGER), CAST(?6 AS INTEGER))",
                6, v);
}

static int load_run(mida__mlf_mirror *m, mida__fs_file *f,
                    const mida__yaml *y) {
  const char *id = get(y, "run_id");
  if (id == NULL)
    id = get(y, "run_uuid");
  if (id == NULL || get(y, "experiment_id") == NULL)
    return MIDA_ECORRUPT;
  if (strcmp(id, f->owner) != 0)
    return MIDA_ECORRUPT; /* a meta.yaml moved from another run */
  const char *v[13] = {
      id,
      get(y, "run_name"),
      enum_name(get(y, "source_type"), source_type_names, 6),
      get(y, "source_name"),
      get(y, "user_id"),
      enum_name(get(y, "status"), run_status_names, 6),
      get(y, "start_time"),
      get(y, "end_time"),
      get(y, "lifecycle_stage"),
      get(y, "artifact_uri"),
      get(y, "experiment_id"),
      get(y, "source_version"),
      get(y, "entry_point_name")};
  return exec_v(m,
                "INSERT OR REPLACE INTO runs VALUES(?1, ?2, ?3, ?4, ?5, ?6,"
                " CAST(?7 AS INTEGER), CAST(?8 AS INTEGER), ?9, ?10, ?11,"
                " ?12, ?13)",
                13, v);
}

static int load_dataset(mida__mlf_mirror *m, mida__fs_file *f,
                        const mida__yaml *y) {
  if (get(y, "digest") == NULL && get(y, "name") == NULL)
    return MIDA_ECORRUPT;
  const char *v[8] = {f->owner,
                      f->exp,
                      get(y, "name"),
                      get(y, "digest"),
                      get(y, "source_type"),
                      get(y, "source"),
                      get(y, "schema"),
                      get(y, "profile")};
  return exec_v(m,
                "INSERT OR REPLACE INTO datasets VALUES(?1, ?2, ?3, ?4, ?5,"
                " ?6, ?7, ?8)",
                8, v);
}

/* An input or output link, once per process: a row of the mirror's
 * inputs handed out by the next scan, as MLflow's SQL stores keep it
 * (models as RUN_INPUT / RUN_OUTPUT of the run). */
static int load_link(mida__mlf_mirror *m, mida__fs_file *f,
                     const mida__yaml *y) {
  const char *stype = get(y, "source_type");
  const char *sid = get(y, "source_id");
  if (stype == NULL || sid == NULL)
    return MIDA_ECORRUPT;
  if (f->read_once)
    return MIDA_OK; /* links do not change; handed out already */
  if (f->emit_from > 0)
    return MIDA_OK; /* handed out before a restart */
  const char *run = f->owner;
  const char *v[5];
  if (f->kind == MIDA__FS_OUTPUT) {
    /* outputs/<model>/meta.yaml: the run generated the model. */
    const char *o[5] = {f->rel, "RUN_OUTPUT", run, "MODEL_OUTPUT", f->key};
    memcpy(v, o, sizeof v);
  } else if (strcmp(stype, "DATASET") == 0) {
    const char *o[5] = {f->key, "DATASET", sid, "RUN", run};
    memcpy(v, o, sizeof v);
  } else if (strcmp(stype, "MODEL") == 0) {
    const char *o[5] = {f->key, "RUN_INPUT", run, "MODEL_INPUT", sid};
    memcpy(v, o, sizeof v);
  } else {
    return MIDA_OK; /* a kind of link mlflow.c does not map */
  }
  int rc = exec_v(m,
                  "INSERT INTO inputs(input_uuid, source_type, source_id,"
                  " destination_type, destination_id)"
                  " VALUES(?1, ?2, ?3, ?4, ?5)",
                  5, v);
  if (rc == MIDA_OK)
    f->last_rowid = (int64_t)sqlite3_last_insert_rowid(m->db);
  for (size_t i = 0; rc == MIDA_OK && i < y->n; i++) {
    const mida__yaml_entry *e = &y->e[i];
    if (e->parent == NULL || strcmp(e->parent, "tags") != 0 ||
        e->value == NULL)
      continue;
    const char *t[3] = {f->key, e->key, e->value};
    rc = exec_v(m, "INSERT OR REPLACE INTO input_tags VALUES(?1, ?2, ?3)", 3,
                t);
  }
  return rc;
}

static int load_model(mida__mlf_mirror *m, mida__fs_file *f,
                      const mida__yaml *y) {
  const char *id = get(y, "model_id");
  if (id == NULL)
    return MIDA_ECORRUPT;
  (void)f;
  const char *v[9] = {id,
                      get(y, "experiment_id"),
                      get(y, "name"),
                      get(y, "artifact_location"),
                      get(y, "creation_timestamp"),
                      get(y, "last_updated_timestamp"),
                      get(y, "status"),
                      get(y, "model_type"),
                      get(y, "source_run_id")};
  return exec_v(m,
                "INSERT OR REPLACE INTO logged_models VALUES(?1, ?2, ?3, ?4,"
                " CAST(?5 AS INTEGER), CAST(?6 AS INTEGER),"
                " CAST(?7 AS INTEGER), ?8, ?9)",
                9, v);
}

/* A param or tag (of a run, a model or an experiment): the file's whole
 * text is the value. */
static int load_pair(mida__mlf_mirror *m, mida__fs_file *f, const char *text,
                     size_t len) {
  const char *sql = f->kind == MIDA__FS_PARAM ? "INSERT OR REPLACE INTO params"
                                          "(key, value, run_uuid)"
                                          " VALUES(?1, ?2, ?3)"
                    : f->kind == MIDA__FS_TAG ? "INSERT OR REPLACE INTO tags"
                                          "(key, value, run_uuid)"
                                          " VALUES(?1, ?2, ?3)"
                    : f->kind == MIDA__FS_EXP_TAG
                        ? "INSERT OR REPLACE INTO experiment_tags"
                          "(key, value, experiment_id) VALUES(?1, ?2, ?3)"
                    : f->kind == MIDA__FS_MODEL_PARAM
                        ? "INSERT OR REPLACE INTO logged_model_params"
                          "(param_key, param_value, model_id)"
                          " VALUES(?1, ?2, ?3)"
                        : "INSERT OR REPLACE INTO logged_model_tags"
                          "(tag_key, tag_value, model_id)"
                          " VALUES(?1, ?2, ?3)";
  const char *v[3] = {f->key, text, f->owner};
  int lens[3] = {-1, (int)len, -1};
  return exec_n(m, sql, 3, v, lens);
}

/* Whether point a comes after b in MLflow's order for the latest value:
 * (step, timestamp, value), as FileStore and the SQL stores take it. */
static int point_after(const mida__mlf_point *a, int64_t step, int64_t ts,
                       double value) {
  if (a->step != step)
    return a->step > step;
  if (a->timestamp != ts)
    return a->timestamp > ts;
  return a->value > value;
}

/* One line of a run's metric file: the latest value, and a point to hand
 * out when it lies after the restored cursor. */
static int metric_point(mida__mlf_mirror *m, mida__fs_file *f,
                        const mida__mlf_point *pt,
                        int emit) {
  sqlite3_stmt *st = NULL;
  int rc = MIDA_OK;
  int is_nan = isnan(pt->value) ? 1 : 0;
  if (sqlite3_prepare_v2(m->db,
                         "SELECT step, timestamp, value, is_nan FROM"
                         " latest_metrics WHERE run_uuid = ?1 AND key = ?2",
                         -1, &st, NULL) != SQLITE_OK)
    return db_error(m, "prepare");
  sqlite3_bind_text(st, 1, f->owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->key, -1, SQLITE_STATIC);
  int later = 1;
  if (sqlite3_step(st) == SQLITE_ROW) {
    double v = sqlite3_column_int(st, 3) ? NAN : sqlite3_column_double(st, 2);
    later = point_after(pt, sqlite3_column_int64(st, 0),
                        sqlite3_column_int64(st, 1), v);
  }
  sqlite3_finalize(st);
  if (later) {
    if (sqlite3_prepare_v2(m->db,
                           "INSERT OR REPLACE INTO latest_metrics VALUES(?1,"
                           " ?2, ?3, ?4, ?5, ?6)",
                           -1, &st, NULL) != SQLITE_OK)
      return db_error(m, "prepare");
    sqlite3_bind_text(st, 1, f->key, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, is_nan ? 0 : pt->value);
    sqlite3_bind_int64(st, 3, pt->timestamp);
    sqlite3_bind_int64(st, 4, pt->step);
    sqlite3_bind_int(st, 5, is_nan);
    sqlite3_bind_text(st, 6, f->owner, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
      rc = db_error(m, "latest metric");
    sqlite3_finalize(st);
    m->changed = 1;
  }
  if (rc != MIDA_OK || !emit)
    return rc;
  if (sqlite3_prepare_v2(m->db,
                         "INSERT INTO metrics(key, value, timestamp, run_uuid,"
                         " step, is_nan) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, &st, NULL) != SQLITE_OK)
    return db_error(m, "prepare");
  sqlite3_bind_text(st, 1, f->key, -1, SQLITE_STATIC);
  /* As MLflow's SQL stores keep them: NaN as 0 with is_nan. */
  sqlite3_bind_double(st, 2, is_nan ? 0 : pt->value);
  sqlite3_bind_int64(st, 3, pt->timestamp);
  sqlite3_bind_text(st, 4, f->owner, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, pt->step);
  sqlite3_bind_int(st, 6, is_nan);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = db_error(m, "metric point");
  sqlite3_finalize(st);
  if (rc == MIDA_OK) {
    f->last_rowid = (int64_t)sqlite3_last_insert_rowid(m->db);
    m->changed = 1;
  }
  return rc;
}

/* One line of a logged model's metric file. */
static int model_metric_point(mida__mlf_mirror *m, mida__fs_file *f,
                              const mida__mlf_point *pt) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(m->db,
                         "INSERT INTO logged_model_metrics VALUES(?1, ?2, ?3,"
                         " ?4, ?5, ?6, ?7, ?8, ?9)",
                         -1, &st, NULL) != SQLITE_OK)
    return db_error(m, "prepare");
  sqlite3_bind_text(st, 1, f->owner, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, f->key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, pt->timestamp);
  sqlite3_bind_int64(st, 4, pt->step);
  sqlite3_bind_double(st, 5, pt->value);
  if (pt->run != NULL)
    sqlite3_bind_text(st, 6, pt->run, (int)pt->run_len, SQLITE_STATIC);
  if (pt->dataset_name != NULL) {
    sqlite3_bind_text(st, 7, pt->dataset_name, (int)pt->dataset_name_len,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 8, pt->dataset_digest, (int)pt->dataset_digest_len,
                      SQLITE_STATIC);
  }
  sqlite3_bind_text(st, 9, f->rel, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? MIDA_OK
                                           : db_error(m, "model metric");
  sqlite3_finalize(st);
  m->changed = 1;
  return rc;
}

/* ---- the mirror's interface ---------------------------------------------- */

int mida__mlf_mirror_open(mida__mlf_mirror *m, const char *where,
                          const mida__obs_opts *opts) {
  memset(m, 0, sizeof *m);
  m->where = where;
  m->opts = opts;
  if (sqlite3_open_v2(":memory:", &m->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                          SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK)
    return MIDA_ENOMEM;
  if (sqlite3_exec(m->db, mirror_schema, NULL, NULL, NULL) != SQLITE_OK)
    return db_error(m, "schema");
  return MIDA_OK;
}

void mida__mlf_mirror_close(mida__mlf_mirror *m) {
  sqlite3_close(m->db);
  m->db = NULL;
}

int mida__mlf_mirror_load(mida__mlf_mirror *m, mida__fs_file *f,
                          const char *text, size_t len) {
  if (f->kind == MIDA__FS_PARAM || f->kind == MIDA__FS_TAG ||
      f->kind == MIDA__FS_MODEL_PARAM || f->kind == MIDA__FS_MODEL_TAG ||
      f->kind == MIDA__FS_EXP_TAG)
    return load_pair(m, f, text, len);
  mida__yaml y;
  int rc = mida__yaml_parse(text, len, &y);
  if (rc != MIDA_OK)
    return rc;
  switch (f->kind) {
  case MIDA__FS_EXPERIMENT:
    rc = load_experiment(m, f, &y);
    break;
  case MIDA__FS_RUN:
    rc = load_run(m, f, &y);
    break;
  case MIDA__FS_DATASET:
    rc = load_dataset(m, f, &y);
    break;
  case MIDA__FS_INPUT:
  case MIDA__FS_OUTPUT:
    rc = load_link(m, f, &y);
    break;
  case MIDA__FS_MODEL:
    rc = load_model(m, f, &y);
    break;
  default:
    rc = MIDA_EINVAL; /* metric files go through mida__mlf_mirror_point */
    break;
  }
  mida__yaml_free(&y);
  return rc;
}

int mida__mlf_mirror_point(mida__mlf_mirror *m, mida__fs_file *f,
                           const mida__mlf_point *pt, int emit) {
  return f->kind == MIDA__FS_MODEL_METRIC ? model_metric_point(m, f, pt)
                                    : metric_point(m, f, pt, emit);
}

int mida__mlf_mirror_forget(mida__mlf_mirror *m, const char *rel) {
  const char *v[1] = {rel};
  return exec_v(m, "DELETE FROM logged_model_metrics WHERE path = ?1", 1, v);
}

void mida__mlf_mirror_drop(mida__mlf_mirror *m, int64_t metrics,
                           int64_t inputs) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(m->db,
                         "DELETE FROM metrics WHERE id <= ?1", -1, &st,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, metrics);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
  st = NULL;
  if (sqlite3_prepare_v2(m->db, "DELETE FROM inputs WHERE id <= ?1", -1, &st,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_int64(st, 1, inputs);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
  m->changed = 0;
}
