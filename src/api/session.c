/*
 * session.c -- opening, flushing and closing a session; configuration.
 *
 * mida_open() wires the data path: it opens this session's journal in the
 * store's spool directory and starts the shipper, which opens the sink named
 * by the store URL on its own thread, ships the journals that dead processes
 * left in the spool, then this session's records. Observation never breaks
 * the observed program (docs/reliability.md): a store that is down, slow or
 * not writable, or a spool without room, does not fail the session -- it
 * records what it can into the journal, counts what it drops, and mida_open
 * says why in a warning -- unless the configuration is strict
 * (MIDA_STRICT=1). Only a malformed configuration (URL, variables) or
 * running out of memory fails it. mida_close() does the reverse after a
 * last flush.
 */
#include "api/session.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/conninfo.h"
#include "core/env.h"
#include "core/host.h"
#include "core/thread_task.h"
#include "core/url.h"
#include "sink/sink.h"
#include "telemetry/telemetry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- error messages (see api/session_access.h) -------------------------- */

static _Thread_local char tls_errcopy[512]; /* mida_errmsg(s)'s copy */

int mida__session_error(const mida_session_t *cs, int rc, const char *fmt,
                        ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__vset_error(rc, fmt, ap);
  va_end(ap);
  mida_session_t *s = (mida_session_t *)cs; /* its lock, not its state */
  if (s != NULL) {
    pthread_mutex_lock(&s->error_lock);
    snprintf(s->errmsg, sizeof s->errmsg, "%s", mida__thread_errmsg());
    pthread_mutex_unlock(&s->error_lock);
  }
  return rc;
}

const char *mida_errmsg(const mida_session_t *cs) {
  if (cs == NULL)
    return mida__thread_errmsg();
  mida_session_t *s = (mida_session_t *)cs;
  pthread_mutex_lock(&s->error_lock);
  memcpy(tls_errcopy, s->errmsg, sizeof tls_errcopy);
  pthread_mutex_unlock(&s->error_lock);
  return tls_errcopy;
}

/* ---- what observers may read (api/session_access.h) -------------------- */

const mida_id_t *mida__session_campaign(const mida_session_t *s) {
  return &s->campaign;
}

const char *mida__session_campaign_name(const mida_session_t *s) {
  return s->campaign_name;
}

const mida_id_t *mida__session_parent_task(const mida_session_t *s) {
  return &s->parent_task;
}

const char *mida__session_store_url(const mida_session_t *s) {
  return s->store_url;
}

/* ---- configuration ----------------------------------------------------- */

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return (v != NULL && v[0] != '\0') ? v : fallback;
}

/* Whether a boolean variable is set to something other than 0/false. */
static int env_flag(const char *name) {
  const char *v = env_or(name, "0");
  return strcmp(v, "0") != 0 && strcmp(v, "false") != 0;
}

/* The capture knobs that a malformed value cannot fail: each keeps its
 * default, and mida_open() says so once in its warning (env_malformed),
 * since capture goes on either way. Each reader returns 1 with *out set,
 * 0 when the variable is unset, -1 when it does not parse. */
static int env_journal_bytes(size_t *out) {
  const char *v = env_or("MIDA_JOURNAL_BYTES", NULL);
  uint64_t bytes = 0;
  if (v == NULL)
    return 0;
  if (mida__parse_size(v, &bytes) != 0 || bytes == 0 || bytes > SIZE_MAX)
    return -1;
  *out = (size_t)bytes;
  return 1;
}

/* A bound that does not parse keeps the default: no bound at all would
 * let the spool fill the disk that the operator meant to keep. */
static int env_spool_max(uint64_t *out) {
  const char *v = env_or("MIDA_SPOOL_MAX", NULL);
  if (v == NULL)
    return 0;
  return mida__parse_size(v, out) == 0 ? 1 : -1;
}

