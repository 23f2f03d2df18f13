/*
 * guard.c -- the parts of the query guard (guard.h) that every backend
 * shares: the limits read from the environment, and the functions that no
 * query may call, with the scan that finds their calls in a statement.
 *
 * The list is the second line of defence on PostgreSQL, where the first is
 * the privileges of the role mida_reader (pg_guard.c): it refuses, with a
 * message that says why, what that role may still do because PUBLIC may
 * (set_config, advisory locks that outlive the statement, signalling
 * backends), and what it could do through SQL text run on the side. On
 * SQLite the authorizer checks every function call against the same list.
 */
#include "sink/guard.h"

#include "core/alloc.h"
#include "core/env.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The functions refused, each with the reason. A name ending in '*' is a
 * prefix. PostgreSQL's and SQLite's names share one list: a name that one
 * of them lacks is simply never called there. */
static const struct denied {
  const char *name; /* lower case; "x*" refuses every name starting x */
  const char *why;  /* completes "NAME() ..." */
} denied[] = {
    /* The database server's files and programs (PostgreSQL). */
    {"pg_read_file", "reads the database server's files"},
    {"pg_read_binary_file", "reads the database server's files"},
    {"pg_stat_file", "reads the database server's files"},
    {"pg_ls_*", "lists the database server's directories"},
    {"pg_file_*", "writes the database server's files"},
    {"pg_logdir_ls", "lists the database server's directories"},
    {"lo_import", "reads the database server's files"},
    {"lo_export", "writes the database server's files"},
    {"lo_from_bytea", "writes to the store"},
    {"lo_put", "writes to the store"},
    /* Large objects and logical messages are written even in a READ ONLY
     * transaction: rows of pg_largeobject and a transaction id for them,
     * or a WAL record that a non-transactional message keeps after the
     * rollback (as large as its text). */
    {"lo_creat*", "writes to the store"},
    {"lo_unlink", "writes to the store"},
    {"lo_truncate*", "writes to the store"},
    {"lowrite", "writes to the store"},
    {"pg_logical_emit_message", "writes to the database server's log"},
    /* Other sessions and the server itself. */
    {"pg_terminate_backend", "stops other sessions of the server"},
    {"pg_cancel_backend", "stops other sessions' statements"},
    {"pg_reload_conf", "acts on the database server"},
    {"pg_rotate_logfile*", "acts on the database server"},
    {"pg_promote", "acts on the database server"},
    {"pg_switch_wal", "acts on the database server"},
    {"pg_create_restore_point", "acts on the database server"},
    {"pg_log_backend_memory_contexts", "acts on the database server"},
    {"pg_backup_*", "acts on the database server"},
    {"pg_start_backup", "acts on the database server"},
    {"pg_stop_backup", "acts on the database server"},
    {"pg_wal_replay_*", "acts on the database server"},
    {"pg_create_*_replication_slot", "acts on the database server"},
    {"pg_drop_replication_slot", "acts on the database server"},
    {"pg_replication_origin_*", "acts on the database server"},
    {"pg_stat_reset*", "acts on the database server"},
    {"pg_import_system_collations", "writes to the store"},
    {"pg_notify", "sends messages to other sessions"},
    /* A transaction id, which even a READ ONLY transaction takes for
     * these: a commit record in the server's log, and one step nearer
     * its wraparound vacuum for each call (the *_if_assigned forms take
     * none, and are allowed). */
    {"txid_current", "takes a transaction id, which a query never needs"},
    {"pg_current_xact_id", "takes a transaction id, which a query never needs"},
    /* Settings, roles and locks that outlive the statement. */
    {"set_config", "changes the session's settings or role"},
    {"pg_advisory_*", "takes locks that other sessions wait for"},
    {"pg_try_advisory_*", "takes locks that other sessions wait for"},
    /* SQL text run on the side, out of this scan's sight, or elsewhere. */
    {"query_to_xml*", "runs SQL text of its own"},
    {"ts_stat", "runs SQL text of its own"},
    {"ts_rewrite", "runs SQL text of its own"},
    {"dblink*", "connects to other databases"},
    /* SQLite: code and pointers of the library, the client's files. */
    {"fts3_tokenizer", "exposes pointers into the SQLite library"},
    {"load_extension", "loads code into the reading process"},
    {"readfile", "reads files"},
    {"writefile", "writes files"},
};
#define DENIED_COUNT (sizeof denied / sizeof denied[0])

/* Whether text (len bytes) matches pattern, where '*' stands for any run
 * of characters; case is ignored. */
static int name_matches(const char *pattern, const char *text, size_t len) {
  const char *star = strchr(pattern, '*');
  if (star == NULL)
    return strlen(pattern) == len && strncasecmp(pattern, text, len) == 0;
  size_t head = (size_t)(star - pattern);
  if (len < head || strncasecmp(pattern, text, head) != 0)
    return 0;
  const char *rest = star + 1;
  size_t tail = strlen(rest);
  if (tail == 0)
    return 1;
  /* One '*' in the middle: the rest must end the name. */
  return len - head >= tail &&
         strncasecmp(rest, text + len - tail, tail) == 0;
}

