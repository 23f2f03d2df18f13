/*
 * redis.c -- the Redis Streams broker (hiredis): redis://[[user]:password@]
 * host[:port]/stream, and rediss:// for the same over TLS (options:
 * core/tls_opts.h; the connection: redis_link.h). A sink for shippers, and
 * a consumer for `mida ingest`.
 *
 * Sink: put_batch encodes the batch into wire messages (wire.h) of at most
 * MAX_MESSAGE bytes and appends each with XADD stream * d <message>; the
 * reply (the entry's id) is Redis's acknowledgement, so put_batch returns
 * MIDA_OK only once every message of the batch has one. Any failure (the
 * server down, paused past the command timeout, out of memory) fails the
 * batch, which stays in the producer's journal; the next call reconnects.
 * A batch sent again after a partial failure repeats some messages:
 * harmless, since the store's merge is idempotent.
 *
 * Consumer: one consumer group per stream (created with MKSTREAM), one
 * consumer name per `mida ingest` process. fetch first re-reads this
 * consumer's own pending entries (delivered before a restart, never
 * acknowledged), then every CLAIM_EVERY_MS claims with XAUTOCLAIM the
 * entries other consumers left pending longer than claim_ms (they died),
 * and otherwise reads new entries with XREADGROUP ... BLOCK. ack is XACK,
 * called by ingest only after the store committed. Now and then, the
 * entries every group acknowledged are deleted from the stream
 * (redis_trim.h), which would otherwise hold every record ever shipped.
 * A Redis that answers but cannot serve yet (LOADING its data after a
 * restart, BUSY with a script, ...) makes a call fail with MIDA_EBUSY, one
 * that does not answer in time with MIDA_EUNREACHABLE
 * (mida__redis_link_failure): `mida ingest` waits for both.
 *
 * Durability: what Redis acknowledged is as durable as Redis is configured
 * to be. A Redis without persistence (save "" and appendonly no) loses an
 * acknowledged but not yet consumed stream when it restarts; see
 * docs/multinode.md.
 */
#include "sink/sink.h"
#include "sink/wire.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/tls_opts.h"
#include "core/url.h"
#include "mida_config.h"

#include <stdio.h>
#include <string.h>

#if MIDA_HAVE_HIREDIS

#include "sink/redis_link.h"
#include "sink/redis_trim.h"

#define MAX_MESSAGE ((size_t)4 << 20) /* bytes per stream entry */
#define CONNECT_TIMEOUT_MS 3000
#define COMMAND_TIMEOUT_MS 5000
#define CLAIM_EVERY_MS 1000
#define TRIM_EVERY_MS 1000     /* between two trims of the stream */
#define TRIM_REFUSED_MS 60000  /* after Redis refused one */

/* What a Redis URL says: where, how (TLS or not) and which stream. */
typedef struct redis_target {
  mida__url url;      /* parsed URL */
  mida__tls_opts tls; /* rediss://: TLS options */
  const char *scheme; /* "redis" or "rediss", for messages */
  char stream[256];   /* stream key */
} redis_target;