static int env_journal_full(mida_full_policy_t *out) {
  const char *v = env_or("MIDA_JOURNAL_FULL", NULL);
  if (v == NULL)
    return 0;
  if (strcmp(v, "drop") != 0 && strcmp(v, "spill") != 0)
    return -1;
  *out = strcmp(v, "drop") == 0 ? MIDA_FULL_DROP : MIDA_FULL_SPILL;
  return 1;
}

static int env_ship_ms(unsigned *out) {
  const char *v = env_or("MIDA_SHIP_MS", NULL);
  if (v == NULL)
    return 0;
  char *end = NULL;
  errno = 0;
  unsigned long ms = strtoul(v, &end, 10);
  if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || ms == 0 ||
      ms > 60000)
    return -1;
  *out = (unsigned)ms;
  return 1;
}

/* Names each capture knob whose value does not parse, with the value and
 * what it should be, in out ("" when none). */
static void env_malformed(char *out, size_t outlen) {
  static const struct {
    const char *name; /* the variable */
    const char *want; /* what its value should be */
  } knobs[] = {
      {"MIDA_JOURNAL_BYTES", "a size in bytes such as 16M"},
      {"MIDA_SPOOL_MAX", "a size in bytes such as 1G, or 0"},
      {"MIDA_JOURNAL_FULL", "spill or drop"},
      {"MIDA_SHIP_MS", "milliseconds from 1 to 60000"},
  };
  size_t bytes;
  uint64_t max;
  mida_full_policy_t full;
  unsigned ms;
  const int bad[] = {env_journal_bytes(&bytes) < 0, env_spool_max(&max) < 0,
                     env_journal_full(&full) < 0, env_ship_ms(&ms) < 0};
  size_t n = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof knobs / sizeof knobs[0]; i++) {
    if (!bad[i] || n >= outlen)
      continue;
    int w = snprintf(
        out + n, outlen - n, "%s%s=\"%.40s\" is not %s: its default is used",
        n > 0 ? "; " : "", knobs[i].name, getenv(knobs[i].name), knobs[i].want);
    n += w > 0 ? (size_t)w : 0;
  }
}

/* How long mida_open() waits by default for the store to open before it
 * lets the program go on (the shipper goes on trying): long enough to
 * report a malformed URL or a local file at once, too short to be
 * noticed (mida_config_t.open_wait_ms). */
#define OPEN_WAIT_MS 200

void mida_config_init_sized(mida_config_t *out, size_t out_size) {
  /* Filled whole here, then copied out as far as the caller's struct
   * goes: a program built against an older, smaller mida_config_t gets
   * no more than it has room for. */
  mida_config_t whole;
  mida_config_t *cfg = &whole;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = out_size < sizeof *cfg ? out_size : sizeof *cfg;
  cfg->store = mida__default_store();
  cfg->spool = env_or("MIDA_SPOOL", NULL);
  cfg->campaign = env_or("MIDA_CAMPAIGN", NULL);
  cfg->workflow = env_or("MIDA_WORKFLOW", NULL);
  cfg->parent_task = env_or("MIDA_PARENT_TASK", NULL);
  cfg->journal_bytes = MIDA_JOURNAL_DEFAULT_RING;
  (void)env_journal_bytes(&cfg->journal_bytes);
  cfg->spool_max = MIDA_SPOOL_MAX_DEFAULT;
  (void)env_spool_max(&cfg->spool_max);
  cfg->strict = env_flag("MIDA_STRICT");
  cfg->full = MIDA_FULL_SPILL;
  (void)env_journal_full(&cfg->full);
  cfg->ship_interval_ms = 20;
  (void)env_ship_ms(&cfg->ship_interval_ms);
  cfg->disabled = env_flag("MIDA_DISABLE");
  /* Telemetry. A malformed value becomes -1, which mida_open() refuses
   * with a message naming the variable. */
  cfg->telemetry_task = 1;
  const char *tt = env_or("MIDA_TELEMETRY_TASK", NULL);
  if (tt != NULL)
    cfg->telemetry_task = (tt[0] >= '0' && tt[0] <= '2' && tt[1] == '\0')
                              ? tt[0] - '0'
                              : -1;
  cfg->sample_hz = 1.0;
  const char *hz = env_or("MIDA_SAMPLE_HZ", NULL);
  if (hz != NULL) {
    char *end = NULL;
    errno = 0;
    double v = strtod(hz, &end);
    cfg->sample_hz =
        (errno == 0 && end != hz && *end == '\0' && v >= 0 && v <= 1000)
            ? v
            : -1;
  }
  cfg->sample = env_or("MIDA_SAMPLE", NULL);
  cfg->open_wait_ms = OPEN_WAIT_MS;
  memcpy(out, cfg, cfg->struct_size);
}

