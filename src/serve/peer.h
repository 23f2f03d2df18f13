/*
 * peer.h -- whose is the client of a loopback connection (`mida serve`
 * without a token).
 *
 * Without --token-file the server listens on loopback only, and the store
 * it serves is its user's alone (an SQLite store is 0600; docs/security.md):
 * every other user of the machine reaches 127.0.0.1 too. So a connection
 * is served only when the socket at its other end belongs to this user
 * (the effective uid) or to root, as the kernel lists it in
 * /proc/net/tcp and /proc/net/tcp6: the user's browser, an `ssh -L` tunnel
 * of theirs, their scripts; not another user's curl.
 */
#ifndef MIDA_SERVE_PEER_H
#define MIDA_SERVE_PEER_H

#include <sys/socket.h>

/* Whether the client at addr (an IPv4 or IPv6 address with its port, as
 * accept() gives it) is a socket of this process's effective uid or of
 * root. The kernel is asked for the socket connected from addr to server
 * (the address and port listened on), when server is not NULL; when it
 * finds none or cannot be asked: every open TCP socket of the machine
 * bound to addr belongs to one of them, and there is at least one. 0 when
 * another user's is among them, or the kernel's tables cannot be read.
 * Thread safe. */
int mida__serve_peer_is_ours(const struct sockaddr *addr, socklen_t len,
                             const struct sockaddr *server);

/* Whether this machine lists its TCP sockets where peer.c reads them
 * (1), so that mida__serve_peer_is_ours can answer; 0 otherwise. */
int mida__serve_peer_check_works(void);

#endif /* MIDA_SERVE_PEER_H */
