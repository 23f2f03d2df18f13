/*
 * pg_guard.c -- the query guard (guard.h) on PostgreSQL.
 *
 * A read-only transaction alone does not keep a query from reaching
 * outside the store: with a superuser connection (trust authentication,
 * as on many laptops) `COPY ... TO PROGRAM` runs a shell, pg_read_file()
 * reads the server's files, pg_terminate_backend() kills other sessions.
 * So a query runs with the rights of the role mida_reader, which mida
 * creates: NOLOGIN, member of no role, with USAGE on the schemas of mida's
 * tables and SELECT on those tables and views only.
 *
 * SET ROLE alone is not enough either: a superuser session may SET ROLE
 * back, and set_config('role', ...) does that from inside a SELECT. But no
 * one may change role inside a SECURITY DEFINER function ("cannot set
 * parameter role within security-definer function"). So the statement is
 * run by two such functions, owned by mida_reader, that only it may call:
 *
 *   mida.mida_guard_open_params(q, p)  opens the cursor mida_guard on q,
 *                                with the text[] p as its parameter $1;
 *   mida.mida_guard_fetch(c, n)  returns its next n rows.
 *
 * and every row is computed inside one of them. Each query is
 *
 *   BEGIN READ ONLY; SET LOCAL statement_timeout, temp_file_limit (a
 *   superuser's), cursor_tuple_fraction; SET LOCAL ROLE mida_reader;
 *   [SELECT mida.mida_bound_temp(kb) -- another role's temp_file_limit]
 *   [SAVEPOINT; Parse and Describe the statement with ?N as $N]
 *   SELECT mida.mida_guard_open_params($1, ARRAY[$2, ...]::text[]);
 *                                         -- the user's text and values
 *   Describe portal mida_guard;           -- the result's columns
 *   SELECT * FROM mida.mida_guard_fetch('mida_guard', $1)
 *            AS t(c1 type1, ...);         -- until fewer rows come
 *   ROLLBACK;
 *
 * Inside a snapshot read (mida__pg_guard_snapshot_begin), the queries of
 * one transaction, BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, read
 * its one snapshot: each query is the same with SAVEPOINT mida_guard_query
 * for BEGIN READ ONLY and ROLLBACK TO (then RELEASE) it for ROLLBACK, which
 * undoes its SET LOCALs, role and cursor as ROLLBACK did; the transaction
 * stays READ ONLY, and the login role runs nothing in it but these.
 *
 * A parameter's value never becomes SQL text: ?N is written ($1[N]::type),
 * the N-th element of the array that the function passes with EXECUTE ...
 * USING, cast to the type that the server gives $N in that place (as it
 * would to a quoted literal there; text when it cannot tell, as for a
 * parameter the statement does not use).
 *
 * A cursor opens only one statement that returns rows: several statements,
 * COPY, SET, RESET ROLE and writes are refused there. Fetching in batches
 * computes only what the caller reads; a batch is at most FETCH_ROWS rows
 * and about FETCH_BYTES (next_fetch_rows), since the server materialises
 * each batch (a set-returning function's, in temporary files past
 * work_mem) and the client holds it whole; and the time limit is kept by the
 * server (statement_timeout) and by the client, which sends PQcancel when
 * its deadline passes, as on SIGINT (mida__pg_guard_cancel).
 *
 * Older mida (before the parameters were passed as values) called
 * mida.mida_guard_open(q) with its values written into q. That function is
 * still made, and the comment that marks the tables granted keeps its
 * form, so that an older mida and this one share a store without undoing
 * each other's set-up; mida_guard_open_params carries the version of its
 * own definition in its comment (GUARD_PARAMS_MARKER), so that a change of
 * it is installed in place, with no schema change.
 *
 * Only a superuser may set temp_file_limit. For another role the bound is
 * set by mida.mida_bound_temp(kb), which the superuser who set the guard
 * up owns (SECURITY DEFINER, search_path pg_catalog, pg_temp) and only
 * mida_reader may call: set_config(..., true) lowers it for the rest of
 * the transaction, never above the value in force, never to -1;
 * mida_reader cannot raise it again. A guard set up before it (an older mida's) lacks
 * it until a superuser's next query: such a role then has the server's
 * own limit, and the sink's query notice says so.
 *
 * Setting up (the role, the functions, the grants) takes a superuser; it
 * is done on a connection's first query when the functions are missing or
 * older (mida_bound_temp too), or when mida's tables have changed since
 * (the functions' comment records which tables were granted). A role that
 * is no superuser queries once that is done and it is a member of
 * mida_reader (GRANT mida_reader TO it); otherwise the query is refused,
 * saying so.
 */
#include "sink/pg_guard.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/number.h"
#include "mida.h"
#include "sink/guard.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_CURSOR "mida_guard"
/* The savepoint of a query inside a snapshot read. */
#define GUARD_QUERY_SAVEPOINT "mida_guard_query"
/* The rows of a fetch: FETCH_ROWS_FIRST at first, then as many as make
 * about FETCH_BYTES at the width of the rows before, from 1 to
 * FETCH_ROWS. A thousand rows of 1 MB each made one batch of 1 GB, in the
 * client's memory and in the server's temporary files (which failed the
 * temporary-space bound of a result that streamed fine), until 2026-12. */
#define FETCH_ROWS 1000
#define FETCH_ROWS_FIRST 16
#define FETCH_BYTES ((int64_t)8 << 20)
/* How long an answer to a cancel may take before the connection is
 * dropped and made anew. */
#define CANCEL_GRACE_MS 10000

/* mida's tables and views, which mida_reader may read. A table added to the
 * schema must be added here (tests/security/test_query_guard.py reads
 * every table of a new store through the guard). */
#define GUARD_TABLES                                                           \
  "ARRAY['campaign', 'counter', 'data', 'metric', 'metric_block',"           \
  " 'mida_index', 'mida_meta', 'source_cursor', 'task', 'task_data',"         \
  " 'task_dep', 'task_key_num', 'task_run', 'task_telemetry_v', 'task_v',"   \
  " 'telemetry',"                                                              \
  " 'workflow', 'workflow_v', 'mida.mida_change_horizon']"

/* Whether the table or view named t (an SQL expression) exists; without
 * to_regclass() for names in the schema mida, which a role without USAGE
 * on it may not look into. */
#define GUARD_TABLE_EXISTS(t)                                                  \
  "CASE WHEN " t " LIKE 'mida.%' THEN EXISTS (SELECT 1 FROM pg_class c"       \
  " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mida'"   \
  " AND c.relname = pg_catalog.substr(" t ", 6))"                             \
  " ELSE pg_catalog.to_regclass(" t ") IS NOT NULL END"

/* What the guard functions' comment says when they are up to date: the
 * guard's version and the tables granted, which are those that exist. */