/* Reads url into t. Returns MIDA_OK or MIDA_EURL with why in err. */
static int read_target(const char *url, redis_target *t, char *err,
                       size_t errlen) {
  if (mida__url_parse(url, 6379, &t->url) != MIDA_OK) {
    char shown[MIDA_URL_SHOWN];
    snprintf(err, errlen,
             "malformed Redis URL '%s' (want redis[s]://[[user]:password@]host"
             "[:port]/stream)",
             mida__url_redact(url, shown, sizeof shown));
    return MIDA_EURL;
  }
  int rc =
      mida__tls_opts_read(url, t->url.query, "rediss", &t->tls, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  t->scheme = t->tls.enabled ? "rediss" : "redis";
  snprintf(t->stream, sizeof t->stream, "%s",
           t->url.path[0] != '\0' ? t->url.path : "mida");
  return MIDA_OK;
}

static int redis_check_url(const char *url, char *err, size_t errlen) {
  redis_target t;
  return read_target(url, &t, err, errlen);
}

/* Connects and authenticates. On failure returns NULL, writes why, and
 * sets *rc to MIDA_EUNREACHABLE (no connection or no answer), MIDA_EBUSY
 * (Redis cannot serve yet: loading its data) or MIDA_EIO (refused: TLS or
 * AUTH). */
static mida__redis_link *redis_connect(const redis_target *t, int *rc,
                                       char *err, size_t errlen) {
  mida__redis_link *l = NULL;
  *rc = mida__redis_link_open(&t->url, &t->tls, CONNECT_TIMEOUT_MS, &l, err,
                              errlen);
  if (*rc != MIDA_OK)
    return NULL;
  mida__redis_link_set_timeout(l, COMMAND_TIMEOUT_MS);
  return l;
}

/* ---- the sink ------------------------------------------------------------ */

typedef struct redis_sink {
  mida__sink base;       /* common head; must be first */
  mida__redis_link *ctx; /* the connection, NULL after a failure */
  redis_target t;        /* URL, TLS options, stream */
  uint64_t sender;       /* wire sender id */
  uint64_t seq;          /* wire messages sent */
  mida__buf msg;         /* a message being encoded */
} redis_sink;

/* A batch's failure keeps its code (mida__redis_link_failure): MIDA_EBUSY
 * for a Redis that cannot serve yet (LOADING after a restart, BUSY, ...)
 * and MIDA_EUNREACHABLE for one that does not answer are waits, where the
 * shipper keeps the records in the journal and tries again, and says why
 * in Redis's terms; a refusal is MIDA_EIO. Until 2026-12 each was
 * MIDA_EIO, "input/output error". */
static int redis_put_batch(mida__sink *base, const mida__rec *recs, size_t n,
                           const mida__origin *origin) {
  redis_sink *s = (redis_sink *)base;
  if (n == 0)
    return MIDA_OK;
  if (s->ctx == NULL) {
    char err[400];
    int crc;
    s->ctx = redis_connect(&s->t, &crc, err, sizeof err);
    if (s->ctx == NULL)
      return mida__sink_fail(base, crc, "%s", err);
  }
  size_t next = 0;
  while (next < n) {
    int rc = mida__wire_encode(recs, n, &next, origin, s->sender, s->seq + 1,
                               MAX_MESSAGE, &s->msg);
    if (rc != MIDA_OK)
      return mida__sink_fail(base, rc, "cannot encode a batch: %s",
                             mida_strerror(rc));
    redisReply *r = mida__redis_link_command(
        s->ctx, "XADD %s * d %b", s->t.stream, s->msg.ptr, s->msg.len);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
      char why[512];
      rc = mida__redis_link_failure(s->ctx, r, why, sizeof why);
      rc = mida__sink_fail(base, rc, "%s://%s:%d/%s did not take a batch: %s",
                           s->t.scheme, s->t.url.host, s->t.url.port,
                           s->t.stream, why);
      if (r != NULL)
        freeReplyObject(r);
      /* A broken or timed-out connection cannot be trusted again. */
      mida__redis_link_close(s->ctx);
      s->ctx = NULL;
      return rc;
    }
    freeReplyObject(r);
    s->seq++;
  }
  return MIDA_OK;
}

static void redis_close(mida__sink *base) {
  redis_sink *s = (redis_sink *)base;
  if (s == NULL)
    return;
  if (s->ctx != NULL)
    mida__redis_link_close(s->ctx);
  mida__buf_free(&s->msg);
  mida__free(s);
}

