/*
 * redis_link.c -- one Redis connection, plain or TLS (redis_link.h).
 */

#include "sink/redis_link.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "mida.h"
#include "mida_config.h"
#include "sink/tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

struct mida__redis_link {
  int fd;              /* the socket, non-blocking */
  int tls_errno;       /* errno after the last failed TLS step */
  mida__tls_ctx tls;   /* rediss://: the context */
  SSL *ssl;            /* rediss://: the session, else NULL */
  redisReader *reader; /* replies being read */
  int timeout_ms;      /* per command */
  int timed_out;       /* the last command got no answer in time */
  char error[300];     /* why the last command failed */
  char where[300];     /* scheme://host:port, without userinfo */
};

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0
 * timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int64_t left = deadline - mida__monotonic_ms();
    if (left <= 0)
      return 0;
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

/* A TCP connection to host:port by the deadline, or -1 with why in err. */
static int connect_tcp(const char *host, int port, int64_t deadline, char *err,
                       size_t errlen) {
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  int g = getaddrinfo(host, service, &hints, &res);
  if (g != 0) {
    snprintf(err, errlen, "%s", gai_strerror(g));
    return -1;
  }
  int fd = -1;
  snprintf(err, errlen, "no address");
  for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) {
      snprintf(err, errlen, "%s", strerror(errno));
      continue;
    }
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      int w = wait_fd(fd, POLLOUT, deadline);
      int soerr = 0;
      socklen_t len = sizeof soerr;
      if (w == 0)
        soerr = ETIMEDOUT;
      else if (w < 0)
        soerr = errno;
      else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
      rc = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (rc != 0) {
      snprintf(err, errlen, "%s", strerror(errno));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

/* Runs one step of TLS (connect, read or write) until it is done or the
 * deadline passes: its result (> 0 done), or <= 0 with the SSL error
 * (SSL_ERROR_*, or -1 for a timeout) in *ssl_err. */
typedef int (*tls_step)(SSL *ssl, void *buf, int len);

static int tls_connect_step(SSL *ssl, void *buf, int len) {
  (void)buf;
  (void)len;
  return SSL_connect(ssl);
}

static int tls_read_step(SSL *ssl, void *buf, int len) {
  return SSL_read(ssl, buf, len);
}

static int tls_write_step(SSL *ssl, void *buf, int len) {
  return SSL_write(ssl, buf, len);
}

static int tls_run(mida__redis_link *l, tls_step step, void *buf, int len,
                   int64_t deadline, int *ssl_err) {
  for (;;) {
    ERR_clear_error();
    int n = step(l->ssl, buf, len);
    if (n > 0)
      return n;
    int e = SSL_get_error(l->ssl, n);
    l->tls_errno = errno;
    short events = e == SSL_ERROR_WANT_READ    ? POLLIN
                   : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                               : 0;
    if (events == 0) {
      *ssl_err = e;
      return n;
    }
    int w = wait_fd(l->fd, events, deadline);
    if (w <= 0) {
      l->tls_errno = errno;
      *ssl_err = w == 0 ? -1 : SSL_ERROR_SYSCALL;
      return 0;
    }
  }
}

/* SIGPIPE blocked in this thread while writing, and one that the writing
 * raised taken back (libpq does the same): a broker that hangs up must not
 * kill an observed program. Plain sends say MSG_NOSIGNAL; OpenSSL writes
 * with write(2), hence the guard. */
typedef struct sigpipe_guard {
  sigset_t old;    /* the thread's mask before */
  int was_pending; /* a SIGPIPE was pending before: not ours to take */
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g) {
  sigset_t pipe_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &g->old);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
}