/* ---- open and close ---------------------------------------------------- */

/* The sampler's way into the session's journal. */
static int put_sample(void *session, const mida__rec *rec) {
  return mida__session_put(session, rec);
}

static void write_err(char *errmsg, size_t len, const char *msg) {
  if (errmsg != NULL && len > 0)
    snprintf(errmsg, len, "%s", msg);
}

/* A copy of url as it may be shown (mida__url_redact), never cut: a
 * masked value grows by at most the 3 bytes of "***", and each one
 * follows a byte of its own (':' or '='). Free with mida__free(). */
static char *redacted(const char *url) {
  size_t len = 4 * strlen(url) + 16;
  char *buf = mida__malloc(len);
  if (buf != NULL)
    mida__url_redact(url, buf, len);
  return buf;
}

/* Parses an optional id from the configuration into *out. */
static int config_id(const char *what, const char *text, mida_id_t *out,
                     char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (text == NULL)
    return MIDA_OK;
  if (mida_id_parse(text, out) == MIDA_OK)
    return MIDA_OK;
  snprintf(err, errlen, "%s is not an id: \"%s\"", what, text);
  return MIDA_EINVAL;
}

/* Sessions whose shipper was left in a hung store's call (mida_close):
 * kept, as the thread still reads their journal, and reachable from here
 * so that a leak checker does not count them. */
#define ABANDONED_MAX 8
static mida_session_t *abandoned[ABANDONED_MAX];
static _Atomic int abandoned_n;

static void session_abandon(mida_session_t *s) {
  int i = atomic_fetch_add(&abandoned_n, 1);
  if (i < ABANDONED_MAX)
    abandoned[i] = s;
}

static void session_free(mida_session_t *s) {
  mida__sampler_stop(s->sampler); /* before the journal it writes to */
  s->sampler = NULL;
  /* Before the journal it reads; a shipper left in a hung store's call
   * still reads it: both stay. */
  if (s->shipper != NULL && mida__shipper_stop(s->shipper) == MIDA_ETIMEDOUT) {
    session_abandon(s);
    return;
  }
  if (s->journal != NULL)
    mida__journal_close(s->journal);
  pthread_mutex_destroy(&s->workflow_lock);
  mida__free(s->store_url);
  mida__free(s->store_shown);
  mida__free(s->spool_dir);
  mida__free(s->campaign_name);
  mida__free(atomic_load(&s->wf_campaigns));
  pthread_mutex_destroy(&s->error_lock);
  mida__free(s);
}

/* Looks at the shipper's first attempt to open the store, waiting up to
 * wait_ms for it (strict: for its end; 0: not at all, and then nothing
 * fails here). A malformed URL fails the open; a store that cannot be
 * opened now (down, unreachable, not writable) fails it only when strict,
 * and is otherwise a warning: the records wait in the journal until it
 * opens. */
