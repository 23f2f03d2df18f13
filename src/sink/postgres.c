/*
 * postgres.c -- the PostgreSQL store (libpq): postgresql://... and
 * postgres://... URLs.
 *
 * The store for many nodes: `mida ingest` consumers (and, if one wishes,
 * shippers directly) write into one PostgreSQL database, and `mida` reads
 * it. The schema is the one of schema.h with PostgreSQL's types: TEXT ids,
 * BIGINT times (nanoseconds since the epoch), JSONB for the JSON columns,
 * DOUBLE PRECISION metric values. The column named user is spelt "user",
 * which both SQLite and PostgreSQL read as that column.
 *
 * Merge rules: those of sqlite.c, expressed in PostgreSQL: the higher
 * status wins (mida_status_rank), LEAST/GREATEST for the times, jsonb ||
 * for the JSON objects (the same shallow merge as mida__json_merge), the
 * record's value else the stored one for the rest. An origin default (host,
 * pid from the batch) only fills an empty column; a record's own host or
 * pid wins, also when it equals the default: each staged row says which
 * of its origin columns its records gave (origin_given), and the merge
 * runs once for each such set in the batch (flush_entity).
 *
 * Batches: put_batch is one transaction. The records of one task (workflow,
 * campaign) within a batch are first folded into one row image in C, JSON
 * merged, so that each row appears once per statement. The merged tables
 * (task, workflow, campaign, task_run) get COPY into a staging table and
 * one prepared merge each; a task that begins and ends in the batch goes
 * by COPY straight into table task instead (flush_direct). The link tables
 * get multi-row INSERT ... ON CONFLICT statements of up to ROWS_PER_STMT
 * rows; those whose conflicts update (data, task_data, counter,
 * source_cursor) start a new statement when a key repeats within one.
 * Records the store cannot use are skipped and counted, as in sqlite.c.
 * The metric inserts return the points they added into a temporary table
 * (mida_new_points), which one statement folds into the blocks of their
 * series (rollup.h) before the commit, in key order.
 *
 * Deferred durability (sink.h): a batch put while the sink is deferred
 * commits with synchronous_commit off, so that it does not wait for the
 * disk; pg_sync then commits one transaction that writes a WAL record and
 * waits for it (synchronous_commit as the session has it), and since the
 * WAL is flushed in order, that covers the deferred commits before it.
 * Commits not yet flushed die with the server: a reconnection while any
 * are outstanding fails the next call, and the caller sends them again.
 *
 * Queries run under the query guard (pg_guard.c): in a READ ONLY
 * transaction, as the role mida_reader, inside SECURITY DEFINER functions
 * that no statement can change role out of, with a time limit, on a
 * connection whose default is read-only too (SQLSTATE 25006 ->
 * MIDA_EREADONLY). Parameters are written ?1..?n as for SQLite. The SQLite
 * functions that mida's own verbs use are
 * provided as small SQL functions (strftime with 'unixepoch', json_each of
 * text with SQLite's key/value/type columns, glob, json_extract of numbers)
 * and so are the API's (mida_num, mida_text, unlikely, likely, the view
 * mida_change_horizon),
 * all in the schema mida -- never in the user's -- which every connection
 * mida opens has last on its search_path; so the verbs' and the API's SQL
 * runs on both stores. Numbers may print differently
 * (PostgreSQL's round() keeps its scale: 10.000 where SQLite prints 10.0).
 *
 * A lost connection fails the batch (the caller retries it later); the next
 * call resets the connection first. So does one whose session refused a
 * write as read-only (a failover left it on a standby, or the database
 * was set read-only when it connected): the next session may take it.
 * Threads: one thread at a time per sink.
 */
#include "sink/iso_time_sql.h"
#include "sink/key_side.h"
#include "sink/merge.h"
#include "sink/rollup.h"
#include "sink/sink.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/number.h"
#include "core/url.h"
#include "core/url_scrub.h"
#include "mida_config.h"
#include "sink/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MIDA_HAVE_LIBPQ

#include <libpq-fe.h>

#include "sink/pg_glob.h"
#include "sink/pg_guard.h"
#include "sink/pg_isolate.h"
#include "sink/pg_json.h"
#include "sink/pg_message.h"
#include "sink/pg_url.h"

#define ROWS_PER_STMT 1000
/* Slots of a link table's set of waiting keys (pending.keys): a power of
 * two, as the probe's mask needs (4,000 made the mask 3999, which confined
 * each probe to a run of 32 slots: the 33rd key hashed into one spun for
 * ever), and over 4 * ROWS_PER_STMT, so that the set is at most a quarter
 * full and a probe always ends. */
#define KEY_SLOTS 4096
_Static_assert((KEY_SLOTS & (KEY_SLOTS - 1)) == 0 &&
                   KEY_SLOTS >= 4 * ROWS_PER_STMT,
               "KEY_SLOTS: a power of two, at least 4 * ROWS_PER_STMT");
#define ARENA_MAX ((size_t)1 << 31)
#define NULL_OFF ((size_t)-1)

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* The schema of schema.h in PostgreSQL's types, plus the helper functions
 * the merge rules and the verbs' SQL need. Run in one transaction under an
 * advisory lock, so that concurrent first openers do not race. */
#define PG_METRIC_POINT_FUNCTION                                              \
  /* schema.h's mida_point(step, value), as sqlite_functions.c computes it;   \
   * in the schema mida, like every helper of mida's (below). */              \
  "CREATE SCHEMA IF NOT EXISTS mida;\n"                                       \
  "CREATE OR REPLACE FUNCTION mida.mida_point(step bigint, value double"      \
  " precision) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT"              \
  " coalesce(step::text, '') || ':' || CASE WHEN value IS NULL OR"            \
  " value = 'NaN'::float8 THEN '7ff8000000000000' ELSE"                       \
  " encode(float8send(value + 0::float8), 'hex') END $$;\n"

/* The view of task with readable times, as the verbs print them
 * (schema.h, sink/iso_time_sql.h). */
#define PG_TASK_V                                                              \
  "CREATE OR REPLACE VIEW task_v AS SELECT id, workflow_id, campaign_id,"      \
  " parent_id, activity, status, " MIDA_ISO_MS_SQL("started") " AS started, "  \
  MIDA_ISO_MS_SQL("ended") " AS ended,"                                        \
  " (ended - started) / 1e9 AS duration_s, host, pid, worker, source_key,"     \
  " used, generated, custom, error, telemetry, attempts FROM task;\n"

/* The rank of a status text; NULL and unknown texts rank lowest. The
 * writer's merge calls it, as the role the URL logs in as, on every row
 * that meets a stored one: mida.mida_status_rank by name, and it calls
 * pg_catalog's array_position by name, so that a function of the same
 * name planted in public (first on the session's search_path;
 * array_position(text[], text) matches better than pg_catalog's
 * polymorphic one: CVE-2018-1058's shape) is never called in its place.
 * Its comment marks this definition (STATUS_RANK_MARKER): a writer that
 * finds another installs it in place (update_definition). */
#define STATUS_RANK_MARKER "'mida status rank 2'"
#define STATUS_RANK_SQL                                                        \
  "CREATE OR REPLACE FUNCTION mida.mida_status_rank(s text) RETURNS int"       \
  " LANGUAGE sql IMMUTABLE AS $$ SELECT coalesce(pg_catalog.array_position("  \
  "ARRAY[" MIDA_STATUS_NAMES_BY_RANK_SQL "], s), 0)"                           \
  " - CASE WHEN s IS NULL THEN 1 ELSE 0 END $$;\n"                             \
  "COMMENT ON FUNCTION mida.mida_status_rank(text) IS " STATUS_RANK_MARKER     \
  ";\n"

