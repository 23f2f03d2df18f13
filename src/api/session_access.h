/*
 * session_access.h -- what code above the API (the observers in
 * src/observe/) may use of a session beyond include/mida.h: a few
 * read-only accessors, the journal append for records they build by hand,
 * and the error-message calls. The session itself (api/session.h) is
 * private to src/api/.
 *
 * Error messages, one convention for the whole library: a function that
 * fails returns a MIDA_E* code and leaves a message -- a handle's own
 * (mida_errmsg(s) for a session, mida__sink_errmsg for a sink) where there
 * is a handle, else the calling thread's (mida__set_error; read back with
 * mida_errmsg(NULL)); a function that creates a handle and fails has no
 * handle to keep it, and writes it into the caller's buffer (char *err,
 * size_t errlen), as mida_open does.
 */
#ifndef MIDA_API_SESSION_ACCESS_H
#define MIDA_API_SESSION_ACCESS_H

#include "core/record.h"
#include "mida.h"

/* The session's campaign (nil if none) and its configured name (NULL if
 * none); the default parent of tasks (nil if none); the store URL. Valid
 * until mida_close(s). */
const mida_id_t *mida__session_campaign(const mida_session_t *s);
const char *mida__session_campaign_name(const mida_session_t *s);
const mida_id_t *mida__session_parent_task(const mida_session_t *s);
const char *mida__session_store_url(const mida_session_t *s);

/* Appends a record built by hand (by an observer) to the session's
 * journal, as the capture calls do for theirs. Returns MIDA_OK,
 * MIDA_EFULL, MIDA_ETOOBIG or MIDA_ECLOSED, with the session's message. */
int mida__session_put(mida_session_t *s, const mida__rec *rec);

/* Sets the calling thread's last message (mida_errmsg(NULL)) and returns
 * rc: for code that has no session at hand. */
int mida__set_error(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the last message of session s (s NULL: only the thread's) and the
 * thread's, and returns rc. */
int mida__session_error(const mida_session_t *s, int rc, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

#endif /* MIDA_API_SESSION_ACCESS_H */
