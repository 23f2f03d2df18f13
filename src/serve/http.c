/*
 * http.c -- `mida serve` on libmicrohttpd: sockets, limits, headers, the
 * bearer token, and the event stream.
 *
 * libmicrohttpd (Debian's libmicrohttpd, GNU, in wide use since 2007) runs
 * one thread per connection here: a handler may block on the store and an
 * event stream waits for changes, neither holding up the others. The
 * request target is taken raw from the URI log callback and parsed by
 * request.c, never from the library's decoded URL (see request.c). Each
 * request's header block is capped by the connection memory limit (a
 * longer one gets the library's 431), a request with a body is refused
 * before the body is read, and only GET and HEAD are answered. A
 * connection is kept between a client's requests (HTTP/1.1) until it is
 * idle for the idle timeout; an event stream that its client stops
 * reading is closed at that timeout too, and counted (serve.h,
 * mida__serve_drops). The library is not linked: its functions are
 * reached through the table of mhd.h, filled when the first server
 * starts.
 */
#include "serve/http.h"

#include "core/alloc.h"
#include "mida.h"
#include "serve/conn_limit.h"
#include "serve/mhd.h"
#include "serve/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The most bytes of one request's line and headers. */
#define HTTP_MEMORY_LIMIT (64 * 1024)
/* Seconds a connection may stay idle, unless --idle-timeout says: a
 * kept-alive connection between two requests, or one whose client reads
 * nothing of what it is sent (an event stream included). */
#define HTTP_IDLE_TIMEOUT 60
/* The most connections one client address may hold. The idle timeout
 * counts from the last byte: a client that never ends its requests and
 * sends a header line now and then would otherwise hold every connection
 * the server takes (slowloris), and others could not connect. */
#define HTTP_PER_ADDRESS 64
/* The most connections held at once, unless --max-clients says. */
#define HTTP_MAX_CLIENTS 256
/* How long an event stream waits before it sends a keep-alive comment,
 * at most: less than the idle timeout, which the library checks after
 * each wait, or a quiet stream would be closed as idle. */
#define EVENTS_KEEPALIVE_MS 15000
/* How long a stop lets the requests in flight run before it ends their
 * queries, and then how long it waits for their answers to go out. */
#define STOP_GRACE_MS 3000
#define STOP_ANSWER_MS 2000
/* The most bytes of answers queued and not yet read by their clients.
 * The library sends each from its own copy, kept until the client has
 * read it or the idle timeout closes the connection: clients that ask
 * for large answers and stall (a script, a slow tunnel) held up to 64 MiB
 * each, 16 GiB over every connection. An answer over
 * HTTP_SMALL_ANSWER that would pass this is a 503; a smaller one always
 * goes (every connection's together hold at most 256 MiB). */
#define HTTP_UNREAD_MAX ((size_t)256 << 20)
#define HTTP_SMALL_ANSWER ((size_t)1 << 20)

/* The security headers of every response. The dashboard's scripts and
 * styles are files of this origin; nothing inline, nothing from elsewhere;
 * the page may only talk back to this origin. */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self';"
    " img-src 'self' data: blob:; connect-src 'self'; font-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* libmicrohttpd's entry points (mhd.h), set by the first start: every
 * other function here runs after it. */
static const mida__mhd_api *mhd;

struct mida__http {
  struct MHD_Daemon *daemon; /* the library's server */
  mida__serve *srv;          /* what answers requests */
  char *token;               /* the bearer token, or NULL */
  size_t token_len;          /* its length */
  int loopback_only;         /* 1: check Host against loopback names */
  char listen_host[64];      /* the address listened on, "127.0.0.2" or
                                "[::1]": a Host that may name it too */
  struct sockaddr_storage listening; /* that address with its port */
  atomic_int listening_known;        /* 1 once its port is set */
  pthread_mutex_t lock;      /* guards in_flight and unread */
  pthread_cond_t done;       /* signalled when a request ends */
  int in_flight;             /* requests begun and not yet ended */
  size_t unread;             /* bytes of answers of requests not ended */
  int keepalive_ms;          /* an event stream's longest quiet, ms */
  mida__conn_limit conns;    /* connections held, in all and by address */
};

