/*
 * telemetry.c -- `mida telemetry`: the sampled telemetry (CPU, memory,
 * I/O, network, GPU) of the store's telemetry table, one line per sample,
 * as a table, CSV or JSON.
 *
 * Rows come from the telemetry table in time order. A sample of one
 * process has its pid; a host-wide sample has pid 0 (scope "host"; see
 * src/telemetry/telemetry.h). The table shows a few headline values of each
 * sample and the sample itself, cut to the table's width; CSV gives the
 * sample's text whole, JSON nests the sample as an object (a sample that
 * is not one stays a string). A sample the headline values cannot be
 * read from (not JSON, not an object, a value not a number) leaves them
 * empty for its row alone (sample_sql.h). Filters are bound as parameters,
 * never pasted into the SQL; --since and --until become nanoseconds here,
 * so that the query is a range scan of telemetry_by_time (or of the
 * primary key, with --host).
 */
#include "cli/cli.h"
#include "cli/sample_sql.h"

#include "mida.h"
#include "sink/iso_time_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TELEMETRY_SQL_MAX 2048

static const char telemetry_help[] =
    "usage: mida telemetry [--host H] [--pid P] [--since T] [--until T]\n"
    "                      [--task ID] [--limit N] [--csv | --json]\n"
    "\n"
    "Prints telemetry samples in time order: time (ISO 8601, UTC), host,\n"
    "pid (0 for host-wide samples), scope (process or host), CPU % (a\n"
    "process's in % of one core, 200 for two busy cores; a host's busy\n"
    "share of all its CPUs, 0 to 100), resident memory (process) or\n"
    "available memory (host) in KiB, the workflow the process recorded\n"
    "for at the time (empty if none), and the sample as JSON (cut to the\n"
    "table's width; whole, as JSON text in one field, with --csv; as a\n"
    "nested object, with --json: jq '.[].sample.cpu_pct').\n"
    "\n"
    "options:\n"
    "  --host H     only samples of host H\n"
    "  --pid P      only samples of process P (0: host-wide samples)\n"
    "  --since T    only samples at or after T: an ISO 8601 time\n"
    "               (2026-11-24T09:30:00Z; UTC), an age (90s, 15m, 2h, 1d)\n"
    "               or a time since the epoch: seconds (`date +%s`),\n"
    "               or nanoseconds from 100000000000 on\n"
    "  --until T    only samples before T (same forms)\n"
    "  --task ID    only samples taken while task ID ran, on its host\n"
    "               (its process's and the host-wide ones)\n"
    "  --limit N    at most N samples (the latest N when --since is not\n"
    "               given)\n"
    "  --csv        CSV (RFC 4180) with a header line\n"
    "  --json       a JSON array of objects, each sample nested in its\n"
    "               \"sample\" member as an object\n"
    "  --store URL  the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "examples:\n"
    "  mida telemetry --since 10m\n"
    "  mida telemetry --host node17 --pid 0 --csv > host.csv\n";

/* Parses "2026-11-24T09:30:00Z" (seconds, 'T' or ' ', fraction and 'Z'
 * optional; date alone allowed) as UTC. Returns 0 and *ns, or -1. */
static int parse_iso(const char *text, long long *ns) {
  int part[6] = {0, 1, 1, 0, 0, 0};
  static const char seps[] = "--T::";
  const char *p = text;
  int i = 0;
  for (; i < 6; i++) {
    char *end = NULL;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p || errno != 0 || *p == '-' || *p == '+' || v > 100000)
      return -1;
    part[i] = (int)v;
    p = end;
    if (i == 5 || *p == '\0' || *p == '.' || *p == 'Z')
      break;
    if (*p != seps[i] && !(i == 2 && *p == ' '))
      return -1;
    p++;
  }
  if (i < 2 && *p == '\0')
    return -1; /* a year or year-month alone is not a time */
  long long frac = 0, scale = 1000000000;
  if (*p == '.') {
    p++;
    for (; *p >= '0' && *p <= '9'; p++) {
      scale /= 10;
      frac += (*p - '0') * scale;
    }
  }
  if (*p == 'Z')
    p++;
  if (*p != '\0')
    return -1;
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = part[0] - 1900;
  tm.tm_mon = part[1] - 1;
  tm.tm_mday = part[2];
  tm.tm_hour = part[3];
  tm.tm_min = part[4];
  tm.tm_sec = part[5];
  if (part[1] < 1 || part[1] > 12 || part[2] < 1 || part[2] > 31 ||
      part[3] > 23 || part[4] > 59 || part[5] > 60)
    return -1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return -1;
  *ns = (long long)t * 1000000000LL + frac;
  return 0;
}

