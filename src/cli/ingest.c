/*
 * ingest.c -- `mida ingest --from BROKER_URL --to STORE_URL`: a consumer
 * that moves records from a broker (Redis Streams, NATS JetStream, MQTT)
 * into a store (PostgreSQL, SQLite).
 *
 * Several `mida ingest` processes with the same --group share one stream:
 * the broker gives each message to one of them (wire.h, the consumers).
 * Each round fetches up to --batch messages (fewer while they are large:
 * next_round_size), checks and decodes them,
 * applies their records with mida__sink_put_batch() -- one transaction per
 * producing process among them, since a batch has one origin -- makes them
 * all durable at once (the store defers durability to mida__sink_sync,
 * sink.h: one wait for the disk a round, not one a transaction) and only
 * then acknowledges them. A consumer killed between commit and
 * acknowledgement gets its messages redelivered (to itself on restart, or
 * claimed by another consumer after --claim-ms); applying them again
 * changes nothing, because the store's merge is idempotent.
 *
 * Bad input: a message that is not a valid mida wire message (foreign
 * data, wrong version, bad CRC, bad lengths) is never applied; it is
 * counted, named on stderr the first time each reason occurs, recorded in
 * the store as the COUNTER "wire_rejected" of this consumer (visible in
 * `mida stats`), and acknowledged so that it does not come back forever.
 *
 * Outages: while the store fails, nothing is acknowledged; the same
 * messages are retried with backoff (doubling to 2 s) until the store
 * returns. While the broker fails, the consumer reconnects with backoff,
 * saying each new reason once (say_new_reason); a broker or a store that
 * cannot be reached or is not ready (Redis loading its data, PostgreSQL
 * starting) at the start is waited for the same way (ingest_connect.h).
 * SIGINT and SIGTERM stop it cleanly between rounds; what was fetched but
 * not committed is left unacknowledged for redelivery.
 */
#include "cli/cli.h"
#include "cli/ingest_connect.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/host.h"
#include "core/plural.h"
#include "core/url.h"
#include "mida.h"
#include "sink/wire.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGES 256
#define MAX_BACKOFF_MS 2000

/* About how many records a round takes at most, however many messages
 * --batch allows: with large messages (a shipper's full batch is 4,096
 * records) a round of 64 of them could hold most of a backlog, and one
 * consumer then worked through it while the others had nothing left to
 * fetch. Small messages still fill a round up to --batch, so that the wait
 * for the disk at its end (mida__sink_sync) stays shared by many. */
#define ROUND_RECORDS 16384

static const char ingest_help[] =
    "usage: mida ingest --from BROKER_URL [--to STORE_URL] [--group G]\n"
    "                   [--name N] [--claim-ms MS] [--batch N]\n"
    "                   [--idle-exit S] [--quiet]\n"
    "\n"
    "Reads the records that shippers published to a broker and applies them\n"
    "to a store, acknowledging each message only after the store committed\n"
    "it. Start several with the same --group to share the load; messages a\n"
    "dead consumer left unacknowledged go to the others after --claim-ms.\n"
    "Runs until SIGINT or SIGTERM. A broker that cannot be reached (not up\n"
    "yet, restarting) or is not ready (Redis loading its data) is waited\n"
    "for, at start as later, with an attempt about every second; what\n"
    "waiting cannot mend (a bad URL, a refused login or certificate) fails\n"
    "at once, with exit status 1.\n"
    "\n"
    "options:\n"
    "  --from URL     redis://host:port/stream, nats://host:port/subject,\n"
    "                 mqtt://host:port/topic; over TLS rediss://, tls://,\n"
    "                 mqtts://, with ?ca=&cert=&key=&sni= or MIDA_TLS_*\n"
    "  --to URL       the store (default: --store, $MIDA_STORE)\n"
    "  --group G      consumer group (default: mida)\n"
    "  --name N       this consumer's name (default: host-pid); reuse it\n"
    "                 after a restart to take back its pending messages\n"
    "  --claim-ms MS  claim messages left pending this long (default "
    "30000)\n"
    "  --batch N      messages per round at most, 1..256 (default 64);\n"
    "                 fewer when they hold over ~16,384 records\n"
    "  --idle-exit S  exit after S seconds without messages (for scripts);\n"
    "                 a broker not reached in S seconds: exit status 1\n"
    "  --quiet        no summary line at exit\n"
    "\n"
    "example:\n"
    "  mida ingest --from redis://broker:6379/mida \\\n"
    "      --to postgresql://db/mida --group mida\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

