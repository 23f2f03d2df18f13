/*
 * mqtt.c -- the MQTT broker (libmosquitto), for edge devices:
 * mqtt://[user:password@]host[:port]/topic, and mqtts:// (port 8883 by
 * default) for the same over TLS. A sink for shippers, and a consumer for
 * `mida ingest`.
 *
 * TLS: libmosquitto is given an OpenSSL context of mida's own (tls.h,
 * options: core/tls_opts.h), so that the server's certificate and name are
 * checked as for Redis; the handshake runs on the network thread, whose
 * errors libmosquitto only logs: the log callback keeps them, so that a
 * refused certificate is reported as such.
 *
 * Sink: put_batch encodes the batch into wire messages (wire.h), publishes
 * each at QoS 1 and waits for the broker's PUBACK (the on_publish callback)
 * of every one: MIDA_OK means the broker has taken them all. A PUBACK that
 * does not come within PUBACK_WAIT_MS fails the batch, which stays in the
 * journal.
 *
 * The sink speaks MQTT 5 where libmosquitto can (1.6 and later), so that
 * a PUBACK says whether the broker took the message: under 3.1.1 a broker
 * acknowledges a publish that its ACL denies, and drops it without a word.
 * A reason code of 0x80 or more (0x87: not authorized) fails the batch
 * with MIDA_EDENIED, which the shipper drops and counts, and reports once
 * (sink.h); but 0x95, a message over the broker's size limit, is sent
 * again in smaller messages, down to the one record, which is left out
 * and counted (left_out.h). A success code of 0x10, no matching
 * subscribers, says the broker dropped the message: no `mida ingest` has
 * subscribed to the topic yet (or again, after a broker restart), and the
 * batch fails with MIDA_EBUSY, to be sent again, as to a broker that is
 * down. A broker that refuses MQTT 5 at CONNACK (unsupported protocol
 * version) is spoken to in 3.1.1, where that drop cannot be seen. The
 * consumer stays on 3.1.1: under MQTT 5 its persistent session would end
 * at every disconnect unless it asked for a session expiry interval.
 *
 * Both run their own network thread (net_loop), not mosquitto_loop_start:
 * libmosquitto's own loop gives up for good on some errors (a protocol
 * error while the broker goes down, say), after which the client would sit
 * disconnected forever. Ours reconnects after every error, with backoff,
 * until the client is closed.
 *
 * Consumer: a shared subscription $share/<group>/<topic> at QoS 1, with a
 * persistent session (clean_session false) whose client id is the consumer
 * name. libmosquitto 2.0 has no manual acknowledgement: it sends PUBACK
 * when the message callback returns. So the callback hands the message to
 * `mida ingest` and waits until ingest acknowledges it, i.e. until the
 * store has committed it; only then does it return. What MQTT can and
 * cannot guarantee:
 *   - a message is acknowledged to the broker only after its commit, as
 *     with Redis and NATS;
 *   - a message in flight to a consumer that dies is kept by the broker in
 *     that consumer's session and redelivered when a consumer with the same
 *     --name connects again. It is NOT handed to the other members of the
 *     group (MQTT has no claim), so restart a dead consumer with its name;
 *   - one message is in flight per consumer at a time (the callback blocks),
 *     so MQTT consumers scale by their number, each message being a whole
 *     batch of records;
 *   - whether the broker keeps queued messages across its own restart
 *     depends on its persistence setting (Mosquitto: persistence true).
 */
#include "sink/left_out.h"
#include "sink/sink.h"
#include "sink/wire.h"

#include "core/alloc.h"
#include "core/tls_opts.h"
#include "core/url.h"
#include "mida_config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#if MIDA_HAVE_MOSQUITTO

#include "sink/tls.h"

#include <mosquitto.h>

#define MAX_MESSAGE ((size_t)4 << 20)
#define CONNECT_WAIT_MS 5000
#define PUBACK_WAIT_MS 5000
#define KEEPALIVE_S 60
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 2000