static const char pg_schema[] = PG_METRIC_POINT_FUNCTION
    "CREATE TABLE IF NOT EXISTS campaign(id TEXT PRIMARY KEY, name TEXT,"
    " created BIGINT, metadata JSONB);\n"
    "CREATE TABLE IF NOT EXISTS workflow(id TEXT PRIMARY KEY,"
    " campaign_id TEXT, parent_id TEXT, name TEXT, source TEXT,"
    " \"user\" TEXT, host TEXT, pid BIGINT, started BIGINT, ended BIGINT,"
    " status TEXT, metadata JSONB);\n"
    "CREATE TABLE IF NOT EXISTS task(id TEXT PRIMARY KEY, workflow_id TEXT,"
    " campaign_id TEXT, parent_id TEXT, activity TEXT, status TEXT,"
    " submitted BIGINT, started BIGINT, ended BIGINT, host TEXT, pid BIGINT,"
    " worker TEXT, source_key TEXT, used JSONB, generated JSONB,"
    " custom JSONB, error TEXT, telemetry JSON, attempts BIGINT);\n"
    /* Version 4 stores had no attempts column and no task_run. */
    "ALTER TABLE task ADD COLUMN IF NOT EXISTS attempts BIGINT;\n"
    "CREATE TABLE IF NOT EXISTS task_run(id TEXT PRIMARY KEY,"
    " task_id TEXT NOT NULL, status TEXT, started BIGINT, ended BIGINT,"
    " host TEXT, pid BIGINT, worker TEXT, error TEXT, telemetry JSON);\n"
    "CREATE INDEX IF NOT EXISTS task_run_by_task ON task_run(task_id,"
    " started);\n"
    "CREATE TABLE IF NOT EXISTS data(id TEXT PRIMARY KEY, kind TEXT,"
    " uri TEXT, size BIGINT, digest TEXT, metadata JSONB);\n"
    "CREATE TABLE IF NOT EXISTS task_data(task_id TEXT NOT NULL,"
    " data_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT, bytes BIGINT,"
    " PRIMARY KEY(task_id, data_id, role));\n"
    /* Version 1 stores had no bytes column (schema.h, "Versions"). */
    "ALTER TABLE task_data ADD COLUMN IF NOT EXISTS bytes BIGINT;\n"
    "CREATE TABLE IF NOT EXISTS task_dep(task_id TEXT NOT NULL,"
    " upstream_id TEXT NOT NULL, PRIMARY KEY(task_id, upstream_id));\n"
    "CREATE TABLE IF NOT EXISTS metric(task_id TEXT NOT NULL,"
    " key TEXT NOT NULL, step BIGINT, ts BIGINT NOT NULL,"
    " value DOUBLE PRECISION, point TEXT GENERATED ALWAYS AS"
    " (mida.mida_point(step, value)) STORED, PRIMARY KEY(task_id, key, ts,"
    " point));\n"
    /* Version 7: the blocks of the metric series (schema.h, rollup.h). */
    "CREATE TABLE IF NOT EXISTS metric_block(task_id TEXT NOT NULL,"
    " key TEXT NOT NULL, axis INTEGER NOT NULL, shift INTEGER NOT NULL,"
    " block BIGINT NOT NULL, x0 BIGINT NOT NULL, x1 BIGINT NOT NULL,"
    " t0 BIGINT NOT NULL, t1 BIGINT NOT NULL, lo DOUBLE PRECISION,"
    " hi DOUBLE PRECISION, n BIGINT NOT NULL, PRIMARY KEY(task_id, key,"
    " axis, shift, block));\n"
    "CREATE TABLE IF NOT EXISTS telemetry(host TEXT NOT NULL,"
    " pid BIGINT NOT NULL, ts BIGINT NOT NULL, workflow_id TEXT,"
    " task_id TEXT, sample JSONB, PRIMARY KEY(host, pid, ts));\n"
    "CREATE TABLE IF NOT EXISTS source_cursor(source TEXT NOT NULL,"
    " key TEXT NOT NULL, position TEXT, updated BIGINT,"
    " PRIMARY KEY(source, key));\n"
    /* Version 6: the indexes declared on document keys (key_index.h). */
    "CREATE TABLE IF NOT EXISTS mida_index(name TEXT PRIMARY KEY,"
    " key TEXT NOT NULL, kind TEXT NOT NULL, created BIGINT);\n"
    /* Version 8: the values of the declared numeric keys (key_side.h). */
    "CREATE TABLE IF NOT EXISTS task_key_num(name TEXT NOT NULL,"
    " value DOUBLE PRECISION NOT NULL, task_id TEXT NOT NULL,"
    " PRIMARY KEY(name, value, task_id));\n"
    /* Version 10: a key's entries in id order, for a range read newest
     * first by id (key_index.h); the value in it, so that the walk reads
     * the index alone. */
    "CREATE INDEX IF NOT EXISTS task_key_num_by_task ON task_key_num(name,"
    " task_id, value);\n"
    "CREATE TABLE IF NOT EXISTS counter(host TEXT NOT NULL,"
    " pid BIGINT NOT NULL, name TEXT NOT NULL, value BIGINT NOT NULL,"
    " PRIMARY KEY(host, pid, name));\n"
    "CREATE TABLE IF NOT EXISTS mida_meta(key TEXT PRIMARY KEY,"
    " value TEXT);\n"
    "CREATE INDEX IF NOT EXISTS task_by_workflow ON task(workflow_id,"
    " status);\n"
    /* A workflow's tasks newest first (the task list of `mida serve`). */
    "CREATE INDEX IF NOT EXISTS task_by_workflow_id ON task(workflow_id,"
    " id);\n"
    "CREATE INDEX IF NOT EXISTS task_by_activity ON task(activity);\n"
    "CREATE INDEX IF NOT EXISTS task_by_parent ON task(parent_id)"
    " WHERE parent_id IS NOT NULL;\n"
    /* Version 16: a campaign's tasks (`mida export --campaign`) and a
     * source's key (`mida show KEY`), where a task has one (schema.h).
     * Made in the schema's transaction, with the version that says they
     * are there: a plain CREATE INDEX, which holds the task table's
     * writers for the time of its build, once (~0.3 s for both on 200,000
     * tasks, docs/performance.md); CONCURRENTLY cannot run in a
     * transaction, would wait for every open snapshot (a `mida serve`'s),
     * and would leave, on failure, an invalid index that IF NOT EXISTS
     * keeps. */
    "CREATE INDEX IF NOT EXISTS task_by_campaign ON task(campaign_id)"
    " WHERE campaign_id IS NOT NULL;\n"
    "CREATE INDEX IF NOT EXISTS task_by_source_key ON task(source_key)"
    " WHERE source_key IS NOT NULL;\n"
    /* Version 11: the rows of a process that a LOST record may mark
     * (schema.h), which its updates otherwise find by reading the tables
     * whole. */
    "CREATE INDEX IF NOT EXISTS task_unfinished ON task(host, pid)"
    " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"
    "CREATE INDEX IF NOT EXISTS workflow_unfinished ON workflow(host, pid)"
    " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"
    "CREATE INDEX IF NOT EXISTS task_run_unfinished ON task_run(host, pid)"
    " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"
    "CREATE INDEX IF NOT EXISTS workflow_by_campaign ON"
    " workflow(campaign_id);\n"
    "CREATE INDEX IF NOT EXISTS task_data_by_data ON task_data(data_id,"
    " role);\n"
    /* Version 15: data by digest, where it has one (schema.h). */
    "CREATE INDEX IF NOT EXISTS data_by_digest ON data(digest)"
    " WHERE digest IS NOT NULL;\n"
    "CREATE INDEX IF NOT EXISTS task_dep_by_upstream ON"
    " task_dep(upstream_id);\n"
    "CREATE INDEX IF NOT EXISTS telemetry_by_time ON telemetry(ts);\n"
    /* Version 2: change numbers (schema.h). A row's seq is the id of the
     * transaction that last wrote it; every transaction below the current
     * snapshot's xmin has ended, so a reader's horizon is that xmin. */
    "ALTER TABLE task ADD COLUMN IF NOT EXISTS seq BIGINT;\n"
    "ALTER TABLE workflow ADD COLUMN IF NOT EXISTS seq BIGINT;\n"
    "CREATE INDEX IF NOT EXISTS task_by_seq ON task(seq);\n"
    "CREATE INDEX IF NOT EXISTS workflow_by_seq ON workflow(seq);\n"
    /* mida's own functions live in the schema mida, never in the user's:
     * every connection mida opens has it last on its search_path (see
     * pg_open), so its SQL and the users' queries find them, and a user's
     * own function of the same name wins. */
    "CREATE SCHEMA IF NOT EXISTS mida;\n" STATUS_RANK_SQL
    /* SQLite's strftime(format, seconds, 'unixepoch') for the formats
     * mida's verbs use (and %Y %m %d %H %M %S %f in general), in UTC. */
    "CREATE OR REPLACE FUNCTION mida.strftime(fmt text, t numeric, modifier "
    "text)"
    " RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT to_char("
    "to_timestamp(t::double precision) AT TIME ZONE 'UTC',"
    " replace(replace(replace(replace(replace(replace(replace(replace("
    "replace(fmt, 'T', '\"T\"'), 'Z', '\"Z\"'), '%Y', 'YYYY'),"
    " '%m', 'MM'), '%d', 'DD'), '%H', 'HH24'), '%M', 'MI'),"
    " '%f', 'SS.MS'), '%S', 'SS')) $$;\n"
    /* SQLite's json_each over JSON text: key, value (strings unquoted,
     * null as NULL), type (null true false integer real text array
     * object). */
    "CREATE OR REPLACE FUNCTION mida.json_each(j text) RETURNS TABLE(key text,"
    " value text, type text) LANGUAGE sql IMMUTABLE AS $$ SELECT e.key,"
    " CASE jsonb_typeof(e.value) WHEN 'string' THEN e.value #>> '{}'"
    " WHEN 'null' THEN NULL ELSE e.value::text END,"
    " CASE jsonb_typeof(e.value) WHEN 'string' THEN 'text'"
    " WHEN 'number' THEN CASE WHEN e.value::text ~ '^-?[0-9]+$'"
    " THEN 'integer' ELSE 'real' END WHEN 'boolean' THEN e.value::text"
    " ELSE jsonb_typeof(e.value) END FROM jsonb_each(j::jsonb) e $$;\n"
    /* The same over a jsonb column (used, generated...), which has no
     * implicit cast to text. */
    "CREATE OR REPLACE FUNCTION mida.json_each(j jsonb) RETURNS TABLE(key"
    " text, value text, type text) LANGUAGE sql IMMUTABLE AS $$ SELECT *"
    " FROM mida.json_each(j::text) $$;\n"
    /* SQLite's glob(pattern, text), by SQLite's rules (pg_glob.h). */
    MIDA_PG_GLOB_SQL
    /* SQLite's json_extract(json, '$.a.b') for numbers (what the verbs
     * read from telemetry samples); a value that is not a number is an
     * error, not a silent NULL. Text values: use ->> instead. */
    "CREATE OR REPLACE FUNCTION mida.json_extract(j jsonb, path text)"
    " RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT (j #>>"
    " string_to_array(substr(path, 3), '.'))::numeric $$;\n"
    /* The API's JSON predicates (src/serve): the value at a dotted path of
     * a document when it is a number (mida_num) or a scalar (mida_text),
     * as the SQLite store's functions of the same names
     * (sqlite_functions.c). */
    "CREATE OR REPLACE FUNCTION mida.mida_num(j jsonb, path text)"
    " RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT CASE"
    " WHEN jsonb_typeof(j #> string_to_array(path, '.')) = 'number'"
    " THEN (j #>> string_to_array(path, '.'))::double precision END $$;\n"
    "CREATE OR REPLACE FUNCTION mida.mida_text(j jsonb, path text)"
    " RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT CASE"
    " jsonb_typeof(j #> string_to_array(path, '.'))"
    " WHEN 'string' THEN j #>> string_to_array(path, '.')"
    " WHEN 'number' THEN j #>> string_to_array(path, '.')"
    " WHEN 'boolean' THEN j #>> string_to_array(path, '.') END $$;\n"
    /* Version 12: the same over a json column (telemetry), parsed once. */
    "CREATE OR REPLACE FUNCTION mida.mida_num(j json, path text)"
    " RETURNS double precision LANGUAGE sql IMMUTABLE AS $$ SELECT"
    " mida.mida_num(j::jsonb, path) $$;\n"
    "CREATE OR REPLACE FUNCTION mida.mida_text(j json, path text)"
    " RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT"
    " mida.mida_text(j::jsonb, path) $$;\n"
    /* SQLite's unlikely(x) and likely(x), the planner's hints of the API's
     * predicates (src/sink/predicate.c): here x itself, inlined, so that
     * an index on the key still serves the comparison. */
    "CREATE OR REPLACE FUNCTION mida.unlikely(b boolean) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS $$ SELECT b $$;\n"
    "CREATE OR REPLACE FUNCTION mida.likely(b boolean) RETURNS boolean"
    " LANGUAGE sql IMMUTABLE AS $$ SELECT b $$;\n"
    /* The triggers of a declared numeric key (key_side.h), one statement
     * each over the rows of the statement that fired them (its transition
     * tables mida_old and mida_new): TG_ARGV is the key's index name, its
     * document and its path; the tasks' rows in task_key_num follow the
     * number at the key. The function of version 8's row triggers goes,
     * and they with it: the migration to 9 makes these instead, in the
     * same transaction. */
    "DROP FUNCTION IF EXISTS mida.task_key_num_sync() CASCADE;\n"
    "CREATE OR REPLACE FUNCTION mida.task_key_num_insert() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN EXECUTE pg_catalog.format('INSERT INTO"
    " task_key_num(name, value, task_id) SELECT $1, v, id FROM (SELECT"
    " mida.mida_num(%I, $2) AS v, id FROM mida_new) AS n WHERE v IS NOT"
    " NULL ON CONFLICT DO NOTHING', TG_ARGV[1]) USING TG_ARGV[0], TG_ARGV[2];"
    " RETURN NULL; END $$;\n"
    "CREATE OR REPLACE FUNCTION mida.task_key_num_update() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN EXECUTE pg_catalog.format('WITH c AS"
    " (SELECT o.id,"
    " mida.mida_num(o.%1$I, $2) AS ov, mida.mida_num(n.%1$I, $2) AS nv"
    " FROM mida_old o JOIN mida_new n ON n.id = o.id), d AS (DELETE FROM"
    " task_key_num k USING c WHERE k.name = $1 AND k.value = c.ov AND"
    " k.task_id = c.id AND c.ov IS DISTINCT FROM c.nv) INSERT INTO"
    " task_key_num(name, value, task_id) SELECT $1, nv, id FROM c WHERE nv"
    " IS NOT NULL AND nv IS DISTINCT FROM ov ON CONFLICT DO NOTHING',"
    " TG_ARGV[1]) USING TG_ARGV[0], TG_ARGV[2]; RETURN NULL; END $$;\n"
    "CREATE OR REPLACE FUNCTION mida.task_key_num_delete() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN EXECUTE pg_catalog.format('DELETE FROM"
    " task_key_num"
    " k USING (SELECT id, mida.mida_num(%I, $2) AS v FROM mida_old) AS o"
    " WHERE k.name = $1 AND k.value = o.v AND k.task_id = o.id',"
    " TG_ARGV[1]) USING TG_ARGV[0], TG_ARGV[2]; RETURN NULL; END $$;\n"
    "CREATE OR REPLACE VIEW mida.mida_change_horizon AS SELECT"
    " pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon;\n"
    /* task_v: also made again by the migration to version 12. */
    PG_TASK_V
    "CREATE OR REPLACE VIEW workflow_v AS SELECT id, campaign_id, parent_id,"
    " name, source, \"user\", host, pid, status, " MIDA_ISO_MS_SQL(
        "started") " AS started, " MIDA_ISO_MS_SQL("ended") " AS ended,"
    " (ended - started) / 1e9 AS duration_s, metadata FROM workflow;\n"
    "INSERT INTO mida_meta(key, value) VALUES('schema_version', '" STRINGIFY(
        MIDA_SCHEMA_VERSION) "') ON CONFLICT(key) DO UPDATE SET value ="
                             " excluded.value WHERE mida_meta.value::int < "
                             "excluded.value::int;\n";

/* Schema version 2 to 3 (schema.h), before pg_schema. */
static const char pg_schema_2_to_3[] =
    PG_METRIC_POINT_FUNCTION
    "ALTER TABLE metric DROP CONSTRAINT IF EXISTS metric_pkey;\n"
    "ALTER TABLE metric ALTER COLUMN step DROP NOT NULL;\n"
    "UPDATE metric SET step = NULL WHERE step = -1;\n"
    "ALTER TABLE metric ADD COLUMN point TEXT GENERATED ALWAYS AS"
    " (mida.mida_point(step, value)) STORED;\n"
    "ALTER TABLE metric ADD PRIMARY KEY(task_id, key, ts, point);\n"
    "UPDATE mida_meta SET value = '3' WHERE key = 'schema_version';\n";

/* Schema version 11 to 12, after pg_schema (which made the json forms of
 * mida_num and mida_text, so that an index declared on a telemetry key is
 * rebuilt over them): task.telemetry and task_run.telemetry become json,
 * which the server only checks where jsonb is parsed into a binary tree --
 * nothing indexes into it but mida_num, and its parse was the largest part
 * of a task's write after the indexes (docs/performance.md). The view
 * task_v shows the column, and goes while its type changes. A rewrite of
 * both tables, once. */
static const char pg_schema_11_to_12[] =
    "DROP VIEW IF EXISTS task_v;\n"
    "ALTER TABLE task ALTER COLUMN telemetry TYPE json"
    " USING telemetry::json;\n"
    "ALTER TABLE task_run ALTER COLUMN telemetry TYPE json"
    " USING telemetry::json;\n" PG_TASK_V;

/* Schema version 1..13 to 14, before pg_schema, which makes them again:
 * the partial indexes of version 11, whose condition is now spelled with
 * equalities (schema.h, MIDA_SCHEMA_NOT_OVER), as the LOST updates that use
 * them spell it. */
static const char pg_schema_13_to_14[] =
    "DROP INDEX IF EXISTS task_unfinished;\n"
    "DROP INDEX IF EXISTS workflow_unfinished;\n"
    "DROP INDEX IF EXISTS task_run_unfinished;\n";

/* Schema version 3..6 to 7, before pg_schema: mida_point, which those
 * versions made in the user's schema (the first of the search path), moves
 * into the schema mida -- the same function, so the column metric.point
 * that is computed by it stays as it is -- and any other copy outside mida
 * is dropped. */
static const char pg_schema_6_to_7[] =
    "CREATE SCHEMA IF NOT EXISTS mida;\n"
    "DO $$ DECLARE f regprocedure; BEGIN FOR f IN SELECT p.oid::regprocedure"
    " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE p.proname = 'mida_point' AND n.nspname <> 'mida' LOOP"
    " IF pg_catalog.to_regprocedure('mida.mida_point(bigint, double"
    " precision)') IS NULL THEN EXECUTE pg_catalog.format('ALTER FUNCTION"
    " %s SET SCHEMA mida', f); ELSE EXECUTE pg_catalog.format('DROP FUNCTION"
    " %s', f); END IF; END LOOP; END $$;\n";

/* The points a batch added to metric (the RETURNING of its inserts), for
 * their blocks (rollup.h); one per connection, emptied at each commit. */
static const char pg_new_points[] =
    "CREATE TEMP TABLE IF NOT EXISTS mida_new_points(task_id TEXT,"
    " key TEXT, step BIGINT, ts BIGINT, value DOUBLE PRECISION)"
    " ON COMMIT DELETE ROWS";

/* ---- merge rules, as in sqlite.c ---------------------------------------- */


#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The merged tables and their columns: one table for every store. */
typedef mida__merge_entity entity;
enum {
  ENT_TASK = MIDA_ENT_TASK,
  ENT_WORKFLOW = MIDA_ENT_WORKFLOW,
  ENT_CAMPAIGN = MIDA_ENT_CAMPAIGN,
  ENT_RUN = MIDA_ENT_RUN,
  ENT_COUNT = MIDA_ENT_COUNT
};
static const entity *const entities = mida__merge_entities;

/* A column name as PostgreSQL must see it: "user" is a reserved word. */
static const char *pg_ident(const char *name) {
  return strcmp(name, "user") == 0 ? "\"user\"" : name;
}

/* One value of a row image: a number (ints, statuses) or text in the
 * arena. */
typedef struct cell {
  uint8_t set;  /* whether the column has a value */
  int64_t num;  /* ints and statuses */
  size_t off;   /* text: offset in the arena */
  uint32_t len; /* text: bytes */
} cell;

typedef struct image {
  uint8_t entity;      /* ENT_* */
  uint8_t direct;      /* 1: copied straight into its table (flush_direct) */
  mida_id_t id;        /* the row's key */
  cell c[MIDA_MERGE_MAX_COLUMNS]; /* by column index */
} image;

/* ---- the link tables ---------------------------------------------------- */

/* A table written by plain multi-row upserts. Column types are PostgreSQL
 * type names used as casts; the first nkey columns form the conflict key. */