static int redis_open(const char *url, int flags, mida__sink **out, char *err,
                      size_t errlen) {
  (void)flags; /* READONLY is refused for brokers in sink.c */
  *out = NULL;
  redis_sink *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  s->base.methods = &mida__redis_sink;
  mida__buf_init(&s->msg, MAX_MESSAGE * 2);
  int rc = read_target(url, &s->t, err, errlen);
  if (rc != MIDA_OK) {
    redis_close(&s->base);
    return rc;
  }
  s->sender = mida__wire_sender_id();
  int crc;
  s->ctx = redis_connect(&s->t, &crc, err, errlen);
  if (s->ctx == NULL) {
    redis_close(&s->base);
    return crc;
  }
  *out = &s->base;
  return MIDA_OK;
}

const mida__sink_methods mida__redis_sink = {
    "redis", redis_open, redis_put_batch, NULL, NULL, redis_close, NULL, NULL,
    NULL,            /* process_init */
    NULL,            /* settle */
    NULL,            /* moved */
    redis_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

const mida__sink_methods mida__rediss_sink = {
    "rediss", redis_open, redis_put_batch, NULL, NULL, redis_close, NULL, NULL,
    NULL,            /* process_init */
    NULL,            /* settle */
    NULL,            /* moved */
    redis_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

/* ---- the consumer -------------------------------------------------------- */

typedef struct redis_consumer {
  mida__consumer base;   /* common head; must be first */
  mida__redis_link *ctx; /* the connection, NULL after a failure */
  redis_target t;        /* URL, TLS options, stream */
  char group[128];       /* consumer group */
  char name[128];        /* this consumer */
  int claim_ms;          /* idle time after which pending is claimed */
  redisReply *reply;     /* the last fetch's reply: holds the messages */
  int own_pending_done;  /* own pending entries re-read after (re)start */
  int64_t next_claim_ms; /* when to look for dead consumers' entries */
  int64_t next_trim_ms;  /* when to trim the stream next (redis_trim.h) */
  int trim_refusal_said; /* a refused trim was put in the note */
} redis_consumer;

static int consumer_connect(redis_consumer *c) {
  char err[400];
  int crc;
  c->ctx = redis_connect(&c->t, &crc, err, sizeof err);
  /* MIDA_EUNREACHABLE and MIDA_EBUSY as they are: `mida ingest` waits for
   * a broker that is not up or not ready yet, and fails at once on a
   * refusal (TLS, AUTH). AUTH passes while Redis loads its data: then the
   * first command below says LOADING. */
  if (c->ctx == NULL)
    return mida__consumer_fail(&c->base, crc, "%s", err);
  redisReply *r = mida__redis_link_command(
      c->ctx, "XGROUP CREATE %s %s 0 MKSTREAM", c->t.stream, c->group);
  int ok = r != NULL && (r->type != REDIS_REPLY_ERROR ||
                         strncmp(r->str, "BUSYGROUP", 9) == 0);
  int rc = MIDA_OK;
  if (!ok) {
    char why[512];
    rc = mida__redis_link_failure(c->ctx, r, why, sizeof why);
    rc = mida__consumer_fail(&c->base, rc,
                             "cannot create consumer group %s on %s: %s",
                             c->group, c->t.stream, why);
  }
  if (r != NULL)
    freeReplyObject(r);
  if (rc != MIDA_OK) {
    mida__redis_link_close(c->ctx);
    c->ctx = NULL;
  }
  c->own_pending_done = 0;
  return rc;
}

/* Fills msgs from an array of stream entries [id, [field, value, ...]].
 * An entry without a "d" field (not written by mida) gets empty data, which
 * the decoder rejects and ingest counts. */
static int take_entries(const redisReply *entries, mida__consumer_msg *msgs,
                        int max) {
  int n = 0;
  for (size_t i = 0; i < entries->elements && n < max; i++) {
    const redisReply *e = entries->element[i];
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
      continue;
    mida__consumer_msg *m = &msgs[n++];
    snprintf(m->id, sizeof m->id, "%s", e->element[0]->str);
    m->data = "";
    m->len = 0;
    m->handle = NULL;
    const redisReply *f = e->element[1];
    if (f == NULL || f->type != REDIS_REPLY_ARRAY)
      continue;
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
      if (f->element[k]->type == REDIS_REPLY_STRING &&
          strcmp(f->element[k]->str, "d") == 0 &&
          f->element[k + 1]->type == REDIS_REPLY_STRING) {
        m->data = f->element[k + 1]->str;
        m->len = f->element[k + 1]->len;
        break;
      }
    }
  }
  return n;
}

/* Says why a command failed, with the code mida__redis_link_failure
 * gives it, and closes the link: the next call connects again. */
static int failed_command(redis_consumer *c, redisReply *r, const char *what) {
  char why[512];
  int rc = mida__redis_link_failure(c->ctx, r, why, sizeof why);
  rc = mida__consumer_fail(&c->base, rc, "%s on %s://%s:%d/%s failed: %s", what,
                           c->t.scheme, c->t.url.host, c->t.url.port,
                           c->t.stream, why);
  if (r != NULL)
    freeReplyObject(r);
  mida__redis_link_close(c->ctx);
  c->ctx = NULL;
  return rc;
}

/* Deletes from the stream what every group acknowledged (redis_trim.h),
 * at most every TRIM_EVERY_MS: after an acknowledgement, and while idle,
 * so that the last entries go too. A refusal (an ACL that grants less) is
 * said once, in the note, and tried again TRIM_REFUSED_MS later; the
 * consumer works on without it. A broken link is closed: the next call
 * connects again. */
static void trim_now_and_then(redis_consumer *c) {
  int64_t now = mida__monotonic_ms();
  if (c->ctx == NULL || now < c->next_trim_ms)
    return;
  char why[160];
  int rc =
      mida__redis_trim_acknowledged(c->ctx, c->t.stream, why, sizeof why);
  c->next_trim_ms =
      now + (rc == MIDA_EDENIED ? TRIM_REFUSED_MS : TRIM_EVERY_MS);
  if (rc == MIDA_EIO) {
    mida__redis_link_close(c->ctx);
    c->ctx = NULL;
  } else if (rc == MIDA_EDENIED && !c->trim_refusal_said) {
    c->trim_refusal_said = 1;
    snprintf(c->base.note, sizeof c->base.note,
             "cannot delete acknowledged entries from the stream %.120s (%s): "
             "Redis keeps every one until they are; grant this account "
             "+xinfo|groups +xpending +xtrim (docs/multinode.md)",
             c->t.stream, why);
  }
}

static int redis_fetch(mida__consumer *base, mida__consumer_msg *msgs, int max,
                       int timeout_ms) {
  redis_consumer *c = (redis_consumer *)base;
  if (c->reply != NULL) {
    freeReplyObject(c->reply);
    c->reply = NULL;
  }
  if (c->ctx == NULL) {
    int rc = consumer_connect(c);
    if (rc != MIDA_OK)
      return rc;
  }
  redisReply *r;
  /* 1. What this consumer was given before and never acknowledged. */
  if (!c->own_pending_done) {
    r = mida__redis_link_command(c->ctx,
                                 "XREADGROUP GROUP %s %s COUNT %d STREAMS %s 0",
                                 c->group, c->name, max, c->t.stream);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
      return failed_command(c, r, "XREADGROUP");
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->elements >= 2)
      n = take_entries(r->element[0]->element[1], msgs, max);
    if (n == 0) {
      c->own_pending_done = 1;
      freeReplyObject(r);
    } else {
      c->reply = r;
      return n;
    }
  }
  /* 2. What dead consumers left behind. */
  int64_t now = mida__monotonic_ms();
  if (now >= c->next_claim_ms) {
    c->next_claim_ms = now + CLAIM_EVERY_MS;
    r = mida__redis_link_command(c->ctx, "XAUTOCLAIM %s %s %s %d 0-0 COUNT %d",
                                 c->t.stream, c->group, c->name, c->claim_ms,
                                 max);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
      return failed_command(c, r, "XAUTOCLAIM");
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_ARRAY)
      n = take_entries(r->element[1], msgs, max);
    if (n > 0) {
      c->reply = r;
      return n;
    }
    freeReplyObject(r);
  }
  /* 3. New entries. The command may block for timeout_ms: the socket's
   * timeout must be longer. */
  mida__redis_link_set_timeout(c->ctx, timeout_ms + COMMAND_TIMEOUT_MS);
  r = mida__redis_link_command(
      c->ctx, "XREADGROUP GROUP %s %s COUNT %d BLOCK %d STREAMS %s >", c->group,
      c->name, max, timeout_ms, c->t.stream);
  if (r == NULL || r->type == REDIS_REPLY_ERROR) {
    /* The group vanishes with the stream when Redis restarts empty. */
    if (r != NULL && strncmp(r->str, "NOGROUP", 7) == 0) {
      freeReplyObject(r);
      mida__redis_link_close(c->ctx);
      c->ctx = NULL;
      return 0;
    }
    return failed_command(c, r, "XREADGROUP");
  }
  mida__redis_link_set_timeout(c->ctx, COMMAND_TIMEOUT_MS);
  int n = 0;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
      r->element[0]->elements >= 2)
    n = take_entries(r->element[0]->element[1], msgs, max);
  c->reply = r;
  if (n == 0)
    trim_now_and_then(c);
  return n;
}

