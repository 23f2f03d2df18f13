/*
 * config.h -- defaults shared by the library and the mida command.
 */
#ifndef MIDA_CORE_CONFIG_H
#define MIDA_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define MIDA_DEFAULT_STORE "sqlite://mida.db"

/* The store URL in force: MIDA_STORE if set and not empty, else
 * MIDA_DEFAULT_STORE. Never NULL. */
const char *mida__default_store(void);

/* The spool directory that belongs to a store: "<path>.spool" beside an
 * SQLite file; for other stores "$XDG_RUNTIME_DIR/mida-spool/<hash of URL>"
 * where XDG_RUNTIME_DIR names a directory of this user's, mode 0700, else
 * "$TMPDIR/mida-spool-<euid>/<hash of URL>" ($TMPDIR: /tmp if unset). The
 * hash is of the URL with its secrets masked (mida__url_redact), so that
 * the name tells nothing of a password. Each store has its own, so that
 * recovery ships a dead process's journal to the store it was meant for.
 * Returns MIDA_OK, MIDA_ETOOBIG if buf is too small, or MIDA_ENOMEM. */
int mida__default_spool(const char *store_url, char *buf, size_t buflen);

/* The spool in force for the store at store_url: MIDA_SPOOL if set and not
 * empty, else mida__default_spool(). Returns MIDA_OK, or MIDA_ETOOBIG if
 * buf is too small. */
int mida__spool_in_force(const char *store_url, char *buf, size_t buflen);

/* Parses a size in bytes: digits with an optional unit k, m, g or t
 * (binary multiples, either case), e.g. "64M", "1g", "65536", into *out.
 * Returns 0, or -1 if malformed or too large. */
int mida__parse_size(const char *text, uint64_t *out);

#endif /* MIDA_CORE_CONFIG_H */