#define GUARD_MARKER                                                           \
  "'mida query guard 1: ' || coalesce((SELECT"                                \
  " pg_catalog.string_agg(g.tbl, ',' ORDER BY g.tbl) FROM"                     \
  " pg_catalog.unnest(" GUARD_TABLES ") AS g(tbl) WHERE"                       \
  " " GUARD_TABLE_EXISTS("g.tbl") "), '')"

/* The comment of mida_guard_open_params: the version of its definition. */
#define GUARD_PARAMS_MARKER "'mida query guard params 1'"

/* The comment of mida_bound_temp: the version of its definition. */
#define GUARD_TEMP_MARKER "'mida query guard temp 1'"

/* Whether the guard is in place and usable by this connection's role:
 * up to date, the role exists, this role may SET ROLE to it, and it has no
 * more rights than it was given (no attribute, no membership); and whether
 * mida_reader may bound its temporary files with mida_bound_temp, which is
 * up to date, a SECURITY DEFINER function of mida_bound_temp(bigint) and
 * owned by a superuser (who alone may set temp_file_limit). */
static const char check_sql[] =
    "WITH f AS (SELECT p.oid, p.proname, p.prosecdef, p.proowner FROM pg_proc"
    " p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname ="
    " 'mida' AND p.proname IN ('mida_guard_open', 'mida_guard_fetch',"
    " 'mida_guard_open_params'))"
    " SELECT coalesce((SELECT pg_catalog.obj_description(f.oid, 'pg_proc')"
    " FROM f WHERE f.proname = 'mida_guard_fetch') = " GUARD_MARKER ","
    " false) AND coalesce((SELECT pg_catalog.obj_description(f.oid,"
    " 'pg_proc') FROM f WHERE f.proname = 'mida_guard_open_params') = "
    GUARD_PARAMS_MARKER ", false) AND (SELECT pg_catalog.count(*) FROM f"
    " WHERE f.prosecdef AND f.proowner = r.oid) = 3,"
    " r.oid IS NOT NULL,"
    " CASE WHEN r.oid IS NULL THEN false"
    " ELSE pg_catalog.pg_has_role(r.oid, 'MEMBER') END,"
    " coalesce(NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR"
    " r.rolreplication OR r.rolbypassrls) AND NOT EXISTS (SELECT 1 FROM"
    " pg_auth_members m WHERE m.member = r.oid), true),"
    " coalesce((SELECT pg_catalog.obj_description(p.oid, 'pg_proc') = "
    GUARD_TEMP_MARKER " AND p.prosecdef AND o.rolsuper AND"
    " pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE') FROM"
    " pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles"
    " o ON o.oid = p.proowner WHERE n.nspname = 'mida' AND p.proname ="
    " 'mida_bound_temp' AND p.pronargs = 1 AND p.proargtypes[0] = 20),"
    " false)"
    " FROM (SELECT 1) AS one LEFT JOIN pg_roles r ON r.rolname ="
    " 'mida_reader'";

/* Sets the guard up (a superuser's); idempotent, and safe against another
 * session doing the same at once. */
static const char setup_sql[] =
    "BEGIN READ WRITE;\n"
    "SELECT pg_catalog.pg_advisory_xact_lock(7236462);\n"
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname ="
    " 'mida_reader') THEN CREATE ROLE mida_reader NOLOGIN; END IF;"
    " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;"
    " END $$;\n"
    "CREATE SCHEMA IF NOT EXISTS mida;\n"
    /* What main had for a few hours, under the name an older mida counts. */
    "DROP FUNCTION IF EXISTS mida.mida_guard_open(text, text[]);\n"
    /* An older mida's, which took the statement with its values in it. */
    "CREATE OR REPLACE FUNCTION mida.mida_guard_open(q text) RETURNS"
    " refcursor LANGUAGE plpgsql SECURITY DEFINER AS $f$ DECLARE c refcursor"
    " := '" GUARD_CURSOR "'; BEGIN OPEN c NO SCROLL FOR EXECUTE q;"
    " RETURN c; END $f$;\n"
    "CREATE OR REPLACE FUNCTION mida.mida_guard_open_params(q text, p text[])"
    " RETURNS refcursor LANGUAGE plpgsql SECURITY DEFINER AS $f$ DECLARE c"
    " refcursor := '" GUARD_CURSOR "'; BEGIN OPEN c NO SCROLL FOR EXECUTE q"
    " USING p; RETURN c; END $f$;\n"
    "COMMENT ON FUNCTION mida.mida_guard_open_params(text, text[]) "
    "IS " GUARD_PARAMS_MARKER ";\n"
    "CREATE OR REPLACE FUNCTION mida.mida_guard_fetch(c refcursor,"
    " n integer) RETURNS SETOF record LANGUAGE plpgsql SECURITY DEFINER AS"
    " $f$ BEGIN RETURN QUERY EXECUTE"
    " pg_catalog.format('FETCH %s FROM %I', n, c); END $f$;\n"
    "ALTER FUNCTION mida.mida_guard_open(text) OWNER TO mida_reader;\n"
    "ALTER FUNCTION mida.mida_guard_open_params(text, text[]) OWNER TO"
    " mida_reader;\n"
    "ALTER FUNCTION mida.mida_guard_fetch(refcursor, integer) OWNER TO"
    " mida_reader;\n"
    "REVOKE ALL ON FUNCTION mida.mida_guard_open(text) FROM PUBLIC;\n"
    "REVOKE ALL ON FUNCTION mida.mida_guard_open_params(text, text[]) FROM"
    " PUBLIC;\n"
    "REVOKE ALL ON FUNCTION mida.mida_guard_fetch(refcursor, integer) FROM"
    " PUBLIC;\n"
    /* Bounds the temporary files of a role that may not set
     * temp_file_limit: for the transaction, only ever lower (never above
     * the value in force, never -1), as its owner, the superuser here. Not
     * mida_reader's own: that could not set it. pg_temp last, as
     * PostgreSQL advises for SECURITY DEFINER (it names only
     * pg_catalog's objects anyway). */
    "CREATE OR REPLACE FUNCTION mida.mida_bound_temp(kb bigint) RETURNS"
    " bigint LANGUAGE plpgsql STRICT SECURITY DEFINER SET search_path ="
    " pg_catalog, pg_temp AS $f$ DECLARE cur bigint := (SELECT s.setting::bigint"
    " FROM pg_catalog.pg_settings s WHERE s.name = 'temp_file_limit');"
    " BEGIN IF kb < 0 OR (cur >= 0 AND cur <= kb) THEN RETURN cur; END IF;"
    " kb := LEAST(kb, 2147483647);"
    " PERFORM pg_catalog.set_config('temp_file_limit', kb::text, true);"
    " RETURN kb; END $f$;\n"
    "COMMENT ON FUNCTION mida.mida_bound_temp(bigint) IS " GUARD_TEMP_MARKER
    ";\n"
    /* A superuser's still, should the one who made it be one no more. */
    "ALTER FUNCTION mida.mida_bound_temp(bigint) OWNER TO CURRENT_USER;\n"
    "REVOKE ALL ON FUNCTION mida.mida_bound_temp(bigint) FROM PUBLIC;\n"
    "GRANT EXECUTE ON FUNCTION mida.mida_bound_temp(bigint) TO mida_reader;\n"
    "GRANT USAGE ON SCHEMA mida TO mida_reader;\n"
    "DO $$ DECLARE t text; r regclass; BEGIN"
    " FOREACH t IN ARRAY " GUARD_TABLES " LOOP r := pg_catalog.to_regclass(t);"
    " IF r IS NOT NULL THEN"
    " EXECUTE pg_catalog.format('GRANT SELECT ON %s TO mida_reader', r);"
    " EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO mida_reader',"
    " (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid ="
    " c.relnamespace WHERE c.oid = r)); END IF; END LOOP;"
    " EXECUTE pg_catalog.format('COMMENT ON FUNCTION"
    " mida.mida_guard_fetch(refcursor, integer) IS %L', " GUARD_MARKER ");"
    " END $$;\n"
    "COMMIT;\n";

