/*
 * nats.c -- the NATS JetStream broker (libnats): nats://[user:password@]
 * host[:port]/subject, and tls:// for the same over TLS (options:
 * core/tls_opts.h, given to libnats). A userinfo of one part, token@ (as
 * NATS's own URLs write a token) or :token@, is a token. A sink for
 * shippers, and a consumer for `mida ingest`.
 *
 * Both sides first make sure a JetStream stream captures the subject: the
 * stream named after it (nats_stream.h: MIDA_<subject>, or for a subject
 * with other characters than letters, digits, '-' and '_', MIDA-<subject
 * with them written '_'>-<hash>), file storage, created if missing. So
 * what JetStream has acknowledged is on the server's disk and survives its
 * restart. A stream that a mida before 2026-12 made for the same subject
 * under the name it gave it then (MIDA_a_b for a.b) is used as it is; a
 * stream that has the name but captures another subject is an error, not
 * a stream to publish or read through.
 *
 * Sink: put_batch encodes the batch into wire messages (wire.h) no larger
 * than the server's max_payload allows, and publishes each with js_Publish,
 * which waits for JetStream's PubAck: MIDA_OK means every message is stored.
 * Each message carries a Nats-Msg-Id of sender, sequence, length and
 * CRC32C, so that a retried publish of the same bytes within the stream's
 * duplicate window is stored once, and a retry with other bytes is not
 * taken for it. A single record larger than the server takes in one
 * message is left out and counted (left_out.h).
 *
 * Consumer: a durable pull consumer named after the group, shared by every
 * `mida ingest` of that group; explicit acks, AckWait = claim_ms (the last
 * consumer started sets it for the group): a message a dead consumer
 * fetched and never acknowledged is redelivered to another one when
 * AckWait passes. Now and then, the subject's messages that every
 * consumer acknowledged are purged from the stream (nats_trim.h), which
 * would otherwise keep every record ever shipped.
 */
#include "sink/left_out.h"
#include "sink/nats_stream.h"
#include "sink/nats_trim.h"
#include "sink/sink.h"
#include "sink/wire.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/tls_opts.h"
#include "core/url.h"
#include "mida_config.h"

#include <stdio.h>
#include <string.h>

#if MIDA_HAVE_NATS

#include <nats/nats.h>

#include "sink/nats_error.h"

#define CONNECT_TIMEOUT_MS 3000
#define PUBLISH_WAIT_MS 5000
#define TRIM_EVERY_MS 1000    /* between two purges of the stream */
#define TRIM_REFUSED_MS 60000 /* after the server refused one */

const char *mida__nats_error(natsStatus s) {
  const char *t = nats_GetLastError(NULL);
  return t != NULL && t[0] != '\0' ? mida__nats_error_reason(t)
                                   : natsStatus_GetText(s);
}

typedef struct nats_link {
  natsConnection *nc; /* the connection (reconnects by itself) */
  jsCtx *js;          /* its JetStream context */
  mida__url url;      /* parsed URL */
  mida__tls_opts tls; /* tls://: TLS options */
  char subject[256];  /* subject the records travel on */
  char stream[256];   /* JetStream stream that captures it */
} nats_link;

static void link_close(nats_link *l) {
  if (l->js != NULL)
    jsCtx_Destroy(l->js);
  if (l->nc != NULL)
    natsConnection_Destroy(l->nc);
  l->js = NULL;
  l->nc = NULL;
}

/* Asks libnats for TLS as the options say: the CA (else the system's), the
 * client certificate and key, and the name the server's certificate must
 * carry (always checked: libnats checks none unless told). On failure,
 * writes which file is at fault. */