/* One request's state, made by the URI log callback. */
typedef struct http_request {
  char *target;        /* the raw request target, or NULL if too long */
  int target_too_long; /* 1 when it was over MIDA_SERVE_MAX_TARGET */
  size_t answer_bytes; /* its answer's bytes, counted in unread */
  int read_whole;      /* 1 once the library has read all of it */
  int events;          /* 1: its answer is an event stream */
} http_request;

/* One event stream's state. */
typedef struct event_stream {
  mida__http *http;  /* the server */
  int64_t cursor;    /* the last event sent */
  mida__buf pending; /* framed events not yet handed to the library */
  size_t sent;       /* bytes of pending already handed over */
  const char *last;  /* the stream's last words before it is closed for a
                        failure (a static SSE comment), or NULL */
  size_t last_sent;  /* bytes of last already handed over */
} event_stream;

/* ---- addresses -------------------------------------------------------- */

/* Splits "host:port", "[v6]:port" or ":port" into host and port. */
static int split_listen(const char *listen, char *host, size_t hostlen,
                        char *port, size_t portlen) {
  const char *colon;
  if (listen[0] == '[') {
    const char *close = strchr(listen, ']');
    if (close == NULL || close[1] != ':')
      return MIDA_EINVAL;
    if ((size_t)(close - listen - 1) >= hostlen)
      return MIDA_EINVAL;
    memcpy(host, listen + 1, (size_t)(close - listen - 1));
    host[close - listen - 1] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(listen, ':');
    if (colon == NULL || (size_t)(colon - listen) >= hostlen)
      return MIDA_EINVAL;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
  }
  if (strlen(colon + 1) == 0 || strlen(colon + 1) >= portlen ||
      strspn(colon + 1, "0123456789") != strlen(colon + 1))
    return MIDA_EINVAL;
  /* getaddrinfo takes a larger number modulo 65536: 99999 is 34463. */
  long number = 0;
  for (const char *d = colon + 1; *d != '\0' && number <= 65535; d++)
    number = number * 10 + (*d - '0');
  if (number > 65535)
    return MIDA_EINVAL;
  snprintf(port, portlen, "%s", colon + 1);
  if (host[0] == '\0')
    snprintf(host, hostlen, "0.0.0.0");
  return MIDA_OK;
}

static int addr_is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
      return 1;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
      return in6->sin6_addr.s6_addr[12] == 127;
  }
  return 0;
}

/* Resolves listen to its first address; *loopback says whether every
 * address it resolves to is loopback. */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss,
                          socklen_t *sslen, int *loopback, char *err,
                          size_t errlen) {
  char host[256], port[16];
  if (split_listen(listen, host, sizeof host, port, sizeof port) != MIDA_OK) {
    snprintf(err, errlen,
             "--listen must be HOST:PORT, [IPV6]:PORT or :PORT, not '%.100s'",
             listen);
    return MIDA_EINVAL;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0 || res == NULL) {
    snprintf(err, errlen, "cannot resolve --listen '%.100s': %s", listen,
             gai_strerror(gai));
    return MIDA_EINVAL;
  }
  *loopback = 1;
  for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
    if (!addr_is_loopback(a->ai_addr))
      *loopback = 0;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sslen = res->ai_addrlen;
  freeaddrinfo(res);
  return MIDA_OK;
}

int mida__http_check_listen(const char *listen, int *loopback, char *err,
                            size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t len;
  return resolve_listen(listen, &ss, &len, loopback, err, errlen);
}

/* ---- checks on each request ------------------------------------------- */

/* Compares a and b in time that depends only on their lengths, so that a
 * client cannot find the token byte by byte by timing the answers. */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen) {
  volatile unsigned char diff = (unsigned char)(alen != blen);
  size_t n = alen > blen ? alen : blen;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < alen ? (unsigned char)a[i] : 0;
    unsigned char y = i < blen ? (unsigned char)b[i] : 0;
    diff |= (unsigned char)(x ^ y);
  }
  return diff == 0;
}

static int authorized(mida__http *h, struct MHD_Connection *c) {
  if (h->token == NULL)
    return 1;
  const char *auth =
      mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
    return 0;
  const char *given = auth + 7;
  return same_secret(given, strlen(given), h->token, h->token_len);
}

/* Whether the Host header host is name, with or without a port. */
static int host_names(const char *host, const char *name) {
  size_t n = strlen(name);
  return n > 0 && strncasecmp(host, name, n) == 0 &&
         (host[n] == '\0' ||
          (host[n] == ':' &&
           strspn(host + n + 1, "0123456789") == strlen(host + n + 1)));
}