static int check_store(mida_session_t *s, int strict, int wait_ms, char *err,
                       size_t errlen, char *warning, size_t warnlen) {
  char msg[512] = "";
  if (!strict && wait_ms <= 0)
    return MIDA_OK; /* asked not to wait: flush and close say it */
  int rc = mida__shipper_wait_open(s->shipper, strict ? -1 : wait_ms, msg,
                                   sizeof msg);
  if (rc == MIDA_OK || rc == MIDA_ETIMEDOUT)
    return MIDA_OK;
  if (strict || rc == MIDA_EURL || rc == MIDA_EINVAL || rc == MIDA_ENOMEM) {
    snprintf(err, errlen, "%s", msg[0] != '\0' ? msg : mida_strerror(rc));
    return rc;
  }
  if (warning[0] == '\0')
    snprintf(warning, warnlen,
             "the store cannot be opened now (%s): records stay in the "
             "journal and are shipped once it opens",
             msg[0] != '\0' ? msg : mida_strerror(rc));
  return MIDA_OK;
}

int mida_open(const mida_config_t *cfg_in, mida_session_t **out, char *errmsg,
              size_t errmsg_len) {
  return mida__open_quiet(cfg_in, 0, out, errmsg, errmsg_len);
}

int mida__open_quiet(const mida_config_t *cfg_in, int quiet_ms,
                     mida_session_t **out, char *errmsg, size_t errmsg_len) {
  char err[1024] = "";
  char warning[512] = ""; /* why the session records less than asked */
  if (out == NULL) {
    write_err(errmsg, errmsg_len, "no place for the session (out is NULL)");
    return mida__set_error(MIDA_EINVAL,
                           "no place for the session (out is NULL)");
  }
  *out = NULL;
  /* The caller's configuration as far as its struct goes (a program built
   * against an older, smaller mida_config_t), the defaults beyond. */
  mida_config_t whole;
  mida_config_init(&whole);
  if (cfg_in != NULL) {
    size_t n = cfg_in->struct_size;
    memcpy(&whole, cfg_in, n == 0 || n > sizeof whole ? sizeof whole : n);
  }
  const mida_config_t *cfg = &whole;

  write_err(errmsg, errmsg_len, "");
  mida_session_t *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    write_err(errmsg, errmsg_len, "out of memory");
    return mida__set_error(MIDA_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&s->workflow_lock, NULL);
  pthread_mutex_init(&s->error_lock, NULL);
  s->disabled = cfg->disabled != 0;
  const char *store = cfg->store != NULL ? cfg->store : mida__default_store();
  char spool[4096];
  int rc = MIDA_OK;
  /* A libpq conninfo is refused before it names a spool, and unshown: a
   * disabled session refuses it too, as any malformed configuration. */
  if (mida__conninfo_looks_like(store)) {
    snprintf(err, sizeof err, "%s", MIDA_CONNINFO_REFUSED);
    rc = MIDA_EURL;
    goto fail;
  }
  if (cfg->spool != NULL)
    snprintf(spool, sizeof spool, "%s", cfg->spool);
  else
    rc = mida__default_spool(store, spool, sizeof spool);
  if (rc != MIDA_OK) {
    snprintf(err, sizeof err, "spool directory name too long");
    goto fail;
  }
  s->store_url = mida__strdup(store);
  s->store_shown = redacted(store);
  s->spool_dir = mida__strdup(spool);
  if (cfg->campaign != NULL)
    s->campaign_name = mida__strdup(cfg->campaign);
  rc = MIDA_ENOMEM;
  if (s->store_url == NULL || s->store_shown == NULL || s->spool_dir == NULL ||
      (cfg->campaign != NULL && s->campaign_name == NULL))
    goto fail;

  if (cfg->campaign != NULL)
    s->campaign = mida_id_from_name("campaign", cfg->campaign);
  mida_id_t wf;
  rc = config_id("MIDA_WORKFLOW", cfg->workflow, &wf, err, sizeof err);
  if (rc == MIDA_OK)
    rc = config_id("MIDA_PARENT_TASK", cfg->parent_task, &s->parent_task,
                   err, sizeof err);
  if (rc != MIDA_OK)
    goto fail;
  mida__shared_id_store(&s->workflow, &wf);

  int sample_mask = mida__telemetry_parse_sample(cfg->sample);
  rc = MIDA_EINVAL;
  if (cfg->telemetry_task < 0 || cfg->telemetry_task > 2) {
    snprintf(err, sizeof err, "MIDA_TELEMETRY_TASK must be 0, 1 or 2");
    goto fail;
  }
  if (!(cfg->sample_hz >= 0 && cfg->sample_hz <= 1000)) {
    snprintf(err, sizeof err, "MIDA_SAMPLE_HZ must be a number of samples "
             "a second from 0 (off) to 1000");
    goto fail;
  }
  if (sample_mask < 0) {
    snprintf(err, sizeof err, "MIDA_SAMPLE: unknown subsystem in \"%s\" "
             "(known: proc, sys, net, disk, gpu, all, none)", cfg->sample);
    goto fail;
  }
  size_t ring =
      cfg->journal_bytes ? cfg->journal_bytes : MIDA_JOURNAL_DEFAULT_RING;
  if (cfg->spool_max == UINT64_MAX) {
    snprintf(err, sizeof err,
             "MIDA_SPOOL_MAX must be a size in bytes, "
             "e.g. 1G or 500M (0: no bound)");
    goto fail;
  }
  if (cfg->spool_max != 0 &&
      cfg->spool_max < (uint64_t)ring + MIDA_JOURNAL_HEADER_BYTES) {
    snprintf(err, sizeof err,
             "MIDA_SPOOL_MAX (%llu bytes) is smaller than "
             "one journal segment (%zu bytes, MIDA_JOURNAL_BYTES)",
             (unsigned long long)cfg->spool_max,
             ring + MIDA_JOURNAL_HEADER_BYTES);
    goto fail;
  }
  rc = MIDA_OK;
  s->telemetry_task = cfg->telemetry_task;

  if (s->disabled) {
    *out = s;
    return MIDA_OK;
  }
  /* A URL that can name no store is refused before the spool is made:
   * the spool of a mistyped one would be a directory named after it
   * ("redis:/:pw@h/s.spool" in the working directory, password and all). */
  rc = mida__sink_check_url(store, err, sizeof err);
  if (rc != MIDA_OK)
    goto fail;
  /* A capture knob that does not parse keeps its default and is said
   * once, here, after whatever else limits this session. */
  char malformed[384];
  env_malformed(malformed, sizeof malformed);
  /* What the shipper and the sampler will read of the environment is
   * read here, on the caller's thread, and never on theirs (core/env.h). */
  mida__env_capture();
  mida__sink_process_init(store);

  rc = mida__journal_open(spool, ring, cfg->full, cfg->spool_max,
                          mida__hostname(), (int64_t)getpid(), &s->journal, err,
                          sizeof err);
  if (rc != MIDA_OK)
    goto fail;
  /* A journal without room records nothing for now, counts what it drops,
   * and starts when there is room: a warning, or a failure when strict. */
  rc = mida__journal_space(s->journal, warning, sizeof warning);
  if (rc != MIDA_OK && cfg->strict) {
    snprintf(err, sizeof err, "%s", warning);
    goto fail;
  }

  /* The shipper opens the store on its own thread, so that one that is
   * slow, hung or down never holds up the program. It reads no
   * environment: MIDA_REDACT_USED is read here. */
  mida__sink_redact_init();
  rc = mida__shipper_start_quiet(
      s->journal, store, spool,
      cfg->ship_interval_ms ? cfg->ship_interval_ms : 20, quiet_ms,
      &s->shipper);
  if (rc != MIDA_OK) {
    snprintf(err, sizeof err, "cannot start the shipper thread");
    goto fail;
  }
  rc = check_store(s, cfg->strict, cfg->open_wait_ms, err, sizeof err, warning,
                   sizeof warning);
  if (rc != MIDA_OK)
    goto fail;
  mida__sampler_config sc = {.hz = cfg->sample_hz,
                             .mask = sample_mask,
                             .spool = spool,
                             .put = put_sample,
                             .put_ctx = s,
                             .workflow = &s->workflow};
  rc = mida__sampler_start(&sc, &s->sampler);
  if (rc != MIDA_OK) {
    snprintf(err, sizeof err, "cannot start the telemetry sampler: %s",
             mida_strerror(rc));
    goto fail;
  }
  *out = s;
  /* Under `mida run`, tell the preload library which task each thread
   * runs, so that its files are attributed to it. */
  mida__thread_task_announce();
  if (malformed[0] != '\0') {
    size_t n = strlen(warning);
    snprintf(warning + n, sizeof warning - n, "%s%s", n > 0 ? "; " : "",
             malformed);
  }
  if (warning[0] != '\0')
    write_err(errmsg, errmsg_len, warning);
  return MIDA_OK;

fail:
  if (err[0] == '\0')
    snprintf(err, sizeof err, "%s", mida_strerror(rc));
  write_err(errmsg, errmsg_len, err);
  session_free(s);
  /* Also the thread's message, which mida_errmsg(NULL) gives (mida.h). */
  return mida__set_error(rc, "%s", err);
}