typedef struct link_table {
  const char *head;     /* "INSERT INTO t(a, b)" */
  const char *types[6]; /* per column */
  int ncols;            /* columns */
  int nkey;             /* key columns, for de-duplication; 0: none */
  const char *tail;     /* " ON CONFLICT ..." */
} link_table;

enum {
  LT_DATA,
  LT_TASK_DATA,
  LT_DEP,
  LT_METRIC,
  LT_TELEMETRY,
  LT_CURSOR,
  LT_COUNTER,
  LT_COUNT
};

/* A data's URI: the newer one, but a name that a rename or a link gave a
 * file's version ({"named_by": ...}, src/preload/names.c) is not replaced
 * by one without (the SQLite store's DATA_URI_MERGED says why). */
#define PG_DATA_URI_MERGED                                                     \
  "CASE WHEN (data.metadata ->> 'named_by') IS NOT NULL"                      \
  " AND (excluded.metadata ->> 'named_by') IS NULL"                            \
  " THEN data.uri ELSE coalesce(excluded.uri, data.uri) END"

static const link_table link_tables[LT_COUNT] = {
    [LT_DATA] =
        {"INSERT INTO data(id, kind, uri, size, digest, metadata)",
         {"text", "text", "text", "bigint", "text", "jsonb"},
         6,
         1,
         " ON CONFLICT(id) DO UPDATE SET"
         " kind = coalesce(excluded.kind, data.kind),"
         " uri = " PG_DATA_URI_MERGED ","
         " size = coalesce(excluded.size, data.size),"
         " digest = coalesce(excluded.digest, data.digest),"
         " metadata = coalesce(data.metadata || excluded.metadata,"
         " data.metadata, excluded.metadata)"
         /* Unchanged rows are not written again (each write is a
          * new row version and a dead one). */
         " WHERE coalesce(excluded.kind, data.kind)"
         " IS DISTINCT FROM data.kind"
         " OR " PG_DATA_URI_MERGED " IS DISTINCT FROM data.uri"
         " OR coalesce(excluded.size, data.size)"
         " IS DISTINCT FROM data.size"
         " OR coalesce(excluded.digest, data.digest)"
         " IS DISTINCT FROM data.digest"
         " OR excluded.metadata IS NOT NULL"},
    [LT_TASK_DATA] = {"INSERT INTO task_data(task_id, data_id, role, name,"
                      " bytes)",
                      {"text", "text", "text", "text", "bigint"},
                      5,
                      3,
                      " ON CONFLICT(task_id, data_id, role) DO UPDATE SET"
                      " name = coalesce(excluded.name, task_data.name),"
                      " bytes = GREATEST(task_data.bytes, excluded.bytes)"
                      " WHERE coalesce(excluded.name, task_data.name)"
                      " IS DISTINCT FROM task_data.name"
                      " OR excluded.bytes > coalesce(task_data.bytes, -1)"},
    [LT_DEP] = {"INSERT INTO task_dep(task_id, upstream_id)",
                {"text", "text"},
                2,
                0,
                " ON CONFLICT DO NOTHING"},
    /* The points it added (not those it held) are noted for their
     * blocks (fold_blocks). */
    [LT_METRIC] = {"WITH added AS (INSERT INTO metric(task_id, key, step,"
                   " ts, value)",
                   {"text", "text", "bigint", "bigint", "double precision"},
                   5,
                   0,
                   " ON CONFLICT DO NOTHING RETURNING task_id, key, step, ts,"
                   " value) INSERT INTO mida_new_points SELECT * FROM added"},
    [LT_TELEMETRY] = {"INSERT INTO telemetry(host, pid, ts, workflow_id,"
                      " task_id, sample)",
                      {"text", "bigint", "bigint", "text", "text", "jsonb"},
                      6,
                      0,
                      " ON CONFLICT DO NOTHING"},
    [LT_CURSOR] = {"INSERT INTO source_cursor(source, key, position,"
                   " updated)",
                   {"text", "text", "text", "bigint"},
                   4,
                   2,
                   " ON CONFLICT(source, key) DO UPDATE SET"
                   " position = excluded.position,"
                   " updated = excluded.updated"
                   " WHERE source_cursor.updated IS NULL"
                   " OR excluded.updated >= source_cursor.updated"},
    [LT_COUNTER] = {"INSERT INTO counter(host, pid, name, value)",
                    {"text", "bigint", "text", "bigint"},
                    4,
                    3,
                    " ON CONFLICT(host, pid, name) DO UPDATE SET"
                    " value = GREATEST(counter.value, excluded.value)"},
};

/* The rows waiting for one link table's next statement: arena offsets of
 * their values (NULL_OFF for NULL), and a hash set of their keys. */
typedef struct pending {
  size_t *vals;    /* nrows * ncols offsets */
  size_t nrows;    /* rows waiting */
  size_t cap;      /* rows allocated at vals */
  uint64_t *keys;  /* open-addressing set of key hashes, 0 = empty */
  size_t keys_cap; /* KEY_SLOTS */
} pending;

typedef struct pg_sink {
  mida__sink base;          /* common head; must be first */
  PGconn *conn;             /* the connection */
  int flags;                /* MIDA_SINK_* */
  char where[256];          /* the URL without its password */
  mida__buf arena;          /* a batch's values, NUL-terminated */
  mida__buf sql;            /* a statement being built */
  image *images;            /* a batch's row images */
  size_t images_cap;        /* entries at images */
  mida__fold fold;          /* rows to their images in a batch */
  const char **params;      /* parameter pointers of one statement */
  size_t params_cap;        /* entries at params */
  pending link[LT_COUNT];   /* link rows waiting */
  uint64_t skipped_records; /* records skipped since open */
  uint64_t dropped_fields;  /* malformed JSON fields dropped */
  mida__buf touched;        /* "id,id,..." of tasks given metric points */
  char last_touched[MIDA_ID_STRLEN]; /* the last id added to touched */
  int new_points;           /* the batch added metric rows: fold them */
  int new_points_table;     /* pg_new_points exists in this session */
  unsigned staged; /* bit e: entity e's staging table and prepared merge
                      exist in this connection's session */
  int undurable;   /* 1: a deferred batch committed since the last pg_sync,
                      perhaps not yet flushed to disk */
  int schema_unchecked; /* 1: reconnected since the schema was made or
                           checked (the database may be a new one) */
  int write_refused; /* 1: this writer's session takes no writes (SQLSTATE
                        25006: a hot standby, or a database or role set
                        default_transaction_read_only); the next call
                        opens a new session, which may */
  unsigned direct_skip;     /* batches left that take no direct path, after
                               one of its rows turned out to exist already */
  unsigned direct_penalty;  /* the next such pause, in batches (doubles) */
  mida__pg_guard guard;     /* how queries run (pg_guard.h) */
  int fit_values;           /* 1: JSON and text values go through
                               pg_json.h's fitters (the second attempt
                               at a batch) */
  char state[6];            /* SQLSTATE of the statement that failed the
                               last attempt at a batch, "" if none */
  char server_error[160];   /* the server's message of that failure (its
                               primary message only: no DETAIL, which
                               may quote values) */
} pg_sink;

typedef struct batch_counts {
  uint64_t skipped_records;
  uint64_t dropped_fields;
} batch_counts;

uint64_t mida__pg_skipped(const mida__sink *sink);
uint64_t mida__pg_skipped(const mida__sink *sink) {
  return sink != NULL ? ((const pg_sink *)sink)->skipped_records : 0;
}

/* ---- small helpers ------------------------------------------------------ */

/* A failure of the connection: libpq's message, with whatever of url's
 * secrets it repeats masked (libpq quotes a URL, or a token of one, that
 * it cannot read: url_scrub.h), and without the records' values it may
 * quote (pg_message.h). url is the one libpq was given, or NULL once
 * connected (libpq then quotes no URL). */
static int fail_conn_to(pg_sink *s, int rc, const char *what,
                        const char *url) {
  char cut[400], m[400], safe[400];
  mida__one_line(mida__pg_message_without_data(PQerrorMessage(s->conn), cut,
                                               sizeof cut),
                 m, sizeof m);
  return mida__sink_fail(&s->base, rc, "%s %s: %s", what, s->where,
                         mida__url_scrub(m, url, safe, sizeof safe));
}

/* What a connection that failed says of its server, for a caller that
 * may wait for it (`mida ingest`): asked again with PQpingParams, which
 * tells a server that cannot be reached (MIDA_EUNREACHABLE: down, or no
 * answer in connect_timeout) from one that answers but takes no
 * connection yet (MIDA_EBUSY: starting, recovering, shutting down) from
 * one that refused this client (MIDA_ESTORE: its role, password or
 * database), which waiting cannot mend. A second attempt, on this path
 * alone. */
static int connect_failure_code(const char *const *keys,
                                const char *const *vals) {
  switch (PQpingParams(keys, vals, 1)) {
  case PQPING_NO_RESPONSE:
    return MIDA_EUNREACHABLE;
  case PQPING_REJECT:
    return MIDA_EBUSY;
  default:
    return MIDA_ESTORE;
  }
}

static int fail_conn(pg_sink *s, int rc, const char *what) {
  return fail_conn_to(s, rc, what, NULL);
}

static int fail_result(pg_sink *s, PGresult *res, const char *what) {
  char m[400];
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  /* Kept for pg_put_batch, which tells a refusal of the data from the
   * rest by it (pg_isolate.h). */
  snprintf(s->state, sizeof s->state, "%s", state != NULL ? state : "");
  mida__one_line(primary != NULL ? primary : "", s->server_error,
                 sizeof s->server_error);
  int rc = MIDA_ESTORE;
  if (state != NULL && strcmp(state, "25006") == 0)
    rc = MIDA_EREADONLY;
  const char *msg = PQresultErrorMessage(res);
  if (msg == NULL || msg[0] == '\0')
    msg = PQerrorMessage(s->conn);
  char cut[400];
  mida__one_line(mida__pg_message_without_data(msg, cut, sizeof cut), m,
                 sizeof m);
  PQclear(res);
  /* A writer refused so was connected while the database took no writes:
   * that stays so for the session, whatever the server says later. */
  if (rc == MIDA_EREADONLY && !(s->flags & MIDA_SINK_READONLY)) {
    s->write_refused = 1;
    return mida__sink_fail(&s->base, rc,
                           "%s on store %s: the server takes no writes in "
                           "this session (a hot standby, or "
                           "default_transaction_read_only): %s",
                           what, s->where, m);
  }
  if (rc == MIDA_EREADONLY)
    return mida__sink_fail(&s->base, rc, "%s: it would write (%s)",
                           mida_strerror(rc), m);
  return mida__sink_fail(&s->base, rc, "%s on store %s: %s", what, s->where, m);
}

/* Runs a statement without parameters that returns no rows needed. */
static int exec_simple(pg_sink *s, const char *sql, const char *what) {
  PGresult *res = PQexec(s->conn, sql);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return fail_result(s, res, what);
  PQclear(res);
  return MIDA_OK;
}

static int create_schema(pg_sink *s);

/* Brings a lost connection back. */
static int reconnect(pg_sink *s) {
  if (!s->write_refused && PQstatus(s->conn) == CONNECTION_OK &&
      PQtransactionStatus(s->conn) == PQTRANS_IDLE)
    return MIDA_OK;
  if (!s->write_refused && PQstatus(s->conn) == CONNECTION_OK) {
    PQclear(PQexec(s->conn, "ROLLBACK"));
    if (PQtransactionStatus(s->conn) == PQTRANS_IDLE)
      return MIDA_OK;
  }
  PQreset(s->conn);
  s->write_refused = 0;
  s->staged = 0; /* a new session: no temporary table, no statement */
  s->new_points_table = 0;
  /* A new session: the guard arranges itself on it again. */
  mida__pg_guard_init(&s->guard, s->conn);
  /* The server may have restarted since the deferred commits, losing
   * those not yet on disk: the caller must send them again. */
  int lost = s->undurable;
  s->undurable = 0;
  /* The database may be another of the same name now (dropped and made
   * again, restored): a writer makes its schema there, as at open. */
  s->schema_unchecked = 1;
  if (PQstatus(s->conn) != CONNECTION_OK)
    return fail_conn(s, MIDA_ESTORE, "cannot reconnect to store");
  if (lost)
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "the connection to store %s was lost before the"
                           " batches committed without waiting for the disk"
                           " were known to be durable",
                           s->where);
  return MIDA_OK;
}

/* Brings a lost connection back before a batch, and a writer's schema
 * after a reconnection. */
static int ensure_connected(pg_sink *s) {
  int rc = reconnect(s);
  if (rc == MIDA_OK && s->schema_unchecked &&
      !(s->flags & MIDA_SINK_READONLY)) {
    rc = create_schema(s);
    s->schema_unchecked = rc != MIDA_OK;
  }
  return rc;
}

/* ---- the arena ---------------------------------------------------------- */

/* Copies len bytes and a NUL into the arena; *off receives their offset. */
static int arena_add(pg_sink *s, const char *p, size_t len, size_t *off) {
  *off = s->arena.len;
  int rc = mida__buf_add(&s->arena, p != NULL ? p : "", len);
  if (rc == MIDA_OK)
    rc = mida__buf_add(&s->arena, "", 1);
  return rc;
}

/* Copies the JSON text p[0..len) and a NUL into the arena, as jsonb takes
 * it (pg_json.h) when the batch is tried again after a failure, else as it
 * is; *off and *stored receive its offset and length. */
static int arena_json(pg_sink *s, const char *p, size_t len, size_t *off,
                      size_t *stored) {
  if (!s->fit_values) {
    *stored = len;
    return arena_add(s, p, len, off);
  }
  *off = s->arena.len;
  int rc = mida__pg_json_fit(p != NULL ? p : "", len, &s->arena);
  *stored = rc == MIDA_OK ? s->arena.len - *off : 0;
  if (rc == MIDA_OK)
    rc = mida__buf_add(&s->arena, "", 1);
  return rc;
}

static int arena_i64(pg_sink *s, int64_t v, size_t *off) {
  char t[24];
  int n = snprintf(t, sizeof t, "%lld", (long long)v);
  return arena_add(s, t, (size_t)n, off);
}

static int arena_id(pg_sink *s, const mida_id_t *id, size_t *off) {
  char t[MIDA_ID_STRLEN];
  mida_id_format(id, t);
  return arena_add(s, t, MIDA_ID_STRLEN - 1, off);
}