/* Adds one to the count at cls for a Host header (MHD_KeyValueIterator). */
static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value) {
  (void)kind;
  (void)value;
  if (strcasecmp(key, "Host") == 0)
    (*(int *)cls)++;
  return MHD_YES;
}

/* Whether the request carries more than one Host header, which RFC 9112
 * (3.2) makes invalid. libmicrohttpd takes it, and its lookup gives the
 * first one: "Host: 127.0.0.1" then "Host: evil.example" passed the
 * loopback check below while a proxy or cache in front may read the
 * second. */
static int several_hosts(struct MHD_Connection *c) {
  int hosts = 0;
  mhd->get_connection_values(c, MHD_HEADER_KIND, count_host, &hosts);
  return hosts > 1;
}

/* Without a token, the Host header must name loopback, or the loopback
 * address listened on (127.0.0.2): a page of another site whose name was
 * re-pointed at 127.0.0.1 sends its own name, never an address. */
static int host_allowed(mida__http *h, struct MHD_Connection *c) {
  if (!h->loopback_only)
    return 1;
  const char *host = mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (host == NULL)
    return 0;
  static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (host_names(host, names[i]))
      return 1;
  return host_names(host, h->listen_host);
}

/* Whether the browser says that a page of another site made the request
 * (Sec-Fetch-Site other than "same-origin", the dashboard's own, or
 * "none", an address the user typed). Such a page cannot read the
 * answer, but it can time it: a statement of /api/sql that runs long
 * when a condition on the store's rows holds reads the store a bit at a
 * time, with no token asked on loopback. A client that sends no such
 * header (curl, a script, an old browser) is not refused. */
static int sent_for_another_site(struct MHD_Connection *c) {
  const char *site =
      mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
  return site != NULL && strcasecmp(site, "same-origin") != 0 &&
         strcasecmp(site, "none") != 0;
}

/* Writes the numeric address of sa into out as a Host header names it:
 * "127.0.0.2", or "[::1]" for IPv6; "" when it has none. */
static void host_of_address(const struct sockaddr *sa, socklen_t len,
                            char *out, size_t outlen) {
  char text[INET6_ADDRSTRLEN];
  out[0] = '\0';
  if (getnameinfo(sa, len, text, sizeof text, NULL, 0, NI_NUMERICHOST) != 0)
    return;
  if (sa->sa_family == AF_INET6)
    snprintf(out, outlen, "[%s]", text);
  else
    snprintf(out, outlen, "%s", text);
}

/* ---- responses -------------------------------------------------------- */

static void add_common_headers(struct MHD_Response *r, int api) {
  mhd->add_response_header(r, "Content-Security-Policy", csp);
  mhd->add_response_header(r, "X-Content-Type-Options", "nosniff");
  mhd->add_response_header(r, "X-Frame-Options", "DENY");
  mhd->add_response_header(r, "Referrer-Policy", "no-referrer");
  mhd->add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
  mhd->add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
  mhd->add_response_header(r, "Cache-Control", api ? "no-store" : "no-cache");
}

static enum MHD_Result queue(struct MHD_Connection *c, mida__resp *resp,
                             int api) {
  struct MHD_Response *r;
  if (resp->static_body != NULL)
    r = mhd->create_response_from_buffer(
        resp->static_len, (void *)resp->static_body, MHD_RESPMEM_PERSISTENT);
  else
    r = mhd->create_response_from_buffer(
        resp->body.len, resp->body.ptr != NULL ? resp->body.ptr : (char *)"",
        MHD_RESPMEM_MUST_COPY);
  if (r == NULL)
    return MHD_NO;
  add_common_headers(r, api);
  mhd->add_response_header(r, "Content-Type", resp->content_type);
  if (resp->disposition != NULL)
    mhd->add_response_header(r, "Content-Disposition", resp->disposition);
  if (resp->etag != NULL)
    mhd->add_response_header(r, "ETag", resp->etag);
  if (resp->status == 401)
    mhd->add_response_header(r, "WWW-Authenticate", "Bearer realm=\"mida\"");
  if (resp->status == 405)
    mhd->add_response_header(r, "Allow", "GET, HEAD");
  enum MHD_Result ret = mhd->queue_response(c, (unsigned)resp->status, r);
  mhd->destroy_response(r);
  return ret;
}