int mida_flush(mida_session_t *s, int timeout_ms) {
  if (s == NULL)
    return MIDA_EINVAL;
  if (s->disabled)
    return MIDA_OK;
  if (atomic_load(&s->closed))
    return MIDA_ECLOSED;
  int64_t start = mida__monotonic_ms();
  int rc = mida__shipper_flush(s->shipper, timeout_ms);
  /* Then the ended journals of the spool: a forked child's (a
   * multiprocessing worker ends with os._exit, which flushes nothing)
   * would otherwise wait for the next process that opens the store.
   * What this pass cannot ship stays in the spool, as before. */
  if (rc == MIDA_OK) {
    int64_t left = timeout_ms < 0 ? -1
                                  : timeout_ms - (mida__monotonic_ms() - start);
    if (left != 0)
      (void)mida__shipper_collect(s->shipper, left < 0 ? -1 : (int)left, 0,
                                  NULL);
  }
  if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT) {
    char msg[512];
    mida__shipper_errmsg(s->shipper, msg, sizeof msg);
    return mida__session_error(s, rc, "flush failed: %s", msg);
  }
  if (rc == MIDA_ETIMEDOUT)
    return mida__session_error(s, rc, "flush timed out after %d ms",
                               timeout_ms);
  return MIDA_OK;
}