static void sigpipe_restore(sigpipe_guard *g) {
  if (!g->was_pending) {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Why a TLS step failed with SSL error e (not a timeout), into buf. */
static const char *tls_failure(mida__redis_link *l, int e, char *buf,
                               size_t len) {
  if (e == SSL_ERROR_ZERO_RETURN)
    return "the server closed the connection";
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
      __atomic_load_n(&l->tls.verify_error, __ATOMIC_RELAXED) == 0)
    return l->tls_errno != 0 ? strerror(l->tls_errno)
                             : "the server closed the connection";
  return mida__tls_why(&l->tls, "TLS error", buf, len);
}

/* Writes len bytes by the deadline. */
static int write_all(mida__redis_link *l, const char *p, size_t len,
                     int64_t deadline) {
  sigpipe_guard guard;
  sigpipe_block(&guard);
  int ok = 1;
  while (ok && len > 0) {
    ssize_t n;
    if (l->ssl != NULL) {
      int e = 0;
      int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
      n = tls_run(l, tls_write_step, (void *)p, chunk, deadline, &e);
      if (n <= 0) {
        char why[200];
        snprintf(l->error, sizeof l->error, "%s",
                 e == -1 ? "timed out writing"
                         : tls_failure(l, e, why, sizeof why));
        l->timed_out = e == -1;
        ok = 0;
      }
    } else {
      n = send(l->fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        int w = wait_fd(l->fd, POLLOUT, deadline);
        if (w <= 0) {
          snprintf(l->error, sizeof l->error, "%s",
                   w == 0 ? "timed out writing" : strerror(errno));
          l->timed_out = w == 0;
          ok = 0;
        }
        n = 0;
      } else if (n < 0 && errno != EINTR) {
        snprintf(l->error, sizeof l->error, "%s", strerror(errno));
        ok = 0;
      } else if (n < 0) {
        n = 0;
      }
    }
    if (ok) {
      p += n;
      len -= (size_t)n;
    }
  }
  sigpipe_restore(&guard);
  return ok;
}

/* Reads until the reader holds a whole reply, by the deadline. */
static redisReply *read_reply(mida__redis_link *l, int64_t deadline) {
  char buf[16384];
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(l->reader, &reply) != REDIS_OK) {
      snprintf(l->error, sizeof l->error, "protocol error: %s",
               l->reader->errstr);
      return NULL;
    }
    if (reply != NULL)
      return reply;
    ssize_t n;
    if (l->ssl != NULL) {
      int e = 0;
      n = tls_run(l, tls_read_step, buf, sizeof buf, deadline, &e);
      if (n <= 0) {
        char why[200];
        snprintf(l->error, sizeof l->error, "%s",
                 e == -1 ? "timed out waiting for a reply"
                         : tls_failure(l, e, why, sizeof why));
        l->timed_out = e == -1;
        return NULL;
      }
    } else {
      n = recv(l->fd, buf, sizeof buf, 0);
      if (n < 0 &&
          (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        int w = wait_fd(l->fd, POLLIN, deadline);
        if (w <= 0) {
          snprintf(l->error, sizeof l->error, "%s",
                   w == 0 ? "timed out waiting for a reply" : strerror(errno));
          l->timed_out = w == 0;
          return NULL;
        }
        continue;
      }
      if (n <= 0) {
        snprintf(l->error, sizeof l->error, "%s",
                 n == 0 ? "the server closed the connection" : strerror(errno));
        return NULL;
      }
    }
    if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK) {
      snprintf(l->error, sizeof l->error, "out of memory");
      return NULL;
    }
  }
}

/* Sends a formatted command (len bytes) and reads its reply. */
static redisReply *round_trip(mida__redis_link *l, char *cmd, int len) {
  if (len < 0 || cmd == NULL) {
    snprintf(l->error, sizeof l->error, "cannot format a command");
    return NULL;
  }
  int64_t deadline = mida__monotonic_ms() + l->timeout_ms;
  l->timed_out = 0;
  int ok = write_all(l, cmd, (size_t)len, deadline);
  redisFreeCommand(cmd);
  return ok ? read_reply(l, deadline) : NULL;
}

redisReply *mida__redis_link_command(mida__redis_link *l, const char *fmt,
                                     ...) {
  char *cmd = NULL;
  va_list ap;
  va_start(ap, fmt);
  int len = redisvFormatCommand(&cmd, fmt, ap);
  va_end(ap);
  return round_trip(l, cmd, len);
}

