/*
 * conn_limit.c -- the connections `mida serve` holds, in all and by client
 * address (conn_limit.h). A linear table of max_total places: at most
 * that many addresses hold connections at once, and the scans are of a
 * few hundred entries at an accept or a close, not per request.
 */
#include "serve/conn_limit.h"

#include "core/alloc.h"
#include "mida.h"

#include <netinet/in.h>
#include <string.h>

int mida__conn_limit_init(mida__conn_limit *l, unsigned max_total,
                          unsigned max_per_address) {
  memset(l, 0, sizeof *l);
  l->places = mida__calloc(max_total > 0 ? max_total : 1, sizeof *l->places);
  if (l->places == NULL)
    return MIDA_ENOMEM;
  pthread_mutex_init(&l->lock, NULL);
  l->max_total = max_total;
  l->max_per_address = max_per_address;
  return MIDA_OK;
}

void mida__conn_limit_free(mida__conn_limit *l) {
  if (l->places == NULL)
    return;
  pthread_mutex_destroy(&l->lock);
  mida__free(l->places);
  l->places = NULL;
}

/* addr's family and bytes, as a place keeps them; 0 for a family whose
 * connections are not counted by address. */
static int key_of(const struct sockaddr *addr, mida__conn_place *key) {
  memset(key, 0, sizeof *key);
  if (addr == NULL)
    return 0;
  if (addr->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    memcpy(key->addr, &in->sin_addr, 4);
  } else if (addr->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    memcpy(key->addr, &in6->sin6_addr, 16);
  } else {
    return 0;
  }
  key->family = (unsigned char)addr->sa_family;
  return 1;
}

/* The place of key's address, or of none (family 0) when it holds no
 * connection and where_free is 0; with where_free, a free place for it
 * when it has none. -1 when there is neither. Under l->lock. */
static long place_of(const mida__conn_limit *l, const mida__conn_place *key,
                     int where_free) {
  long free_place = -1;
  for (unsigned i = 0; i < l->max_total; i++) {
    const mida__conn_place *p = &l->places[i];
    if (p->family == 0) {
      if (free_place < 0)
        free_place = (long)i;
    } else if (p->family == key->family &&
               memcmp(p->addr, key->addr, sizeof p->addr) == 0) {
      return (long)i;
    }
  }
  return where_free ? free_place : -1;
}

int mida__conn_limit_admits(mida__conn_limit *l, const struct sockaddr *addr) {
  mida__conn_place key;
  int by_address = key_of(addr, &key);
  pthread_mutex_lock(&l->lock);
  int admits = l->held < l->max_total;
  if (admits && by_address) {
    long i = place_of(l, &key, 0);
    admits = i < 0 || l->places[i].held < l->max_per_address;
  }
  pthread_mutex_unlock(&l->lock);
  return admits;
}

long mida__conn_limit_take(mida__conn_limit *l, const struct sockaddr *addr) {
  mida__conn_place key;
  int by_address = key_of(addr, &key);
  pthread_mutex_lock(&l->lock);
  long token = 0; /* counted in all only */
  if (by_address) {
    long i = place_of(l, &key, 1);
    if (i < 0) {
      pthread_mutex_unlock(&l->lock);
      return -1;
    }
    if (l->places[i].family == 0) {
      l->places[i] = key;
      l->places[i].held = 0;
    }
    l->places[i].held++;
    token = i + 1;
  }
  l->held++;
  pthread_mutex_unlock(&l->lock);
  return token;
}

void mida__conn_limit_give(mida__conn_limit *l, long token) {
  if (token < 0)
    return;
  pthread_mutex_lock(&l->lock);
  if (l->held > 0)
    l->held--;
  if (token > 0 && (unsigned long)token <= l->max_total) {
    mida__conn_place *p = &l->places[token - 1];
    if (p->held > 0 && --p->held == 0)
      p->family = 0;
  }
  pthread_mutex_unlock(&l->lock);
}