const char *mida__guard_denied_function(const char *name, size_t len) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < DENIED_COUNT; i++)
    if (name_matches(denied[i].name, name, len))
      return denied[i].why;
  return NULL;
}

/* Reads a non-negative number from the environment variable name; def if
 * it is unset or not such a number. */
static int64_t env_number(const char *name, int64_t def) {
  char *v = mida__env_dup(name);
  int64_t out = def;
  if (v != NULL && v[0] != '\0') {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno == 0 && end != v && *end == '\0' && n >= 0)
      out = (int64_t)n;
  }
  mida__free(v);
  return out;
}

/* A bound in MiB from the environment variable name, in bytes: def when
 * unset or not a number, 0 (none) when 0 or more than 2^40 MiB, which is
 * no bound at all in practice. */
static int64_t env_mib(const char *name, int64_t def) {
  int64_t mb = env_number(name, def);
  return mb > ((int64_t)1 << 40) ? 0 : mb * 1024 * 1024;
}

void mida__guard_limits_default(mida__query_limits *out) {
  out->timeout_ms =
      env_number("MIDA_QUERY_TIMEOUT_MS", MIDA_GUARD_TIMEOUT_MS_DEFAULT);
  out->temp_bytes = env_mib("MIDA_QUERY_TEMP_MB", MIDA_GUARD_TEMP_MB_DEFAULT);
  out->stop = NULL;
  out->stop_ctx = NULL;
}

int64_t mida__guard_reader_mem_bytes(void) {
  return env_mib("MIDA_QUERY_MEM_MB", MIDA_GUARD_MEM_MB_DEFAULT);
}

/* A character of an identifier, in either dialect (non-ASCII letters
 * included, as PostgreSQL allows). */
static int ident_char(unsigned char c) {
  return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* The end of the block comment that starts at p: read as PostgreSQL reads
 * it when nested (a comment opened inside it must close before it does),
 * else as SQLite does (it ends at the first star and slash). The end of
 * the text when the comment does not end. */
static const char *skip_comment(const char *p, int nested) {
  if (!nested) {
    const char *end = strstr(p + 2, "*/");
    return end != NULL ? end + 2 : p + strlen(p);
  }
  int depth = 0;
  while (*p != '\0') {
    if (p[0] == '/' && p[1] == '*') {
      depth++;
      p += 2;
    } else if (p[0] == '*' && p[1] == '/') {
      p += 2;
      if (--depth == 0)
        return p;
    } else {
      p++;
    }
  }
  return p;
}

/* Skips what may stand between a function's name and its '(': blanks,
 * closing quotes of a quoted name, comments (read as nested or not). */
static const char *skip_to_paren(const char *p, int nested) {
  for (;;) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
        *p == '\v' || *p == '"' || *p == '`' || *p == ']') {
      p++;
    } else if (p[0] == '-' && p[1] == '-') {
      while (*p != '\0' && *p != '\n')
        p++;
    } else if (p[0] == '/' && p[1] == '*') {
      p = skip_comment(p, nested);
    } else {
      return p;
    }
  }
}

int mida__guard_denied_call(const char *sql, char *why, size_t whylen) {
  const unsigned char *p = (const unsigned char *)sql;
  while (*p != '\0') {
    if (!ident_char(*p)) {
      p++;
      continue;
    }
    const unsigned char *start = p;
    while (ident_char(*p))
      p++;
    size_t len = (size_t)(p - start);
    /* U&"..." spells an identifier in escapes: a name this scan would
     * not see. */
    if (len == 1 && (start[0] == 'u' || start[0] == 'U') && p[0] == '&' &&
        p[1] == '"') {
      snprintf(why, whylen, "Unicode-escaped identifiers (U&\"...\") are "
                            "not taken");
      return 1;
    }
    const char *reason = mida__guard_denied_function((const char *)start, len);
    /* PostgreSQL nests comments and SQLite does not: a '(' after the
     * name in either reading is a call. */
    if (reason != NULL && (*skip_to_paren((const char *)p, 1) == '(' ||
                           *skip_to_paren((const char *)p, 0) == '(')) {
      snprintf(why, whylen, "%.*s() %s", (int)(len > 64 ? 64 : len),
               (const char *)start, reason);
      return 1;
    }
  }
  return 0;
}

const char *mida__sql_skip_blank(const char *sql, const char **unclosed) {
  const char *p = sql;
  for (;;) {
    p += strspn(p, " \t\r\n\f\v;");
    if (p[0] == '-' && p[1] == '-') {
      p += strcspn(p, "\n");
    } else if (p[0] == '/' && p[1] == '*') {
      const char *end = strstr(p + 2, "*/");
      if (end == NULL) {
        if (unclosed != NULL)
          *unclosed = p;
        return NULL;
      }
      p = end + 2;
    } else {
      return p;
    }
  }
}