static int redis_ack(mida__consumer *base, mida__consumer_msg *msgs, int n) {
  redis_consumer *c = (redis_consumer *)base;
  if (n <= 0)
    return MIDA_OK;
  if (c->ctx == NULL) {
    int rc = consumer_connect(c);
    if (rc != MIDA_OK)
      return rc;
  }
  size_t argc = 3 + (size_t)n;
  const char **argv = mida__calloc(argc, sizeof *argv);
  if (argv == NULL)
    return mida__consumer_fail(base, MIDA_ENOMEM, "out of memory");
  argv[0] = "XACK";
  argv[1] = c->t.stream;
  argv[2] = c->group;
  for (int i = 0; i < n; i++)
    argv[3 + i] = msgs[i].id;
  redisReply *r = mida__redis_link_argv(c->ctx, (int)argc, argv, NULL);
  mida__free(argv);
  if (r == NULL || r->type == REDIS_REPLY_ERROR)
    return failed_command(c, r, "XACK");
  freeReplyObject(r);
  trim_now_and_then(c);
  return MIDA_OK;
}

static void redis_consumer_close(mida__consumer *base) {
  redis_consumer *c = (redis_consumer *)base;
  if (c == NULL)
    return;
  if (c->reply != NULL)
    freeReplyObject(c->reply);
  if (c->ctx != NULL)
    mida__redis_link_close(c->ctx);
  mida__free(c);
}

static int redis_consumer_open(const char *url, const char *group,
                               const char *name, int claim_ms,
                               mida__consumer **out, char *err, size_t errlen) {
  *out = NULL;
  redis_consumer *c = mida__calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  c->base.methods = &mida__redis_consumer;
  int rc = read_target(url, &c->t, err, errlen);
  if (rc != MIDA_OK) {
    redis_consumer_close(&c->base);
    return rc;
  }
  snprintf(c->group, sizeof c->group, "%s", group);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->claim_ms = claim_ms > 0 ? claim_ms : 30000;
  rc = consumer_connect(c);
  if (rc != MIDA_OK) {
    snprintf(err, errlen, "%s", c->base.errmsg);
    redis_consumer_close(&c->base);
    return rc;
  }
  *out = &c->base;
  return MIDA_OK;
}

const mida__consumer_methods mida__redis_consumer = {
    "redis", redis_consumer_open, redis_fetch, redis_ack, redis_consumer_close,
};

#endif /* MIDA_HAVE_HIREDIS */