/* A field's value as text in the arena (ids formatted, numbers printed). */
static int arena_field(pg_sink *s, unsigned tag, const mida__field *f,
                       size_t *off) {
  switch (mida__field_kind(tag)) {
  case MIDA_KIND_ID:
    return arena_id(s, &f->v.id, off);
  case MIDA_KIND_I64:
    return arena_i64(s, f->v.i64, off);
  case MIDA_KIND_F64: {
    char t[MIDA_DTOA_MAX];
    double v = f->v.f64;
    int n;
    if (v != v)
      n = snprintf(t, sizeof t, "NaN");
    else if (v > 1.7976931348623157e308)
      n = snprintf(t, sizeof t, "Infinity");
    else if (v < -1.7976931348623157e308)
      n = snprintf(t, sizeof t, "-Infinity");
    else
      n = (int)mida__dtoa(v, t);
    return arena_add(s, t, (size_t)n, off);
  }
  case MIDA_KIND_STR:
    if (s->fit_values) { /* bytes that are not UTF-8 (pg_json.h) */
      *off = s->arena.len;
      int rc = mida__pg_text_fit(f->v.str.ptr != NULL ? f->v.str.ptr : "",
                                 f->v.str.len, &s->arena);
      return rc == MIDA_OK ? mida__buf_add(&s->arena, "", 1) : rc;
    }
    return arena_add(s, f->v.str.ptr, f->v.str.len, off);
  default:
    *off = NULL_OFF;
    return MIDA_OK;
  }
}

/* Whether a record carries a usable value for a field (as in sqlite.c). */
static int field_usable(const mida__rec *r, unsigned tag, int is_json,
                        batch_counts *counts) {
  const mida__field *f = &r->f[tag];
  if (!f->present)
    return 0;
  if (mida__field_kind(tag) == MIDA_KIND_ID)
    return !mida_id_is_nil(&f->v.id);
  if (mida__field_kind(tag) == MIDA_KIND_STR &&
      memchr(f->v.str.ptr != NULL ? f->v.str.ptr : "", 0, f->v.str.len) !=
          NULL) {
    /* PostgreSQL text cannot hold NUL bytes. */
    counts->dropped_fields++;
    return 0;
  }
  if (is_json &&
      mida__json_check(f->v.str.ptr, f->v.str.len, true, NULL) != MIDA_OK) {
    counts->dropped_fields++;
    return 0;
  }
  return 1;
}

/* ---- building and running multi-row statements -------------------------- */

static int reserve_params(pg_sink *s, size_t n) {
  if (n <= s->params_cap)
    return MIDA_OK;
  const char **p = mida__realloc(s->params, n * sizeof *p);
  if (p == NULL)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  s->params = p;
  s->params_cap = n;
  return MIDA_OK;
}

/* Runs s->sql with nparams parameters taken from offs (arena offsets). */
static int run_rows(pg_sink *s, const size_t *offs, size_t nparams,
                    const char *const *lead, int nlead, const char *what) {
  int rc = reserve_params(s, nparams + (size_t)nlead + 1);
  if (rc != MIDA_OK)
    return rc;
  for (int i = 0; i < nlead; i++)
    s->params[i] = lead[i];
  for (size_t i = 0; i < nparams; i++)
    s->params[(size_t)nlead + i] =
        offs[i] == NULL_OFF ? NULL : s->arena.ptr + offs[i];
  PGresult *res =
      PQexecParams(s->conn, mida__buf_str(&s->sql), (int)nparams + nlead, NULL,
                   s->params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return fail_result(s, res, what);
  PQclear(res);
  return MIDA_OK;
}

/* Appends "($k::type, ...)" for one row of ncols values starting at $first.
 */
static int add_row_sql(mida__buf *b, const char *const *types, int ncols,
                       size_t first, int comma, const char *last) {
  int rc = mida__buf_adds(b, comma ? ",(" : "(");
  for (int c = 0; c < ncols && rc == MIDA_OK; c++)
    rc = mida__buf_printf(b, "%s$%zu::%s", c ? "," : "", first + (size_t)c,
                          types[c]);
  if (rc == MIDA_OK && last != NULL)
    rc = mida__buf_printf(b, ",%s", last);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ")");
  return rc;
}

/* The change number of the writing transaction (schema.h). */
#define CHANGE_SEQ "pg_current_xact_id()::text::bigint"

/* Whether an entity's table has a change number. */
static int has_seq(int ent_no) {
  return ent_no == ENT_TASK || ent_no == ENT_WORKFLOW;
}

static int flush_link(pg_sink *s, int t) {
  pending *p = &s->link[t];
  const link_table *lt = &link_tables[t];
  if (p->nrows == 0)
    return MIDA_OK;
  mida__buf_reset(&s->sql);
  int rc = mida__buf_printf(&s->sql, "%s VALUES", lt->head);
  for (size_t r = 0; r < p->nrows && rc == MIDA_OK; r++)
    rc = add_row_sql(&s->sql, lt->types, lt->ncols, 1 + r * (size_t)lt->ncols,
                     r > 0, NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->sql, lt->tail);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a statement");
  rc = run_rows(s, p->vals, p->nrows * (size_t)lt->ncols, NULL, 0, lt->head);
  p->nrows = 0;
  if (p->keys != NULL)
    memset(p->keys, 0, p->keys_cap * sizeof *p->keys);
  return rc;
}

static uint64_t hash_bytes(uint64_t h, const char *p) {
  for (; *p != '\0'; p++)
    h = (h ^ (unsigned char)*p) * 0x100000001B3ull;
  return (h ^ 0xff) * 0x100000001B3ull;
}

/* Adds one row (ncols arena offsets) to a link table, flushing first when
 * its key is already waiting or the statement is full. */
static int add_link(pg_sink *s, int t, const size_t *vals) {
  pending *p = &s->link[t];
  const link_table *lt = &link_tables[t];
  if (p->vals == NULL) {
    p->vals = mida__calloc((size_t)ROWS_PER_STMT * (size_t)lt->ncols,
                           sizeof *p->vals);
    p->keys_cap = KEY_SLOTS;
    p->keys = lt->nkey > 0 ? mida__calloc(p->keys_cap, sizeof *p->keys) : NULL;
    if (p->vals == NULL || (lt->nkey > 0 && p->keys == NULL))
      return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  }
  int rc = MIDA_OK;
  if (p->nrows >= ROWS_PER_STMT)
    rc = flush_link(s, t);
  if (rc == MIDA_OK && lt->nkey > 0) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (int k = 0; k < lt->nkey; k++)
      h = hash_bytes(h, vals[k] == NULL_OFF ? "" : s->arena.ptr + vals[k]);
    h |= 1;
    size_t mask = p->keys_cap - 1;
    size_t i = (size_t)h & mask;
    for (; p->keys[i] != 0 && p->keys[i] != h; i = (i + 1) & mask)
      ;
    if (p->keys[i] == h) {
      /* Possibly the same key (or a hash collision): a new statement. */
      rc = flush_link(s, t);
      for (i = (size_t)h & mask; p->keys[i] != 0; i = (i + 1) & mask)
        ;
    }
    p->keys[i] = h;
  }
  if (rc != MIDA_OK)
    return rc;
  memcpy(p->vals + p->nrows * (size_t)lt->ncols, vals,
         (size_t)lt->ncols * sizeof *vals);
  p->nrows++;
  return MIDA_OK;
}

/* ---- change numbers of tasks that got metric points -------------------- */

/* Notes that task id got metric points in this batch (ids in a row are
 * mostly the same task's: a repeat of the last one is not noted again). */
static int touch_task(pg_sink *s, const char *id) {
  if (strcmp(id, s->last_touched) == 0)
    return MIDA_OK;
  snprintf(s->last_touched, sizeof s->last_touched, "%s", id);
  int rc = mida__buf_adds(&s->touched, s->touched.len ? "," : "");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->touched, id);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "out of memory");
  return MIDA_OK;
}