static enum MHD_Result queue_error(struct MHD_Connection *c, int status,
                                   const char *msg) {
  mida__resp resp;
  mida__resp_init(&resp);
  mida__resp_error(&resp, status, "%s", msg);
  enum MHD_Result ret = queue(c, &resp, 1);
  mida__resp_free(&resp);
  return ret;
}

/* Makes resp, an embedded file the client holds (its If-None-Match names
 * the file's ETag, or is "*"), a 304 without a body: "no-cache" has the
 * browser ask, and the page's files are not sent again at every load. */
static void not_modified(struct MHD_Connection *c, mida__resp *resp) {
  if (resp->etag == NULL || resp->status != 200)
    return;
  const char *held =
      mhd->lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
  if (held == NULL || (strcmp(held, "*") != 0 && !strstr(held, resp->etag)))
    return;
  resp->status = 304;
  resp->static_body = NULL;
  resp->static_len = 0;
  mida__buf_reset(&resp->body);
}

/* ---- the event stream ------------------------------------------------- */

/* What a stream says before the server closes it for a failure of its
 * own: a comment, which a page's EventSource ignores before it connects
 * again, and a person with curl reads. Static: it needs no memory. */
static const char events_failed[] =
    ": closed by the server: it could not write the next event (out of "
    "memory); connect again with ?since=ID\n\n";

static ssize_t events_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  event_stream *es = cls;
  while (es->sent >= es->pending.len && es->last == NULL) {
    mida__buf_reset(&es->pending);
    es->sent = 0;
    int got = mida__serve_events_next(es->http->srv, &es->cursor,
                                      es->http->keepalive_ms, &es->pending);
    if (got == 0)
      return MHD_CONTENT_READER_END_OF_STREAM; /* the server stops */
    if (got < 0) {
      atomic_fetch_add(&es->http->srv->drops.streams_failed, 1);
      es->last = events_failed;
    }
  }
  const char *from = es->pending.ptr + es->sent;
  size_t n = es->pending.len - es->sent;
  size_t *advance = &es->sent;
  if (es->sent >= es->pending.len) { /* only the last words are left */
    from = es->last + es->last_sent;
    n = strlen(from);
    advance = &es->last_sent;
    if (n == 0)
      return MHD_CONTENT_READER_END_OF_STREAM;
  }
  if (n > max)
    n = max;
  memcpy(buf, from, n);
  *advance += n;
  return (ssize_t)n;
}

static void events_free(void *cls) {
  event_stream *es = cls;
  mida__buf_free(&es->pending);
  mida__free(es);
}

static enum MHD_Result queue_events(mida__http *h, struct MHD_Connection *c,
                                    const mida__resp *resp) {
  event_stream *es = mida__calloc(1, sizeof *es);
  if (es == NULL)
    return queue_error(c, 503, "out of memory");
  es->http = h;
  es->cursor = resp->events_from;
  mida__buf_init(&es->pending, MIDA_SERVE_EVENT_BUF);
  struct MHD_Response *r = mhd->create_response_from_callback(
      MHD_SIZE_UNKNOWN, 16 * 1024, events_read, es, events_free);
  if (r == NULL) {
    events_free(es);
    return MHD_NO;
  }
  add_common_headers(r, 1);
  mhd->add_response_header(r, "Content-Type", "text/event-stream");
  mhd->add_response_header(r, "X-Accel-Buffering", "no");
  enum MHD_Result ret = mhd->queue_response(c, MHD_HTTP_OK, r);
  mhd->destroy_response(r);
  return ret;
}

/* ---- the library's callbacks ------------------------------------------ */