/* MQTT 5, and with it PUBACK reason codes, from libmosquitto 1.6 on. */
#if LIBMOSQUITTO_VERSION_NUMBER >= 1006000
#define MQTT_V5 1
#else
#define MQTT_V5 0
#endif

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void) {
  mosquitto_lib_init();
}

static void deadline_in(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  ts->tv_sec += ts->tv_nsec / 1000000000L;
  ts->tv_nsec %= 1000000000L;
}

/* What the sink and the consumer share: a client, its thread, and the
 * state its callbacks report under lock. */
typedef struct mqtt_client {
  struct mosquitto *mosq; /* the client */
  mida__url url;          /* parsed URL */
  mida__tls_opts tls;     /* mqtts://: TLS options */
  mida__tls_ctx tls_ctx;  /* mqtts://: the context libmosquitto uses */
  const char *scheme;     /* "mqtt" or "mqtts", for messages */
  char topic[256];        /* the topic */
  char sub[400];          /* consumer: $share/group/topic */
  pthread_mutex_t lock;   /* guards the fields below */
  pthread_cond_t changed; /* signalled by every callback */
  int connack;            /* -1 before CONNACK, else its code */
  bool connected;         /* a session is up */
  int last_mid;           /* sink: mid of the message awaited */
  bool acked;             /* sink: its PUBACK came */
  int reason;             /* sink: its PUBACK's reason code (MQTT 5) */
  int protocol;           /* MQTT 5 or MQTT_PROTOCOL_V311 */
  bool stopping;          /* close: the network thread must end */
  bool started;           /* the network thread runs */
  bool tls_failed;        /* a TLS error was logged since connecting */
  char log_error[256];    /* the last error libmosquitto logged */
  pthread_t thread;       /* the network thread */
} mqtt_client;