/* The type names of the usual result columns, so that most queries need no
 * format_type() round trip. */
static const struct known_type {
  unsigned oid;     /* pg_type.dat */
  const char *name; /* format_type(oid, -1) */
} known_types[] = {
    {16, "boolean"},   {17, "bytea"},
    {19, "name"},      {20, "bigint"},
    {21, "smallint"},  {23, "integer"},
    {25, "text"},      {26, "oid"},
    {114, "json"},     {700, "real"},
    {701, "double precision"},
    {1043, "character varying"},
    {1082, "date"},    {1114, "timestamp without time zone"},
    {1184, "timestamp with time zone"},
    {1700, "numeric"}, {2249, "record"},
    {3802, "jsonb"},
};

/* The type oids of text and double precision (pg_type.dat). */
#define TEXT_OID 25
#define FLOAT8_OID 701

/* The name of a type that known_types holds, else NULL. */
static const char *known_type_name(unsigned oid, int mod) {
  for (size_t k = 0; k < sizeof known_types / sizeof known_types[0]; k++)
    if (known_types[k].oid == oid && mod == -1)
      return known_types[k].name;
  return NULL;
}

void mida__pg_guard_init(mida__pg_guard *g, PGconn *conn) {
  if (g->cancel != NULL)
    PQfreeCancel(g->cancel);
  if (g->sql.max == 0) {
    mida__buf_init(&g->sql, (size_t)64 << 20);
    mida__buf_init(&g->text, (size_t)64 << 20);
  }
  g->conn = conn;
  g->cancel = conn != NULL ? PQgetCancel(conn) : NULL;
  g->arranged = 0;
  g->running = 0;
  const char *su = conn != NULL ? PQparameterStatus(conn, "is_superuser")
                                : NULL;
  g->superuser = su != NULL && strcmp(su, "on") == 0;
}

void mida__pg_guard_free(mida__pg_guard *g) {
  if (g->cancel != NULL)
    PQfreeCancel(g->cancel);
  g->cancel = NULL;
  mida__buf_free(&g->sql);
  mida__buf_free(&g->text);
}

void mida__pg_guard_cancel(mida__pg_guard *g) {
  g->cancelled = 1;
  if (g->running && g->cancel != NULL) {
    char err[256];
    PQcancel(g->cancel, err, sizeof err); /* async-signal-safe */
  }
}

/* ---- running one statement with a deadline ------------------------------ */

/* Waits for input on the connection until deadline (0: none); at the
 * deadline sends a cancel and waits CANCEL_GRACE_MS more. Asks the
 * caller's stop function every MIDA_GUARD_STOP_MS, and cancels when it
 * says so. Returns 0 when there is input, -1 when the server did not
 * answer even the cancel. */
static int wait_input(mida__pg_guard *g, int64_t *deadline) {
  int (*stop)(void *) = g->lim != NULL ? g->lim->stop : NULL;
  for (;;) {
    int timeout = -1;
    if (*deadline > 0) {
      int64_t left = *deadline - mida__monotonic_ms();
      if (left <= 0) {
        if (g->timed_out)
          return -1; /* no answer to the cancel either */
        g->timed_out = 1;
        char err[256];
        if (g->cancel != NULL)
          PQcancel(g->cancel, err, sizeof err);
        *deadline = mida__monotonic_ms() + CANCEL_GRACE_MS;
        continue;
      }
      timeout = left > 1000000 ? 1000000 : (int)left;
    }
    if (stop != NULL && !g->cancelled &&
        (timeout < 0 || timeout > MIDA_GUARD_STOP_MS))
      timeout = MIDA_GUARD_STOP_MS;
    struct pollfd pfd = {PQsocket(g->conn), POLLIN, 0};
    int n = poll(&pfd, 1, timeout);
    if (n > 0 || (n < 0 && errno != EINTR))
      return 0; /* input, or an error that PQconsumeInput will report */
    if (stop != NULL && !g->cancelled && stop(g->lim->stop_ctx) != 0)
      mida__pg_guard_cancel(g); /* the server's answer ends the wait */
  }
}

/* Sends a statement (nparams text parameters) and returns its result, or
 * NULL if the connection failed or stopped answering. The first error
 * result is kept if several come. */
static PGresult *run_stmt(mida__pg_guard *g, const char *sql, int nparams,
                          const char *const *params, int64_t deadline) {
  if (!PQsendQueryParams(g->conn, sql, nparams, NULL, params, NULL, NULL, 0))
    return NULL;
  PGresult *last = NULL;
  for (;;) {
    while (PQisBusy(g->conn)) {
      if (wait_input(g, &deadline) != 0 || !PQconsumeInput(g->conn)) {
        PQclear(last);
        return NULL;
      }
    }
    PGresult *r = PQgetResult(g->conn);
    if (r == NULL)
      break;
    if (last != NULL && PQresultStatus(last) == PGRES_FATAL_ERROR) {
      PQclear(r);
    } else {
      PQclear(last);
      last = r;
    }
  }
  return last;
}

static int result_ok(const PGresult *res) {
  ExecStatusType st = PQresultStatus(res);
  return res != NULL && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK);
}

/* ---- messages ----------------------------------------------------------- */