static natsStatus tls_options(natsOptions *o, const mida__tls_opts *t,
                              const char *host, char *err, size_t errlen) {
  natsStatus s = natsOptions_SetSecure(o, true);
  if (s == NATS_OK && t->ca[0] != '\0') {
    s = natsOptions_LoadCATrustedCertificates(o, t->ca);
    if (s != NATS_OK)
      snprintf(err, errlen, "cannot use the TLS CA file '%s': %s", t->ca,
               mida__nats_error(s));
  }
  if (s == NATS_OK && t->cert[0] != '\0') {
    s = natsOptions_LoadCertificatesChain(o, t->cert, t->key);
    if (s != NATS_OK)
      snprintf(err, errlen,
               "cannot use the TLS certificate '%s' with key '%s': %s", t->cert,
               t->key, mida__nats_error(s));
  }
  if (s == NATS_OK) {
    s = natsOptions_SetExpectedHostname(o, mida__tls_expected_name(t, host));
    if (s != NATS_OK)
      snprintf(err, errlen, "cannot set up TLS: %s", mida__nats_error(s));
  }
  return s;
}

/* 1 when the stream's configuration captures subject. */
static int stream_captures(const jsStreamInfo *si, const char *subject) {
  if (si == NULL || si->Config == NULL)
    return 0;
  for (int i = 0; i < si->Config->SubjectsLen; i++)
    if (mida__nats_subject_matches(si->Config->Subjects[i], subject))
      return 1;
  return 0;
}

/* The stream named name, or NATS_NOT_FOUND; destroys what *si held. */
static natsStatus stream_info(nats_link *l, const char *name,
                              jsStreamInfo **si) {
  if (*si != NULL)
    jsStreamInfo_Destroy(*si);
  *si = NULL;
  jsErrCode jerr = 0;
  return js_GetStreamInfo(si, l->js, name, NULL, &jerr);
}

/* Finds the stream that captures l->subject, or creates it, and writes its
 * name into l->stream (nats_stream.h). */
static int find_stream(nats_link *l, const char *server, char *err,
                       size_t errlen) {
  char legacy[MIDA_NATS_STREAM_NAME_MAX];
  mida__nats_stream_name(l->subject, l->stream, sizeof l->stream);
  mida__nats_legacy_stream_name(l->subject, legacy, sizeof legacy);
  jsStreamInfo *si = NULL;
  natsStatus s = stream_info(l, l->stream, &si);
  if (s == NATS_NOT_FOUND && strcmp(legacy, l->stream) != 0) {
    /* A stream an earlier mida made for this very subject: its records
     * not yet consumed are there, and it captures the subject, so that a
     * new one could not (JetStream refuses overlapping subjects). */
    s = stream_info(l, legacy, &si);
    if (s == NATS_OK && stream_captures(si, l->subject))
      snprintf(l->stream, sizeof l->stream, "%s", legacy);
    else if (s == NATS_OK || s == NATS_NOT_FOUND)
      s = stream_info(l, l->stream, &si); /* another subject's: not ours */
  }
  char made[256] = "";
  if (s == NATS_NOT_FOUND) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {l->subject};
    cfg.Name = l->stream;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsErrCode jerr = 0;
    s = js_AddStream(&si, l->js, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
      /* Another process may have created it in the meantime; if not, the
       * reason it could not be made is the one to tell. */
      snprintf(made, sizeof made, "%s", mida__nats_error(s));
      s = stream_info(l, l->stream, &si);
    }
  }
  int rc = MIDA_OK;
  if (s != NATS_OK) {
    snprintf(err, errlen, "JetStream on %s has no stream %s for %s: %s",
             server, l->stream, l->subject,
             made[0] != '\0' ? made : mida__nats_error(s));
    rc = MIDA_EIO;
  } else if (!stream_captures(si, l->subject)) {
    snprintf(err, errlen,
             "JetStream on %s: the stream %s captures %s, not %s (made by a "
             "mida before 2026-12 for that subject? docs/multinode.md, NATS "
             "stream names)",
             server, l->stream,
             si->Config != NULL && si->Config->SubjectsLen > 0
                 ? si->Config->Subjects[0]
                 : "no subject",
             l->subject);
    rc = MIDA_EIO;
  }
  if (si != NULL)
    jsStreamInfo_Destroy(si);
  return rc;
}