static void on_connect(struct mosquitto *m, void *obj, int rc) {
  mqtt_client *c = obj;
  pthread_mutex_lock(&c->lock);
  c->connack = rc;
  c->connected = rc == 0;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
  if (rc == 0 && c->sub[0] != '\0')
    mosquitto_subscribe(m, NULL, c->sub, 1);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc) {
  (void)m;
  (void)rc;
  mqtt_client *c = obj;
  pthread_mutex_lock(&c->lock);
  c->connected = false;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

/* A PUBACK, with its reason code (0 under 3.1.1). */
static void on_puback(mqtt_client *c, int mid, int reason) {
  pthread_mutex_lock(&c->lock);
  if (mid == c->last_mid) {
    c->acked = true;
    c->reason = reason;
  }
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

#if MQTT_V5
static void on_publish(struct mosquitto *m, void *obj, int mid, int reason,
                       const mosquitto_property *props) {
  (void)m;
  (void)props;
  on_puback(obj, mid, reason);
}
#else
static void on_publish(struct mosquitto *m, void *obj, int mid) {
  (void)m;
  on_puback(obj, mid, 0);
}
#endif

/* What a CONNACK code says, in the protocol spoken. */
static const char *connack_string(const mqtt_client *c, int connack) {
#if MQTT_V5
  if (c->protocol == MQTT_PROTOCOL_V5)
    return mosquitto_reason_string(connack);
#endif
  (void)c;
  return mosquitto_connack_string(connack);
}

/* Keeps libmosquitto's errors: a TLS handshake that fails on the network
 * thread is reported only here. */
static void on_log(struct mosquitto *m, void *obj, int level, const char *str) {
  (void)m;
  mqtt_client *c = obj;
  if (!(level & MOSQ_LOG_ERR) || str == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  snprintf(c->log_error, sizeof c->log_error, "%s", str);
  if (c->tls.enabled &&
      (strstr(str, "OpenSSL") != NULL || strstr(str, "TLS") != NULL)) {
    c->tls_failed = true;
    pthread_cond_broadcast(&c->changed);
  }
  pthread_mutex_unlock(&c->lock);
}

static bool client_stopping(mqtt_client *c) {
  pthread_mutex_lock(&c->lock);
  bool stopping = c->stopping;
  pthread_mutex_unlock(&c->lock);
  return stopping;
}

/* Sleeps ms, or less if the client is being closed. */
static void nap(mqtt_client *c, int ms) {
  struct timespec until;
  deadline_in(&until, ms);
  pthread_mutex_lock(&c->lock);
  while (!c->stopping &&
         pthread_cond_timedwait(&c->changed, &c->lock, &until) == 0)
    ;
  pthread_mutex_unlock(&c->lock);
}

/* The network thread: runs the client's loop and, whatever error ends a
 * round of it, reconnects with backoff until close. */
static void *net_loop(void *arg) {
  pthread_setname_np(pthread_self(), "mida-mqtt"); /* for top -H, perf */
  mqtt_client *c = arg;
  int backoff = 0;
  while (!client_stopping(c)) {
    int rc = mosquitto_loop(c->mosq, 200, 1);
    if (rc == MOSQ_ERR_SUCCESS) {
      backoff = 0;
      continue;
    }
    if (client_stopping(c))
      break;
    backoff = backoff == 0 ? RECONNECT_MIN_MS : backoff * 2;
    if (backoff > RECONNECT_MAX_MS)
      backoff = RECONNECT_MAX_MS;
    nap(c, backoff);
    if (!client_stopping(c))
      mosquitto_reconnect(c->mosq);
  }
  return NULL;
}

/* Tells the network thread to end and no longer reconnect; first thing
 * on close, before disconnecting. */
static void client_stop(mqtt_client *c) {
  pthread_mutex_lock(&c->lock);
  c->stopping = true;
  pthread_cond_broadcast(&c->changed);
  pthread_mutex_unlock(&c->lock);
}

static void client_close(mqtt_client *c) {
  if (c->mosq != NULL) {
    client_stop(c);
    mosquitto_disconnect(c->mosq);
    if (c->started)
      pthread_join(c->thread, NULL);
    c->started = false;
    mosquitto_destroy(c->mosq);
    c->mosq = NULL;
  }
  mida__tls_ctx_free(&c->tls_ctx); /* after libmosquitto's last use */
  pthread_cond_destroy(&c->changed);
  pthread_mutex_destroy(&c->lock);
}

/* Says why the TLS handshake failed: MIDA_EIO. */
static int tls_failure(mqtt_client *c, char *err, size_t errlen) {
  char logged[256], why[300];
  pthread_mutex_lock(&c->lock);
  snprintf(logged, sizeof logged, "%s",
           c->log_error[0] != '\0' ? c->log_error : "TLS error");
  pthread_mutex_unlock(&c->lock);
  snprintf(err, errlen, "TLS handshake with %s://%s:%d failed: %s", c->scheme,
           c->url.host, c->url.port,
           mida__tls_why(&c->tls_ctx, logged, why, sizeof why));
  return MIDA_EIO;
}

static int client_connect(mqtt_client *c, char *err, size_t errlen);

typedef void (*message_fn)(struct mosquitto *, void *,
                           const struct mosquitto_message *);

/* Reads url into c's URL, TLS options, scheme and topic; a producer's
 * topic (publisher) must hold no wildcard. Returns MIDA_OK or MIDA_EURL
 * with why in err. */
static int read_url(mqtt_client *c, const char *url, bool publisher,
                    char *err, size_t errlen) {
  int default_port = mida__url_scheme_is(url, "mqtts") ? 8883 : 1883;
  if (mida__url_parse(url, default_port, &c->url) != MIDA_OK) {
    char shown[MIDA_URL_SHOWN];
    snprintf(err, errlen,
             "malformed MQTT URL '%s' (want mqtt[s]://[user:password@]host"
             "[:port]/topic)",
             mida__url_redact(url, shown, sizeof shown));
    return MIDA_EURL;
  }
  int rc =
      mida__tls_opts_read(url, c->url.query, "mqtts", &c->tls, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  c->scheme = c->tls.enabled ? "mqtts" : "mqtt";
  snprintf(c->topic, sizeof c->topic, "%s",
           c->url.path[0] != '\0' ? c->url.path : "mida");
  /* A producer publishes to one topic: the broker takes no wildcard
   * there, so that every batch would fail, and stay in the journal, for
   * ever. A configuration error, said at once. (The consumer's filter:
   * shared_subscription.) */
  if (publisher && mosquitto_pub_topic_check(c->topic) != MOSQ_ERR_SUCCESS) {
    snprintf(err, errlen,
             "the MQTT topic '%s' holds a wildcard ('+' or '#'): a producer "
             "publishes to one topic, named whole",
             c->topic);
    return MIDA_EURL;
  }
  return MIDA_OK;
}

static int mqtt_check_url(const char *url, char *err, size_t errlen) {
  mqtt_client c;
  memset(&c, 0, sizeof c);
  return read_url(&c, url, true, err, errlen);
}

/* Connects (client id id, clean or persistent session) and waits for the
 * broker's CONNACK. on_msg (or NULL) is set before connecting, so that no
 * message of a persistent session arrives without it. The callbacks get c.
 */
static int client_open(mqtt_client *c, const char *url, const char *id,
                       bool clean, message_fn on_msg, char *err,
                       size_t errlen) {
  pthread_once(&lib_once, lib_init);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->changed, NULL);
  c->connack = -1;
  int rc = read_url(c, url, on_msg == NULL, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  c->mosq = mosquitto_new(id, clean, c);
  if (c->mosq == NULL) {
    snprintf(err, errlen, "cannot create an MQTT client");
    return MIDA_ENOMEM;
  }
  mosquitto_connect_callback_set(c->mosq, on_connect);
  mosquitto_disconnect_callback_set(c->mosq, on_disconnect);
#if MQTT_V5
  mosquitto_publish_v5_callback_set(c->mosq, on_publish);
#else
  mosquitto_publish_callback_set(c->mosq, on_publish);
#endif
  if (on_msg != NULL)
    mosquitto_message_callback_set(c->mosq, on_msg);
  mosquitto_log_callback_set(c->mosq, on_log);
  mosquitto_threaded_set(c->mosq, true);
  if (c->tls.enabled) {
    rc = mida__tls_ctx_init(&c->tls_ctx, &c->tls, c->url.host, err, errlen);
    if (rc != MIDA_OK)
      return rc;
    /* Ours as it is: libmosquitto's defaults (on unless told) would
     * replace its verification. */
    if (mosquitto_void_option(c->mosq, MOSQ_OPT_SSL_CTX, c->tls_ctx.ctx) !=
            MOSQ_ERR_SUCCESS ||
        mosquitto_int_option(c->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0) !=
            MOSQ_ERR_SUCCESS) {
      snprintf(err, errlen, "this libmosquitto cannot do TLS");
      return MIDA_EUNSUPPORTED;
    }
  }
  if (c->url.user[0] != '\0')
    mosquitto_username_pw_set(c->mosq, c->url.user,
                              c->url.password[0] ? c->url.password : NULL);
  c->protocol = MQTT_PROTOCOL_V311;
#if MQTT_V5
  if (on_msg == NULL && /* the sink */
      mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                           MQTT_PROTOCOL_V5) == MOSQ_ERR_SUCCESS)
    c->protocol = MQTT_PROTOCOL_V5;
#endif
  return client_connect(c, err, errlen);
}

/* Whether connack refuses the protocol version: 0x84 in MQTT 5, 1 from a
 * broker that knows only 3.1 or 3.1.1. */
static bool protocol_refused(const mqtt_client *c, int connack) {
  return c->protocol == MQTT_PROTOCOL_V5 && (connack == 0x84 || connack == 1);
}

/* Connects c (made by client_open), starts its network thread and waits
 * for the broker's CONNACK; once more in 3.1.1 if the broker refuses
 * MQTT 5. */
static int client_connect(mqtt_client *c, char *err, size_t errlen) {
  int rc = mosquitto_connect(c->mosq, c->url.host, c->url.port, KEEPALIVE_S);
  if (rc == MOSQ_ERR_TLS)
    return tls_failure(c, err, errlen);
  if (rc != MOSQ_ERR_SUCCESS) {
    pthread_mutex_lock(&c->lock);
    snprintf(err, errlen, "cannot connect to %s://%s:%d: %s%s%s%s", c->scheme,
             c->url.host, c->url.port,
             rc == MOSQ_ERR_ERRNO ? "connection refused or unreachable"
                                  : mosquitto_strerror(rc),
             c->log_error[0] != '\0' ? " (" : "", c->log_error,
             c->log_error[0] != '\0' ? ")" : "");
    pthread_mutex_unlock(&c->lock);
    return rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_NO_CONN ? MIDA_EUNREACHABLE
                                                          : MIDA_EIO;
  }
  if (pthread_create(&c->thread, NULL, net_loop, c) != 0) {
    snprintf(err, errlen, "cannot start the MQTT network thread");
    return MIDA_EIO;
  }
  c->started = true;
  struct timespec until;
  deadline_in(&until, CONNECT_WAIT_MS);
  pthread_mutex_lock(&c->lock);
  while (c->connack < 0 && !c->tls_failed &&
         pthread_cond_timedwait(&c->changed, &c->lock, &until) == 0)
    ;
  int connack = c->connack;
  bool tls_failed = c->tls_failed;
  pthread_mutex_unlock(&c->lock);
  if (connack < 0 && tls_failed)
    return tls_failure(c, err, errlen);
  if (protocol_refused(c, connack)) {
    client_stop(c);
    mosquitto_disconnect(c->mosq);
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&c->lock);
    c->started = c->stopping = false;
    c->connack = -1;
    pthread_mutex_unlock(&c->lock);
    c->protocol = MQTT_PROTOCOL_V311;
    mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                         MQTT_PROTOCOL_V311);
    return client_connect(c, err, errlen);
  }
  if (connack != 0) {
    snprintf(err, errlen, "%s://%s:%d refused the connection: %s", c->scheme,
             c->url.host, c->url.port,
             connack >= 0 ? connack_string(c, connack)
             : c->tls.enabled
                 ? "no CONNACK in time (does the server speak TLS on this "
                   "port?)"
                 : "no CONNACK in time");
    return connack < 0 ? MIDA_EUNREACHABLE : MIDA_EIO;
  }
  return MIDA_OK;
}

/* ---- the sink ------------------------------------------------------------ */

typedef struct mqtt_sink {
  mida__sink base;        /* common head; must be first */
  mqtt_client c;          /* the client */
  uint64_t sender;        /* wire sender id */
  uint64_t seq;           /* wire messages sent */
  mida__buf msg;          /* a message being encoded */
  mida__left_out too_big; /* records left out for their size (left_out.h) */
  bool refused_for_size;  /* the last PUBACK said the message was too large,
                             after which Mosquitto closes the connection */
} mqtt_sink;

/* MQTT 5's PUBACK reason code for a message over the broker's size limit
 * (mosquitto's message_size_limit). */
#define REASON_PACKET_TOO_LARGE 0x95

/* MQTT 5's PUBACK reason code for a message that matched no subscription:
 * the broker took it and dropped it. Mosquitto says so before the first
 * `mida ingest` of the topic has subscribed (its persistent session keeps
 * the subscription from then on, while it is away too), and after a
 * restart that forgot the shared subscriptions until the consumers
 * subscribe again. */
#define REASON_NO_MATCHING_SUBSCRIBERS 0x10

/* Whether mosquitto_publish refused msg before sending it: larger than the
 * maximum packet size the broker announced at CONNACK (MQTT 5). */
static bool oversize_for_client(int mrc) {
#if LIBMOSQUITTO_VERSION_NUMBER >= 1006000
  return mrc == MOSQ_ERR_OVERSIZE_PACKET;
#else
  (void)mrc;
  return false;
#endif
}

/* Publishes msg at QoS 1 and waits for its PUBACK (mida__publish_fn): a
 * message over the broker's size limit is MIDA_ETOOBIG, which no retry
 * mends; another refusal (0x87: not authorized) MIDA_EDENIED; a message
 * that no one subscribed to MIDA_EBUSY, so that the batch stays in the
 * journal and is sent again until a consumer has subscribed. */
static int publish_message(mida__sink *base, const mida__buf *msg) {
  mqtt_sink *s = (mqtt_sink *)base;
  /* One message in flight at a time: its mid is set under the lock
   * before the PUBACK can be seen. */
  pthread_mutex_lock(&s->c.lock);
  struct timespec until;
  if (s->refused_for_size) {
    /* Mosquitto closes the connection of a client that sent a message
     * over its limit: the next message waits for the network thread to
     * connect again, rather than fail the batch and have the record left
     * out sent, refused and counted again. */
    deadline_in(&until, CONNECT_WAIT_MS);
    while (!s->c.connected &&
           pthread_cond_timedwait(&s->c.changed, &s->c.lock, &until) == 0)
      ;
    s->refused_for_size = false;
  }
  int mid = 0;
  s->c.acked = false;
  s->c.reason = 0;
  int mrc = mosquitto_publish(s->c.mosq, &mid, s->c.topic, (int)msg->len,
                              msg->ptr, 1, false);
  s->c.last_mid = mid;
  deadline_in(&until, PUBACK_WAIT_MS);
  while (mrc == MOSQ_ERR_SUCCESS && !s->c.acked &&
         pthread_cond_timedwait(&s->c.changed, &s->c.lock, &until) == 0)
    ;
  bool acked = s->c.acked;
  int reason = s->c.reason;
  s->c.last_mid = -1;
  pthread_mutex_unlock(&s->c.lock);
  if (oversize_for_client(mrc))
    return mida__sink_fail(base, MIDA_ETOOBIG, "%s",
                           mosquitto_strerror(mrc));
  s->refused_for_size = acked && reason == REASON_PACKET_TOO_LARGE;
  if (s->refused_for_size)
    return mida__sink_fail(base, MIDA_ETOOBIG, "%s (MQTT reason code 0x%02X)",
                           connack_string(&s->c, reason), (unsigned)reason);
  if (acked && reason >= 0x80)
    return mida__sink_fail(
        base, MIDA_EDENIED,
        "%s://%s:%d/%s refused to take records: %s (MQTT reason code "
        "0x%02X); check the broker's ACL for this user and topic",
        s->c.scheme, s->c.url.host, s->c.url.port, s->c.topic,
        connack_string(&s->c, reason), (unsigned)reason);
  if (acked && reason == REASON_NO_MATCHING_SUBSCRIBERS)
    return mida__sink_fail(
        base, MIDA_EBUSY,
        "%s://%s:%d/%s has no subscriber: the broker dropped the batch (MQTT "
        "reason code 0x10); the records wait in the journal until a `mida "
        "ingest` of this topic has subscribed",
        s->c.scheme, s->c.url.host, s->c.url.port, s->c.topic);
  if (!acked)
    return mida__sink_fail(
        base, MIDA_EIO, "%s://%s:%d/%s did not acknowledge a batch: %s",
        s->c.scheme, s->c.url.host, s->c.url.port, s->c.topic,
        mrc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(mrc)
                                : "no PUBACK in time");
  return MIDA_OK;
}

/* Publishes a batch as messages of at most MAX_MESSAGE; a record over the
 * broker's size limit is left out and counted (left_out.h), the others
 * published. */
static int mqtt_put_batch(mida__sink *base, const mida__rec *recs, size_t n,
                          const mida__origin *origin) {
  mqtt_sink *s = (mqtt_sink *)base;
  char where[600];
  snprintf(where, sizeof where, "%s://%s:%d/%s", s->c.scheme, s->c.url.host,
           s->c.url.port, s->c.topic);
  return mida__left_out_publish(&s->too_big, base, recs, n, origin,
                                MAX_MESSAGE, s->sender, &s->seq, &s->msg,
                                publish_message, where);
}

static void mqtt_sink_close(mida__sink *base) {
  mqtt_sink *s = (mqtt_sink *)base;
  if (s == NULL)
    return;
  client_close(&s->c);
  mida__buf_free(&s->msg);
  mida__free(s);
}

static int mqtt_sink_open(const char *url, int flags, mida__sink **out,
                          char *err, size_t errlen) {
  (void)flags; /* READONLY is refused for brokers in sink.c */
  *out = NULL;
  mqtt_sink *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  s->base.methods = &mida__mqtt_sink;
  mida__buf_init(&s->msg, MAX_MESSAGE * 2);
  s->sender = mida__wire_sender_id();
  int rc = client_open(&s->c, url, NULL, true, NULL, err, errlen);
  if (rc != MIDA_OK) {
    mqtt_sink_close(&s->base);
    return rc;
  }
  *out = &s->base;
  return MIDA_OK;
}

const mida__sink_methods mida__mqtt_sink = {
    "mqtt", mqtt_sink_open,  mqtt_put_batch, NULL,
    NULL,   mqtt_sink_close, NULL,           NULL,
    NULL,           /* process_init */
    NULL,           /* settle */
    NULL,           /* moved */
    mqtt_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

const mida__sink_methods mida__mqtts_sink = {
    "mqtts", mqtt_sink_open,  mqtt_put_batch, NULL,
    NULL,    mqtt_sink_close, NULL,           NULL,
    NULL,           /* process_init */
    NULL,           /* settle */
    NULL,           /* moved */
    mqtt_check_url, /* check_url */
    NULL, /* snapshot: a broker answers no queries */
};

/* ---- the consumer -------------------------------------------------------- */

typedef struct mqtt_consumer {
  mida__consumer base; /* common head; must be first */
  mqtt_client c;       /* the client; its lock guards the fields below */
  void *data;          /* the message handed to ingest (a copy) */
  size_t len;          /* its bytes */
  uint64_t count;      /* messages received, for ids */
  bool waiting;        /* a message is handed over, not yet acked */
  bool done;           /* ingest acknowledged it */
  bool closing;        /* close() called: release the callback */
} mqtt_consumer;

/* Runs on libmosquitto's thread: hands the message over and returns --
 * which sends PUBACK -- only once ingest has committed and acknowledged
 * it. */
static void on_message(struct mosquitto *m, void *obj,
                       const struct mosquitto_message *msg) {
  (void)m;
  mqtt_consumer *k =
      (mqtt_consumer *)((char *)obj - offsetof(mqtt_consumer, c));
  void *copy = mida__malloc(msg->payloadlen > 0 ? (size_t)msg->payloadlen : 1);
  pthread_mutex_lock(&k->c.lock);
  if (copy != NULL && msg->payloadlen > 0)
    memcpy(copy, msg->payload, (size_t)msg->payloadlen);
  k->data = copy;
  k->len = copy != NULL ? (size_t)msg->payloadlen : 0;
  k->count++;
  k->waiting = true;
  k->done = false;
  pthread_cond_broadcast(&k->c.changed);
  while (!k->done && !k->closing)
    pthread_cond_wait(&k->c.changed, &k->c.lock);
  k->waiting = false;
  k->data = NULL;
  pthread_mutex_unlock(&k->c.lock);
  mida__free(copy);
}

static int mqtt_fetch(mida__consumer *base, mida__consumer_msg *msgs, int max,
                      int timeout_ms) {
  mqtt_consumer *k = (mqtt_consumer *)base;
  if (max < 1)
    return 0;
  struct timespec until;
  deadline_in(&until, timeout_ms);
  pthread_mutex_lock(&k->c.lock);
  while (!(k->waiting && !k->done) &&
         pthread_cond_timedwait(&k->c.changed, &k->c.lock, &until) == 0)
    ;
  int n = 0;
  if (k->waiting && !k->done) {
    msgs[0].data = k->data != NULL ? k->data : "";
    msgs[0].len = k->len;
    msgs[0].handle = NULL;
    snprintf(msgs[0].id, sizeof msgs[0].id, "%.40s#%llu", k->c.topic,
             (unsigned long long)k->count);
    n = 1;
  }
  pthread_mutex_unlock(&k->c.lock);
  return n;
}

static int mqtt_ack(mida__consumer *base, mida__consumer_msg *msgs, int n) {
  (void)msgs;
  mqtt_consumer *k = (mqtt_consumer *)base;
  if (n <= 0)
    return MIDA_OK;
  pthread_mutex_lock(&k->c.lock);
  k->done = true;
  pthread_cond_broadcast(&k->c.changed);
  pthread_mutex_unlock(&k->c.lock);
  return MIDA_OK;
}

static void mqtt_consumer_close(mida__consumer *base) {
  mqtt_consumer *k = (mqtt_consumer *)base;
  if (k == NULL)
    return;
  if (k->c.mosq != NULL) {
    /* Disconnect first, with reconnection off: a message not acknowledged
     * by ingest must not get its PUBACK when the callback is released. */
    client_stop(&k->c);
    mosquitto_disconnect(k->c.mosq);
    pthread_mutex_lock(&k->c.lock);
    k->closing = true;
    pthread_cond_broadcast(&k->c.changed);
    pthread_mutex_unlock(&k->c.lock);
  }
  client_close(&k->c);
  mida__free(k);
}

/* Writes to sub (sublen bytes) the shared subscription
 * $share/<group>/<topic> of the consumers of group. Returns MIDA_OK, or
 * MIDA_EINVAL with why in err when none can be made of them: a group is
 * not empty and holds no '/', '+' or '#' (MQTT 5, 4.8.2: Mosquitto reads
 * $share/a/b/t as group a of topic b/t), and the topic is a filter that
 * MQTT takes ('a/+', not 'a+b'). A subscription the broker does not take
 * would leave the consumer applying nothing while the broker
 * acknowledges, and drops, what the producers publish. */
static int shared_subscription(const char *group, const char *topic,
                               char *sub, size_t sublen, char *err,
                               size_t errlen) {
  if (group[0] == '\0' || strpbrk(group, "/+#") != NULL) {
    snprintf(err, errlen,
             "consumer group '%.64s' cannot name an MQTT shared subscription "
             "($share/<group>/<topic>): a group is not empty and holds no "
             "'/', '+' or '#'",
             group);
    return MIDA_EINVAL;
  }
  if (mosquitto_sub_topic_check(topic) != MOSQ_ERR_SUCCESS) {
    snprintf(err, errlen,
             "the MQTT topic '%s' is not one a consumer can subscribe to: a "
             "wildcard ('+' or '#') takes a whole level",
             topic);
    return MIDA_EINVAL;
  }
  int n = snprintf(sub, sublen, "$share/%s/%s", group, topic);
  if (n < 0 || (size_t)n >= sublen) {
    snprintf(err, errlen, "consumer group '%.64s...' is too long", group);
    return MIDA_EINVAL;
  }
  return MIDA_OK;
}

static int mqtt_consumer_open(const char *url, const char *group,
                              const char *name, int claim_ms,
                              mida__consumer **out, char *err, size_t errlen) {
  (void)claim_ms; /* MQTT has no claim: see the top of this file */
  *out = NULL;
  /* The subscription, set before connecting: on_connect subscribes. A URL
   * that does not parse leaves it empty: client_open says why. */
  char sub[sizeof ((mqtt_client *)NULL)->sub] = "";
  mida__url u;
  if (mida__url_parse(url, 1883, &u) == MIDA_OK) {
    int rc = shared_subscription(group, u.path[0] != '\0' ? u.path : "mida",
                                 sub, sizeof sub, err, errlen);
    if (rc != MIDA_OK)
      return rc;
  }
  mqtt_consumer *k = mida__calloc(1, sizeof *k);
  if (k == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  k->base.methods = &mida__mqtt_consumer;
  memcpy(k->c.sub, sub, sizeof sub);
  int rc = client_open(&k->c, url, name, false, on_message, err, errlen);
  if (rc != MIDA_OK) {
    mqtt_consumer_close(&k->base);
    return rc;
  }
  *out = &k->base;
  return MIDA_OK;
}

const mida__consumer_methods mida__mqtt_consumer = {
    "mqtt", mqtt_consumer_open, mqtt_fetch, mqtt_ack, mqtt_consumer_close,
};

#endif /* MIDA_HAVE_MOSQUITTO */