/* The error of a failed statement, said for the user; frees res. */
static int guard_fail(mida__pg_guard *g, mida__sink *base, const char *where,
                      const mida__query_limits *lim, PGresult *res) {
  char m[400];
  const char *state =
      res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *primary =
      res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (primary == NULL)
    primary = PQerrorMessage(g->conn);
  mida__one_line(primary, m, sizeof m);
  if (state == NULL)
    state = "";
  int rc;
  if (g->cancelled) {
    rc = mida__sink_fail(base, MIDA_ECLOSED, "the query was cancelled");
  } else if (g->timed_out || (strcmp(state, "57014") == 0 &&
                              strstr(m, "statement timeout") != NULL)) {
    rc = mida__sink_fail(base, MIDA_ETIMEDOUT,
                         "the query ran past its time limit of %lld ms "
                         "(MIDA_QUERY_TIMEOUT_MS)",
                         (long long)lim->timeout_ms);
  } else if (res == NULL || PQstatus(g->conn) != CONNECTION_OK) {
    /* The connection failed (the server went away): the store's name is
     * for the operator's log. */
    rc = mida__sink_fail(base, MIDA_ESTORE, "query failed on store %s: %s",
                         where, m);
  } else if (strcmp(state, "53400") == 0 && strstr(m, "temp_file_limit")) {
    rc = mida__sink_fail(base, MIDA_ESTORE,
                         "the query needs more temporary space than its "
                         "bound of %lld MiB (MIDA_QUERY_TEMP_MB)",
                         (long long)(lim->temp_bytes >> 20));
  } else if (strcmp(state, "42501") == 0) {
    rc = mida__sink_fail(base, MIDA_EREADONLY,
                         "%s: queries run as role mida_reader, which may "
                         "only read mida's tables (%s)",
                         mida_strerror(MIDA_EREADONLY), m);
  } else if (strcmp(state, "25006") == 0) {
    rc = mida__sink_fail(base, MIDA_EREADONLY, "%s: it would write (%s)",
                         mida_strerror(MIDA_EREADONLY), m);
  } else if (strstr(m, "multi-query") != NULL) {
    rc = mida__sink_fail(base, MIDA_EINVAL,
                         "queries run one statement at a time (%s)", m);
  } else if (strncmp(m, "cannot open ", 12) == 0 &&
             strstr(m, " as cursor") != NULL) {
    /* "cannot open COPY query as cursor": no rows to read. */
    const char *kind = m + 12;
    int n = (int)strcspn(kind, " ");
    rc = mida__sink_fail(base, MIDA_EREADONLY,
                         "%s: only SELECT, WITH, VALUES and TABLE statements "
                         "run, not %.*s",
                         mida_strerror(MIDA_EREADONLY), n, kind);
  } else {
    /* The server's word on the statement, as SQLite's is given: without
     * the store's name, which `mida serve` must not hand to its clients
     * (docs/serve.md); the connection's failures above keep it. */
    rc = mida__sink_fail(base, MIDA_ESTORE, "%s", m);
  }
  PQclear(res);
  return rc;
}

/* ---- arranging the guard on a connection -------------------------------- */

/* Reads check_sql: ok (up to date and usable), exists, member, clean,
 * temp (mida_bound_temp usable). */
static int check_guard(mida__pg_guard *g, int v[5]) {
  PGresult *res = PQexec(g->conn, check_sql);
  int good = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
  for (int i = 0; i < 5 && good; i++)
    v[i] = PQgetvalue(res, 0, i)[0] == 't';
  PQclear(res);
  return good;
}

static int arrange(mida__pg_guard *g, mida__sink *base, const char *where) {
  char m[400];
  int v[5] = {0, 0, 0, 0, 0}; /* ok, exists, member, clean, temp */
  if (!check_guard(g, v))
    return mida__sink_fail(base, MIDA_ESTORE,
                           "cannot check the query guard on store %s: %s",
                           where,
                           mida__one_line(PQerrorMessage(g->conn), m,
                                          sizeof m));
  if ((!v[0] || !v[4]) && g->superuser) {
    PGresult *res = PQexec(g->conn, setup_sql);
    int good = result_ok(res);
    if (!good) {
      const char *why = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
      mida__one_line(why != NULL ? why : PQerrorMessage(g->conn), m, sizeof m);
    }
    PQclear(res);
    if (PQtransactionStatus(g->conn) != PQTRANS_IDLE)
      PQclear(PQexec(g->conn, "ROLLBACK"));
    if (!good)
      return mida__sink_fail(base, MIDA_ESTORE,
                             "cannot set up the query guard (role "
                             "mida_reader) on store %s: %s",
                             where, m);
    if (!check_guard(g, v))
      return mida__sink_fail(base, MIDA_ESTORE,
                             "cannot check the query guard on store %s",
                             where);
  }
  const char *user = PQuser(g->conn);
  if (v[1] && !v[3])
    return mida__sink_fail(
        base, MIDA_EREADONLY,
        "the query guard refuses to run queries on store %s as role "
        "mida_reader: it has more rights than reading mida's tables (an "
        "attribute such as SUPERUSER, or membership of another role); "
        "ALTER ROLE mida_reader NOSUPERUSER NOCREATEDB NOCREATEROLE, and "
        "REVOKE its memberships",
        where);
  if (!v[0])
    return mida__sink_fail(
        base, MIDA_EREADONLY,
        "the query guard is not set up on store %s, and role %s cannot set "
        "it up: queries run as role mida_reader, which a superuser's first "
        "query on this database creates (with SELECT on mida's tables "
        "only); then GRANT mida_reader TO %s",
        where, user, user);
  if (!v[2])
    return mida__sink_fail(base, MIDA_EREADONLY,
                           "role %s may not run queries on store %s as role "
                           "mida_reader (the query guard's): GRANT "
                           "mida_reader TO %s",
                           user, where, user);
  /* The schemas that this role's search_path names, spelt out, so that
   * the same tables are found as mida_reader ("$user" is another then). */
  PGresult *res = PQexec(
      g->conn, "SELECT pg_catalog.set_config('search_path', coalesce(("
               "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(s), ', '"
               " ORDER BY o) FROM pg_catalog.unnest("
               "pg_catalog.current_schemas(false)) WITH ORDINALITY AS"
               " x(s, o)), ''), false)");
  int good = result_ok(res);
  PQclear(res);
  if (!good)
    return mida__sink_fail(base, MIDA_ESTORE,
                           "cannot set the search path on store %s: %s",
                           where,
                           mida__one_line(PQerrorMessage(g->conn), m,
                                          sizeof m));
  g->bound_temp = v[4];
  g->arranged = 1;
  return MIDA_OK;
}

/* Says, in base's query notice (sink.h), that this role's queries run
 * without the temporary-space bound: the guard lacks mida_bound_temp (set
 * up by an older mida), and only a superuser may make it. */
static void note_temp_unbounded(mida__pg_guard *g, mida__sink *base,
                                const char *where) {
  if (base->query_notice[0] != '\0')
    return; /* the first is kept until taken */
  const char *user = PQuser(g->conn);
  snprintf(base->query_notice, sizeof base->query_notice,
           "the temporary files of queries on store %s are not bounded "
           "(MIDA_QUERY_TEMP_MB) for role %s, which may not set "
           "temp_file_limit: a superuser's query there (mida query "
           "'SELECT 1') completes the query guard, which then bounds them; "
           "or set the role's own: ALTER ROLE %s SET temp_file_limit = "
           "'256MB'",
           where, user, user);
}