/* Parses a time option: an ISO time, an age ("15m") or nanoseconds. */
/* A bare number below this is seconds since the epoch (up to the year
 * 5138), not nanoseconds. */
#define UNIX_SECONDS_BELOW 100000000000LL

static int parse_time(const char *text, long long now_ns, long long *ns) {
  size_t n = strlen(text);
  if (n == 0)
    return -1;
  char unit = text[n - 1];
  long long mult = 0;
  switch (unit) {
  case 's': mult = 1; break;
  case 'm': mult = 60; break;
  case 'h': mult = 3600; break;
  case 'd': mult = 86400; break;
  default: break;
  }
  if (mult != 0 && n > 1 && n < 16 && strchr(text, '-') == NULL) {
    char digits[16];
    memcpy(digits, text, n - 1);
    digits[n - 1] = '\0';
    long long v;
    if (mida__cli_parse_count(digits, &v) != 0)
      return -1;
    *ns = now_ns - v * mult * 1000000000LL;
    return 0;
  }
  if (strchr(text, '-') == NULL && strchr(text, ':') == NULL) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
      return -1;
    /* `date +%s` gives seconds: a count of nanoseconds that small would
     * be the first 100 s of 1970, never a sample's time. */
    *ns = v < UNIX_SECONDS_BELOW ? v * 1000000000LL : v;
    return 0;
  }
  return parse_iso(text, ns);
}

/* Whether --task names a task of the store (an index lookup).
 * MIDA_CLI_CONTINUE, or MIDA_CLI_FAIL after saying why: a mistyped id
 * printed "(no samples)", as if the task had run unobserved, where
 * /api/telemetry?task= answers 404. */
static int task_known(mida__sink *sink, const char *id) {
  const char *params[1] = {id};
  int seen = 0;
  int rc = mida__cli_has_row(sink, "SELECT 1 FROM task WHERE id = lower(?1)",
                             params, 1, &seen);
  if (rc != MIDA_OK && !seen)
    return mida__cli_store_error(sink, rc, "cannot read the tasks");
  if (!seen)
    return mida__cli_fail("telemetry: no task with id '%s'", id);
  return MIDA_CLI_CONTINUE;
}

