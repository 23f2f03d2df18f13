/*
 * url_scrub.h -- another library's message about a URL, made safe to show.
 *
 * mida shows a URL only through mida__url_redact (url.h). A library that
 * was handed the URL may still repeat part of it in its own message:
 * libpq, given "postgresql://u:50%off@h/db", answers 'invalid
 * percent-encoded token: "50%off"', and given an address it cannot read,
 * quotes the whole URL. mida__url_scrub rewrites such a message before it
 * goes into any error text:
 *
 *   - a double-quoted token of the message that holds one of the URL's
 *     secrets becomes "***", or the redacted URL when it is a URL;
 *   - any other appearance of a secret of 3 bytes or more becomes ***
 *     (a shorter one would mask letters of ordinary words).
 *
 * A secret is the userinfo's password or token, the value of each query
 * or fragment parameter with a secret name (mida__url_next_secret_value)
 * and of each key=value word with one (core/conninfo.h, also without its
 * quotes), each as written, percent-decoded, and with '@' and '/'
 * escaped as mida__url_escape_userinfo hands them to libpq. When the
 * secrets do not fit the scrubber's room, the whole message is withheld
 * instead.
 */
#ifndef MIDA_CORE_URL_SCRUB_H
#define MIDA_CORE_URL_SCRUB_H

#include <stddef.h>

/* Writes msg into buf (buflen > 0) with url's secrets masked (above); cut
 * at buflen - 1 bytes. NULL msg gives "", NULL url copies msg. Returns
 * buf, so that it can be an argument of printf. */
const char *mida__url_scrub(const char *msg, const char *url, char *buf,
                            size_t buflen);

#endif /* MIDA_CORE_URL_SCRUB_H */