/* Moves the change number of the noted tasks to this transaction's. */
static int flush_touched(pg_sink *s) {
  if (s->touched.len == 0)
    return MIDA_OK;
  const char *params[1] = {mida__buf_str(&s->touched)};
  PGresult *res = PQexecParams(
      s->conn,
      "UPDATE task SET seq = " CHANGE_SEQ " WHERE id = ANY(string_to_array("
      "$1::text, ',')) AND seq IS DISTINCT FROM " CHANGE_SEQ,
      1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return fail_result(s, res, "cannot number changed tasks");
  PQclear(res);
  return MIDA_OK;
}

/* ---- the blocks of metric series (rollup.h) ----------------------------- */

/* Folds the points the batch added into their blocks: one statement that
 * locks the blocks in key order (two writers of one series wait for each
 * other, never deadlock). */
static int fold_blocks(pg_sink *s) {
  mida__buf_reset(&s->sql);
  int rc = mida__buf_adds(&s->sql,
                          "INSERT INTO metric_block(" MIDA_ROLLUP_COLUMNS ") ");
  if (rc == MIDA_OK)
    rc = mida__rollup_select_sql(&s->sql, "mida_new_points");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(
        &s->sql,
        " ON CONFLICT(task_id, key, axis, shift, block) DO UPDATE SET"
        " x0 = LEAST(metric_block.x0, excluded.x0),"
        " x1 = GREATEST(metric_block.x1, excluded.x1),"
        " t0 = LEAST(metric_block.t0, excluded.t0),"
        " t1 = GREATEST(metric_block.t1, excluded.t1),"
        " lo = LEAST(metric_block.lo, excluded.lo),"
        " hi = GREATEST(metric_block.hi, excluded.hi),"
        " n = metric_block.n + excluded.n");
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a statement");
  return exec_simple(s, mida__buf_str(&s->sql),
                     "cannot summarise metric points");
}

/* ---- records to rows ---------------------------------------------------- */

static int str_or_null(pg_sink *s, const mida__rec *r, unsigned tag,
                       size_t *off, batch_counts *counts) {
  *off = NULL_OFF;
  if (!field_usable(r, tag, 0, counts))
    return MIDA_OK;
  return arena_field(s, tag, &r->f[tag], off);
}

static int host_pid(pg_sink *s, const mida__rec *r, const mida__origin *o,
                    size_t *host, size_t *pid, batch_counts *counts) {
  int rc = str_or_null(s, r, MIDA_F_HOST, host, counts);
  if (rc == MIDA_OK && *host == NULL_OFF && o != NULL && o->host != NULL)
    rc = arena_add(s, o->host, strlen(o->host), host);
  *pid = NULL_OFF;
  if (rc == MIDA_OK && r->f[MIDA_F_PID].present)
    rc = arena_i64(s, r->f[MIDA_F_PID].v.i64, pid);
  else if (rc == MIDA_OK && o != NULL)
    rc = arena_i64(s, o->pid, pid);
  return rc;
}

static int link_record(pg_sink *s, const mida__rec *r, const mida__origin *o,
                       batch_counts *counts) {
  size_t v[6];
  int rc = MIDA_OK;
  switch (r->type) {
  case MIDA_REC_DATA: {
    unsigned key = MIDA_F_DATA_ID;
    if (!r->f[key].present)
      key = r->f[MIDA_F_DIGEST].present ? MIDA_F_DIGEST : MIDA_F_URI;
    if (!field_usable(r, key, 0, counts) || r->f[key].v.str.len == 0) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = arena_field(s, key, &r->f[key], &v[0]);
    if (rc == MIDA_OK)
      rc = str_or_null(s, r, MIDA_F_KIND, &v[1], counts);
    if (rc == MIDA_OK)
      rc = str_or_null(s, r, MIDA_F_URI, &v[2], counts);
    v[3] = NULL_OFF;
    if (rc == MIDA_OK && r->f[MIDA_F_SIZE].present &&
        r->f[MIDA_F_SIZE].v.i64 >= 0)
      rc = arena_i64(s, r->f[MIDA_F_SIZE].v.i64, &v[3]);
    if (rc == MIDA_OK)
      rc = str_or_null(s, r, MIDA_F_DIGEST, &v[4], counts);
    v[5] = NULL_OFF;
    if (rc == MIDA_OK && field_usable(r, MIDA_F_METADATA, 1, counts))
      rc = arena_json(s, r->f[MIDA_F_METADATA].v.str.ptr,
                      r->f[MIDA_F_METADATA].v.str.len, &v[5], &(size_t){0});
    if (rc == MIDA_OK)
      rc = add_link(s, LT_DATA, v);
    if (rc != MIDA_OK || !field_usable(r, MIDA_F_TASK, 0, counts))
      return rc;
    int64_t role = r->f[MIDA_F_ROLE].present ? r->f[MIDA_F_ROLE].v.i64 : 0;
    if (role != MIDA_USED && role != MIDA_GENERATED) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    size_t d = v[0];
    rc = arena_id(s, &r->f[MIDA_F_TASK].v.id, &v[0]);
    v[1] = d;
    const char *rn = role == MIDA_USED ? "used" : "generated";
    if (rc == MIDA_OK)
      rc = arena_add(s, rn, strlen(rn), &v[2]);
    if (rc == MIDA_OK)
      rc = str_or_null(s, r, MIDA_F_NAME, &v[3], counts);
    v[4] = NULL_OFF;
    if (rc == MIDA_OK && r->f[MIDA_F_BYTES].present &&
        r->f[MIDA_F_BYTES].v.i64 >= 0)
      rc = arena_i64(s, r->f[MIDA_F_BYTES].v.i64, &v[4]);
    if (rc == MIDA_OK)
      rc = add_link(s, LT_TASK_DATA, v);
    return rc;
  }
  case MIDA_REC_DEP:
    if (!field_usable(r, MIDA_F_TASK, 0, counts) ||
        !field_usable(r, MIDA_F_PARENT, 0, counts)) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = arena_id(s, &r->f[MIDA_F_TASK].v.id, &v[0]);
    if (rc == MIDA_OK)
      rc = arena_id(s, &r->f[MIDA_F_PARENT].v.id, &v[1]);
    return rc == MIDA_OK ? add_link(s, LT_DEP, v) : rc;
  case MIDA_REC_METRIC: {
    if (!field_usable(r, MIDA_F_TASK, 0, counts) ||
        !field_usable(r, MIDA_F_KEY, 0, counts) || !r->f[MIDA_F_TS].present) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = arena_id(s, &r->f[MIDA_F_TASK].v.id, &v[0]);
    if (rc == MIDA_OK)
      rc = arena_field(s, MIDA_F_KEY, &r->f[MIDA_F_KEY], &v[1]);
    v[2] = NULL_OFF; /* no step; negative steps are kept as they are */
    if (rc == MIDA_OK && r->f[MIDA_F_STEP].present)
      rc = arena_i64(s, r->f[MIDA_F_STEP].v.i64, &v[2]);
    if (rc == MIDA_OK)
      rc = arena_i64(s, r->f[MIDA_F_TS].v.i64, &v[3]);
    v[4] = NULL_OFF;
    if (rc == MIDA_OK && r->f[MIDA_F_VALUE].present)
      rc = arena_field(s, MIDA_F_VALUE, &r->f[MIDA_F_VALUE], &v[4]);
    s->new_points = 1;
    if (rc == MIDA_OK)
      rc = add_link(s, LT_METRIC, v);
    if (rc == MIDA_OK)
      rc = touch_task(s, s->arena.ptr + v[0]);
    return rc;
  }
  case MIDA_REC_TELEMETRY:
    if (!r->f[MIDA_F_TS].present) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = host_pid(s, r, o, &v[0], &v[1], counts);
    if (rc == MIDA_OK && (v[0] == NULL_OFF || v[1] == NULL_OFF)) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    if (rc == MIDA_OK)
      rc = arena_i64(s, r->f[MIDA_F_TS].v.i64, &v[2]);
    v[3] = v[4] = v[5] = NULL_OFF;
    if (rc == MIDA_OK && field_usable(r, MIDA_F_WORKFLOW, 0, counts))
      rc = arena_id(s, &r->f[MIDA_F_WORKFLOW].v.id, &v[3]);
    if (rc == MIDA_OK && field_usable(r, MIDA_F_TASK, 0, counts))
      rc = arena_id(s, &r->f[MIDA_F_TASK].v.id, &v[4]);
    if (rc == MIDA_OK && field_usable(r, MIDA_F_METADATA, 1, counts))
      rc = arena_json(s, r->f[MIDA_F_METADATA].v.str.ptr,
                      r->f[MIDA_F_METADATA].v.str.len, &v[5], &(size_t){0});
    return rc == MIDA_OK ? add_link(s, LT_TELEMETRY, v) : rc;
  case MIDA_REC_CURSOR:
    if (!field_usable(r, MIDA_F_SOURCE, 0, counts) ||
        !field_usable(r, MIDA_F_KEY, 0, counts)) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = arena_field(s, MIDA_F_SOURCE, &r->f[MIDA_F_SOURCE], &v[0]);
    if (rc == MIDA_OK)
      rc = arena_field(s, MIDA_F_KEY, &r->f[MIDA_F_KEY], &v[1]);
    if (rc == MIDA_OK)
      rc = str_or_null(s, r, MIDA_F_TEXT, &v[2], counts);
    v[3] = NULL_OFF;
    if (rc == MIDA_OK && r->f[MIDA_F_TS].present)
      rc = arena_i64(s, r->f[MIDA_F_TS].v.i64, &v[3]);
    return rc == MIDA_OK ? add_link(s, LT_CURSOR, v) : rc;
  case MIDA_REC_COUNTER:
    if (!field_usable(r, MIDA_F_KEY, 0, counts) ||
        !r->f[MIDA_F_VALUE_I].present) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    rc = host_pid(s, r, o, &v[0], &v[1], counts);
    if (rc == MIDA_OK && (v[0] == NULL_OFF || v[1] == NULL_OFF)) {
      counts->skipped_records++;
      return MIDA_OK;
    }
    if (rc == MIDA_OK)
      rc = arena_field(s, MIDA_F_KEY, &r->f[MIDA_F_KEY], &v[2]);
    if (rc == MIDA_OK)
      rc = arena_i64(s, r->f[MIDA_F_VALUE_I].v.i64, &v[3]);
    return rc == MIDA_OK ? add_link(s, LT_COUNTER, v) : rc;
  case MIDA_REC_PAD:
  case MIDA_REC_LOST: /* after the rows: apply_lost */
    return MIDA_OK;
  default:
    counts->skipped_records++;
    return MIDA_OK;
  }
}

/* ---- entities ----------------------------------------------------------- */

static int reserve_images(pg_sink *s, size_t n) {
  if (n > UINT32_MAX / 4)
    return mida__sink_fail(&s->base, MIDA_EINVAL, "batch too large: %zu", n);
  if (n > s->images_cap) {
    image *p = mida__realloc(s->images, n * sizeof *p);
    if (p == NULL)
      return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
    s->images = p;
    s->images_cap = n;
  }
  if (mida__fold_reset(&s->fold, n) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  return MIDA_OK;
}

/* Folds one record into the image of its row (a new one if none): every
 * rule, JSON included, is applied here, so each row has one image. */
static int fold_entity(pg_sink *s, const mida__rec *r, int ent_no,
                       size_t *nimages, batch_counts *counts) {
  const entity *ent = &entities[ent_no];
  if (!field_usable(r, MIDA_F_ID, 0, counts)) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  const mida_id_t *id = &r->f[MIDA_F_ID].v.id;
  mida__fold_slot *slot = mida__fold_find(&s->fold, ent_no, id);
  image *img;
  if (slot->image != 0) {
    img = &s->images[slot->image - 1];
  } else {
    img = &s->images[(*nimages)++];
    memset(img, 0, sizeof *img);
    img->entity = (uint8_t)ent_no;
    img->id = *id;
    slot->image = (uint32_t)*nimages;
  }
  int rc = MIDA_OK;
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
    unsigned tag = ent->columns[c].tag;
    int rule = ent->columns[c].rule;
    if (!field_usable(r, tag, rule == MIDA_RULE_JSON, counts))
      continue;
    const mida__field *f = &r->f[tag];
    cell *cl = &img->c[c];
    int kind = mida__field_kind(tag);
    if (kind == MIDA_KIND_I64) {
      if (!cl->set || mida__merge_takes(rule, f->v.i64, cl->num)) {
        cl->set = 1;
        cl->num = f->v.i64;
      }
      continue;
    }
    if (rule == MIDA_RULE_JSON && cl->set) {
      mida__buf merged;
      mida__buf_init(&merged, ARENA_MAX);
      rc = mida__json_merge(s->arena.ptr + cl->off, cl->len, f->v.str.ptr,
                            f->v.str.len, &merged);
      size_t stored = 0;
      if (rc == MIDA_OK)
        rc = arena_json(s, merged.ptr, merged.len, &cl->off, &stored);
      cl->len = (uint32_t)stored;
      mida__buf_free(&merged);
      if (rc != MIDA_OK)
        rc = mida__sink_fail(&s->base, rc, "cannot merge JSON in a batch");
      continue;
    }
    if (rule == MIDA_RULE_JSON) {
      size_t stored = 0;
      rc = arena_json(s, f->v.str.ptr, f->v.str.len, &cl->off, &stored);
      cl->len = (uint32_t)stored;
    } else {
      rc = arena_field(s, tag, f, &cl->off);
      cl->len = kind == MIDA_KIND_STR ? f->v.str.len : MIDA_ID_STRLEN - 1;
    }
    cl->set = 1;
    if (rc != MIDA_OK)
      rc = mida__sink_fail(&s->base, rc, "out of memory");
  }
  return rc;
}

/* Whether a JSON column is stored as json, checked and kept as text, not
 * as jsonb (schema version 12): telemetry, which nothing indexes into. */
static int json_plain(const mida__merge_column *col) {
  return col->tag == MIDA_F_TELEMETRY;
}

/* The SQL type of an entity column, for its cast. */
static const char *column_type(const mida__merge_column *col) {
  if (col->rule == MIDA_RULE_JSON)
    return json_plain(col) ? "json" : "jsonb";
  return mida__field_kind(col->tag) == MIDA_KIND_I64 &&
                 col->rule != MIDA_RULE_STATUS
             ? "bigint"
             : "text";
}

/* The bit of an origin column (MIDA_RULE_ORIGIN) in a staged row's
 * origin_given: set when the row's records gave the column's value, clear
 * when it is the batch's origin default. */
static unsigned origin_bit(const mida__merge_column *col) {
  return col->tag == MIDA_F_HOST ? 1u : 2u;
}

/* Whether an entity's table has origin columns (and so its staging table
 * the column origin_given, and its merge the parameter $1). */
static int has_origin(const entity *ent) {
  for (int c = 0; c < ent->ncolumns; c++)
    if (ent->columns[c].rule == MIDA_RULE_ORIGIN)
      return 1;
  return 0;
}

/* The origin_given of an image: the bits of the origin columns it has a
 * value of its own for. */
static unsigned image_origin_given(const entity *ent, const image *img) {
  unsigned given = 0;
  for (int c = 1; c < ent->ncolumns; c++)
    if (ent->columns[c].rule == MIDA_RULE_ORIGIN && img->c[c].set)
      given |= origin_bit(&ent->columns[c]);
  return given;
}

/* Writes the merged value of column c of an entity's upsert: the stored
 * value (table.col) and the incoming one (excluded.col) combined by the
 * column's rule; $1 is the origin_given of the rows the merge takes. */
static int merge_expr(const entity *ent, int c, mida__buf *b) {
  const char *t = ent->table;
  const char *n = pg_ident(ent->columns[c].name);
  switch (ent->columns[c].rule) {
  case MIDA_RULE_MIN:
  case MIDA_RULE_MAX:
    return mida__buf_printf(
        b, "%s(%s.%s, excluded.%s)",
        ent->columns[c].rule == MIDA_RULE_MIN ? "LEAST" : "GREATEST", t, n, n);
  case MIDA_RULE_STATUS:
    return mida__buf_printf(b,
                            "CASE WHEN mida.mida_status_rank(excluded.%s)"
                            " > mida.mida_status_rank(%s.%s) THEN excluded.%s"
                            " ELSE %s.%s END",
                            n, t, n, n, t, n);
  case MIDA_RULE_JSON:
    /* json has no ||: the two merged as jsonb, kept as json. */
    if (json_plain(&ent->columns[c]))
      return mida__buf_printf(b,
                              "coalesce((%s.%s::jsonb || excluded.%s::jsonb)"
                              "::json, %s.%s, excluded.%s)",
                              t, n, n, t, n, n);
    return mida__buf_printf(b,
                            "coalesce(%s.%s || excluded.%s, %s.%s,"
                            " excluded.%s)",
                            t, n, n, t, n, n);
  case MIDA_RULE_ORIGIN:
    /* A value the records gave wins; the origin's default (which
     * excluded holds otherwise) only fills an empty column. Told apart by
     * $1, not by the value: an explicit value equal to the default was
     * taken for it, and the stored one kept (until 2026-12). */
    return mida__buf_printf(b,
                            "CASE WHEN ($1::int & %u) <> 0 THEN excluded.%s"
                            " ELSE coalesce(%s.%s, excluded.%s) END",
                            origin_bit(&ent->columns[c]), n, t, n, n);
  default:
    return mida__buf_printf(b, "coalesce(excluded.%s, %s.%s)", n, t, n);
  }
}

/* Writes the ON CONFLICT tail of an entity's upsert, first (e.g. the
 * change number's assignment) before the columns'. */
static int entity_tail(const entity *ent, const char *first, mida__buf *b) {
  int rc = mida__buf_printf(b, " ON CONFLICT(id) DO UPDATE SET%s", first);
  const char *t = ent->table;
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
    const char *n = pg_ident(ent->columns[c].name);
    int from_runs = ent->columns[c].from_runs;
    rc = mida__buf_printf(b, "%s %s = ", c > 1 ? "," : "", n);
    /* A column that the task's runs summarise keeps its value once the
     * row has runs (schema.h, task_run). */
    if (rc == MIDA_OK && from_runs)
      rc = mida__buf_printf(b,
                            "CASE WHEN %s.attempts IS NOT NULL THEN %s.%s"
                            " ELSE ",
                            t, t, n);
    if (rc == MIDA_OK)
      rc = merge_expr(ent, c, b);
    if (rc == MIDA_OK && from_runs)
      rc = mida__buf_adds(b, " END");
  }
  return rc;
}

/* ---- entities: COPY into a staging table, one merge per batch ---------
 *
 * A batch's row images of one entity go to the server as COPY data into a
 * temporary table of the entity's columns (mida_stage_<table>, emptied at
 * each commit), and one prepared statement merges them all into the table:
 * INSERT INTO <table> SELECT ... FROM mida_stage_<table> ON CONFLICT(id) DO
 * UPDATE SET <the merge rules>. A table with origin columns (host, pid)
 * stages one more column, origin_given (origin_bit), and its merge takes
 * the rows of one origin_given at a time ($1). The server parses COPY's
 * text much faster than thousands of bound parameters of a multi-row
 * VALUES, and parses and plans the merge once per connection
 * (bench/bench_key_index.c and bench/bench_broker.py measure it). The fold
 * made each id appear once in a batch, as one statement may change a row
 * only once. */

/* Makes entity ent_no's staging table and prepared merge in this session
 * (outside a transaction, so that a batch rolled back keeps them). */
static int stage_prepare(pg_sink *s, int ent_no) {
  if (s->staged & (1u << ent_no))
    return MIDA_OK;
  const entity *ent = &entities[ent_no];
  mida__buf_reset(&s->sql);
  int rc = mida__buf_printf(&s->sql, "CREATE TEMP TABLE IF NOT EXISTS"
                                     " mida_stage_%s(", ent->table);
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++)
    rc = mida__buf_printf(&s->sql, "%s%s %s", c ? ", " : "",
                          pg_ident(ent->columns[c].name),
                          c == 0 ? "text" : column_type(&ent->columns[c]));
  if (rc == MIDA_OK && has_origin(ent))
    rc = mida__buf_adds(&s->sql, ", origin_given int");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->sql, ") ON COMMIT DELETE ROWS");
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a statement");
  rc = exec_simple(s, mida__buf_str(&s->sql), "cannot make a staging table");
  if (rc != MIDA_OK)
    return rc;
  /* The merge: $1, in tables with origin columns, is the origin_given of
   * the staged rows it takes. */
  int nlead = has_origin(ent);
  mida__buf_reset(&s->sql);
  rc = mida__buf_printf(&s->sql, "INSERT INTO %s(", ent->table);
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++)
    rc = mida__buf_printf(&s->sql, "%s%s", c ? ", " : "",
                          pg_ident(ent->columns[c].name));
  if (rc == MIDA_OK && has_seq(ent_no))
    rc = mida__buf_adds(&s->sql, ", seq");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->sql, ") SELECT ");
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++)
    rc = mida__buf_printf(&s->sql, "%s%s", c ? ", " : "",
                          pg_ident(ent->columns[c].name));
  if (rc == MIDA_OK && has_seq(ent_no))
    rc = mida__buf_adds(&s->sql, ", " CHANGE_SEQ);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&s->sql, " FROM mida_stage_%s", ent->table);
  if (rc == MIDA_OK && nlead)
    rc = mida__buf_adds(&s->sql, " WHERE origin_given = $1::int");
  if (rc == MIDA_OK)
    rc = entity_tail(ent, has_seq(ent_no) ? " seq = excluded.seq," : "",
                     &s->sql);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a statement");
  char name[64];
  snprintf(name, sizeof name, "mida_merge_%s", ent->table);
  PGresult *res =
      PQprepare(s->conn, name, mida__buf_str(&s->sql), nlead, NULL);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return fail_result(s, res, "cannot prepare a merge");
  PQclear(res);
  s->staged |= 1u << ent_no;
  return MIDA_OK;
}