/* ---- the statement ------------------------------------------------------ */

/* Whether c may continue an SQL identifier (ASCII). */
static int ident_char(char c) {
  return c == '_' || (c >= '0' && c <= '9') ||
         ((c | 32) >= 'a' && (c | 32) <= 'z');
}

int mida__pg_write_params(const char *sql, mida__buf *b,
                          mida__pg_param_fn param, void *ctx) {
  int rc = MIDA_OK;
  const char *p = sql;
  while (*p != '\0' && rc == MIDA_OK) {
    const char *start = p;
    if (*p == '\'' || *p == '"') {
      /* In E'...' a backslash escapes the next character (E'\''). */
      int backslash = *p == '\'' && p > sql && (p[-1] | 32) == 'e' &&
                      (p - 1 == sql || !ident_char(p[-2]));
      char q = *p++;
      while (*p != '\0' && !(*p == q && p[1] != q))
        p += (*p == q || (backslash && *p == '\\' && p[1] != '\0')) ? 2 : 1;
      if (*p != '\0')
        p++;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n')
        p++;
    } else if (p[0] == '/' && p[1] == '*') {
      const char *end = strstr(p + 2, "*/");
      p = end != NULL ? end + 2 : p + strlen(p);
    } else if (*p == '$' && (p == sql || !ident_char(p[-1]))) {
      /* $tag$ ... $tag$ */
      size_t n = 1;
      while (p[n] == '_' || ((p[n] | 32) >= 'a' && (p[n] | 32) <= 'z') ||
             (n > 1 && p[n] >= '0' && p[n] <= '9'))
        n++;
      if (p[n] == '$') {
        char tag[72];
        if (n + 1 < sizeof tag) {
          memcpy(tag, p, n + 1);
          tag[n + 1] = '\0';
          const char *end = strstr(p + n + 1, tag);
          p = end != NULL ? end + n + 1 : p + strlen(p);
        } else {
          p += n + 1;
        }
      } else {
        p++;
      }
    } else if (p[0] == '?' && p[1] >= '0' && p[1] <= '9') {
      char *end = NULL;
      long k = strtol(p + 1, &end, 10);
      p = end;
      rc = param(ctx, k, b);
      continue;
    } else {
      p++;
    }
    rc = mida__buf_add(b, start, (size_t)(p - start));
  }
  return rc;
}

/* Writes the n-th parameter as $n, libpq's placeholder. */
static int dollar_param(void *ctx, long n, mida__buf *b) {
  (void)ctx;
  return mida__buf_printf(b, "$%ld", n);
}

int mida__pg_dollar_params(const char *sql, mida__buf *b) {
  return mida__pg_write_params(sql, b, dollar_param, NULL);
}

/* What write_param needs: how to write the N-th parameter. */
typedef struct param_ctx {
  mida__sink *base;
  int nparams;
  const char *const *types; /* NULL: write $N; else ($1[N]::type[N]) */
  int said;                 /* a message is in base */
  long most;                /* the largest N written */
} param_ctx;

/* Writes the n-th parameter: $n, for the server to say its type, or the
 * n-th element of the function's array, cast to that type (none for
 * NULL, text). */
static int write_param(void *vctx, long n, mida__buf *b) {
  param_ctx *c = vctx;
  c->said = n < 1 || n > c->nparams;
  if (c->said)
    return mida__sink_fail(c->base, MIDA_EINVAL,
                           "the query uses ?%ld, and %d parameters were "
                           "given",
                           n, c->nparams);
  if (n > c->most)
    c->most = n;
  if (c->types == NULL)
    return mida__buf_printf(b, "$%ld", n);
  if (c->types[n - 1] == NULL)
    return mida__buf_printf(b, "($1[%ld])", n);
  return mida__buf_printf(b, "($1[%ld]::%s)", n, c->types[n - 1]);
}

/* Copies sql into g->text with ?N written as write_param says. */
static int write_statement(mida__pg_guard *g, mida__sink *base, const char *sql,
                           int nparams, const char *const *types) {
  mida__buf_reset(&g->text);
  param_ctx c = {base, nparams, types, 0, 0};
  int rc = mida__pg_write_params(sql, &g->text, write_param, &c);
  if (rc != MIDA_OK && !c.said)
    return mida__sink_fail(base, rc, "query too long");
  /* A value without a parameter is an error, as on SQLite. */
  if (rc == MIDA_OK && c.most < nparams)
    return mida__sink_fail(base, MIDA_EINVAL,
                           "the query takes %ld parameters, %d given",
                           c.most, nparams);
  return rc;
}

/* The parameter whose type the server could not tell in res ("could not
 * determine data type of parameter $3", SQLSTATE 42P18), else 0. */
static long indeterminate_param(const PGresult *res) {
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char *dollar = m != NULL ? strrchr(m, '$') : NULL;
  if (state == NULL || strcmp(state, "42P18") != 0 || dollar == NULL)
    return 0;
  return strtol(dollar + 1, NULL, 10);
}

/* Parses and describes g->text (the statement with ?N as $N) into *desc,
 * the server choosing each parameter's type from its place, as it would
 * for a quoted literal there. One whose type nothing says ($3 IS NULL) is
 * text; a statement the server cannot prepare leaves *desc NULL. Each
 * error is undone by the savepoint mida_guard_params. */
static int describe_params(mida__pg_guard *g, mida__sink *base,
                           const char *where, const mida__query_limits *lim,
                           int nparams, PGresult **desc) {
  *desc = NULL;
  unsigned *given = mida__calloc((size_t)nparams, sizeof *given);
  if (given == NULL)
    return mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
  int rc = MIDA_OK;
  for (int tries = 0; tries <= nparams && *desc == NULL; tries++) {
    PGresult *res =
        PQprepare(g->conn, "", mida__buf_str(&g->text), nparams, given);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
      PQclear(res);
      res = PQdescribePrepared(g->conn, "");
      if (PQresultStatus(res) == PGRES_COMMAND_OK &&
          PQnparams(res) == nparams) {
        *desc = res;
        break;
      }
    }
    long k = indeterminate_param(res);
    PQclear(res);
    if (g->cancelled) {
      rc = guard_fail(g, base, where, lim, NULL);
      break;
    }
    res = PQexec(g->conn, "ROLLBACK TO SAVEPOINT mida_guard_params");
    if (!result_ok(res)) {
      rc = guard_fail(g, base, where, lim, res);
      break;
    }
    PQclear(res);
    if (k < 1 || k > nparams || given[k - 1] != 0)
      break; /* no type to be had: all text */
    given[k - 1] = TEXT_OID;
  }
  mida__free(given);
  return rc;
}

/* Fills types[0..nparams) with the name of the type that the server gives
 * each parameter (describe_params; NULL: text). *owner receives the
 * result holding the names (PQclear). */