/* Keeps the raw target for request.c, then empties the query in the
 * library's own copy of the request line. The library would otherwise
 * split the query into its table of arguments, one record (64 bytes) from
 * the connection's memory per parameter, and request.c never reads that
 * table: 5,000 parameters in a 30 KB target used the whole 64 KB, and the
 * library, with no memory left to build its own error reply, closed the
 * connection without a word. With the query gone from its copy, request.c
 * sees every parameter and refuses more than MIDA_SERVE_MAX_PARAMS with a
 * 400 that says why. The library passes the line as const but owns it
 * writable, and reads the query from it only after this callback
 * (libmicrohttpd 0.9.x and 1.x alike). */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *c) {
  mida__http *h = cls;
  (void)c;
  http_request *hr = mida__calloc(1, sizeof *hr);
  if (hr != NULL) {
    pthread_mutex_lock(&h->lock);
    h->in_flight++;
    pthread_mutex_unlock(&h->lock);
    if (strnlen(uri, MIDA_SERVE_MAX_TARGET + 1) > MIDA_SERVE_MAX_TARGET)
      hr->target_too_long = 1;
    else
      hr->target = mida__strdup(uri);
  }
  char *query = strchr(uri, '?');
  if (query != NULL)
    query[1] = '\0';
  return hr;
}

static void request_done(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  mida__http *h = cls;
  (void)c;
  http_request *hr = *req_cls;
  /* An event stream the library closed for its idle timeout: its client
   * stopped reading (a stalled tab, a tunnel that hangs) and the stream
   * could not be written for that long. It cannot be told why: nothing
   * more reaches it. */
  if (hr != NULL && hr->events &&
      toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
    atomic_fetch_add(&h->srv->drops.streams_unread, 1);
  if (hr != NULL) {
    size_t answer_bytes = hr->answer_bytes;
    mida__free(hr->target);
    mida__free(hr);
    pthread_mutex_lock(&h->lock);
    h->in_flight--;
    h->unread -= answer_bytes;
    pthread_cond_broadcast(&h->done);
    pthread_mutex_unlock(&h->lock);
  }
  *req_cls = NULL;
}

/* Whether a connection from addr is served. Without a token, only when
 * its client is a socket of this user's or root's (peer.h): every local
 * user reaches loopback, and the store is this user's alone; the
 * connection of another is closed before a byte is read. Then the limits,
 * in all and from one address (conn_limit.h): a connection over them is
 * closed and counted (serve.h, connections_refused). libmicrohttpd's own
 * limits are set above these, as it closed what passed them before any
 * callback, uncounted. */
static enum MHD_Result accept_connection(void *cls,
                                         const struct sockaddr *addr,
                                         socklen_t addrlen) {
  mida__http *h = cls;
  if (h->token == NULL) {
    const struct sockaddr *server =
        atomic_load(&h->listening_known) ? (struct sockaddr *)&h->listening
                                         : NULL;
    if (!mida__serve_peer_is_ours(addr, addrlen, server))
      return MHD_NO;
  }
  if (!mida__conn_limit_admits(&h->conns, addr)) {
    atomic_fetch_add(&h->srv->drops.connections_refused, 1);
    return MHD_NO;
  }
  return MHD_YES;
}

/* A connection the library starts takes its place in the limits (its
 * token kept in the connection's context, +1 so that NULL says none), and
 * gives it back when the library closes it. Both calls come from the
 * library for every connection that accept_connection admitted. */
static void connection_changed(void *cls, struct MHD_Connection *c,
                               void **socket_context,
                               enum MHD_ConnectionNotificationCode code) {
  mida__http *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *info =
        mhd->get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    long token = mida__conn_limit_take(
        &h->conns, info != NULL ? info->client_addr : NULL);
    *socket_context = token >= 0 ? (void *)(intptr_t)(token + 1) : NULL;
  } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
    mida__conn_limit_give(&h->conns, (long)(intptr_t)*socket_context - 1);
    *socket_context = NULL;
  }
}

/* Counts an answer of len bytes in those not yet read, until its request
 * ends (request_done); whether it may go (HTTP_UNREAD_MAX). */