redisReply *mida__redis_link_argv(mida__redis_link *l, int argc,
                                  const char **argv, const size_t *lens) {
  char *cmd = NULL;
  int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
  return round_trip(l, cmd, len);
}

void mida__redis_link_set_timeout(mida__redis_link *l, int timeout_ms) {
  l->timeout_ms = timeout_ms;
}

const char *mida__redis_link_error(const mida__redis_link *l) {
  return l->error[0] != '\0' ? l->error : "unknown error";
}

/* The error replies of a Redis that cannot serve now but will by itself,
 * by their first word, and what it does meanwhile. Redis answers LOADING
 * to every command but a few (AUTH, INFO) until it has read its RDB or AOF
 * file, which takes minutes for a large dataset after a restart. */
static const struct {
  const char *code;  /* the reply's first word */
  const char *doing; /* what Redis does meanwhile, for messages */
} not_ready[] = {
    {"LOADING", "loading its data"},
    {"BUSY", "running a script"},
    {"MASTERDOWN", "waiting for its master"},
    {"TRYAGAIN", "moving a cluster slot"},
};

/* Whether reply text s starts with the whole word code ("BUSYGROUP" is
 * no "BUSY"). */
static int first_word_is(const char *s, const char *code) {
  size_t n = strlen(code);
  return strncmp(s, code, n) == 0 && (s[n] == ' ' || s[n] == '\0');
}

/* Says that l's server is a read-only replica, of which master when ROLE
 * answers (as the replica names it), and what to do. A replica takes no
 * write -- XADD, nor the consumer group's XGROUP, XREADGROUP, XACK -- and
 * stays one until an operator or Sentinel promotes it: MIDA_EIO, a
 * refusal, not a wait (docs/multinode.md). */
static void say_replica(mida__redis_link *l, char *why, size_t len) {
  char master[300] = "";
  redisReply *role = mida__redis_link_command(l, "ROLE");
  if (role != NULL && role->type == REDIS_REPLY_ARRAY &&
      role->elements >= 3 && role->element[1]->type == REDIS_REPLY_STRING &&
      role->element[2]->type == REDIS_REPLY_INTEGER)
    snprintf(master, sizeof master, " of %s:%lld", role->element[1]->str,
             (long long)role->element[2]->integer);
  if (role != NULL)
    freeReplyObject(role);
  snprintf(why, len,
           "%s is a read-only replica%s (READONLY): mida writes the stream "
           "and its consumer group on the master only; point the URL at the "
           "master, or at an address that follows it (Sentinel, a proxy)",
           l->where, master);
}

int mida__redis_link_failure(mida__redis_link *l, const redisReply *r,
                             char *why, size_t len) {
  if (r == NULL) {
    snprintf(why, len, "%s", mida__redis_link_error(l));
    return l->timed_out ? MIDA_EUNREACHABLE : MIDA_EIO;
  }
  if (r->type != REDIS_REPLY_ERROR || r->str == NULL) {
    snprintf(why, len, "unexpected reply");
    return MIDA_EIO;
  }
  if (first_word_is(r->str, "READONLY")) {
    say_replica(l, why, len);
    return MIDA_EIO;
  }
  for (size_t i = 0; i < sizeof not_ready / sizeof not_ready[0]; i++) {
    if (first_word_is(r->str, not_ready[i].code)) {
      snprintf(why, len, "Redis is %s (%s)", not_ready[i].doing,
               not_ready[i].code);
      return MIDA_EBUSY;
    }
  }
  snprintf(why, len, "%s", r->str);
  return MIDA_EIO;
}

void mida__redis_link_close(mida__redis_link *l) {
  if (l == NULL)
    return;
  if (l->ssl != NULL)
    SSL_free(l->ssl); /* no close_notify: the socket may be broken */
  mida__tls_ctx_free(&l->tls);
  if (l->fd >= 0)
    close(l->fd);
  if (l->reader != NULL)
    redisReaderFree(l->reader);
  mida__free(l);
}