static int param_types(mida__pg_guard *g, mida__sink *base, const char *where,
                       const mida__query_limits *lim, int nparams,
                       int64_t deadline, const char **types, PGresult **owner) {
  *owner = NULL;
  PGresult *desc = NULL;
  PGresult *res = NULL;
  int rc = describe_params(g, base, where, lim, nparams, &desc);
  if (rc != MIDA_OK || desc == NULL)
    return rc;
  /* The names of the types that known_types lacks, in one round trip. */
  mida__buf oids;
  mida__buf_init(&oids, (size_t)1 << 20);
  rc = mida__buf_adds(&oids, "{");
  int unknown = 0;
  for (int i = 0; i < nparams && rc == MIDA_OK; i++) {
    unsigned oid = PQparamtype(desc, i);
    types[i] = known_type_name(oid, -1);
    if (types[i] == NULL)
      rc = mida__buf_printf(&oids, "%s%u", unknown++ ? "," : "", oid);
    else if (oid == TEXT_OID)
      types[i] = NULL;
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&oids, "}");
  if (rc == MIDA_OK && unknown > 0) {
    const char *list = mida__buf_str(&oids);
    res = run_stmt(g,
                   "SELECT pg_catalog.format_type(o, NULL) FROM"
                   " pg_catalog.unnest($1::oid[]) WITH ORDINALITY AS x(o, n)"
                   " ORDER BY n",
                   1, &list, deadline);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
        PQntuples(res) != unknown || g->cancelled) {
      rc = guard_fail(g, base, where, lim, res);
    } else {
      for (int i = 0, k = 0; i < nparams; i++)
        if (known_type_name(PQparamtype(desc, i), -1) == NULL)
          types[i] = PQgetvalue(res, k++, 0);
      *owner = res;
    }
  } else if (rc != MIDA_OK) {
    rc = mida__sink_fail(base, rc, "out of memory");
  }
  mida__buf_free(&oids);
  PQclear(desc);
  return rc;
}

/* PostgreSQL's text of a double precision value, rewritten as the SQLite
 * store writes it (mida__dtoa): both stores print the same text for the
 * same double. The connection asks for exact text (extra_float_digits). */
static const char *float8_text(const char *pg, char out[MIDA_DTOA_MAX]) {
  char *end = NULL;
  double v = strtod(pg, &end);
  if (end == pg || *end != '\0')
    return pg;
  mida__dtoa(v, out);
  return out;
}

/* Writes the fetch statement, whose column definitions are the described
 * columns' types, into g->sql. A column of a pseudo-type other than record
 * (void, as pg_sleep() returns) cannot be declared: then pseudo[c] is set
 * for each such column and *any_pseudo, and nothing is written. */
static int fetch_sql(mida__pg_guard *g, mida__sink *base, const char *where,
                     const mida__query_limits *lim, const PGresult *desc,
                     int64_t deadline, unsigned char *pseudo,
                     int *any_pseudo) {
  int ncols = PQnfields(desc);
  *any_pseudo = 0;
  memset(pseudo, 0, (size_t)ncols);
  /* The names of the other types, in one round trip. */
  mida__buf oids, mods;
  mida__buf_init(&oids, (size_t)1 << 20);
  mida__buf_init(&mods, (size_t)1 << 20);
  int rc = MIDA_OK;
  int unknown = 0;
  for (int c = 0; c < ncols && rc == MIDA_OK; c++) {
    if (known_type_name(PQftype(desc, c), PQfmod(desc, c)) != NULL)
      continue;
    rc = mida__buf_printf(&oids, "%s%u", unknown ? "," : "", PQftype(desc, c));
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&mods, "%s%d", unknown ? "," : "",
                            PQfmod(desc, c));
    unknown++;
  }
  PGresult *names = NULL;
  mida__buf *b = &g->sql;
  mida__buf_reset(b);
  if (rc == MIDA_OK && unknown > 0)
    rc = mida__buf_printf(b,
                          "SELECT pg_catalog.format_type(o, m), (SELECT"
                          " t.typtype = 'p' AND t.typname NOT IN ('record',"
                          " '_record') FROM pg_type t WHERE t.oid = o) FROM"
                          /* unnest of two arrays is FROM's syntax, not a
                           * function a schema may qualify */
                          " unnest('{%s}'::oid[],"
                          " '{%s}'::int4[]) WITH ORDINALITY AS x(o, m, n)"
                          " ORDER BY n",
                          mida__buf_str(&oids), mida__buf_str(&mods));
  mida__buf_free(&oids);
  mida__buf_free(&mods);
  if (rc != MIDA_OK)
    return mida__sink_fail(base, rc, "out of memory");
  if (unknown > 0) {
    names = run_stmt(g, mida__buf_str(b), 0, NULL, deadline);
    if (names == NULL || PQresultStatus(names) != PGRES_TUPLES_OK ||
        PQntuples(names) != unknown)
      return guard_fail(g, base, where, lim, names);
    for (int c = 0, k = 0; c < ncols; c++) {
      if (known_type_name(PQftype(desc, c), PQfmod(desc, c)) == NULL)
        pseudo[c] = PQgetvalue(names, k++, 1)[0] == 't';
      *any_pseudo |= pseudo[c];
    }
    if (*any_pseudo) {
      PQclear(names);
      return MIDA_OK;
    }
  }
  mida__buf_reset(b);
  rc = mida__buf_adds(b, "SELECT * FROM mida.mida_guard_fetch('" GUARD_CURSOR
                           "', $1::int) AS t(");
  int u = 0;
  for (int c = 0; c < ncols && rc == MIDA_OK; c++) {
    const char *type = known_type_name(PQftype(desc, c), PQfmod(desc, c));
    if (type == NULL)
      type = PQgetvalue(names, u++, 0);
    rc = mida__buf_printf(b, "%sc%d %s", c > 0 ? ", " : "", c + 1, type);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ")");
  PQclear(names);
  if (rc != MIDA_OK)
    return mida__sink_fail(base, rc, "out of memory");
  return MIDA_OK;
}

/* Announces the result's columns (desc's names) to row before its rows,
 * values NULL (sink.h); *stopped when row says so. */
static int announce_columns(mida__sink *base, const PGresult *desc,
                            mida__cells_fn row, void *ctx, int *stopped) {
  if (row == NULL)
    return MIDA_OK;
  int ncols = PQnfields(desc);
  const char **names =
      mida__calloc(ncols > 0 ? (size_t)ncols : 1, sizeof *names);
  if (names == NULL)
    return mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
  for (int c = 0; c < ncols; c++)
    names[c] = PQfname(desc, c);
  if (row(ctx, ncols, names, NULL, NULL) != 0)
    *stopped = 1;
  mida__free(names);
  return MIDA_OK;
}