static int hold_answer(mida__http *h, http_request *hr, size_t len) {
  pthread_mutex_lock(&h->lock);
  int fits = len <= HTTP_SMALL_ANSWER || h->unread + len <= HTTP_UNREAD_MAX;
  if (fits) {
    h->unread += len;
    hr->answer_bytes = len;
  }
  pthread_mutex_unlock(&h->lock);
  return fits;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls) {
  (void)url;
  (void)version;
  (void)upload_data;
  mida__http *h = cls;
  http_request *hr = *req_cls;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return queue_error(c, 405,
                       "mida serve is read-only: only GET and HEAD are "
                       "answered");
  const char *length =
      mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (*upload_data_size != 0 || (length != NULL && strcmp(length, "0") != 0) ||
      mhd->lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") !=
          NULL)
    return queue_error(c, 413, "a GET request carries no body");
  if (hr == NULL)
    return queue_error(c, 503, "out of memory");
  /* The answer waits for the library's second call, made once the whole
   * request is read. An answer queued at the first call, when only the
   * headers are in, made libmicrohttpd (0.9.x) close the connection after
   * it, as a body might follow unread: every answer went with
   * "Connection: close", and each request cost a connection of its own
   * (a TCP handshake, a thread and the peer check of accept_connection). Now a
   * connection is kept between requests (HTTP/1.1), until it is idle for
   * the idle timeout; the refusals above still close theirs, their body
   * unread. Every request on a kept connection is checked as the first:
   * Host, Sec-Fetch-Site and the token below; the peer check is of the
   * connection, whose client socket, and so its owner, is the same for
   * every request on it. */
  if (!hr->read_whole) {
    hr->read_whole = 1;
    return MHD_YES;
  }
  if (hr->target_too_long || hr->target == NULL)
    return queue_error(c, 414, "the request target is too long");
  if (several_hosts(c))
    return queue_error(c, 400,
                       "a request carries one Host header, not several "
                       "(RFC 9112, section 3.2)");
  if (!host_allowed(h, c))
    return queue_error(c, 403,
                       "the Host header must name this machine's loopback "
                       "address (127.0.0.1, localhost, [::1] or the address "
                       "listened on)");
  /* The page and its scripts hold no data and are public; every answer
   * from the store needs the token. Which is which is read from the path
   * as the router decodes it: "/%61pi/sql" is "/api/sql". */
  int api = !mida__serve_target_public(hr->target);
  if (api && sent_for_another_site(c))
    return queue_error(c, 403,
                       "the API answers this server's own page, not a page "
                       "of another site (Sec-Fetch-Site)");
  if (api && !authorized(h, c))
    return queue_error(c, 401,
                       "this server needs a bearer token: send "
                       "'Authorization: Bearer TOKEN'");
  mida__resp resp;
  mida__resp_init(&resp);
  mida__serve_handle(h->srv, hr->target, &resp);
  not_modified(c, &resp);
  if (!resp.events && !hold_answer(h, hr, resp.body.len))
    mida__resp_error(&resp, 503,
                     "the server holds %zu MiB of answers that their clients "
                     "have not read yet: try again when they have",
                     HTTP_UNREAD_MAX >> 20);
  enum MHD_Result ret;
  if (resp.events && resp.status == 200) {
    ret = queue_events(h, c, &resp);
    hr->events = ret == MHD_YES;
  } else
    ret = queue(c, &resp, api);
  mida__resp_free(&resp);
  return ret;
}

/* ---- start and stop --------------------------------------------------- */

static void free_http(mida__http *h) {
  if (h->token != NULL)
    memset(h->token, 0, h->token_len);
  mida__free(h->token);
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->done);
  mida__conn_limit_free(&h->conns);
  mida__free(h);
}

/* Waits up to ms for the requests in flight to end; whether they did. */
static int requests_end(mida__http *h, int ms) {
  struct timespec deadline;
  mida__serve_deadline(ms, &deadline);
  pthread_mutex_lock(&h->lock);
  int timed_out = 0;
  while (h->in_flight > 0 && !timed_out)
    timed_out = pthread_cond_timedwait(&h->done, &h->lock, &deadline) ==
                ETIMEDOUT;
  int ended = h->in_flight == 0;
  pthread_mutex_unlock(&h->lock);
  return ended;
}