int mida__session_space(mida_session_t *s, char *msg, size_t msglen) {
  if (msg != NULL && msglen > 0)
    msg[0] = '\0';
  if (s == NULL || s->disabled || s->journal == NULL)
    return MIDA_OK;
  return mida__journal_space(s->journal, msg, msglen);
}

int mida__session_wait_open(mida_session_t *s, int timeout_ms, char *msg,
                            size_t msglen) {
  if (msg != NULL && msglen > 0)
    msg[0] = '\0';
  if (s == NULL)
    return MIDA_EINVAL;
  if (s->disabled || s->shipper == NULL)
    return MIDA_OK;
  return mida__shipper_wait_open(s->shipper, timeout_ms, msg, msglen);
}

int mida__session_collect(mida_session_t *s, int timeout_ms, unsigned flags,
                          mida__collected *out) {
  if (out != NULL)
    *out = (mida__collected){0, 0};
  if (s == NULL)
    return MIDA_EINVAL;
  if (s->disabled || s->shipper == NULL)
    return MIDA_OK;
  if (atomic_load(&s->closed))
    return MIDA_ECLOSED;
  int rc = mida__shipper_collect(s->shipper, timeout_ms, flags, out);
  if (rc != MIDA_OK && rc != MIDA_ETIMEDOUT && rc != MIDA_ECLOSED) {
    char msg[512];
    mida__shipper_errmsg(s->shipper, msg, sizeof msg);
    return mida__session_error(s, rc, "%s", msg);
  }
  return rc;
}

