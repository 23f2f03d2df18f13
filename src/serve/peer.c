/*
 * peer.c -- whose is the client of a loopback connection (peer.h).
 *
 * Each line of /proc/net/tcp and /proc/net/tcp6 is one socket: "sl
 * local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid
 * ...", an address written as the hex of its bytes in 32-bit words as the
 * machine stores them ("0100007F:1F4D" is 127.0.0.1:8013 on x86), the
 * port in hex. The client's own socket is the line whose local address is
 * the address accept() gave; its uid is who opened it. An IPv4 client of
 * an IPv6 listener is ::ffff:a.b.c.d there, a line of tcp6.
 *
 * The tables list every TCP socket of the machine, every user's and
 * every closed connection's for a minute (TIME_WAIT), and the kernel
 * writes them out anew at each read: 11 ms for 2,500 sockets, in the
 * server's one thread that accepts connections. Each request was a
 * connection, so the server answered some 75 requests a second without
 * a token (2,300 with one), fewer the more sockets the machine had. So
 * the client's socket is first asked of the kernel by both its ends
 * (sock_diag, as ss(8) asks: one lookup in the kernel's table of
 * connections), and the tables are read only when that cannot answer.
 */
#include "serve/peer.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The hex of n bytes at p, in 32-bit words as this machine stores them,
 * as the kernel writes an address into /proc/net/tcp*; out holds 2n+1. */
static void address_hex(const unsigned char *p, size_t n, char *out) {
  for (size_t w = 0; w < n; w += 4) {
    uint32_t word;
    memcpy(&word, p + w, 4);
    snprintf(out + 2 * w, 9, "%08X", (unsigned)word);
  }
}

/* The n-th field (from 0) of line, fields parted by blanks: where it
 * starts, its length in *len; NULL if the line has fewer. */
static const char *field(const char *line, int n, size_t *len) {
  const char *p = line;
  for (int i = 0;; i++) {
    p += strspn(p, " \t");
    if (*p == '\0' || *p == '\n')
      return NULL;
    size_t l = strcspn(p, " \t\n");
    if (i == n) {
      *len = l;
      return p;
    }
    p += l;
  }
}

/* Looks through one table for sockets whose local address is want (the
 * kernel's text, "ADDR:PORT"): adds to *ours those of uid me or root, to
 * *theirs the others. -1 when the table cannot be read. */
static int scan_table(const char *path, const char *want, uid_t me, int *ours,
                      int *theirs) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return -1;
  char line[512];
  size_t want_len = strlen(want);
  if (fgets(line, sizeof line, f) == NULL) { /* the heading */
    fclose(f);
    return -1;
  }
  while (fgets(line, sizeof line, f) != NULL) {
    /* sl local_address rem_address st queues timer retransmits uid */
    size_t local_len, state_len, uid_len;
    const char *local = field(line, 1, &local_len);
    const char *state = field(line, 3, &state_len);
    const char *uid_text = field(line, 7, &uid_len);
    if (local == NULL || state == NULL || uid_text == NULL ||
        local_len != want_len || memcmp(local, want, want_len) != 0)
      continue;
    if (state_len == 2 && memcmp(state, "0A", 2) == 0)
      continue; /* a listening socket: no client */
    char *end = NULL;
    unsigned long uid = strtoul(uid_text, &end, 10);
    if (end != uid_text + uid_len || uid_len == 0)
      (*theirs)++; /* unreadable: not known to be ours */
    else if ((uid_t)uid == me || uid == 0)
      (*ours)++;
    else
      (*theirs)++;
  }
  fclose(f);
  return 0;
}

/* The port and address of sa (IPv4 or IPv6), as sock_diag names a
 * socket's end. */
static void socket_end(const struct sockaddr *sa, __be16 *port,
                       __be32 address[4]) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    *port = in->sin_port;
    memcpy(address, &in->sin_addr, 4);
  } else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    *port = in6->sin6_port;
    memcpy(address, &in6->sin6_addr, 16);
  }
}

/* Asks the kernel for the TCP socket whose local end is client and whose
 * other end is server, both of one family: its owner's uid in *uid.
 * 1 when found, 0 when not, -1 when it cannot be asked. */
static int diag_uid(const struct sockaddr *client,
                    const struct sockaddr *server, uid_t *uid) {
  struct {
    struct nlmsghdr head;
    struct inet_diag_req_v2 req;
  } ask;
  memset(&ask, 0, sizeof ask);
  ask.head.nlmsg_len = sizeof ask;
  ask.head.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  ask.head.nlmsg_flags = NLM_F_REQUEST;
  ask.req.sdiag_family = (unsigned char)client->sa_family;
  ask.req.sdiag_protocol = IPPROTO_TCP;
  ask.req.idiag_states = ~0U;
  ask.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  ask.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  socket_end(client, &ask.req.id.idiag_sport, ask.req.id.idiag_src);
  socket_end(server, &ask.req.id.idiag_dport, ask.req.id.idiag_dst);
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return -1;
  struct timeval wait = {1, 0}; /* the kernel answers at once */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  long answer[1024]; /* aligned for the headers */
  ssize_t n = -1;
  if (sendto(fd, &ask, sizeof ask, 0, (struct sockaddr *)&kernel,
             sizeof kernel) == (ssize_t)sizeof ask)
    n = recv(fd, answer, sizeof answer, 0);
  close(fd);
  const struct nlmsghdr *head = (const struct nlmsghdr *)answer;
  if (n < 0 || !NLMSG_OK(head, (size_t)n))
    return -1;
  if (head->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
      head->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
    *uid = ((const struct inet_diag_msg *)NLMSG_DATA(head))->idiag_uid;
    return 1;
  }
  if (head->nlmsg_type == NLMSG_ERROR &&
      head->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)) &&
      ((const struct nlmsgerr *)NLMSG_DATA(head))->error == -ENOENT)
    return 0;
  return -1;
}

int mida__serve_peer_is_ours(const struct sockaddr *addr, socklen_t len,
                             const struct sockaddr *server) {
  if (server != NULL && server->sa_family == addr->sa_family &&
      ((addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
       (addr->sa_family == AF_INET6 &&
        len >= sizeof(struct sockaddr_in6)))) {
    uid_t uid;
    if (diag_uid(addr, server, &uid) == 1)
      return uid == geteuid() || uid == 0;
  }
  char want[64];
  const char *table;
  if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    char hex[9];
    address_hex((const unsigned char *)&in->sin_addr, 4, hex);
    snprintf(want, sizeof want, "%s:%04X", hex, (unsigned)ntohs(in->sin_port));
    table = "/proc/net/tcp";
  } else if (addr->sa_family == AF_INET6 &&
             len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    char hex[33];
    address_hex(in6->sin6_addr.s6_addr, 16, hex);
    snprintf(want, sizeof want, "%s:%04X", hex,
             (unsigned)ntohs(in6->sin6_port));
    table = "/proc/net/tcp6";
  } else {
    return 0;
  }
  int ours = 0, theirs = 0;
  if (scan_table(table, want, geteuid(), &ours, &theirs) != 0)
    return 0;
  return ours > 0 && theirs == 0;
}

int mida__serve_peer_check_works(void) {
  return access("/proc/net/tcp", R_OK) == 0;
}