int mida__http_start(mida__serve *srv, const mida__http_opts *opts,
                     mida__http **out, int *port, char *err, size_t errlen) {
  *out = NULL;
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  int loopback = 0;
  int rc = resolve_listen(opts->listen, &ss, &sslen, &loopback, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  if (!loopback && opts->token == NULL) {
    snprintf(err, errlen,
             "refusing to listen on %.100s without a token: any other "
             "machine could read the store. Give --token-file FILE, or "
             "listen on 127.0.0.1 and use an SSH tunnel (docs/serve.md)",
             opts->listen);
    return MIDA_EINVAL;
  }
  mhd = mida__mhd_load(err, errlen);
  if (mhd == NULL)
    return MIDA_EUNSUPPORTED;
  mida__http *h = mida__calloc(1, sizeof *h);
  if (h == NULL) {
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  if (opts->token == NULL && !mida__serve_peer_check_works()) {
    mida__free(h);
    snprintf(err, errlen,
             "refusing to listen on %.100s without a token: this machine "
             "does not say whose a connection is (/proc/net/tcp), so any "
             "local user could read the store. Give --token-file FILE "
             "(docs/serve.md)",
             opts->listen);
    return MIDA_EINVAL;
  }
  h->srv = srv;
  pthread_mutex_init(&h->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&h->done, &attr);
  pthread_condattr_destroy(&attr);
  h->loopback_only = opts->token == NULL;
  host_of_address((const struct sockaddr *)&ss, sslen, h->listen_host,
                  sizeof h->listen_host);
  if (opts->token != NULL) {
    h->token = mida__strdup(opts->token);
    h->token_len = strlen(opts->token);
    if (h->token == NULL) {
      free_http(h);
      snprintf(err, errlen, "out of memory");
      return MIDA_ENOMEM;
    }
  }
  /* MHD_USE_ITC: what MHD_quiesce_daemon needs (mida__http_stop). */
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                   MHD_USE_ITC;
  if (ss.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  unsigned max_clients = opts->max_clients > 0 ? (unsigned)opts->max_clients
                                               : HTTP_MAX_CLIENTS;
  if (mida__conn_limit_init(&h->conns, max_clients, HTTP_PER_ADDRESS) !=
      MIDA_OK) {
    free_http(h);
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  unsigned idle_s =
      opts->idle_timeout_s > 0 ? (unsigned)opts->idle_timeout_s
                               : HTTP_IDLE_TIMEOUT;
  h->keepalive_ms = idle_s * 1000 / 2 < EVENTS_KEEPALIVE_MS
                        ? (int)(idle_s * 1000 / 2)
                        : EVENTS_KEEPALIVE_MS;
  h->daemon = mhd->start_daemon(
      flags, 0, accept_connection, h, answer, h, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss,
      /* Above ours, so that it never closes a connection uncounted:
       * libmicrohttpd 0.9.75 calls accept_connection, STARTED and CLOSED
       * all on its listening thread (CLOSED once the connection's thread
       * is joined, or its start failed; at MHD_stop_daemon too) and
       * lowers its own count right after CLOSED, so the two go together;
       * twice is a margin only. */
      MHD_OPTION_CONNECTION_LIMIT, 2 * max_clients,
      MHD_OPTION_NOTIFY_CONNECTION, connection_changed, h,
      MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
      MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h,
      MHD_OPTION_NOTIFY_COMPLETED, request_done, h,
      MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
  if (h->daemon == NULL) {
    snprintf(err, errlen,
             "cannot listen on %.100s (is the port in use, or the address "
             "not this machine's?)",
             opts->listen);
    free_http(h);
    return MIDA_EIO;
  }
  const union MHD_DaemonInfo *info =
      mhd->get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  *port = info != NULL ? (int)info->port : 0;
  /* The connections' server end, by which peer.c finds their clients. */
  h->listening = ss;
  if (ss.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&h->listening)->sin6_port = htons((uint16_t)*port);
  else
    ((struct sockaddr_in *)&h->listening)->sin_port = htons((uint16_t)*port);
  atomic_store(&h->listening_known, 1);
  *out = h;
  return MIDA_OK;
}

void mida__http_stop(mida__http *h) {
  if (h == NULL)
    return;
  /* No new connection: the listening socket is closed at once, so that
   * a client is refused rather than left waiting in its backlog. */
  MHD_socket listening = mhd->quiesce_daemon(h->daemon);
  if (listening != MHD_INVALID_SOCKET)
    close(listening);
  /* Event streams wait for changes: the poller's end wakes them, so that
   * stopping the daemon does not wait for their keep-alive. */
  mida__serve_events_stop(h->srv);
  /* Requests in flight finish, within a grace; then their queries are
   * ended (a 503 says the server stops) and their answers go out. The
   * daemon's stop shuts every connection, answered or not. */
  if (!requests_end(h, STOP_GRACE_MS)) {
    mida__serve_pool_stop(&h->srv->pool);
    requests_end(h, STOP_ANSWER_MS);
  }
  mida__serve_pool_stop(&h->srv->pool);
  mhd->stop_daemon(h->daemon);
  free_http(h);
}