void mida__session_quiet_end(mida_session_t *s) {
  if (s != NULL && !s->disabled && s->shipper != NULL)
    mida__shipper_quiet_end(s->shipper);
}

void mida__session_collect_cut(mida_session_t *s) {
  if (s != NULL && !s->disabled && s->shipper != NULL)
    mida__shipper_cut_hold(s->shipper);
}

int mida_close(mida_session_t *s) {
  if (s == NULL)
    return MIDA_OK;
  /* The sampler's last records go through the shipper's last flush. */
  mida__sampler_stop(s->sampler);
  s->sampler = NULL;
  atomic_store(&s->closed, true);
  int rc = MIDA_OK;
  if (s->shipper != NULL) {
    rc = mida__shipper_stop(s->shipper);
    if (rc == MIDA_ETIMEDOUT) {
      session_abandon(s);
      return mida__set_error(rc, "the store did not answer in 3 s: what "
                                 "was not shipped stays in the journal, for "
                                 "the next process or 'mida recover'");
    }
    s->shipper = NULL;
  }
  session_free(s);
  return rc;
}

/* The counters of a session that has a journal. */
static void stats_fill(const mida_session_t *s, mida_stats_t *out) {
  mida__journal_stats js;
  mida__journal_stats_get(s->journal, &js);
  out->records = js.records;
  out->dropped = js.dropped;
  out->backlog_bytes = js.backlog;
  out->segments = js.segments;
  out->spool_full = js.spool_full;
  if (s->shipper != NULL) {
    mida__shipper_stats ss;
    mida__shipper_stats_get(s->shipper, &ss);
    out->shipped = ss.shipped;
    out->ship_errors = ss.errors;
    out->dropped += ss.denied; /* a broker's ACL refused them */
    out->refused = ss.refused;
  }
}

void mida_stats_get_sized(const mida_session_t *s, mida_stats_t *caller,
                          size_t size) {
  mida_stats_t full; /* copied out as far as the caller's struct goes */
  mida_stats_t *out = &full;
  memset(out, 0, sizeof *out);
  out->struct_size = size < sizeof *out ? size : sizeof *out;
  if (s != NULL && s->journal != NULL)
    stats_fill(s, out);
  memcpy(caller, out, out->struct_size);
}

int mida_session_info_get_sized(const mida_session_t *s,
                                mida_session_info_t *caller, size_t size) {
  mida_session_info_t info;
  memset(&info, 0, sizeof info);
  info.struct_size = size < sizeof info ? size : sizeof info;
  if (s == NULL) {
    memcpy(caller, &info, info.struct_size);
    return mida__set_error(MIDA_EINVAL, "no session");
  }
  info.store = s->store_url;
  info.store_shown = s->store_shown;
  info.spool = s->spool_dir;
  info.host = mida__hostname();
  info.disabled = s->disabled;
  info.telemetry_task = s->telemetry_task;
  info.campaign = s->campaign;
  info.campaign_name = s->campaign_name;
  info.parent_task = s->parent_task;
  info.workflow = mida__shared_id_load(&s->workflow);
  memcpy(caller, &info, info.struct_size);
  return MIDA_OK;
}

int mida_workflow_set_default(mida_session_t *s, const mida_id_t *wf,
                              const mida_id_t *expected) {
  if (s == NULL)
    return mida__set_error(MIDA_EINVAL, "no session");
  mida_id_t id = {{0}};
  if (wf != NULL)
    id = *wf;
  int rc = MIDA_OK;
  pthread_mutex_lock(&s->workflow_lock);
  mida_id_t cur = mida__shared_id_load(&s->workflow);
  if (expected == NULL || memcmp(&cur, expected, sizeof cur) == 0)
    mida__shared_id_store(&s->workflow, &id);
  else
    rc = MIDA_EBUSY;
  pthread_mutex_unlock(&s->workflow_lock);
  return rc;
}
