/*
 * http.c -- a minimal HTTP/1.1 client that POSTs one JSON body and reads
 * the status (report.h), for sending OpenLineage events to an endpoint
 * such as Marquez's /api/v1/lineage.
 *
 * Plain http:// only (no TLS: put a local relay in front of an https://
 * endpoint). One connection per request with "Connection: close", so the
 * answer ends with the connection and no body framing has to be parsed;
 * only the status line is read. A user and password in the URL become a
 * Basic Authorization header and never appear in a message.
 */
#include "report/report.h"

#include "core/buf.h"
#include "mida.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HTTP_PART_MAX 1024

typedef struct http_url {
  char host[256];          /* without brackets */
  char port[8];            /* "80" unless given */
  char path[HTTP_PART_MAX]; /* "/" unless given */
  char auth[512];          /* "user:password" as written, or "" */
} http_url;

static int parse_url(const char *url, http_url *u) {
  memset(u, 0, sizeof *u);
  if (strncmp(url, "http://", 7) != 0)
    return MIDA_EURL;
  const char *p = url + 7;
  const char *end = p + strcspn(p, "/?#");
  const char *at = memchr(p, '@', (size_t)(end - p));
  if (at != NULL) {
    if ((size_t)(at - p) >= sizeof u->auth)
      return MIDA_EURL;
    memcpy(u->auth, p, (size_t)(at - p));
    p = at + 1;
  }
  const char *host = p, *host_end;
  const char *colon;
  if (*p == '[') {
    host = p + 1;
    host_end = memchr(host, ']', (size_t)(end - host));
    if (host_end == NULL)
      return MIDA_EURL;
    colon = host_end + 1 < end && host_end[1] == ':' ? host_end + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    host_end = colon != NULL ? colon : end;
  }
  size_t hlen = (size_t)(host_end - host);
  if (hlen == 0 || hlen >= sizeof u->host)
    return MIDA_EURL;
  memcpy(u->host, host, hlen);
  if (colon != NULL) {
    size_t plen = (size_t)(end - colon - 1);
    if (plen == 0 || plen >= sizeof u->port ||
        strspn(colon + 1, "0123456789") < plen)
      return MIDA_EURL;
    memcpy(u->port, colon + 1, plen);
  } else {
    snprintf(u->port, sizeof u->port, "80");
  }
  const char *path = *end == '/' ? end : "/";
  if (strlen(path) >= sizeof u->path || strpbrk(path, " \r\n") != NULL)
    return MIDA_EURL;
  snprintf(u->path, sizeof u->path, "%s", path);
  return MIDA_OK;
}

static void base64(const char *in, char *out, size_t cap) {
  static const char t[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = 0;
  for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < n)
      v |= (unsigned char)in[i + 1] << 8;
    if (i + 2 < n)
      v |= (unsigned char)in[i + 2];
    out[o++] = t[(v >> 18) & 63];
    out[o++] = t[(v >> 12) & 63];
    out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? t[v & 63] : '=';
  }
  out[o] = '\0';
}

/* Sends all of data, waiting at most timeout_ms for each part. */
static int send_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return errno == EAGAIN ? MIDA_ETIMEDOUT : MIDA_EIO;
    data += w;
    len -= (size_t)w;
  }
  return MIDA_OK;
}

int mida__http_post_json(const char *url, const char *body, size_t len,
                         int timeout_ms, char *err, size_t errlen) {
  http_url u;
  if (parse_url(url, &u) != MIDA_OK) {
    snprintf(err, errlen, "the OpenLineage URL must be http://host[:port]"
                          "/path (https is not spoken)");
    return MIDA_EURL;
  }
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_STREAM;
  int g = getaddrinfo(u.host, u.port, &hints, &res);
  if (g != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", u.host, gai_strerror(g));
    return MIDA_EUNREACHABLE;
  }
  int fd = -1, e = 0;
  for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0)
      continue;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      e = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, errlen, "cannot reach %s:%s: %s", u.host, u.port,
             strerror(e));
    return e == EINPROGRESS || e == EAGAIN ? MIDA_ETIMEDOUT
                                           : MIDA_EUNREACHABLE;
  }
  mida__buf req;
  mida__buf_init(&req, 64 * 1024);
  int rc = mida__buf_printf(&req,
                            "POST %s HTTP/1.1\r\nHost: %s:%s\r\n"
                            "User-Agent: mida/%s\r\n"
                            "Content-Type: application/json\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n",
                            u.path, u.host, u.port, mida_version(), len);
  if (rc == MIDA_OK && u.auth[0] != '\0') {
    char b64[700];
    base64(u.auth, b64, sizeof b64);
    rc = mida__buf_printf(&req, "Authorization: Basic %s\r\n", b64);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&req, "\r\n");
  if (rc == MIDA_OK)
    rc = send_all(fd, req.ptr, req.len);
  if (rc == MIDA_OK)
    rc = send_all(fd, body, len);
  mida__buf_free(&req);
  char status[64] = "";
  size_t got = 0;
  while (rc == MIDA_OK && got < sizeof status - 1 &&
         memchr(status, '\n', got) == NULL) {
    ssize_t r = recv(fd, status + got, sizeof status - 1 - got, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      rc = errno == EAGAIN ? MIDA_ETIMEDOUT : MIDA_EIO;
    else if (r == 0)
      break;
    else
      got += (size_t)r;
    status[got] = '\0';
  }
  close(fd);
  if (rc != MIDA_OK) {
    snprintf(err, errlen, "sending to %s:%s failed: %s", u.host, u.port,
             mida_strerror(rc));
    return rc;
  }
  int code = 0;
  if (strncmp(status, "HTTP/1.", 7) == 0 && got >= 12)
    code = (int)strtol(status + 9, NULL, 10);
  if (code < 200 || code > 299) {
    status[strcspn(status, "\r\n")] = '\0';
    snprintf(err, errlen, "%s:%s%s answered %s", u.host, u.port, u.path,
             status[0] != '\0' ? status : "nothing");
    return MIDA_EIO;
  }
  return MIDA_OK;
}