/* Reads url into l's URL, TLS options and subject. Returns MIDA_OK or
 * MIDA_EURL with why in err. */
static int read_url(nats_link *l, const char *url, char *err, size_t errlen) {
  if (mida__url_parse(url, 4222, &l->url) != MIDA_OK) {
    char shown[MIDA_URL_SHOWN];
    snprintf(err, errlen,
             "malformed NATS URL '%s' (want nats:// or tls://[user:password@ or"
             " token@]host[:port]/subject)",
             mida__url_redact(url, shown, sizeof shown));
    return MIDA_EURL;
  }
  int rc = mida__tls_opts_read(url, l->url.query, "tls", &l->tls, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  snprintf(l->subject, sizeof l->subject, "%s",
           l->url.path[0] != '\0' ? l->url.path : "mida");
  for (char *p = l->subject; *p != '\0'; p++)
    if (*p == '/')
      *p = '.';
  return MIDA_OK;
}

static int nats_check_url(const char *url, char *err, size_t errlen) {
  nats_link l;
  memset(&l, 0, sizeof l);
  return read_url(&l, url, err, errlen);
}

/* Connects, authenticates and makes sure the stream exists. */
static int link_open(nats_link *l, const char *url, char *err, size_t errlen) {
  int rc = read_url(l, url, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  char server[320];
  int v6 = strchr(l->url.host, ':') != NULL; /* an IPv6 address */
  snprintf(server, sizeof server, "%s://%s%s%s:%d",
           l->tls.enabled ? "tls" : "nats", v6 ? "[" : "", l->url.host,
           v6 ? "]" : "", l->url.port);
  natsOptions *o = NULL;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK)
    s = natsOptions_SetURL(o, server);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect(o, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait(o, 250);
  if (s == NATS_OK && l->url.user[0] != '\0' && l->url.password[0] != '\0')
    s = natsOptions_SetUserInfo(o, l->url.user, l->url.password);
  else if (s == NATS_OK && l->url.user[0] != '\0')
    s = natsOptions_SetToken(o, l->url.user); /* token@ */
  else if (s == NATS_OK && l->url.password[0] != '\0')
    s = natsOptions_SetToken(o, l->url.password); /* :token@ */
  if (s == NATS_OK && l->tls.enabled) {
    s = tls_options(o, &l->tls, l->url.host, err, errlen);
    if (s != NATS_OK) {
      natsOptions_Destroy(o);
      return MIDA_EIO;
    }
  }
  if (s == NATS_OK)
    s = natsConnection_Connect(&l->nc, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) {
    int no_cert = l->tls.enabled && l->tls.cert[0] == '\0';
    snprintf(err, errlen, "cannot connect to %s: %s%s", server,
             mida__nats_error(s),
             no_cert ? " (does it require a client certificate? cert=, "
                       "MIDA_TLS_CERT)"
                     : "");
    return s == NATS_NO_SERVER || s == NATS_TIMEOUT ? MIDA_EUNREACHABLE
                                                    : MIDA_EIO;
  }
  s = natsConnection_JetStream(&l->js, l->nc, NULL);
  if (s != NATS_OK) {
    snprintf(err, errlen, "cannot use JetStream on %s: %s", server,
             mida__nats_error(s));
    link_close(l);
    return MIDA_EIO;
  }
  rc = find_stream(l, server, err, errlen);
  if (rc != MIDA_OK)
    link_close(l);
  return rc;
  return MIDA_OK;
}

/* ---- the sink ------------------------------------------------------------ */

typedef struct nats_sink {
  mida__sink base;        /* common head; must be first */
  nats_link link;         /* connection, stream */
  uint64_t sender;        /* wire sender id */
  uint64_t seq;           /* wire messages sent */
  mida__buf msg;          /* a message being encoded */
  mida__left_out too_big; /* records left out for their size (left_out.h) */
} nats_sink;

/* Publishes msg and waits for JetStream's PubAck (mida__publish_fn). A
 * message refused for its size, which no retry mends, is MIDA_ETOOBIG:
 * libnats checks it against the server's max_payload before sending, a
 * stream with a max_msg_size refuses it in its answer. */
static int publish_message(mida__sink *base, const mida__buf *msg) {
  nats_sink *s = (nats_sink *)base;
  /* The id names the content, not only the attempt: a publish whose
   * PubAck did not come in time may still be stored, and the retry of
   * that message number carries more records by then (and the
   * ship_retries counter). Under the same id JetStream would drop it as
   * a duplicate, and the records only it carries with it. */
  char msgid[72];
  snprintf(msgid, sizeof msgid, "%016llx-%llu-%zx-%08x",
           (unsigned long long)s->sender, (unsigned long long)(s->seq + 1),
           msg->len, mida__crc32c(0, msg->ptr, msg->len));
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MsgId = msgid;
  po.MaxWait = PUBLISH_WAIT_MS;
  jsPubAck *ack = NULL;
  jsErrCode jerr = 0;
  natsStatus st = js_Publish(&ack, s->link.js, s->link.subject, msg->ptr,
                             (int)msg->len, &po, &jerr);
  if (ack != NULL)
    jsPubAck_Destroy(ack);
  if (st == NATS_OK)
    return MIDA_OK;
  if (st == NATS_MAX_PAYLOAD || jerr == JSStreamMessageExceedsMaximumErr)
    return mida__sink_fail(base, MIDA_ETOOBIG, "%s", mida__nats_error(st));
  return mida__sink_fail(base, MIDA_EIO,
                         "%s://%s:%d/%s did not acknowledge a batch: %s",
                         s->link.tls.enabled ? "tls" : "nats",
                         s->link.url.host, s->link.url.port,
                         s->link.subject, mida__nats_error(st));
}

/* Publishes a batch as messages of at most the server's max_payload; a
 * record the server cannot take in one message is left out and counted
 * (left_out.h): failing the batch would hold back the whole journal. */
static int nats_put_batch(mida__sink *base, const mida__rec *recs, size_t n,
                          const mida__origin *origin) {
  nats_sink *s = (nats_sink *)base;
  if (n == 0)
    return MIDA_OK;
  int64_t max = natsConnection_GetMaxPayload(s->link.nc);
  size_t limit = max > 4096 ? (size_t)max - 1024 : 4096;
  char where[600];
  snprintf(where, sizeof where, "%s://%s:%d/%s",
           s->link.tls.enabled ? "tls" : "nats", s->link.url.host,
           s->link.url.port, s->link.subject);
  return mida__left_out_publish(&s->too_big, base, recs, n, origin, limit,
                                s->sender, &s->seq, &s->msg, publish_message,
                                where);
}

static void nats_sink_close(mida__sink *base) {
  nats_sink *s = (nats_sink *)base;
  if (s == NULL)
    return;
  link_close(&s->link);
  mida__buf_free(&s->msg);
  mida__free(s);
}

static int nats_sink_open(const char *url, int flags, mida__sink **out,
                          char *err, size_t errlen) {
  (void)flags; /* READONLY is refused for brokers in sink.c */
  *out = NULL;
  nats_sink *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  s->base.methods = &mida__nats_sink;
  mida__buf_init(&s->msg, (size_t)64 << 20);
  s->sender = mida__wire_sender_id();
  int rc = link_open(&s->link, url, err, errlen);
  if (rc != MIDA_OK) {
    nats_sink_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return MIDA_OK;
}

/* libnats reads its NATS_DEFAULT_* variables when it starts, which it
 * otherwise does at the first connection, on the shipper's thread: it
 * starts on the thread of mida_open instead (sink.h, core/env.h). */
static void nats_process_init(void) {
  (void)nats_Open(-1);
}

const mida__sink_methods mida__nats_sink = {
    "nats", nats_sink_open, nats_put_batch,    NULL, NULL, nats_sink_close,
    NULL,   NULL,           nats_process_init,
    NULL,           /* settle */
    NULL,           /* moved */
    nats_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

const mida__sink_methods mida__nats_tls_sink = {
    "tls", nats_sink_open, nats_put_batch,    NULL, NULL, nats_sink_close,
    NULL,  NULL,           nats_process_init,
    NULL,           /* settle */
    NULL,           /* moved */
    nats_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

/* ---- the consumer -------------------------------------------------------- */

typedef struct nats_consumer {
  mida__consumer base;   /* common head; must be first */
  nats_link link;        /* connection, stream */
  natsSubscription *sub; /* the durable pull subscription */
  natsMsgList list;      /* the last fetch's messages */
  int64_t next_trim_ms;  /* when to purge the stream next (nats_trim.h) */
  int trim_refusal_said; /* a refused purge was put in the note */
} nats_consumer;

static void drop_list(nats_consumer *c) {
  if (c->list.Msgs != NULL)
    natsMsgList_Destroy(&c->list);
  memset(&c->list, 0, sizeof c->list);
}

/* Purges from the stream what every consumer acknowledged (nats_trim.h),
 * at most every TRIM_EVERY_MS: after an acknowledgement, and while idle,
 * so that the last messages go too. A refusal (permissions that grant
 * less) is said once, in the note, and tried again TRIM_REFUSED_MS later;
 * the consumer works on without it. */
static void trim_now_and_then(nats_consumer *c) {
  int64_t now = mida__monotonic_ms();
  if (now < c->next_trim_ms)
    return;
  char why[200];
  int rc = mida__nats_trim_acknowledged(c->link.js, c->link.stream,
                                        c->link.subject, why, sizeof why);
  c->next_trim_ms = now + (rc == MIDA_OK ? TRIM_EVERY_MS : TRIM_REFUSED_MS);
  if (rc != MIDA_OK && !c->trim_refusal_said) {
    c->trim_refusal_said = 1;
    snprintf(c->base.note, sizeof c->base.note,
             "cannot purge acknowledged messages from the stream (%s): "
             "JetStream keeps every one until they are; allow this account "
             "the stream's consumer list and purge (docs/multinode.md)",
             why);
  }
}

static int nats_fetch(mida__consumer *base, mida__consumer_msg *msgs, int max,
                      int timeout_ms) {
  nats_consumer *c = (nats_consumer *)base;
  drop_list(c);
  jsErrCode jerr = 0;
  natsStatus s =
      natsSubscription_Fetch(&c->list, c->sub, max, timeout_ms, &jerr);
  if (s == NATS_TIMEOUT) {
    trim_now_and_then(c);
    return 0;
  }
  if (s != NATS_OK) {
    drop_list(c);
    return mida__consumer_fail(base, MIDA_EIO, "fetch from %s failed: %s",
                               c->link.stream, mida__nats_error(s));
  }
  int n = 0;
  for (int i = 0; i < c->list.Count && n < max; i++) {
    natsMsg *m = c->list.Msgs[i];
    mida__consumer_msg *out = &msgs[n++];
    out->data = natsMsg_GetData(m);
    out->len = (size_t)natsMsg_GetDataLength(m);
    if (out->data == NULL)
      out->data = "";
    out->handle = m;
    jsMsgMetaData *meta = NULL;
    if (natsMsg_GetMetaData(&meta, m) == NATS_OK && meta != NULL) {
      snprintf(out->id, sizeof out->id, "%.40s#%llu", c->link.stream,
               (unsigned long long)meta->Sequence.Stream);
      jsMsgMetaData_Destroy(meta);
    } else {
      snprintf(out->id, sizeof out->id, "%.40s#?", c->link.stream);
    }
  }
  return n;
}

static int nats_ack(mida__consumer *base, mida__consumer_msg *msgs, int n) {
  nats_consumer *c = (nats_consumer *)base;
  for (int i = 0; i < n; i++) {
    natsStatus s = natsMsg_Ack((natsMsg *)msgs[i].handle, NULL);
    if (s != NATS_OK)
      return mida__consumer_fail(base, MIDA_EIO, "ack on %s failed: %s",
                                 c->link.stream, mida__nats_error(s));
  }
  trim_now_and_then(c);
  return MIDA_OK;
}

static void nats_consumer_close(mida__consumer *base) {
  nats_consumer *c = (nats_consumer *)base;
  if (c == NULL)
    return;
  drop_list(c);
  if (c->sub != NULL)
    natsSubscription_Destroy(c->sub);
  link_close(&c->link);
  mida__free(c);
}

/* Gives the group's durable consumer, where it exists with another
 * AckWait, ack_wait_ns: the consumer started last sets --claim-ms for its
 * group, as a consumer restarted to change it expects (a subscription
 * that asks for another AckWait than the durable's is refused). Returns
 * MIDA_OK, or MIDA_EIO with why in err when the server refuses the
 * change; a consumer it cannot read is left to the subscription, which
 * makes it or says what is wrong. */
static int set_ack_wait(nats_consumer *c, const char *group,
                        int64_t ack_wait_ns, char *err, size_t errlen) {
  jsConsumerInfo *ci = NULL;
  jsErrCode jerr = 0;
  if (js_GetConsumerInfo(&ci, c->link.js, c->link.stream, group, NULL,
                         &jerr) != NATS_OK)
    return MIDA_OK;
  int rc = MIDA_OK;
  if (ci->Config != NULL && ci->Config->AckWait != ack_wait_ns) {
    ci->Config->AckWait = ack_wait_ns;
    jsConsumerInfo *updated = NULL;
    natsStatus s = js_UpdateConsumer(&updated, c->link.js, c->link.stream,
                                     ci->Config, NULL, &jerr);
    if (s == NATS_OK) {
      jsConsumerInfo_Destroy(updated);
    } else {
      snprintf(err, errlen,
               "cannot set the AckWait of consumer %s of %s to --claim-ms: "
               "%s",
               group, c->link.stream, mida__nats_error(s));
      rc = MIDA_EIO;
    }
  }
  jsConsumerInfo_Destroy(ci);
  return rc;
}

static int nats_consumer_open(const char *url, const char *group,
                              const char *name, int claim_ms,
                              mida__consumer **out, char *err, size_t errlen) {
  (void)name; /* JetStream names the durable consumer, not its members */
  *out = NULL;
  nats_consumer *c = mida__calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  c->base.methods = &mida__nats_consumer;
  int rc = link_open(&c->link, url, err, errlen);
  if (rc != MIDA_OK) {
    nats_consumer_close(&c->base);
    return rc;
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = c->link.stream;
  so.Config.Durable = group;
  so.Config.AckPolicy = js_AckExplicit;
  so.Config.AckWait = (int64_t)(claim_ms > 0 ? claim_ms : 30000) * 1000000;
  so.Config.MaxAckPending = 20000;
  rc = set_ack_wait(c, group, so.Config.AckWait, err, errlen);
  if (rc != MIDA_OK) {
    nats_consumer_close(&c->base);
    return rc;
  }
  jsErrCode jerr = 0;
  natsStatus s = js_PullSubscribe(&c->sub, c->link.js, c->link.subject, group,
                                  NULL, &so, &jerr);
  if (s != NATS_OK) {
    snprintf(err, errlen, "cannot join consumer %s of %s: %s", group,
             c->link.stream, mida__nats_error(s));
    nats_consumer_close(&c->base);
    return MIDA_EIO;
  }
  *out = &c->base;
  return MIDA_OK;
}

const mida__consumer_methods mida__nats_consumer = {
    "nats", nats_consumer_open, nats_fetch, nats_ack, nats_consumer_close,
};

#endif /* MIDA_HAVE_NATS */