/* The TLS handshake over l->fd, by the deadline. */
static int start_tls(mida__redis_link *l, const mida__url *u,
                     const mida__tls_opts *tls, int64_t deadline, char *err,
                     size_t errlen) {
  int rc = mida__tls_ctx_init(&l->tls, tls, u->host, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  l->ssl = SSL_new(l->tls.ctx);
  if (l->ssl == NULL || SSL_set_fd(l->ssl, l->fd) != 1) {
    snprintf(err, errlen, "cannot start TLS: out of memory");
    return MIDA_ENOMEM;
  }
  const char *name = mida__tls_expected_name(tls, u->host);
  if (!mida__tls_is_ip(name))
    SSL_set_tlsext_host_name(l->ssl, name);
  int e = 0;
  sigpipe_guard guard;
  sigpipe_block(&guard);
  int done = tls_run(l, tls_connect_step, NULL, 0, deadline, &e) > 0;
  sigpipe_restore(&guard);
  if (done)
    return MIDA_OK;
  char why[300];
  snprintf(err, errlen, "TLS handshake with rediss://%s:%d failed: %s", u->host,
           u->port,
           e == -1 ? "timed out (does the server speak TLS on this port?)"
                   : tls_failure(l, e, why, sizeof why));
  return MIDA_EIO;
}

int mida__redis_link_open(const mida__url *u, const mida__tls_opts *tls,
                          int timeout_ms, mida__redis_link **out, char *err,
                          size_t errlen) {
  *out = NULL;
  const char *scheme = tls->enabled ? "rediss" : "redis";
  mida__redis_link *l = mida__calloc(1, sizeof *l);
  if (l != NULL) {
    l->fd = -1;
    l->reader = redisReaderCreate();
  }
  if (l == NULL || l->reader == NULL) {
    snprintf(err, errlen, "cannot connect to %s://%s:%d: out of memory", scheme,
             u->host, u->port);
    mida__redis_link_close(l);
    return MIDA_ENOMEM;
  }
  snprintf(l->where, sizeof l->where, "%s://%s:%d", scheme, u->host, u->port);
  l->timeout_ms = timeout_ms;
  int64_t deadline = mida__monotonic_ms() + timeout_ms;
  char why[200];
  l->fd = connect_tcp(u->host, u->port, deadline, why, sizeof why);
  if (l->fd < 0) {
    snprintf(err, errlen, "cannot connect to %s://%s:%d: %s", scheme, u->host,
             u->port, why);
    mida__redis_link_close(l);
    return MIDA_EUNREACHABLE;
  }
  if (tls->enabled) {
    int rc = start_tls(l, u, tls, deadline, err, errlen);
    if (rc != MIDA_OK) {
      mida__redis_link_close(l);
      return rc;
    }
  }
  redisReply *r;
  if (u->password[0] != '\0' && u->user[0] != '\0')
    r = mida__redis_link_command(l, "AUTH %s %s", u->user, u->password);
  else if (u->password[0] != '\0')
    r = mida__redis_link_command(l, "AUTH %s", u->password);
  else
    r = mida__redis_link_command(l, "PING");
  if (r == NULL || r->type == REDIS_REPLY_ERROR) {
    char failure[512];
    int rc = mida__redis_link_failure(l, r, failure, sizeof failure);
    /* A TLS 1.3 server checks the client's certificate after the
     * handshake: a refusal shows on the first command. */
    int no_cert =
        rc == MIDA_EIO && r == NULL && tls->enabled && tls->cert[0] == '\0';
    snprintf(err, errlen, "%s://%s:%d %s: %s%s", scheme, u->host, u->port,
             rc == MIDA_EBUSY          ? "cannot serve yet"
             : rc == MIDA_EUNREACHABLE ? "does not answer"
                                       : "refused the connection",
             failure,
             no_cert ? " (does it require a client certificate? cert=, "
                       "MIDA_TLS_CERT)"
                     : "");
    if (r != NULL)
      freeReplyObject(r);
    mida__redis_link_close(l);
    return rc;
  }
  freeReplyObject(r);
  *out = l;
  return MIDA_OK;
}
