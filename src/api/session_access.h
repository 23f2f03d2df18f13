/*
 * session_access.h -- what code above the API (the observers in
 * src/observe/, `mida run` in src/cli/) may use of a session beyond
 * include/mida.h: a few read-only accessors, the journal append for records
 * they build by hand, and the error-message calls. The session itself
 * (api/session.h) is private to src/api/.
 *
 * Error messages follow the one convention of core/errors.h.
 */
#ifndef MIDA_API_SESSION_ACCESS_H
#define MIDA_API_SESSION_ACCESS_H

#include "capture/shipper.h"
#include "core/errors.h"
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

/* mida_open with a quiet start: the shipper opens the store only after
 * quiet_ms, or sooner when a flush, a collect pass or the close asks
 * (mida__shipper_start_quiet); records wait in the journal meanwhile.
 * Not with strict or an open_wait_ms, which would wait for the open. */
int mida__open_quiet(const mida_config_t *cfg, int quiet_ms,
                     mida_session_t **out, char *errmsg, size_t errmsg_len);

/* Ends a quiet start (mida__open_quiet) now: mida__shipper_quiet_end.
 * Does not wait. */
void mida__session_quiet_end(mida_session_t *s);

/* Waits until the shipper's first attempt to open the store is over, or
 * timeout_ms passes (negative: no limit), for a session opened without
 * waiting (mida_config_t.open_wait_ms 0). Returns MIDA_OK (open), the
 * open's error (its message in msg), or MIDA_ETIMEDOUT (still trying). */
int mida__session_wait_open(mida_session_t *s, int timeout_ms, char *msg,
                            size_t msglen);

/* Whether the session's journal has room to keep records now: MIDA_OK,
 * or why not (the spool cannot be made, is full or past MIDA_SPOOL_MAX:
 * records are then dropped and counted) with the reason in msg. */
int mida__session_space(mida_session_t *s, char *msg, size_t msglen);

/* Ships the orphan segments of the session's spool (the journals of
 * processes that ended; `mida run` has its command's shipped so) through
 * the session's own connection to the store, and waits up to timeout_ms
 * (negative: no limit) for that pass; *out (may be NULL) gets what it
 * shipped; flags are the pass's (MIDA_RECOVER_*, src/capture/recovery.h:
 * MIDA_RECOVER_TAIL_LIVE also reads the live segments of the preload
 * library). Returns MIDA_OK, MIDA_ETIMEDOUT, MIDA_ECLOSED, or the store's
 * open error while it is not open (the orphans stay in the spool; its
 * message is the session's, mida_errmsg). */
int mida__session_collect(mida_session_t *s, int timeout_ms, unsigned flags,
                          mida__collected *out);

/* Ends the group that a collect pass holds open (MIDA_RECOVER_HOLD) and
 * holds none from now on: mida__shipper_cut_hold. Does not wait. */
void mida__session_collect_cut(mida_session_t *s);

/* Sets the last message of session s (s NULL: only the thread's) and the
 * thread's, and returns rc. */
int mida__session_error(const mida_session_t *s, int rc, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

#endif /* MIDA_API_SESSION_ACCESS_H */
