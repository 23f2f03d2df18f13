/*
 * pg_url.h -- a PostgreSQL store URL read as libpq will read it, before
 * anything connects (the postgresql module's check_url, sink.h).
 *
 * libpq reads a URL's syntax when it parses it, but the value of a port
 * only when it connects: "postgresql://h:abc/db" parses, and each
 * connection then fails with 'invalid integer value "abc"'. A producer
 * took such a URL for a store that was down, made its spool and kept its
 * records there for a store that could never be reached. So the port of
 * each host is checked here too, with the other mistakes that no later
 * attempt can mend.
 */
#ifndef MIDA_SINK_PG_URL_H
#define MIDA_SINK_PG_URL_H

#include <stddef.h>

/* Checks url (postgresql:// or postgres://) as the store's open would
 * read it: libpq must parse it (a bracket left open, a query parameter
 * libpq does not know), and each port, of one host or of a list, must be
 * empty (libpq's default) or a number from 1 to 65535, one port for all
 * hosts or one for each. Connects to nothing. Returns MIDA_OK, or
 * MIDA_EURL with why in err: the URL with its password masked, and no
 * part of libpq's message that quotes the URL. */
int mida__pg_url_check(const char *url, char *err, size_t errlen);

#endif /* MIDA_SINK_PG_URL_H */