/* The rows to fetch after a batch res of asked rows (FETCH_ROWS above). */
static int next_fetch_rows(const PGresult *res, int asked) {
  int rows = PQntuples(res), ncols = PQnfields(res);
  /* Each value also costs the client a pointer and a length. */
  int64_t bytes = 0;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < ncols; c++)
      bytes += PQgetlength(res, r, c) + 16;
  if (rows < asked || bytes <= 0)
    return FETCH_ROWS;
  int64_t n = FETCH_BYTES * rows / bytes;
  return n < 1 ? 1 : n > FETCH_ROWS ? FETCH_ROWS : (int)n;
}

/* Calls row for each row of a fetched batch; *stopped when row says so. */
static int deliver(mida__sink *base, const PGresult *desc, const PGresult *res,
                   mida__cells_fn row, void *ctx, int *stopped) {
  int ncols = PQnfields(res);
  size_t slots = ncols > 0 ? (size_t)ncols : 1;
  const char **names = mida__calloc(slots, sizeof *names);
  const char **values = mida__calloc(slots, sizeof *values);
  size_t *lens = mida__calloc(slots, sizeof *lens);
  char(*reals)[MIDA_DTOA_MAX] = mida__calloc(slots, sizeof *reals);
  int rc = MIDA_OK;
  if (names == NULL || values == NULL || lens == NULL || reals == NULL)
    rc = mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
  for (int c = 0; c < ncols && rc == MIDA_OK; c++)
    names[c] = PQfname(desc, c);
  for (int r = 0; r < PQntuples(res) && rc == MIDA_OK && !*stopped; r++) {
    for (int c = 0; c < ncols; c++) {
      values[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
      lens[c] = values[c] != NULL ? (size_t)PQgetlength(res, r, c) : 0;
      if (values[c] != NULL && PQftype(res, c) == FLOAT8_OID) {
        values[c] = float8_text(values[c], reals[c]);
        lens[c] = strlen(values[c]);
      }
    }
    if (row != NULL && row(ctx, ncols, names, values, lens) != 0)
      *stopped = 1;
  }
  mida__free(names);
  mida__free(values);
  mida__free(lens);
  mida__free(reals);
  return rc;
}

/* Opens the cursor on g->text inside the guard, with the call (text,
 * then the parameters' values in values[1..nvalues)), and describes it
 * into *desc. */
static int open_cursor(mida__pg_guard *g, mida__sink *base, const char *where,
                       const mida__query_limits *lim, const char *call,
                       const char **values, int nvalues, int64_t deadline,
                       PGresult **desc) {
  *desc = NULL;
  values[0] = mida__buf_str(&g->text);
  PGresult *res = run_stmt(g, call, nvalues, values, deadline);
  if (!result_ok(res) || g->cancelled)
    return guard_fail(g, base, where, lim, res);
  PQclear(res);
  res = PQdescribePortal(g->conn, GUARD_CURSOR);
  if (!result_ok(res))
    return guard_fail(g, base, where, lim, res);
  if (PQnfields(res) == 0) {
    PQclear(res);
    return mida__sink_fail(base, MIDA_EREADONLY, "%s: it returns no columns",
                           mida_strerror(MIDA_EREADONLY));
  }
  *desc = res;
  return MIDA_OK;
}

/* Writes into g->text the caller's statement (g->text) as a subquery whose
 * pseudo-typed columns are cast to text, in g->sql first. */
static int wrap_pseudo(mida__pg_guard *g, mida__sink *base, int ncols,
                       const unsigned char *pseudo) {
  mida__buf *b = &g->sql;
  mida__buf_reset(b);
  int rc = mida__buf_adds(b, "SELECT ");
  for (int c = 0; c < ncols && rc == MIDA_OK; c++)
    rc = mida__buf_printf(b, "%sq.c%d%s", c > 0 ? ", " : "", c + 1,
                          pseudo[c] ? "::text" : "");
  /* The statement without its trailing semicolons, as a subquery. */
  const char *text = mida__buf_str(&g->text);
  size_t len = strlen(text);
  while (len > 0 && strchr(" \t\r\n;", text[len - 1]) != NULL)
    len--;
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, " FROM (");
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, text, len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "\n) AS q(");
  for (int c = 0; c < ncols && rc == MIDA_OK; c++)
    rc = mida__buf_printf(b, "%sc%d", c > 0 ? ", " : "", c + 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ")");
  mida__buf_reset(&g->text);
  if (rc == MIDA_OK)
    rc = mida__buf_add(&g->text, b->ptr, b->len);
  if (rc != MIDA_OK)
    return mida__sink_fail(base, rc, "query too long");
  return MIDA_OK;
}

