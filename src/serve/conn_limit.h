/*
 * conn_limit.h -- how many connections `mida serve` holds, in all and from
 * each client address, so that it refuses those over its limits itself and
 * counts them (serve.h, mida__serve_drops), where libmicrohttpd's own
 * limits closed them before any callback and nobody knew.
 *
 * http.c asks at each accept whether a connection from an address may be
 * served (mida__conn_limit_admits), takes a place when the library starts
 * it and gives the place back when the library closes it. Plain C, no
 * libmicrohttpd: the table is tested alone (conn_limit_test.c).
 */
#ifndef MIDA_SERVE_CONN_LIMIT_H
#define MIDA_SERVE_CONN_LIMIT_H

#include <pthread.h>
#include <sys/socket.h>

/* One client address and the connections it holds. */
typedef struct mida__conn_place {
  unsigned char family;   /* AF_INET or AF_INET6; 0: a free place */
  unsigned char addr[16]; /* the address's bytes (4 of them for IPv4) */
  unsigned held;          /* its open connections */
} mida__conn_place;

typedef struct mida__conn_limit {
  pthread_mutex_t lock;
  unsigned max_total;       /* connections held at once, in all */
  unsigned max_per_address; /* connections held at once, from one address */
  unsigned held;            /* connections held now */
  mida__conn_place *places; /* max_total of them */
} mida__conn_limit;

/* Sets l up for max_total connections in all, max_per_address from one
 * address. MIDA_OK or MIDA_ENOMEM. */
int mida__conn_limit_init(mida__conn_limit *l, unsigned max_total,
                          unsigned max_per_address);

void mida__conn_limit_free(mida__conn_limit *l);

/* Whether one more connection from addr may be held now: 1, or 0 when it
 * would pass the limit in all or its address's. An address of another
 * family (a Unix socket) counts in all only. */
int mida__conn_limit_admits(mida__conn_limit *l, const struct sockaddr *addr);

/* Takes a place for a connection from addr, whatever the limits (the
 * library started one that was admitted). Returns its index + 1, the
 * token mida__conn_limit_give wants; -1 when l has no place left (then
 * nothing is held, and the give of -1 does nothing). */
long mida__conn_limit_take(mida__conn_limit *l, const struct sockaddr *addr);

/* Gives back the place token (mida__conn_limit_take) held. */
void mida__conn_limit_give(mida__conn_limit *l, long token);

#endif /* MIDA_SERVE_CONN_LIMIT_H */