/* Appends text to b as one value of COPY's text format. */
static int copy_escape(mida__buf *b, const char *text) {
  const char *p = text;
  int rc = MIDA_OK;
  while (rc == MIDA_OK && *p != '\0') {
    size_t n = strcspn(p, "\\\n\r\t");
    rc = mida__buf_add(b, p, n);
    p += n;
    if (rc != MIDA_OK || *p == '\0')
      break;
    char esc[2] = {'\\', *p == '\n'   ? 'n'
                        : *p == '\r' ? 'r'
                        : *p == '\t' ? 't'
                                     : '\\'};
    rc = mida__buf_add(b, esc, 2);
    p++;
  }
  return rc;
}

/* Sends the COPY data in s->sql into entity ent_no's staging table
 * (stage 1) or into its table itself (stage 0, with the change number as
 * the last column: flush_direct). A unique violation sets *duplicate,
 * when duplicate is not NULL, and fails without an error message: the
 * caller takes the other path. */
static int copy_rows(pg_sink *s, const entity *ent, int stage, int *duplicate) {
  char head[512];
  size_t used = (size_t)snprintf(head, sizeof head, "COPY %s%s(",
                                 stage ? "mida_stage_" : "", ent->table);
  for (int c = 0; c < ent->ncolumns && used < sizeof head; c++)
    used += (size_t)snprintf(head + used, sizeof head - used, "%s%s",
                             c ? ", " : "", pg_ident(ent->columns[c].name));
  if (used < sizeof head)
    snprintf(head + used, sizeof head - used, "%s) FROM STDIN",
             !stage              ? ", seq"
             : has_origin(ent) ? ", origin_given"
                               : "");
  PGresult *res = PQexec(s->conn, head);
  if (PQresultStatus(res) != PGRES_COPY_IN)
    return fail_result(s, res, "cannot stage a batch");
  PQclear(res);
  int ok = PQputCopyData(s->conn, s->sql.ptr, (int)s->sql.len) == 1 &&
           PQputCopyEnd(s->conn, NULL) == 1;
  int rc = ok ? MIDA_OK : fail_conn(s, MIDA_ESTORE, "cannot stage a batch on store");
  /* The COPY's own result, then the end of its results. */
  while ((res = PQgetResult(s->conn)) != NULL) {
    if (rc == MIDA_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
      const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      if (duplicate != NULL && state != NULL && strcmp(state, "23505") == 0) {
        *duplicate = 1;
        rc = MIDA_ESTORE;
        PQclear(res);
      } else {
        rc = fail_result(s, res, "cannot stage a batch");
      }
      continue;
    }
    PQclear(res);
  }
  return rc;
}

/* Writes into s->sql, as COPY text, the images of entity ent_no whose
 * direct flag is direct; seq, when not NULL, is appended to each row; an
 * image for the staging table (not direct) of a table with origin
 * columns ends with its origin_given. Sets the bit 1 << origin_given of
 * each such image in *givens. */
static int copy_text(pg_sink *s, int ent_no, size_t nimages,
                     const mida__origin *o, int direct, const char *seq,
                     unsigned *givens) {
  const entity *ent = &entities[ent_no];
  mida__buf_reset(&s->sql);
  int rc = MIDA_OK;
  char num[24];
  for (size_t k = 0; k < nimages && rc == MIDA_OK; k++) {
    const image *img = &s->images[k];
    if (img->entity != ent_no || img->direct != direct)
      continue;
    char id[MIDA_ID_STRLEN];
    mida_id_format(&img->id, id);
    rc = mida__buf_adds(&s->sql, id);
    for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
      const mida__merge_column *col = &ent->columns[c];
      const cell *cl = &img->c[c];
      const char *v = NULL;
      if (!cl->set) {
        /* An origin default fills an empty host or pid. */
        if (col->rule == MIDA_RULE_ORIGIN && o != NULL &&
            col->tag == MIDA_F_PID) {
          snprintf(num, sizeof num, "%lld", (long long)o->pid);
          v = num;
        } else if (col->rule == MIDA_RULE_ORIGIN && o != NULL) {
          v = o->host;
        }
      } else if (col->rule == MIDA_RULE_STATUS) {
        v = mida__status_name(cl->num);
      } else if (mida__field_kind(col->tag) == MIDA_KIND_I64) {
        snprintf(num, sizeof num, "%lld", (long long)cl->num);
        v = num;
      } else {
        v = s->arena.ptr + cl->off;
      }
      rc = mida__buf_adds(&s->sql, "\t");
      if (rc == MIDA_OK)
        rc = v != NULL ? copy_escape(&s->sql, v)
                       : mida__buf_adds(&s->sql, "\\N");
    }
    if (rc == MIDA_OK && seq != NULL)
      rc = mida__buf_printf(&s->sql, "\t%s", seq);
    if (rc == MIDA_OK && !direct && has_origin(ent)) {
      unsigned given = image_origin_given(ent, img);
      *givens |= 1u << given;
      rc = mida__buf_printf(&s->sql, "\t%u", given);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&s->sql, "\n");
  }
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a batch");
  return MIDA_OK;
}

/* Writes the images of one entity that did not go straight into their
 * table (flush_direct): COPY into its staging table, then its prepared
 * merge, once for each origin_given among the staged rows (one in
 * most batches; at most four). */
static int flush_entity(pg_sink *s, int ent_no, size_t nimages,
                        const mida__origin *o) {
  const entity *ent = &entities[ent_no];
  unsigned givens = 0;
  int rc = copy_text(s, ent_no, nimages, o, 0, NULL, &givens);
  if (rc != MIDA_OK || s->sql.len == 0)
    return rc;
  rc = copy_rows(s, ent, 1, NULL);
  if (rc != MIDA_OK)
    return rc;
  int nlead = has_origin(ent);
  if (!nlead)
    givens = 1u; /* one merge, of every row */
  char name[64];
  snprintf(name, sizeof name, "mida_merge_%s", ent->table);
  for (unsigned given = 0; given < 4; given++) {
    if ((givens & (1u << given)) == 0)
      continue;
    char text[4];
    snprintf(text, sizeof text, "%u", given);
    const char *lead[1] = {text};
    PGresult *res = PQexecPrepared(s->conn, name, nlead, lead, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
      return fail_result(s, res, ent->table);
    PQclear(res);
  }
  return MIDA_OK;
}

/* ---- tasks new to the store: COPY straight into table task ------------
 *
 * A task that begins and ends within one batch is almost always new to
 * the store: its row image is what the merge would insert. Such images go
 * by COPY straight into table task, with the transaction's change number
 * (CHANGE_SEQ, read once) as their seq: no staging table to fill, scan and
 * empty, and no ON CONFLICT, whose check of the primary key before each
 * insert and speculative insertion were a fifth of the server's work per
 * task (docs/performance.md). The COPY runs inside a savepoint; if one of
 * the rows exists after all (a message delivered again, a task whose
 * earlier records another process sent), the unique violation rolls it
 * back to the savepoint, and the images go through the staging table and
 * the merge as every other row, which is what they would have done: the
 * store ends the same either way. After such a miss the next batches
 * (1, 2, 4 ... up to DIRECT_PAUSE_MAX) take no direct path, so that a
 * source whose tasks are always known before they end pays little. */

#define DIRECT_PAUSE_MAX 1024u

/* Marks the task images that begin and end in the batch as direct,
 * unless the direct path is paused. */
static void choose_direct(pg_sink *s, size_t nimages) {
  if (s->direct_skip > 0) {
    s->direct_skip--;
    return;
  }
  const entity *ent = &entities[ENT_TASK];
  int started = -1, ended = -1;
  for (int c = 1; c < ent->ncolumns; c++) {
    if (ent->columns[c].tag == MIDA_F_STARTED)
      started = c;
    else if (ent->columns[c].tag == MIDA_F_ENDED)
      ended = c;
  }
  if (started < 0 || ended < 0)
    return;
  for (size_t k = 0; k < nimages; k++) {
    image *img = &s->images[k];
    img->direct =
        img->entity == ENT_TASK && img->c[started].set && img->c[ended].set;
  }
}

/* Copies the direct task images into table task (above); on a unique
 * violation, unmarks them for flush_entity. */
static int flush_direct(pg_sink *s, size_t nimages, const mida__origin *o) {
  size_t k = 0;
  while (k < nimages && !s->images[k].direct)
    k++;
  if (k == nimages)
    return MIDA_OK;
  PGresult *res = PQexec(s->conn, "SAVEPOINT mida_direct; SELECT " CHANGE_SEQ);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
    return fail_result(s, res, "cannot begin a batch");
  char seq[24];
  snprintf(seq, sizeof seq, "%s", PQgetvalue(res, 0, 0));
  PQclear(res);
  int rc = copy_text(s, ENT_TASK, nimages, o, 1, seq, NULL);
  int duplicate = 0;
  if (rc == MIDA_OK)
    rc = copy_rows(s, &entities[ENT_TASK], 0, &duplicate);
  if (rc == MIDA_OK) {
    s->direct_penalty /= 2;
    return exec_simple(s, "RELEASE SAVEPOINT mida_direct",
                       "cannot write a batch");
  }
  if (!duplicate)
    return rc;
  rc = exec_simple(s, "ROLLBACK TO SAVEPOINT mida_direct",
                   "cannot write a batch");
  for (k = 0; k < nimages; k++)
    s->images[k].direct = 0;
  s->direct_penalty = s->direct_penalty == 0 ? 1
                      : s->direct_penalty < DIRECT_PAUSE_MAX
                          ? 2 * s->direct_penalty
                          : DIRECT_PAUSE_MAX;
  s->direct_skip = s->direct_penalty;
  return rc;
}

/* ---- runs: the summary of their tasks ------------------------------------ */

/* The summary of the tasks $1 (a text array of ids) from their runs
 * (schema.h, task_run), as sqlite_summary.c's run summary. A task whose
 * latest run started after each of its other runs had ended (reopened: the
 * window l holds the other runs, an open one counting as never ended)
 * takes that run's status, RUNNING until it ends, in place of the stored
 * one; any other task keeps the higher-ranked of the stored status and
 * its runs' (FINISHED once one finished, else RUNNING). */
static const char run_summary_sql[] =
    "WITH s AS (SELECT DISTINCT ON (r.task_id) r.task_id AS id,"
    " max(coalesce(r.ended, 9223372036854775807)) OVER l <= r.started"
    " AS reopened, CASE WHEN bool_or(r.status = 'FINISHED') OVER w"
    " THEN 'FINISHED' ELSE 'RUNNING' END AS runs_status, r.status,"
    " r.started, r.ended, r.host, r.pid, r.worker, r.telemetry,"
    " count(*) OVER w AS attempts FROM task_run r"
    " WHERE r.task_id = ANY($1::text[]) AND r.started IS NOT NULL"
    " WINDOW w AS (PARTITION BY r.task_id), l AS (PARTITION BY r.task_id"
    " ORDER BY r.started DESC, r.id DESC"
    " ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)"
    " ORDER BY r.task_id, r.started DESC, r.id DESC)"
    " INSERT INTO task AS t(id, status, started, ended, host, pid, worker,"
    " telemetry, attempts, seq) SELECT id, CASE WHEN reopened THEN CASE"
    " WHEN status IN ('FINISHED', 'ERROR', 'CANCELLED', 'LOST') THEN status"
    " ELSE 'RUNNING' END ELSE runs_status END, started, ended, host, pid,"
    " worker, telemetry, attempts, " CHANGE_SEQ " FROM s"
    " ON CONFLICT(id) DO UPDATE SET status = CASE WHEN"
    " (SELECT s.reopened FROM s WHERE s.id = excluded.id) OR"
    " mida.mida_status_rank(excluded.status) >"
    " mida.mida_status_rank(t.status)"
    " THEN excluded.status ELSE t.status END, started = excluded.started,"
    " ended = excluded.ended, host = excluded.host, pid = excluded.pid,"
    " worker = excluded.worker, telemetry = excluded.telemetry,"
    " attempts = excluded.attempts, seq = excluded.seq";

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Runs sql with one parameter, the text in s->sql. */
static int exec_with_sql_param(pg_sink *s, const char *sql, const char *what) {
  const char *param = mida__buf_str(&s->sql);
  PGresult *res = PQexecParams(s->conn, sql, 1, NULL, &param, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return fail_result(s, res, what);
  PQclear(res);
  return MIDA_OK;
}

/* Takes, first thing in a batch's transaction, an advisory lock per task
 * whose runs the batch carries, in ascending order, so that two consumers
 * that add runs of one task at once compute its summary one after the
 * other, the second seeing the first's runs (two batches never wait for
 * each other in a cycle: each takes these locks before any other). */
static int lock_run_tasks(pg_sink *s, const mida__rec *recs, size_t n) {
  size_t nkeys = 0;
  for (size_t i = 0; i < n; i++)
    nkeys += recs[i].type == MIDA_REC_RUN && recs[i].f[MIDA_F_TASK].present;
  if (nkeys == 0)
    return MIDA_OK;
  int64_t *keys = mida__malloc(nkeys * sizeof *keys);
  if (keys == NULL)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  nkeys = 0;
  for (size_t i = 0; i < n; i++) {
    if (recs[i].type != MIDA_REC_RUN || !recs[i].f[MIDA_F_TASK].present)
      continue;
    memcpy(&keys[nkeys++], recs[i].f[MIDA_F_TASK].v.id.bytes + 8, 8);
  }
  qsort(keys, nkeys, sizeof *keys, cmp_i64);
  mida__buf_reset(&s->sql);
  int rc = mida__buf_adds(&s->sql, "{");
  for (size_t i = 0; i < nkeys && rc == MIDA_OK; i++)
    if (i == 0 || keys[i] != keys[i - 1])
      rc =
          mida__buf_printf(&s->sql, "%s%lld", i ? "," : "", (long long)keys[i]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->sql, "}");
  mida__free(keys);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "out of memory");
  return exec_with_sql_param(s,
                             "SELECT pg_catalog.pg_advisory_xact_lock(k)"
                             " FROM pg_catalog.unnest($1::bigint[]) AS k",
                             "cannot lock the tasks of runs");
}

/* Recomputes the summaries of the tasks of the batch's run images. */
static int summarise_runs(pg_sink *s, size_t nimages) {
  mida__buf_reset(&s->sql);
  int rc = mida__buf_adds(&s->sql, "{");
  int any = 0;
  for (size_t k = 0; k < nimages && rc == MIDA_OK; k++) {
    const image *img = &s->images[k];
    if (img->entity != ENT_RUN || !img->c[1].set)
      continue;
    /* task_id is column 1 of task_run (merge.c), an id: no quoting. */
    rc = mida__buf_printf(&s->sql, "%s%s", any ? "," : "",
                          s->arena.ptr + img->c[1].off);
    any = 1;
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&s->sql, "}");
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "out of memory");
  return any ? exec_with_sql_param(s, run_summary_sql,
                                   "cannot summarise the runs of tasks")
             : MIDA_OK;
}