typedef struct ingest {
  mida__sink *store;                     /* where records go */
  mida__consumer *src;                   /* where they come from */
  mida__consumer_msg msgs[MAX_MESSAGES]; /* one round's messages */
  mida__wire_msg heads[MAX_MESSAGES];    /* their headers */
  int valid[MAX_MESSAGES];               /* 1 when a message decodes */
  int done[MAX_MESSAGES];                /* scratch: grouped already */
  mida__rec *recs;                       /* decoded records of one group */
  size_t recs_cap;                       /* entries at recs */
  uint64_t applied;                      /* records committed */
  uint64_t messages;                     /* valid messages acknowledged */
  uint64_t rejected;                     /* messages rejected */
  uint64_t logged_reasons; /* bit r: reason r was already logged */
  char host[256];          /* this consumer's host, for its counter */
  int quiet;               /* --quiet */
} ingest;

/* Decodes message i into recs from *nrecs on, growing recs as needed. */
static int decode_into(ingest *g, int i, size_t *nrecs, int *reason) {
  for (;;) {
    int rc = mida__wire_decode(g->msgs[i].data, g->msgs[i].len, &g->heads[i],
                               g->recs, g->recs_cap, nrecs, reason);
    if (rc != MIDA_ETOOBIG)
      return rc;
    size_t want = g->recs_cap ? g->recs_cap * 2 : 8192;
    while (want < *nrecs + g->heads[i].count)
      want *= 2;
    mida__rec *p = mida__realloc(g->recs, want * sizeof *p);
    if (p == NULL)
      return MIDA_ENOMEM;
    g->recs = p;
    g->recs_cap = want;
  }
}

/* Checks every message of the round; counts and logs rejections. */
static int check_round(ingest *g, int n) {
  for (int i = 0; i < n; i++) {
    size_t nrecs = 0;
    int reason = 0;
    int rc = decode_into(g, i, &nrecs, &reason);
    if (rc == MIDA_ENOMEM)
      return rc;
    g->valid[i] = rc == MIDA_OK;
    if (rc == MIDA_OK)
      continue;
    g->rejected++;
    if (!(g->logged_reasons & (1ull << reason))) {
      g->logged_reasons |= 1ull << reason;
      mida__cli_note(
              "mida ingest: skipped message %s: %s (further messages "
              "rejected for this reason are counted, not logged)\n",
              g->msgs[i].id, mida__wire_reason_name(reason));
    }
  }
  return MIDA_OK;
}

/* Applies the valid messages of a round, one transaction per origin. */
static int apply_round(ingest *g, int n, uint64_t *records) {
  *records = 0;
  memset(g->done, 0, sizeof g->done);
  for (int i = 0; i < n; i++) {
    if (!g->valid[i] || g->done[i])
      continue;
    size_t nrecs = 0;
    int reason = 0;
    for (int k = i; k < n; k++) {
      if (!g->valid[k] || g->done[k] || g->heads[k].pid != g->heads[i].pid ||
          strcmp(g->heads[k].host, g->heads[i].host) != 0)
        continue;
      int rc = decode_into(g, k, &nrecs, &reason);
      if (rc != MIDA_OK)
        return rc;
      g->done[k] = 1;
    }
    mida__origin origin = {g->heads[i].host, g->heads[i].pid};
    int rc = mida__sink_put_batch(g->store, g->recs, nrecs, &origin);
    if (rc != MIDA_OK)
      return rc;
    *records += nrecs;
  }
  return MIDA_OK;
}

/* Stores this consumer's rejection count as a COUNTER record. */
static int store_rejected(ingest *g) {
  mida__rec rec; /* host and pid come from the origin */
  mida__rec_counter(&rec, NULL, 0, "wire_rejected", (int64_t)g->rejected);
  mida__origin origin = {g->host, (int64_t)getpid()};
  return mida__sink_put_batch(g->store, &rec, 1, &origin);
}

/* How many messages the next round fetches, 1..batch: as many as held
 * about ROUND_RECORDS records in this round's valid messages, and at most
 * twice as many as this round fetched, so that a few small messages at
 * the start (a shipper's first, partial batches) do not open the next
 * round to a whole backlog of large ones. */
static int next_round_size(const ingest *g, int n, int batch) {
  uint64_t records = 0;
  for (int i = 0; i < n; i++)
    if (g->valid[i])
      records += g->heads[i].count;
  uint64_t want = 2 * (uint64_t)n;
  if (records > 0) {
    uint64_t fit =
        ((uint64_t)ROUND_RECORDS * (uint64_t)n + records - 1) / records;
    if (fit < want)
      want = fit;
  }
  return want > (uint64_t)batch ? batch : (int)want;
}

