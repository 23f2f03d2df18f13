/*
 * ingest_connect.h -- how `mida ingest` opens its broker consumer and its
 * store (ingest_connect.c): one that cannot be reached yet is waited for,
 * as a broker or store that goes away while ingest runs is (ingest.c's
 * run_loop), so that a consumer may start before its broker or its
 * PostgreSQL (a service ordering, a server restarting, a node booting).
 *
 * Only "cannot be reached" (MIDA_EUNREACHABLE: no connection, no answer in
 * time) and "not ready" (MIDA_EBUSY: a Redis that answers LOADING while it
 * reads its data after a restart, or BUSY, MASTERDOWN, TRYAGAIN; a
 * PostgreSQL starting, recovering or shutting down) are waited for. What
 * a retry cannot mend -- a malformed URL, a scheme this build does not
 * read, TLS options that do not fit, a server that refuses the client
 * (authentication, a certificate, an ACL, a database that does not
 * exist) -- is said at once, as before.
 */
#ifndef MIDA_CLI_INGEST_CONNECT_H
#define MIDA_CLI_INGEST_CONNECT_H

#include "sink/sink.h"
#include "sink/wire.h"

#include <signal.h>

/* The longest wait between two attempts, in ms. */
#define MIDA_INGEST_CONNECT_MAX_WAIT_MS 1000

/* Opens the consumer of url (mida__consumer_open's group, name, claim_ms)
 * into *out, trying again with a backoff of up to
 * MIDA_INGEST_CONNECT_MAX_WAIT_MS while the broker cannot be reached or is
 * not ready; each of the two is said once on stderr, with url redacted,
 * and why (a Redis "loading its data"). It stops waiting when *stop is set
 * (a signal handler's flag) or, when give_up_s > 0, after give_up_s
 * seconds. Returns MIDA_CLI_CONTINUE with *out open,
 * MIDA_CLI_OK when *stop ended the wait, or MIDA_CLI_FAIL after saying
 * why (an error that waiting cannot mend, or give_up_s spent); *out is
 * NULL then. Close *out with its methods->close. */
int mida__ingest_connect(const char *url, const char *group, const char *name,
                         int claim_ms, int give_up_s,
                         volatile sig_atomic_t *stop, mida__consumer **out);

/* Opens the store at url for writing into *out, waiting as
 * mida__ingest_connect does (said as "store"), with the same returns;
 * *out is NULL unless MIDA_CLI_CONTINUE. Close it with mida__sink_close. */
int mida__ingest_open_store(const char *url, int give_up_s,
                            volatile sig_atomic_t *stop, mida__sink **out);

#endif /* MIDA_CLI_INGEST_CONNECT_H */