/* ---- put_batch ---------------------------------------------------------- */

/* A LOST record (record.h): marks what the dead process left unfinished,
 * with the same statements as every store (merge.h), after the batch's
 * rows so that tasks begun in the same batch are marked too. */
static int apply_lost(pg_sink *s, const mida__rec *r, const mida__origin *o,
                      batch_counts *counts) {
  size_t v[5];
  int rc = host_pid(s, r, o, &v[0], &v[1], counts);
  if (rc != MIDA_OK)
    return rc;
  if (v[0] == NULL_OFF || v[1] == NULL_OFF || !r->f[MIDA_F_STARTED].present ||
      !r->f[MIDA_F_ERROR].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  rc = arena_i64(s, r->f[MIDA_F_STARTED].v.i64, &v[2]);
  if (rc == MIDA_OK)
    rc = arena_i64(
        s, r->f[MIDA_F_ENDED].present ? r->f[MIDA_F_ENDED].v.i64 : INT64_MAX,
        &v[3]);
  if (rc == MIDA_OK)
    rc = arena_field(s, MIDA_F_ERROR, &r->f[MIDA_F_ERROR], &v[4]);
  const char *const sql[3] = {MIDA_LOST_TASKS_SQL(CHANGE_SEQ),
                              MIDA_LOST_WORKFLOWS_SQL(CHANGE_SEQ),
                              MIDA_LOST_RUNS_SQL};
  const size_t nparams[3] = {5, 4, 5};
  for (int i = 0; i < 3 && rc == MIDA_OK; i++) {
    mida__buf_reset(&s->sql);
    rc = mida__pg_dollar_params(sql[i], &s->sql);
    if (rc == MIDA_OK)
      rc = run_rows(s, v, nparams[i], NULL, 0, "lost");
  }
  return rc;
}

/* One attempt at a batch (pg_put_batch). */
static int put_batch_once(mida__sink *base, const mida__rec *recs, size_t n,
                          const mida__origin *origin) {
  pg_sink *s = (pg_sink *)base;
  if (s->flags & MIDA_SINK_READONLY)
    return mida__sink_fail(base, MIDA_EREADONLY,
                           "store %s was opened read-only", s->where);
  if (n == 0)
    return MIDA_OK;
  base->errmsg[0] = '\0';
  s->state[0] = '\0';
  int rc = ensure_connected(s);
  if (rc == MIDA_OK)
    rc = reserve_images(s, n);
  if (rc != MIDA_OK)
    return rc;
  mida__buf_reset(&s->arena);
  mida__buf_reset(&s->touched);
  s->last_touched[0] = '\0';
  s->new_points = 0;
  for (int t = 0; t < LT_COUNT; t++)
    s->link[t].nrows = 0;
  for (int e = 0; e < ENT_COUNT && rc == MIDA_OK; e++)
    rc = stage_prepare(s, e);
  /* The table that notes the metric points added, made once a session
   * (outside the batch's transaction, which may roll back). */
  for (size_t i = 0; i < n && rc == MIDA_OK && !s->new_points_table; i++)
    if (recs[i].type == MIDA_REC_METRIC) {
      rc = exec_simple(s, pg_new_points, "cannot summarise metric points");
      s->new_points_table = rc == MIDA_OK;
    }
  /* A deferred batch does not wait for its commit to reach the disk:
   * pg_sync does, once for all of them. */
  if (rc == MIDA_OK)
    rc = exec_simple(
        s,
        base->deferred ? "BEGIN; SET LOCAL synchronous_commit = off" : "BEGIN",
        "cannot begin a transaction");
  if (rc == MIDA_OK)
    rc = lock_run_tasks(s, recs, n);
  if (rc != MIDA_OK) {
    PQclear(PQexec(s->conn, "ROLLBACK"));
    return rc;
  }

  batch_counts counts = {0, 0};
  size_t nimages = 0;
  int present[ENT_COUNT] = {0};
  for (size_t i = 0; i < n && rc == MIDA_OK; i++) {
    const mida__rec *r = &recs[i];
    int ent = r->type == MIDA_REC_TASK       ? ENT_TASK
              : r->type == MIDA_REC_WORKFLOW ? ENT_WORKFLOW
              : r->type == MIDA_REC_CAMPAIGN ? ENT_CAMPAIGN
              : r->type == MIDA_REC_RUN      ? ENT_RUN
                                             : -1;
    if (ent == ENT_RUN && !field_usable(r, MIDA_F_TASK, 0, &counts)) {
      counts.skipped_records++; /* a run of no task */
    } else if (ent >= 0) {
      present[ent] = 1;
      rc = fold_entity(s, r, ent, &nimages, &counts);
    } else {
      rc = link_record(s, r, origin, &counts);
    }
  }
  if (rc == MIDA_OK && present[ENT_TASK]) {
    choose_direct(s, nimages);
    rc = flush_direct(s, nimages, origin);
  }
  for (int e = 0; e < ENT_COUNT && rc == MIDA_OK; e++)
    if (present[e])
      rc = flush_entity(s, e, nimages, origin);
  if (rc == MIDA_OK && present[ENT_RUN])
    rc = summarise_runs(s, nimages);
  for (int t = 0; t < LT_COUNT && rc == MIDA_OK; t++)
    rc = flush_link(s, t);
  if (rc == MIDA_OK && s->new_points)
    rc = fold_blocks(s);
  for (size_t i = 0; i < n && rc == MIDA_OK; i++)
    if (recs[i].type == MIDA_REC_LOST)
      rc = apply_lost(s, &recs[i], origin, &counts);
  if (rc == MIDA_OK)
    rc = flush_touched(s);
  if (rc == MIDA_OK)
    rc = exec_simple(s, "COMMIT", "cannot commit a batch");
  if (rc != MIDA_OK) {
    if (PQstatus(s->conn) == CONNECTION_OK &&
        PQtransactionStatus(s->conn) != PQTRANS_IDLE)
      PQclear(PQexec(s->conn, "ROLLBACK"));
    /* The rows left waiting are gone with the transaction; so are their
     * keys, which the next batch would otherwise find taken (each failed
     * attempt took more slots, until no probe found a free one). */
    for (int t = 0; t < LT_COUNT; t++)
      if (s->link[t].keys != NULL)
        memset(s->link[t].keys, 0,
               s->link[t].keys_cap * sizeof *s->link[t].keys);
    if (base->errmsg[0] == '\0')
      mida__sink_fail(base, rc, "cannot write a batch to store %s: %s",
                      s->where, mida_strerror(rc));
    return rc;
  }
  s->skipped_records += counts.skipped_records;
  s->dropped_fields += counts.dropped_fields;
  if (base->deferred)
    s->undurable = 1;
  return MIDA_OK;
}

/* The search for the records the server refuses (pg_isolate.h). */
typedef struct isolation {
  pg_sink *s;                 /* the sink */
  const mida__origin *origin; /* the batch's origin */
  uint64_t refused;           /* records refused alone in this batch */
  char first[300];            /* what the first of them was, and why */
} isolation;

/* Whether the last attempt failed on the data, the server still there. */
static int refused_by_live_server(pg_sink *s) {
  return PQstatus(s->conn) == CONNECTION_OK &&
         mida__pg_state_refuses_data(s->state);
}

static int try_part(void *ctx, const mida__rec *recs, size_t n, int *refused) {
  isolation *iso = ctx;
  int rc = put_batch_once(&iso->s->base, recs, n, iso->origin);
  *refused = rc != MIDA_OK && refused_by_live_server(iso->s);
  return rc;
}

/* Names the record and the server's reason; never a value of the record
 * (the primary message of class 22 may quote one: it is cut short). */
static void note_refused(void *ctx, const mida__rec *rec) {
  isolation *iso = ctx;
  if (iso->refused++ == 0)
    snprintf(iso->first, sizeof iso->first, "a %s record (SQLSTATE %s: %.120s)",
             mida__rec_type_name(rec->type), iso->s->state,
             iso->s->server_error);
}

/* Adds the records refused in this batch to the counter refused of its
 * origin, in a transaction of its own: the counter sums (a retried batch
 * whose commit was not acknowledged counts its refusals again, the only
 * way it can over-count). */
static int count_refused(pg_sink *s, const mida__origin *o, uint64_t n) {
  char pid[24], count[24];
  snprintf(pid, sizeof pid, "%lld", (long long)(o != NULL ? o->pid : 0));
  snprintf(count, sizeof count, "%llu", (unsigned long long)n);
  const char *params[3] = {o != NULL && o->host != NULL ? o->host : "", pid,
                           count};
  PGresult *res = PQexecParams(
      s->conn,
      "INSERT INTO counter(host, pid, name, value) VALUES($1, $2, 'refused',"
      " $3) ON CONFLICT (host, pid, name) DO UPDATE SET value ="
      " counter.value + excluded.value",
      3, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    return fail_result(s, res, "cannot count the records refused");
  PQclear(res);
  return MIDA_OK;
}

/* Applies a batch in one transaction. JSON and text columns are copied as
 * they are (mida__pg_json_fit costs ~1,200 instructions for an 80-byte
 * document); when the batch fails on a live connection, perhaps on a value
 * that jsonb or a UTF8 database refuses (pg_json.h), it is tried once more
 * with them fitted, so
 * that such a value neither fails every later attempt nor holds back the
 * records behind it. When that fails too, on the data (pg_isolate.h: a
 * value out of range, a key over the index's row size), the batch is
 * applied in halves: every record the server takes is stored, and those
 * it refuses alone are counted (counter refused) and named in the sink's
 * notice (sink.h). A lost connection, a full
 * disk and the like still fail the batch, which is sent again later. */
static int pg_put_batch(mida__sink *base, const mida__rec *recs, size_t n,
                        const mida__origin *origin) {
  pg_sink *s = (pg_sink *)base;
  int rc = put_batch_once(base, recs, n, origin);
  if (rc == MIDA_OK || rc == MIDA_EREADONLY ||
      PQstatus(s->conn) != CONNECTION_OK)
    return rc;
  s->fit_values = 1;
  rc = put_batch_once(base, recs, n, origin);
  isolation iso = {s, origin, 0, ""};
  if (rc != MIDA_OK && refused_by_live_server(s))
    rc = mida__pg_isolate(recs, n, try_part, note_refused, &iso);
  s->fit_values = 0;
  if (rc == MIDA_OK && iso.refused > 0)
    rc = count_refused(s, origin, iso.refused);
  if (rc == MIDA_OK && iso.refused > 0) {
    base->refused += iso.refused;
    if (base->notice[0] == '\0') /* the first is kept until taken */
      snprintf(base->notice, sizeof base->notice,
               "store %s refused %llu of a batch's %zu records, which were"
               " counted (counter refused) and not stored; the first: %s",
               s->where, (unsigned long long)iso.refused, n, iso.first);
  }
  return rc;
}

/* Makes the deferred batches durable: one transaction that writes a WAL
 * record (a transactional logical decoding message, which no table and no
 * reader sees; it gives the transaction an id, so its commit waits for the
 * disk) and commits as the session does. Its flush reaches past every
 * commit before it in the WAL. */
static int pg_sync(mida__sink *base) {
  pg_sink *s = (pg_sink *)base;
  if (!s->undurable)
    return MIDA_OK;
  base->errmsg[0] = '\0';
  int rc = ensure_connected(s);
  if (rc == MIDA_OK)
    rc = exec_simple(s,
                     "BEGIN; SELECT pg_logical_emit_message(true, 'mida',"
                     " 'sync'); COMMIT",
                     "cannot make the batches durable");
  if (rc == MIDA_OK)
    s->undurable = 0;
  return rc;
}

/* ---- query -------------------------------------------------------------- */

static int pg_query(mida__sink *base, const char *sql,
                    const char *const *params, int nparams,
                    mida__cells_fn row, void *ctx) {
  pg_sink *s = (pg_sink *)base;
  base->errmsg[0] = '\0';
  /* Inside a snapshot read, a lost connection is not made anew: the
   * guard says that its snapshot is gone. */
  int rc = s->guard.snapshot ? MIDA_OK : ensure_connected(s);
  if (rc != MIDA_OK)
    return rc;
  return mida__pg_guard_query(&s->guard, base, s->where, sql, params, nparams,
                              &base->limits, row, ctx);
}

/* Begins (on) or ends a snapshot read (sink.h, snapshot): the guard's
 * REPEATABLE READ, READ ONLY transaction (pg_guard.h). */
static int pg_snapshot(mida__sink *base, int on) {
  pg_sink *s = (pg_sink *)base;
  if (!on) {
    mida__pg_guard_snapshot_end(&s->guard);
    return MIDA_OK;
  }
  base->errmsg[0] = '\0';
  if (!(s->flags & MIDA_SINK_READONLY))
    return mida__sink_fail(base, MIDA_EINVAL,
                           "a snapshot read is for a reader's connection");
  int rc = ensure_connected(s);
  if (rc == MIDA_OK)
    rc = mida__pg_guard_snapshot_begin(&s->guard, base, s->where);
  return rc;
}

static void pg_cancel(mida__sink *base) {
  mida__pg_guard_cancel(&((pg_sink *)base)->guard);
}

/* ---- open and close ----------------------------------------------------- */

static void pg_close(mida__sink *base) {
  pg_sink *s = (pg_sink *)base;
  if (s == NULL)
    return;
  mida__pg_guard_free(&s->guard);
  if (s->conn != NULL)
    PQfinish(s->conn);
  mida__buf_free(&s->arena);
  mida__buf_free(&s->sql);
  mida__buf_free(&s->touched);
  mida__free(s->images);
  mida__fold_free(&s->fold);
  mida__free(s->params);
  for (int t = 0; t < LT_COUNT; t++) {
    mida__free(s->link[t].vals);
    mida__free(s->link[t].keys);
  }
  mida__free(s);
}

static void quiet_notice(void *arg, const char *message) {
  (void)arg;
  (void)message; /* "relation already exists, skipping" and the like */
}

/* The triggers of the side table of each numeric key that mida_index
 * records (key_side.h), and (fill) its rows: the migrations to version 8
 * (fill) and 9 (the statement-level triggers in place of the row ones). */
static int migrate_declared_keys(pg_sink *s, int fill) {
  PGresult *res = PQexec(s->conn, "SELECT key FROM mida_index"
                                  " WHERE kind = 'num' ORDER BY name");
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    int rc =
        mida__sink_fail(&s->base, MIDA_ESTORE, "cannot migrate the schema: %s",
                        PQerrorMessage(s->conn));
    PQclear(res);
    return rc;
  }
  mida__buf_reset(&s->sql);
  int rc = MIDA_OK;
  for (int i = 0; i < PQntuples(res) && rc == MIDA_OK; i++) {
    const char *key = PQgetvalue(res, i, 0);
    rc = mida__key_side_migrate_sql(&s->sql, key, 1, fill);
  }
  PQclear(res);
  if (rc == MIDA_OK && s->sql.len > 0)
    rc = exec_simple(s, mida__buf_str(&s->sql), "cannot migrate the schema");
  return rc;
}

/* mida's tables and views in the user's schema (pg_schema), but for
 * mida_meta, whose presence says that they are mida's. */
#define PG_STORE_NAMES                                                         \
  "ARRAY['campaign', 'counter', 'data', 'metric', 'metric_block',"             \
  " 'mida_index', 'source_cursor', 'task', 'task_data', 'task_dep',"           \
  " 'task_key_num', 'task_run', 'task_v', 'telemetry', 'workflow',"            \
  " 'workflow_v']"

/* Whether the database holds mida's schema, into *mida: its table
 * mida_meta, which every schema version has. When it does not, the names
 * of mida's that another program's tables or views take there go into
 * taken, quoted and comma-separated ("" if none): mida reads no such
 * database as a store, and neither sets up its query guard in it nor
 * creates its schema beside them (CREATE TABLE IF NOT EXISTS would keep
 * the other program's table, CREATE OR REPLACE VIEW replace its view).
 * Returns MIDA_OK, or MIDA_ESTORE with the sink's message. */
static int find_schema(pg_sink *s, int *mida, char *taken, size_t takenlen) {
  PGresult *res =
      PQexec(s->conn, "SELECT pg_catalog.to_regclass('mida_meta') IS NOT"
                      " NULL, (SELECT pg_catalog.string_agg('\"' || t ||"
                      " '\"', ', ' ORDER BY t) FROM pg_catalog.unnest("
                      PG_STORE_NAMES ") AS t WHERE"
                      " pg_catalog.to_regclass(t) IS NOT NULL)");
  int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
  int rc = MIDA_OK;
  if (ok) {
    *mida = PQgetvalue(res, 0, 0)[0] == 't';
    snprintf(taken, takenlen, "%s", *mida ? "" : PQgetvalue(res, 0, 1));
  } else {
    rc = mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot read the schema of store %s: %s", s->where,
                         PQerrorMessage(s->conn));
  }
  PQclear(res);
  return rc;
}