/* Prints the broker consumer's note, if it has one, and clears it. */
static void say_broker_note(ingest *g) {
  if (g->src->note[0] == '\0')
    return;
  mida__cli_note("mida ingest: broker: %s\n", g->src->note);
  g->src->note[0] = '\0';
}

/* Says why a broker or store call failed, unless that is the reason said
 * last (said, len bytes, "" for none), which it then becomes: a reason
 * that lasts is said once however long it lasts, and each new one (a cut
 * connection, then a refused one, then a Redis loading its data) when it
 * comes. */
static void say_new_reason(char *said, size_t len, const char *what,
                           const char *why, const char *doing) {
  if (strncmp(why, said, len - 1) == 0)
    return;
  mida__cli_note("mida ingest: %s: %s (%s)\n", what, why, doing);
  snprintf(said, len, "%s", why);
}

static int run_loop(ingest *g, int batch, int idle_exit_s) {
  uint64_t stored_rejected = 0;
  int broker_backoff = 0;
  char broker_said[512] = ""; /* the broker's failure last said */
  int64_t last_message = mida__monotonic_ms();
  int want = 1; /* messages to fetch next (next_round_size) */
  while (!stop_requested) {
    int n = g->src->methods->fetch(g->src, g->msgs, want, 1000);
    if (n < 0) {
      broker_backoff = broker_backoff ? broker_backoff * 2 : 50;
      if (broker_backoff > MAX_BACKOFF_MS)
        broker_backoff = MAX_BACKOFF_MS;
      say_new_reason(broker_said, sizeof broker_said, "broker", g->src->errmsg,
                     "retrying");
      mida__sleep_ms(broker_backoff);
      continue;
    }
    if (broker_said[0] != '\0')
      mida__cli_note("mida ingest: broker: reading again\n");
    broker_said[0] = '\0';
    broker_backoff = 0;
    say_broker_note(g);
    if (n == 0) {
      if (idle_exit_s > 0 &&
          mida__monotonic_ms() - last_message > (int64_t)idle_exit_s * 1000)
        break;
      continue;
    }
    last_message = mida__monotonic_ms();
    int rc = check_round(g, n);
    if (rc != MIDA_OK)
      return mida__cli_fail("ingest: %s", mida_strerror(rc));
    want = next_round_size(g, n, batch);
    /* Apply, retrying while the store fails; acknowledge only after. */
    int store_backoff = 0;
    uint64_t records = 0;
    char said[512] = ""; /* the store's failure last said in this round */
    for (;;) {
      rc = apply_round(g, n, &records);
      if (rc == MIDA_OK && g->rejected > stored_rejected)
        rc = store_rejected(g);
      if (rc == MIDA_OK)
        rc = mida__sink_sync(g->store);
      if (rc == MIDA_OK)
        break;
      if (rc == MIDA_ENOMEM)
        return mida__cli_fail("ingest: %s", mida_strerror(rc));
      /* The one that keeps the round from going through may not be the
       * first reason (a cut connection, then a new session that takes no
       * writes). */
      say_new_reason(said, sizeof said, "store", mida__sink_errmsg(g->store),
                     "retrying, not acknowledging");
      store_backoff = store_backoff ? store_backoff * 2 : 50;
      if (store_backoff > MAX_BACKOFF_MS)
        store_backoff = MAX_BACKOFF_MS;
      if (stop_requested)
        return MIDA_CLI_OK; /* unacknowledged: redelivered later */
      mida__sleep_ms(store_backoff);
    }
    stored_rejected = g->rejected;
    g->applied += records;
    /* Records the store refused on their own were left out and counted
     * (counter refused): said once a round that had any. */
    char notice[512];
    if (mida__sink_take_notice(g->store, notice, sizeof notice))
      mida__cli_note("mida ingest: store: %s\n", notice);
    rc = g->src->methods->ack(g->src, g->msgs, n);
    if (rc != MIDA_OK) {
      /* Committed but not acknowledged: redelivered, applied again,
       * harmlessly. */
      mida__cli_note( "mida ingest: acknowledgement failed: %s\n",
              g->src->errmsg);
      continue;
    }
    /* The rejected ones were acknowledged too, but counted apart: the
     * summary's "from M messages applied, R rejected" adds up to what was
     * taken. */
    for (int i = 0; i < n; i++)
      g->messages += (uint64_t)g->valid[i];
    say_broker_note(g);
  }
  return MIDA_CLI_OK;
}