int mida__pg_guard_query(mida__pg_guard *g, mida__sink *base,
                         const char *where, const char *sql,
                         const char *const *params, int nparams,
                         const mida__query_limits *lim, mida__cells_fn row,
                         void *ctx) {
  g->cancelled = 0;
  g->timed_out = 0;
  /* A snapshot read's transaction that is gone (its connection lost, or
   * an error its savepoint did not undo): a query now would read another
   * state than its first queries did. */
  if (g->snapshot && (PQstatus(g->conn) != CONNECTION_OK ||
                      PQtransactionStatus(g->conn) != PQTRANS_INTRANS))
    return mida__sink_fail(base, MIDA_ESTORE,
                           "the read of one snapshot of store %s ended "
                           "before its last query (its connection was lost)",
                           where);
  g->lim = lim;
  int64_t deadline =
      lim->timeout_ms > 0 ? mida__monotonic_ms() + lim->timeout_ms : 0;
  int rc = g->arranged ? MIDA_OK : arrange(g, base, where);
  if (rc == MIDA_OK)
    rc = write_statement(g, base, sql, nparams, NULL); /* ?N as $N */
  if (rc != MIDA_OK)
    return rc;
  /* The call: the statement and each value as a parameter of their own,
   * so that no value is ever read as SQL. */
  mida__buf call;
  mida__buf_init(&call, (size_t)1 << 20);
  int begun = 0; /* the transaction (or savepoint) was asked for */
  rc = mida__buf_adds(&call, "SELECT mida.mida_guard_open_params($1, ARRAY[");
  for (int i = 0; i < nparams && rc == MIDA_OK; i++)
    rc = mida__buf_printf(&call, "%s$%d", i > 0 ? ", " : "", i + 2);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&call, "]::text[])");
  const char **values = mida__calloc((size_t)nparams + 1, sizeof *values);
  const char **types = mida__calloc((size_t)nparams + 1, sizeof *types);
  PGresult *type_names = NULL;
  if (rc == MIDA_OK && (values == NULL || types == NULL))
    rc = MIDA_ENOMEM;
  for (int i = 0; i < nparams && rc == MIDA_OK; i++)
    values[i + 1] = params[i];

  /* The transaction: read-only, bounded, as mida_reader; within a
   * snapshot read's, a savepoint of it. */
  mida__buf_reset(&g->sql);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&g->sql,
                          "%s; SET LOCAL cursor_tuple_fraction ="
                          " 1; SET LOCAL statement_timeout = %lld;",
                          g->snapshot ? "SAVEPOINT " GUARD_QUERY_SAVEPOINT
                                      : "BEGIN READ ONLY",
                          (long long)lim->timeout_ms);
  /* Temporary files: a superuser bounds them itself; another role may not
   * set temp_file_limit, and has it lowered, as mida_reader, by
   * mida_bound_temp (its owner's, a superuser's), for the rest of the
   * transaction, which mida_reader cannot raise again. */
  long long temp_kb = (long long)((lim->temp_bytes + 1023) / 1024);
  if (rc == MIDA_OK && g->superuser && lim->temp_bytes > 0)
    rc = mida__buf_printf(&g->sql, " SET LOCAL temp_file_limit = %lld;",
                          temp_kb);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&g->sql, " SET LOCAL ROLE mida_reader");
  if (rc == MIDA_OK && !g->superuser && lim->temp_bytes > 0) {
    if (g->bound_temp)
      rc = mida__buf_printf(&g->sql, "; SELECT mida.mida_bound_temp(%lld)",
                            temp_kb);
    else
      note_temp_unbounded(g, base, where);
  }
  if (rc == MIDA_OK && nparams > 0)
    rc = mida__buf_adds(&g->sql, "; SAVEPOINT mida_guard_params");
  PGresult *desc = NULL;
  unsigned char *pseudo = NULL;
  if (rc != MIDA_OK) {
    rc = mida__sink_fail(base, rc, "out of memory");
    goto out;
  }
  begun = 1;
  PGresult *res = PQexec(g->conn, mida__buf_str(&g->sql));
  if (!result_ok(res)) {
    rc = guard_fail(g, base, where, lim, res);
    goto out;
  }
  PQclear(res);
  g->running = 1;

  if (nparams > 0)
    rc =
        param_types(g, base, where, lim, nparams, deadline, types, &type_names);
  if (rc == MIDA_OK)
    rc = write_statement(g, base, sql, nparams, types); /* ($1[N]::type) */
  if (rc == MIDA_OK)
    rc = open_cursor(g, base, where, lim, mida__buf_str(&call), values,
                     nparams + 1, deadline, &desc);
  int any_pseudo = 0;
  if (rc == MIDA_OK) {
    pseudo = mida__calloc((size_t)PQnfields(desc), 1);
    rc = pseudo != NULL ? fetch_sql(g, base, where, lim, desc, deadline,
                                    pseudo, &any_pseudo)
                        : mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
  }
  if (rc == MIDA_OK && any_pseudo) {
    /* Once more, with those columns as text. */
    PQclear(PQexec(g->conn, "CLOSE " GUARD_CURSOR));
    rc = wrap_pseudo(g, base, PQnfields(desc), pseudo);
    PGresult *first = desc;
    desc = NULL;
    if (rc == MIDA_OK)
      rc = open_cursor(g, base, where, lim, mida__buf_str(&call), values,
                       nparams + 1, deadline, &desc);
    /* The names are the statement's own, not the subquery's. */
    PQclear(desc);
    desc = first;
    if (rc == MIDA_OK) {
      PGresult *again = PQdescribePortal(g->conn, GUARD_CURSOR);
      rc = result_ok(again) && PQnfields(again) == PQnfields(first)
               ? fetch_sql(g, base, where, lim, again, deadline, pseudo,
                           &any_pseudo)
               : guard_fail(g, base, where, lim, again);
      if (rc == MIDA_OK)
        PQclear(again);
      if (rc == MIDA_OK && any_pseudo)
        rc = mida__sink_fail(base, MIDA_EINVAL,
                             "the query returns a column of a type that "
                             "cannot be read");
    }
  }
  int stopped = 0;
  int asked = FETCH_ROWS_FIRST;
  if (rc == MIDA_OK)
    rc = announce_columns(base, desc, row, ctx, &stopped);
  while (rc == MIDA_OK && !stopped) {
    /* A cancel between two statements finds nothing to stop: it is seen
     * here. */
    if (g->cancelled) {
      rc = guard_fail(g, base, where, lim, NULL);
      break;
    }
    char count[16];
    snprintf(count, sizeof count, "%d", asked);
    const char *fetch_params[1] = {count};
    res = run_stmt(g, mida__buf_str(&g->sql), 1, fetch_params, deadline);
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK ||
        g->cancelled) {
      rc = guard_fail(g, base, where, lim, res);
      break;
    }
    rc = deliver(base, desc, res, row, ctx, &stopped);
    int last = PQntuples(res) < asked;
    asked = next_fetch_rows(res, asked);
    PQclear(res);
    if (last)
      break;
  }
out:
  PQclear(desc);
  mida__free(pseudo);
  PQclear(type_names);
  mida__free(types);
  mida__free(values);
  mida__buf_free(&call);
  g->running = 0;
  g->lim = NULL;
  /* Whatever happened, the transaction ends here (a snapshot read's,
   * its savepoint: the transaction is left as before the query). A
   * connection that no longer answers is left as it is: the sink makes it
   * anew before its next use (postgres.c, ensure_connected), but for a
   * snapshot read's, whose queries then fail. */
  if (PQstatus(g->conn) == CONNECTION_OK && !PQisBusy(g->conn) &&
      (begun || !g->snapshot))
    PQclear(PQexec(g->conn, g->snapshot
                                ? "ROLLBACK TO SAVEPOINT " GUARD_QUERY_SAVEPOINT
                                  "; RELEASE SAVEPOINT " GUARD_QUERY_SAVEPOINT
                                : "ROLLBACK"));
  return rc;
}

int mida__pg_guard_snapshot_begin(mida__pg_guard *g, mida__sink *base,
                                  const char *where) {
  char m[400];
  if (PQtransactionStatus(g->conn) != PQTRANS_IDLE)
    return mida__sink_fail(base, MIDA_ESTORE,
                           "cannot begin a snapshot read on store %s: a "
                           "transaction is open",
                           where);
  /* The set-up writes, outside the read-only transaction. */
  int rc = g->arranged ? MIDA_OK : arrange(g, base, where);
  if (rc != MIDA_OK)
    return rc;
  PGresult *res = PQexec(g->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ,"
                                  " READ ONLY");
  if (!result_ok(res)) {
    mida__one_line(PQerrorMessage(g->conn), m, sizeof m);
    PQclear(res);
    return mida__sink_fail(base, MIDA_ESTORE,
                           "cannot begin a snapshot read on store %s: %s",
                           where, m);
  }
  PQclear(res);
  g->snapshot = 1;
  return MIDA_OK;
}

void mida__pg_guard_snapshot_end(mida__pg_guard *g) {
  if (!g->snapshot)
    return;
  g->snapshot = 0;
  if (PQstatus(g->conn) == CONNECTION_OK && !PQisBusy(g->conn) &&
      PQtransactionStatus(g->conn) != PQTRANS_IDLE)
    PQclear(PQexec(g->conn, "ROLLBACK"));
}