/* Installs glob() in place on a store of this version made before its
 * definition changed (pg_glob.h): its comment carries another marker. A
 * query of the catalog at each writer's open; the DDL once, by a role that
 * may replace the function (its owner, a superuser): for another the old
 * one stays, and the writer opens as before. */
/* Installs in place, in a store already at this schema version, the
 * definition sql of the function named signature ('mida.glob(text,text)')
 * unless its comment is marker already; a role that may not replace it
 * leaves it as it is. */
static int update_definition(pg_sink *s, const char *signature,
                             const char *marker, const char *sql) {
  mida__buf_reset(&s->sql);
  int rc = mida__buf_printf(&s->sql,
                            "SELECT coalesce(pg_catalog.obj_description("
                            "pg_catalog.to_regprocedure('%s'), 'pg_proc') ="
                            " %s, false)",
                            signature, marker);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, rc, "cannot build a statement");
  PGresult *res = PQexec(s->conn, mida__buf_str(&s->sql));
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
    return fail_result(s, res, "cannot read the schema");
  int current = PQgetvalue(res, 0, 0)[0] == 't';
  PQclear(res);
  if (current)
    return MIDA_OK;
  rc = exec_simple(s, "SAVEPOINT mida_glob", "cannot migrate the schema");
  if (rc != MIDA_OK)
    return rc;
  res = PQexec(s->conn, sql);
  int done = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  return exec_simple(s,
                     done ? "RELEASE SAVEPOINT mida_glob"
                          : "ROLLBACK TO SAVEPOINT mida_glob",
                     "cannot migrate the schema");
}

static int create_schema(pg_sink *s) {
  int version = 0; /* none yet */
  int rc = exec_simple(s, "BEGIN", "cannot create the schema");
  if (rc == MIDA_OK)
    rc = exec_simple(s, "SELECT pg_catalog.pg_advisory_xact_lock(7236461)",
                     "cannot create the schema");
  if (rc == MIDA_OK) {
    PGresult *res = PQexec(s->conn, "SELECT value FROM mida_meta WHERE key ="
                                    " 'schema_version'");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
      version = atoi(PQgetvalue(res, 0, 0));
    if (version > MIDA_SCHEMA_VERSION) {
      rc =
          mida__sink_fail(&s->base, MIDA_ESTORE,
                          "store %s has schema version %s, newer than "
                          "this mida's (%d): use a newer mida",
                          s->where, PQgetvalue(res, 0, 0), MIDA_SCHEMA_VERSION);
    }
    PQclear(res);
    /* The table may not exist yet: that aborted the transaction. */
    if (rc == MIDA_OK && PQtransactionStatus(s->conn) == PQTRANS_INERROR) {
      PQclear(PQexec(s->conn, "ROLLBACK"));
      rc = exec_simple(s, "BEGIN", "cannot create the schema");
      if (rc == MIDA_OK)
        rc = exec_simple(s, "SELECT pg_catalog.pg_advisory_xact_lock(7236461)",
                         "cannot create the schema");
    }
  }
  if (rc == MIDA_OK && version == 0) {
    int mida = 0;
    char taken[512] = "";
    rc = find_schema(s, &mida, taken, sizeof taken);
    if (rc == MIDA_OK && !mida && taken[0] != '\0')
      rc = mida__sink_fail(&s->base, MIDA_ESTORE,
                           "store %s is not a mida store: the names %s there "
                           "are another program's, without mida's "
                           "mida_meta; mida creates its tables only where "
                           "none of their names is taken",
                           s->where, taken);
  }
  if (rc == MIDA_OK && version >= 1 && version <= 2)
    rc = exec_simple(s, pg_schema_2_to_3, "cannot migrate the schema");
  if (rc == MIDA_OK && version >= 3 && version <= 6)
    rc = exec_simple(s, pg_schema_6_to_7, "cannot migrate the schema");
  /* A store already at this version is left alone: its DDL would take
   * table locks that deadlock with another writer's batch. */
  if (rc == MIDA_OK && version >= 1 && version <= 13)
    rc = exec_simple(s, pg_schema_13_to_14, "cannot migrate the schema");
  if (rc == MIDA_OK && version != MIDA_SCHEMA_VERSION)
    rc = exec_simple(s, pg_schema, "cannot create the schema");
  else if (rc == MIDA_OK)
    rc = update_definition(s, "mida.glob(text,text)", MIDA_PG_GLOB_MARKER,
                           MIDA_PG_GLOB_SQL);
  if (rc == MIDA_OK && version == MIDA_SCHEMA_VERSION)
    rc = update_definition(s, "mida.mida_status_rank(text)",
                           STATUS_RANK_MARKER, STATUS_RANK_SQL);
  if (rc == MIDA_OK && version >= 1 && version <= 11)
    rc = exec_simple(s, pg_schema_11_to_12, "cannot migrate the schema");
  /* Version 7: the blocks of the points already stored (rollup.h). */
  if (rc == MIDA_OK && version >= 1 && version <= 6) {
    mida__buf_reset(&s->sql);
    rc = mida__rollup_build_sql(&s->sql);
    if (rc == MIDA_OK)
      rc = exec_simple(s, mida__buf_str(&s->sql), "cannot migrate the schema");
  }
  /* Version 8: the side table of the keys declared before (key_side.h);
   * 9: its triggers statement-level. */
  if (rc == MIDA_OK && version >= 1 && version <= 8)
    rc = migrate_declared_keys(s, version <= 7);
  if (rc == MIDA_OK)
    rc = exec_simple(s, "COMMIT", "cannot create the schema");
  if (rc != MIDA_OK && PQstatus(s->conn) == CONNECTION_OK)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  return rc;
}

static int pg_open(const char *url, int flags, mida__sink **out, char *err,
                   size_t errlen) {
  *out = NULL;
  pg_sink *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  s->base.methods = &mida__postgres_sink;
  s->flags = flags;
  mida__buf_init(&s->arena, ARENA_MAX);
  mida__buf_init(&s->sql, (size_t)64 << 20);
  mida__buf_init(&s->touched, ARENA_MAX);
  mida__url_redact(url, s->where, sizeof s->where);
  int readonly = (flags & MIDA_SINK_READONLY) != 0;
  /* Later keywords override earlier ones, so the URL's own settings win
   * over these defaults; a host that never answers fails in 10 s. */
  const char *keys[] = {"connect_timeout", "application_name", "options",
                        "dbname", NULL};
  mida__buf libpq_url; /* a password's '@' as libpq reads it (url.h) */
  mida__buf_init(&libpq_url, strlen(url) * 3 + 1);
  if (mida__url_escape_userinfo(url, &libpq_url) != MIDA_OK) {
    mida__free(s);
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  const char *vals[] = {"10", "mida",
                        readonly ? "-c extra_float_digits=3"
                                   " -c search_path=\"$user\",public,mida"
                                   " -c default_transaction_read_only=on"
                                 : "-c extra_float_digits=3"
                                   " -c search_path=\"$user\",public,mida",
                        mida__buf_str(&libpq_url), NULL};
  s->conn = PQconnectdbParams(keys, vals, 1);
  int rc = MIDA_OK;
  if (s->conn == NULL)
    rc = mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  else if (PQstatus(s->conn) != CONNECTION_OK)
    rc = fail_conn_to(s, connect_failure_code(keys, vals),
                      "cannot connect to store", url);
  mida__buf_free(&libpq_url);
  if (rc != MIDA_OK)
    goto fail;
  PQsetNoticeProcessor(s->conn, quiet_notice, NULL);
  mida__pg_guard_init(&s->guard, s->conn);
  if (readonly && (flags & MIDA_SINK_NOCREATE)) {
    int mida = 0;
    char taken[512] = "";
    rc = find_schema(s, &mida, taken, sizeof taken);
    if (rc == MIDA_OK && !mida)
      rc = taken[0] == '\0'
               ? mida__sink_fail(&s->base, MIDA_ENOTFOUND,
                                 "store %s holds no mida schema", s->where)
               : mida__sink_fail(&s->base, MIDA_ENOTFOUND,
                                 "store %s holds no mida schema (no "
                                 "mida_meta): the names %s there are "
                                 "another program's",
                                 s->where, taken);
    if (rc != MIDA_OK)
      goto fail;
  } else if (!readonly) {
    rc = create_schema(s);
    if (rc != MIDA_OK)
      goto fail;
  }
  *out = &s->base;
  return MIDA_OK;
fail:
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", s->base.errmsg);
  pg_close(&s->base);
  return rc;
}

/* Runs mida's own schema statements (sink.h, exec_schema) in one
 * transaction. CREATE INDEX holds off the writers of its table until the
 * index is built (CONCURRENTLY cannot run in a transaction, and would
 * leave an invalid index behind a failure). */
static int pg_exec_schema(mida__sink *base, const char *sql) {
  pg_sink *s = (pg_sink *)base;
  base->errmsg[0] = '\0';
  if (s->flags & MIDA_SINK_READONLY)
    return mida__sink_fail(base, MIDA_EREADONLY, "store %s is open read-only",
                           s->where);
  int rc = ensure_connected(s);
  /* VACUUM cannot run in a transaction: it is sent alone (key_index.c's,
   * which sets the visibility map of a new side table). */
  int alone = strncmp(sql, "VACUUM ", 7) == 0;
  if (rc == MIDA_OK && !alone)
    rc = exec_simple(s, "BEGIN", "cannot change the schema");
  if (rc == MIDA_OK)
    rc = exec_simple(s, sql, "cannot change the schema");
  if (rc == MIDA_OK && !alone)
    rc = exec_simple(s, "COMMIT", "cannot change the schema");
  if (rc != MIDA_OK && PQstatus(s->conn) == CONNECTION_OK)
    PQclear(PQexec(s->conn, "ROLLBACK"));
  return rc;
}

const mida__sink_methods mida__postgres_sink = {
    "postgresql",   pg_open,  pg_put_batch, pg_query,
    pg_exec_schema, pg_close, pg_cancel,    pg_sync,
    NULL, /* process_init */
    NULL, /* settle: every batch is applied as it comes */
    NULL, /* moved: a server is not replaced under its readers */
    mida__pg_url_check, /* check_url */
    pg_snapshot,
};

/* postgres:// is libpq's other spelling of the same URL. */
const mida__sink_methods mida__postgres_alias_sink = {
    "postgres",     pg_open,  pg_put_batch, pg_query,
    pg_exec_schema, pg_close, pg_cancel,    pg_sync,
    NULL, /* process_init */
    NULL, /* settle: every batch is applied as it comes */
    NULL, /* moved: a server is not replaced under its readers */
    mida__pg_url_check, /* check_url */
    pg_snapshot,
};

#endif /* MIDA_HAVE_LIBPQ */