int mida__cli_ingest(mida__cli *cli, int argc, char **argv) {
  const char *from = NULL, *to = NULL, *group = "mida", *name = NULL;
  const char *claim = NULL, *batch_text = NULL, *idle_text = NULL;
  int quiet = 0;
  const mida__cli_opt opts[] = {
      {"--from", NULL, &from, NULL},
      {"--to", NULL, &to, NULL},
      {"--group", NULL, &group, NULL},
      {"--name", NULL, &name, NULL},
      {"--claim-ms", NULL, &claim, NULL},
      {"--batch", NULL, &batch_text, NULL},
      {"--idle-exit", NULL, &idle_text, NULL},
      {"--quiet", NULL, NULL, &quiet},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "ingest", ingest_help, opts, argc, argv, NULL,
                           0, 0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (from == NULL)
    return mida__cli_usage_error("ingest", "--from BROKER_URL is required");
  /* An empty one is most likely a shell variable that was not set; NATS
   * would take an empty group for no durable consumer at all. */
  if (group[0] == '\0')
    return mida__cli_usage_error("ingest", "--group needs a name");
  if (name != NULL && name[0] == '\0')
    return mida__cli_usage_error("ingest", "--name needs a name");
  long long claim_ms = 30000, batch = 64, idle_exit = 0;
  if (claim != NULL && (mida__cli_parse_count(claim, &claim_ms) != 0 ||
                        claim_ms < 1 || claim_ms > 86400000))
    return mida__cli_usage_error("ingest", "--claim-ms needs 1..86400000");
  if (batch_text != NULL && (mida__cli_parse_count(batch_text, &batch) != 0 ||
                             batch < 1 || batch > MAX_MESSAGES))
    return mida__cli_usage_error("ingest", "--batch needs 1..%d", MAX_MESSAGES);
  if (idle_text != NULL &&
      (mida__cli_parse_count(idle_text, &idle_exit) != 0 || idle_exit > 86400))
    return mida__cli_usage_error("ingest", "--idle-exit needs seconds");
  if (to == NULL)
    to = cli->store;
  ex = mida__cli_check_store(to);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;

  ingest *g = mida__calloc(1, sizeof *g);
  if (g == NULL)
    return mida__cli_fail("out of memory");
  g->quiet = quiet;
  snprintf(g->host, sizeof g->host, "%s", mida__hostname());
  char defname[300];
  if (name == NULL) {
    snprintf(defname, sizeof defname, "%s-%ld", g->host, (long)getpid());
    name = defname;
  }
  char to_shown[MIDA_URL_SHOWN];
  mida__url_redact(to, to_shown, sizeof to_shown);

  /* Set before the store and the broker are waited for: a stop while
   * waiting is a stop. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  ex = mida__ingest_open_store(to, (int)idle_exit, &stop_requested,
                               &g->store);
  if (ex != MIDA_CLI_CONTINUE) {
    if (ex == MIDA_CLI_OK && !g->quiet)
      mida__cli_note("mida ingest: stopped before the store could be "
                     "opened");
    mida__free(g);
    return ex;
  }
  if (g->store->methods->query == NULL) {
    mida__sink_close(g->store);
    mida__free(g);
    return mida__cli_fail("--to %s is a broker, not a store", to_shown);
  }

  ex = mida__ingest_connect(from, group, name, (int)claim_ms, (int)idle_exit,
                            &stop_requested, &g->src);
  if (ex == MIDA_CLI_OK && !g->quiet)
    mida__cli_note("mida ingest: stopped before the broker could be reached");
  if (ex == MIDA_CLI_CONTINUE) {
    /* Each round is acknowledged after one mida__sink_sync (run_loop). */
    mida__sink_defer(g->store, 1);
    ex = run_loop(g, (int)batch, (int)idle_exit);
    if (!g->quiet)
      mida__cli_note(
          "mida ingest: %llu record%s from %llu message%s applied, %llu "
          "message%s rejected\n",
          (unsigned long long)g->applied, mida__plural_s(g->applied),
          (unsigned long long)g->messages, mida__plural_s(g->messages),
          (unsigned long long)g->rejected, mida__plural_s(g->rejected));
    g->src->methods->close(g->src);
  }
  mida__sink_close(g->store);
  mida__free(g->recs);
  mida__free(g);
  return ex;
}
