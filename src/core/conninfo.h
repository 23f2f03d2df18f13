/*
 * conninfo.h -- the key=value words of a libpq connection string, in any
 * text: which values are secret, and whether a text is such a string.
 *
 * PostgreSQL's programs take a store as a URL or as "key=value" words
 * (`host=db dbname=mida password=pw`, libpq's conninfo). mida takes URLs
 * only: a conninfo given as --store or MIDA_STORE has no scheme, so it
 * would be read as the name of an SQLite file, created by a writer and
 * printed, password and all, in "no store at ...". This module gives the
 * one rule for both sides of that:
 *
 *   - mida__conninfo_next_secret finds the value of each word whose name
 *     looks like a secret's (mida__secret_name, core/redact.h) wherever it
 *     stands in a text, so that mida__url_redact (core/url.h), the scrub of
 *     a library's message (core/url_scrub.h) and the mask of mida's own
 *     argv for `ps` (cli/ps_mask.c) all hide it;
 *   - mida__conninfo_looks_like tells a store text that is a conninfo, to
 *     be refused without being echoed (MIDA_CONNINFO_REFUSED).
 *
 * A word is read as libpq reads one (fe-connect.c, conninfo_parse): it
 * starts at the start of the text, after white space or after a quote
 * (libpq reads on right after a quoted value; here a '"', a shell
 * command's quote, too); its name, here
 * one or more letters, digits, '_', '-' or '.' (so that a URL, whose
 * scheme ends at a ':', is never taken for a name), may be followed by
 * white space, then '=', white space, and the value: up to the next white
 * space, each backslash keeping the byte after it ("a\ b"), or, when it
 * starts with a quote, up to the closing quote that no backslash escapes
 * ('a b', 'it\'s'), both quotes included; an unclosed quote runs to the
 * end of the text. A value may be empty. Every word start is tried, the
 * inside of an ordinary value included, so that more is hidden, never
 * less.
 */
#ifndef MIDA_CORE_CONNINFO_H
#define MIDA_CORE_CONNINFO_H

#include <stddef.h>

/* What mida says, in full, of a store given as a libpq conninfo: the text
 * itself is not shown, as it may hold a password. */
#define MIDA_CONNINFO_REFUSED                                                \
  "the store looks like a PostgreSQL key=value connection string, which "  \
  "mida does not take: write it as a URL, "                                \
  "postgresql://USER@HOST:PORT/DBNAME, with the password in ~/.pgpass or " \
  "PGPASSWORD (for an SQLite file so named: sqlite://NAME)"

/* Finds the next value, at or after *from (0 to start), of a key=value
 * word of text whose name looks like a secret's (above): sets *off and
 * *len (its place in text, possibly empty), moves *from past it and
 * returns 1; returns 0 when none is left. No allocation. */
int mida__conninfo_next_secret(const char *text, size_t *from, size_t *off,
                               size_t *len);

/* Whether text, a store given without a scheme, is a libpq conninfo: one
 * of its words (above) is named by a libpq keyword (host, hostaddr, port,
 * dbname, user, password, sslmode, ..., in any case) or looks like a
 * secret's. NULL, and a text with a scheme (a URL), give 0. */
int mida__conninfo_looks_like(const char *text);

#endif /* MIDA_CORE_CONNINFO_H */