int mida__cli_telemetry(mida__cli *cli, int argc, char **argv) {
  int csv = 0, json = 0;
  const char *host = NULL, *pid = NULL, *since = NULL, *until = NULL;
  const char *task = NULL, *limit = NULL;
  const mida__cli_opt opts[] = {
      {"--host", NULL, &host, NULL},   {"--pid", NULL, &pid, NULL},
      {"--since", NULL, &since, NULL}, {"--until", NULL, &until, NULL},
      {"--task", NULL, &task, NULL},   {"--limit", NULL, &limit, NULL},
      {"--csv", NULL, NULL, &csv},     {"--json", NULL, NULL, &json},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "telemetry", telemetry_help, opts, argc, argv,
                           NULL, 0, 0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__out_format fmt;
  ex = mida__out_pick("telemetry", csv, json, &fmt);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;

  long long now = (long long)mida_now_ns();
  long long since_ns = 0, until_ns = 0, pid_v = 0, limit_v = 0;
  if (since != NULL && parse_time(since, now, &since_ns) != 0)
    return mida__cli_usage_error("telemetry", "--since: not a time: '%s'",
                                 since);
  if (until != NULL && parse_time(until, now, &until_ns) != 0)
    return mida__cli_usage_error("telemetry", "--until: not a time: '%s'",
                                 until);
  if (pid != NULL && mida__cli_parse_count(pid, &pid_v) != 0)
    return mida__cli_usage_error("telemetry", "--pid: not a process id: '%s'",
                                 pid);
  if (limit != NULL &&
      (mida__cli_parse_count(limit, &limit_v) != 0 || limit_v == 0))
    return mida__cli_usage_error("telemetry",
                                 "--limit: not a positive number: '%s'",
                                 limit);
  mida_id_t task_id;
  if (task != NULL && mida_id_parse(task, &task_id) != MIDA_OK)
    return mida__cli_usage_error("telemetry", "--task: not an id: '%s'",
                                 task);

  /* Parameters: ?1 host, ?2 pid, ?3 since, ?4 until, ?5 task. */
  char nums[3][24];
  const char *params[5] = {host, NULL, NULL, NULL, task};
  snprintf(nums[0], sizeof nums[0], "%lld", pid_v);
  snprintf(nums[1], sizeof nums[1], "%lld", since_ns);
  snprintf(nums[2], sizeof nums[2], "%lld", until_ns);
  params[1] = pid != NULL ? nums[0] : NULL;
  params[2] = since != NULL ? nums[1] : NULL;
  params[3] = until != NULL ? nums[2] : NULL;

  char where[1024] = "";
  size_t wl = 0;
  const char *conds[5] = {
      host != NULL ? "s.host = ?1" : NULL,
      pid != NULL ? "s.pid = CAST(?2 AS INTEGER)" : NULL,
      since != NULL ? "s.ts >= CAST(?3 AS INTEGER)" : NULL,
      until != NULL ? "s.ts < CAST(?4 AS INTEGER)" : NULL,
      task != NULL
          ? "EXISTS (SELECT 1 FROM task t WHERE t.id = lower(?5)"
            " AND s.host = t.host AND s.pid IN (t.pid, 0)"
            " AND s.ts BETWEEN t.started"
            " AND coalesce(t.ended, 9223372036854775807))"
          : NULL,
  };
  int nparams = 0; /* the highest ?N used: the store wants no more */
  for (int i = 0; i < 5; i++) {
    if (conds[i] == NULL)
      continue;
    nparams = i + 1;
    int n = snprintf(where + wl, sizeof where - wl, "%s%s",
                     wl == 0 ? " WHERE " : " AND ", conds[i]);
    if (n < 0 || (size_t)n >= sizeof where - wl)
      return mida__cli_fail("internal error: query too long");
    wl += (size_t)n;
  }
  /* The latest N when no start is given, still printed oldest first. */
  int latest = limit != NULL && since == NULL;
  char lim[48] = "";
  if (limit != NULL)
    snprintf(lim, sizeof lim, " LIMIT %lld", limit_v);
  char sql[TELEMETRY_SQL_MAX];
  int n = snprintf(
      sql, sizeof sql,
      "SELECT time, host, pid, scope, cpu_pct, mem_kb, workflow_id, sample"
      " FROM (SELECT %s AS time, s.host AS host, s.pid AS pid,"
      " CASE WHEN s.pid = 0 THEN 'host' ELSE 'process' END AS scope,"
      " " MIDA_SAMPLE_PCT("coalesce(" MIDA_SAMPLE_NUM("cpu_pct") ", "
                          MIDA_SAMPLE_NUM("cpu_busy_pct") ")") " AS cpu_pct,"
      " " MIDA_SAMPLE_KB("coalesce(" MIDA_SAMPLE_NUM("rss_kb") ", "
                         MIDA_SAMPLE_NUM("mem_available_kb") ")") " AS mem_kb,"
      " s.workflow_id AS workflow_id, s.sample AS sample, s.ts AS ts"
      " FROM telemetry s%s ORDER BY s.ts %s, s.host, s.pid%s) AS picked"
      " ORDER BY ts, host, pid",
      MIDA_ISO_MS_SQL("s.ts"), where, latest ? "DESC" : "ASC", lim);
  if (n < 0 || (size_t)n >= sizeof sql)
    return mida__cli_fail("internal error: query too long");

  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (task != NULL && (ex = task_known(sink, task)) != MIDA_CLI_CONTINUE) {
    mida__sink_close(sink);
    return ex;
  }
  mida__out out;
  mida__out_init(&out, fmt, stdout);
  out.empty = "(no samples)";
  out.json_object = "sample";
  int rc = mida__sink_query_cells(sink, sql, params, nparams,
                                  mida__out_columns, mida__out_row, &out);
  if (rc == MIDA_OK && out.rc != MIDA_OK)
    rc = out.rc;
  if (rc == MIDA_OK) {
    rc = mida__out_end(&out);
    ex = rc == MIDA_OK
             ? MIDA_CLI_OK
             : mida__cli_fail("cannot write the result: %s",
                              mida__cli_write_error(rc));
  } else {
    mida__out_discard(&out);
    ex = mida__cli_store_error(sink, rc, "cannot list telemetry");
  }
  mida__sink_close(sink);
  return ex;
}
