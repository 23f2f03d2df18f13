/*
 * url_text.h -- the URLs inside a recorded text, with their secrets masked.
 *
 * A task's argument may be a database URL with its password
 * (`load(db="postgresql://u:pw@h/db")`), a data's URI may carry a token
 * in its query (`https://h/x?token=...`), an error text may quote the URL
 * a library could not reach. mida stores and exports such texts, so each
 * URL in them is rewritten as every message shows one (mida__url_redact,
 * url.h): the userinfo's password (or a NATS token) and the values of
 * secret-looking query parameters become "***".
 *
 * A URL in a text is a scheme ("postgresql", RFC 3986's letters, digits,
 * '+', '-', '.', starting with a letter), "://", and what follows up to
 * the first byte that no URL holds as written: a space or a control byte,
 * a quote, '<', '>', '`', '\\' (a JSON escape), '{', '}', '|' or '^'. So
 * a URL inside a JSON string ends at its closing quote, and the rewrite
 * adds no byte that JSON would need to escape. Paths (file://, sqlite://)
 * hold no secret and are left as they are.
 *
 * Cheap when there is nothing to do: a text without "://" costs a memchr
 * for each of its ':', and a URL without '@' and '?' is passed over
 * without a copy.
 */
#ifndef MIDA_CORE_URL_TEXT_H
#define MIDA_CORE_URL_TEXT_H

#include "core/buf.h"

#include <stddef.h>

/* The next URL inside text[from..len) (above), any URL: [*start, *end)
 * and 1, or 0 when there is none. For a writer that must not allocate
 * (core/argv.c, in the preload library's exec) and masks each URL itself
 * with mida__url_redact. */
int mida__url_text_next(const char *text, size_t len, size_t from,
                        size_t *start, size_t *end);

/* Whether some URL inside text[0..len) holds a secret that
 * mida__url_text_redact would mask. */
int mida__url_text_has_secret(const char *text, size_t len);

/* Appends text[0..len) to out with the secrets of each URL inside it
 * masked (above). Returns MIDA_OK or the buffer's error. */
int mida__url_text_redact(const char *text, size_t len, mida__buf *out);

#endif /* MIDA_CORE_URL_TEXT_H */
