/*
 * journal.h -- the per-process capture journal: crash-safe, lock-free append.
 *
 * A producer appends framed records to memory-mapped segment files in the
 * spool directory. A frame is committed when its commit word is stored
 * (release order); from then on it lives in the kernel's page cache and
 * survives the death of the process, SIGKILL included. A shipper (same
 * process, src/capture/shipper.h) or a recovery (another process, `mida
 * recover`) reads committed frames in order, hands them to a sink, and then
 * releases them: the journal records how far it has shipped (the head) in the
 * segment header, so the next reader starts there.
 *
 * Each segment is a ring. Writers reserve space with a compare-and-swap on
 * the tail; they never take a lock, make a system call or allocate on this
 * path. When the ring is full the journal follows its policy: SPILL (the
 * default) seals the segment and opens the next one (one slow, locked path
 * with open/mmap, taken only when the shipper is behind), so nothing is lost;
 * DROP counts the record in the header and returns MIDA_EFULL.
 *
 * Room on disk. A segment's blocks are reserved (posix_fallocate) before it
 * is mapped, so a full file system shows as an error on the slow path and
 * never as a SIGBUS on a write through the mapping. Where no new segment can
 * be made -- the file system is full, the spool is read-only, or its
 * segments would pass the bound on its size (spool_max, MIDA_SPOOL_MAX) --
 * the record is dropped and counted, as under DROP, and the program goes on;
 * further writers that find a full ring drop without trying again until the
 * reader (mida__journal_maintain, about once a second) lets them, so capture
 * resumes by itself once there is room. A journal that could not make even
 * its first segment opens all the same and counts every record it drops
 * (in memory only: there is no file to count them in) until it can.
 *
 * Each live segment file is held with an exclusive flock(2) by the process
 * that writes it. A segment file whose lock can be taken belongs to a dead
 * process and is an orphan, to be shipped and removed by whoever finds it.
 *
 * ---- Segment file format, version 1 (MIDA_JOURNAL_VERSION) -----------------
 *
 * File name: <spool>/<host>.<pid>.<start_ns>.<seq>.mj, seq zero-padded to six
 * digits (so that names sort in order) and counting from
 * 0; <host> with every character outside [A-Za-z0-9_-] replaced by '_' (the
 * header keeps the real name). A segment is created without a name
 * (O_TMPFILE), locked, given its size and header, and only then linked as
 * <name>, so that every *.mj file is whole and locked from its first moment;
 * where the file system has no O_TMPFILE it is made as <name>.tmp and
 * renamed.
 * All integers are little-endian.
 *
 *   offset  size  header field (first 4096 bytes of the file)
 *        0     8  magic "MIDAJRN1"
 *        8     4  version (1)
 *       12     4  header size in bytes (4096)
 *       16     8  ring size in bytes (a multiple of 4096)
 *       24     8  segment sequence number
 *       32     8  pid of the writer
 *       40     8  start time of the writer, ns since epoch
 *       48    64  host name, NUL-padded
 *      128     8  tail: logical end of reserved space (atomic); bit 63 is
 *                 the SEALED flag, set once the writer moved on to the next
 *                 segment, so that no reservation can succeed after it
 *      136     8  head: logical position shipped up to (atomic)
 *      144     8  sealed: 0, or the final tail once the writer moved on
 *      152     8  dropped: records dropped by the DROP policy (atomic)
 *      160     8  corrupt: runs of bytes a reader skipped as corrupt, and
 *                 frames it skipped as undecodable (their checksum right,
 *                 their payload no record: counted at their release
 *                 since 2026-12-07) (atomic)
 *      168     8  records: frames committed, PAD frames excluded (atomic)
 *      176     8  releasing: the head a reader is clearing the ring up to,
 *                 stored before it clears; a head behind it is moved up
 *                 to it by the next reader (0 in older files: ignored)
 *      184     8  flags: bit 0, TAILABLE: the writer's reader is another
 *                 process, which may read the segment while it lives
 *      192     8  dropped_before: records the journal dropped before this
 *                 segment was made (in earlier segments, in none, and
 *                 those carried in from the images of its process before
 *                 an exec); set when the segment is made (0 in older
 *                 files)
 *      200     8  corrupt_before: corrupt regions the journal's own reader
 *                 counted in earlier segments; set when the segment is
 *                 made, and again when the one before it is removed (0 in
 *                 older files); raised by a reader in another process
 *                 that read the earlier ones (mida__orphan_carry_corrupt)
 *
 * dropped and corrupt count this segment's alone (their sum over the
 * spool's files is `mida stats`'s); dropped_before + dropped is the
 * journal's running total up to this segment, which recovery sends the
 * store as the writer's counter "dropped": the store keeps the largest
 * value of a counter, so a segment shipped twice counts once and the
 * journal's last segment gives the sum over all of them (each segment's
 * own count, sent alone until 2026-12-07, showed the largest).
 *
 * A reader of a live segment (mida__tail_open) holds an open file
 * description lock (F_OFD_SETLK) on byte 4095 of the header while it
 * reads; flock(2) and that lock do not see each other, so it does not
 * disturb the writer's lock, and a recovery takes both.
 *
 * The ring follows at offset 4096. A logical position p (a byte count since
 * the segment began, never reset) lives at ring offset p % ring_size.
 *
 * Frame (8-byte aligned, never split across the ring's end):
 *
 *   offset  size  field
 *        0     8  commit: p XOR MIDA_FRAME_MAGIC, where p is the frame's
 *                 logical position; written last, with release order. Any
 *                 other value means "not committed".
 *        8     4  length of the payload in bytes
 *       12     2  record type (mida__rec_type; MIDA_REC_PAD for filler)
 *       14     1  record payload version (MIDA_RECORD_VERSION)
 *       15     1  flags (0)
 *       16     4  CRC32C (Castagnoli) of bytes 8..15 and of the payload
 *       20     4  reserved (0)
 *       24     n  payload (src/core/record.h), then zero padding to 8
 *
 * A PAD frame fills the rest of the ring when a frame would not fit before
 * its end; its payload is not read and its CRC covers bytes 8..15 only. Where
 * fewer than 24 bytes remain before the ring's end, no frame starts: the
 * next frame starts at the next lap and those bytes stay zero. The reader
 * clears released frames to zero before it moves the head, so space that a
 * writer reserves never shows a stale commit word. A torn or corrupt frame
 * (bad commit word, length out of range, or CRC mismatch) followed by
 * committed frames is skipped: the reader scans forward 8 bytes at a time for
 * the next frame whose commit word matches its own position and whose CRC is
 * right, and counts what it skipped. An uncommitted frame is torn only in an
 * orphan: in the live journal a writer of this process is still filling it
 * (in a sealed segment too), so the reader stops there and waits.
 *
 * Damaged headers. A segment whose head or tail cannot be right (not
 * aligned, tail before head, more than a ring apart) is not trusted: since
 * every frame names its own position, recovery scans the whole ring for
 * valid frames, ships the last ring's worth of them in order (frames that
 * were shipped already may come again, which the store's merge ignores),
 * counts what it skips, and keeps the file as <name>.mj.quarantine instead
 * of removing it. Quarantined files are not read again; `mida stats`
 * counts them.
 */
#ifndef MIDA_CAPTURE_JOURNAL_H
#define MIDA_CAPTURE_JOURNAL_H

#include "capture/spool_pool.h"
#include "mida.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIDA_JOURNAL_VERSION 1
#define MIDA_JOURNAL_HEADER_BYTES 4096
#define MIDA_FRAME_HEADER_BYTES 24
#define MIDA_FRAME_MAGIC UINT64_C(0x4d4944414652414d) /* "MIDAFRAM" */
#define MIDA_JOURNAL_MIN_RING (64 * 1024)
#define MIDA_JOURNAL_DEFAULT_RING (16 * 1024 * 1024)
/* The default bound on a spool's segment files (MIDA_SPOOL_MAX): 1 GiB. */
#define MIDA_SPOOL_MAX_DEFAULT (UINT64_C(1) << 30)
/* Appended to the name of a segment that recovery salvaged and kept. */
#define MIDA_QUARANTINE_SUFFIX ".quarantine"

/* The writer's side: this process's journal, one or more segments. */
typedef struct mida__journal mida__journal;

/* A frame reserved by mida__journal_reserve(), to fill and commit. */
typedef struct mida__slot {
  void *payload;  /* where to write the payload: len bytes */
  uint32_t len;   /* payload bytes reserved */
  void *frame_;   /* internal: the frame's first byte */
  uint64_t pos_;  /* internal: the frame's logical position */
  void *segment_; /* internal: the segment it lives in */
} mida__slot;

/* Opens a new journal in spool_dir (created if missing, mode 0700) with
 * segments of ring_bytes (rounded up to 4096, at least
 * MIDA_JOURNAL_MIN_RING). spool_max bounds the bytes on disk of all the
 * segment files in spool_dir (0: no bound). host and pid go into the
 * segment headers. Returns MIDA_OK, MIDA_EINVAL or MIDA_ENOMEM with a
 * message in err. A journal whose first segment cannot be made (no room,
 * spool not writable) is opened all the same, with the reason in err and
 * in mida__journal_space(): it drops and counts until it can make one. */
int mida__journal_open(const char *spool_dir, size_t ring_bytes,
                       mida_full_policy_t policy, uint64_t spool_max,
                       const char *host, int64_t pid, mida__journal **out,
                       char *err, size_t errlen);

/* mida__journal_open, but the first segment's ring is first_ring bytes
 * (rounded the same way; at most ring_bytes) and each later one's four
 * times the one before, up to ring_bytes: a process that appends a few
 * records (the preload library's short-lived programs) makes, fills and
 * maps a small file, one that appends more a larger one, and one that
 * appends many moves on to full rings, in few files. A record larger than
 * a quarter of a ring, but not of ring_bytes, seals it and goes into the
 * next large enough. Under MIDA_FULL_DROP first_ring is ring_bytes. */
int mida__journal_open_growing(const char *spool_dir, size_t first_ring,
                               size_t ring_bytes, mida_full_policy_t policy,
                               uint64_t spool_max, const char *host,
                               int64_t pid, mida__journal **out, char *err,
                               size_t errlen);

/* Whether the journal can take records now: MIDA_OK, or the error that
 * keeps it from making a segment (MIDA_EFULL for no room or the spool's
 * bound, MIDA_EIO), with its message in msg. Thread-safe. */
int mida__journal_space(mida__journal *j, char *msg, size_t msglen);

/* The reader's periodic care of a journal short of room: about once a
 * second it makes the first segment if there is none, or lets writers try
 * a new segment again. Call from the reader's thread (the shipper). */
void mida__journal_maintain(mida__journal *j);

/* Reserves a frame of payload_len bytes for a record of the given type.
 * Lock-free; no syscall and no allocation unless the ring is full under the
 * SPILL policy. Returns MIDA_OK, MIDA_EFULL (DROP policy, or no room for a
 * new segment: dropped and counted) or MIDA_ETOOBIG (larger than a quarter
 * of ring_bytes). A reserved slot must be committed. */
int mida__journal_reserve(mida__journal *j, uint16_t type, size_t payload_len,
                          mida__slot *slot);

/* Computes the CRC and publishes the frame. */
void mida__journal_commit(mida__journal *j, mida__slot *slot);

/* Counters of the writer's side, summed over its segments. */
typedef struct mida__journal_stats {
  uint64_t records;  /* frames committed */
  uint64_t dropped;  /* records dropped by the DROP policy */
  uint64_t backlog;  /* bytes reserved but not yet released */
  uint64_t segments; /* segments opened */
  uint64_t made;     /* of those, files made anew: not taken from the
                        spool's pool (spool_pool.h) */
  uint64_t corrupt;  /* frames skipped as corrupt by the reader */
  uint64_t spool_full; /* new segments refused: no room, MIDA_SPOOL_MAX */
} mida__journal_stats;

void mida__journal_stats_get(mida__journal *j, mida__journal_stats *out);

/* The stats' made, without the journal's lock: safe where the lock may be
 * held by the thread a signal interrupted (the preload library's _exit). */
uint64_t mida__journal_segments_made(const mida__journal *j);

/* Counts dropped records that the journal did not drop itself: those of
 * the images of this process before its exec (the preload library,
 * src/preload/counts.c), so that the dropped_before of its segments, and
 * what recovery sends from them, are the process's running total. Not
 * in the stats' dropped. Thread-safe. */
void mida__journal_carry_dropped(mida__journal *j, uint64_t dropped);

/* Every record the journal dropped, and those carried in: the value of
 * the writer's counter "dropped" in the store. Without the journal's lock,
 * as mida__journal_segments_made. */
uint64_t mida__journal_dropped_total(const mida__journal *j);

/* The host name and pid the journal was opened with, and its start (ns
 * since the epoch, as in its segments' names). */
const char *mida__journal_host(const mida__journal *j);
int64_t mida__journal_pid(const mida__journal *j);
int64_t mida__journal_start_ns(const mida__journal *j);

/* ---- a journal inside another program (the `mida run` preload) -------- */

/* With on, segment files made from now on keep no descriptor in this
 * process (process-wide; off by default): each is closed once the file is
 * mapped, whose mapping holds the open file description and its lock
 * until the segment is handed off, closed, or the process execs or ends.
 * A program observed then has every descriptor number it would have
 * without the journal: the lowest free one, its count under
 * RLIMIT_NOFILE, and the list of /proc/self/fd. */
void mida__journal_set_no_fds(bool on);

/* The descriptors of j's segment files (up to max, into fds): none with
 * mida__journal_set_no_fds. Returns how many. Thread-safe. */
size_t mida__journal_fds(mida__journal *j, int *fds, size_t max);

/* Says that j's reader is another process, which ships j's segments as
 * orphans: from now on, each segment the writers fill and seal is handed to
 * it -- its file closed, so that its lock goes -- as soon as none of its
 * frames is still being written, instead of waiting for a reader here. Then
 * a long-lived writer's records reach the store while it runs, and it
 * holds one or two segment files, not one per ring filled. */
void mida__journal_set_handoff(mida__journal *j);

/* In a child just made by fork(), whose copy of j is its parent's: closes
 * the child's descriptors of the parent's segment files (the parent keeps
 * its locks), unmaps them and frees j, touching neither the files nor j's
 * mutex (another thread of the parent may have held it). A segment that
 * another thread of the parent was opening at the fork may stay open in
 * the child until it execs (its descriptor is close-on-exec) or exits. */
void mida__journal_forget(mida__journal *j);

/* ---- the reader's side (one reader per journal at a time) -------------- */

/* A committed frame, borrowed from the mapping until the next release. */
typedef struct mida__frame {
  uint16_t type;       /* mida__rec_type */
  uint8_t version;     /* payload version */
  const void *payload; /* len bytes */
  uint32_t len;        /* payload bytes */
} mida__frame;

/* Collects up to max committed frames, in order, starting at the oldest
 * unshipped one, from the oldest segment that has any. PAD frames are
 * skipped, corrupt ones skipped and counted. Returns the number collected;
 * *mark receives the position to pass to mida__journal_release() once they
 * are durable in the sink. */
size_t mida__journal_peek(mida__journal *j, mida__frame *frames, size_t max,
                          uint64_t *mark);

/* Marks everything before mark (from the last peek) as shipped: clears it,
 * advances the head, and removes a sealed segment once it is drained. A
 * mark not after the head, or past the tail, is ignored. */
void mida__journal_release(mida__journal *j, uint64_t mark);

/* mida__journal_release, counting in the segment's corrupt the frames
 * before mark that passed their checksum but could not be decoded
 * (undecodable: mida__decode_frames's count for the peek's frames), with
 * the head's move: then the journal's corrupt, its stats' and the
 * corrupt_before of its later segments, holds them as it holds the
 * regions its scans skipped. */
void mida__journal_release_skipping(mida__journal *j, uint64_t mark,
                                    uint64_t undecodable);

/* Closes the journal: unmaps and unlocks its segments; removes those that
 * are fully shipped and keeps the others for recovery. */
void mida__journal_close(mida__journal *j);

/* ---- orphans: segments of dead processes --------------------------------- */

/* A segment file opened for reading (and locked) by a recovering process. */
typedef struct mida__orphan mida__orphan;

/* Opens the segment file at path if no live process holds it. Returns
 * MIDA_OK, MIDA_EBUSY (its writer is alive, or another reader has it:
 * a recovery, or a reader of live segments),
 * MIDA_ECORRUPT (not a journal segment: bad magic, version or sizes; the
 * file is left alone) or MIDA_EIO. */
int mida__orphan_open(const char *path, mida__orphan **out, char *err,
                      size_t errlen);

/* Opens the segment file at path while its writer lives, for a reader in
 * another process (`mida run`'s collector): only a segment whose writer
 * said so (mida__journal_set_handoff), and one such reader at a time. Its
 * frames are read as the in-process reader reads them (an uncommitted one
 * ends the peek: its writer is still at work), released as they are
 * shipped (the writer then fills the ring again instead of opening a new
 * segment), and the file is never removed: it goes to recovery once its
 * writer has ended. Returns MIDA_OK, MIDA_EBUSY (another reader has it),
 * MIDA_EUNSUPPORTED (its own process reads it), MIDA_ENOTFOUND (no writer:
 * an orphan, for mida__orphan_open), MIDA_ECORRUPT or MIDA_EIO. */
int mida__tail_open(const char *path, mida__orphan **out, char *err,
                    size_t errlen);

/* Opens the segment file at path for the reader it can have now, with
 * one open and one look at its header: as mida__orphan_open when no
 * process writes it; else, with tail and a writer that allows it, as
 * mida__tail_open (mida__orphan_live then says so). Returns MIDA_OK,
 * MIDA_EBUSY (its writer lives and it is not read now, or another reader
 * has it), MIDA_ENOTFOUND (asked to tail it: its writer lives and has
 * nothing unread in it), MIDA_ECORRUPT (not a journal segment), or
 * MIDA_EIO. */
int mida__segment_open(const char *path, bool tail, mida__orphan **out,
                       char *err, size_t errlen);

/* Whether o was opened as a live segment (mida__tail_open). */
bool mida__orphan_live(const mida__orphan *o);

/* Whether the last peek of a segment opened by mida__tail_open read, with
 * mark, everything its writer had reserved then: false if it stopped at a
 * frame still being written or at the end of a batch. */
bool mida__tail_caught_up(const mida__orphan *o, uint64_t mark);

/* As mida__orphan_peek for a live segment (mida__tail_open) read up to
 * from and not yet released: the frames after from, with *mark after the
 * last one read. The head stays where it is, so that the frames between
 * it and from, not yet durable in the sink, are never overwritten. For
 * any other segment, or from at its head, it is mida__orphan_peek. */
size_t mida__tail_peek_from(mida__orphan *o, uint64_t from,
                            mida__frame *frames, size_t max, uint64_t *mark);

/* As mida__journal_peek() / _release(), for one orphan segment. */
size_t mida__orphan_peek(mida__orphan *o, mida__frame *frames, size_t max,
                         uint64_t *mark);
void mida__orphan_release(mida__orphan *o, uint64_t mark);

/* mida__orphan_release, counting undecodable frames before mark in the
 * header's corrupt as mida__journal_release_skipping does: in the same
 * write as the head's move for a segment read into memory, just before
 * it in a mapped one. A frame is counted once whichever reader, or pass
 * of a reader of a live segment, skipped it: a release that is ignored
 * (mark not after the head) counts nothing. */
void mida__orphan_release_skipping(mida__orphan *o, uint64_t mark,
                                   uint64_t undecodable);

/* The host, pid and journal start (ns since the epoch) from the segment
 * header. */
const char *mida__orphan_host(const mida__orphan *o);
int64_t mida__orphan_pid(const mida__orphan *o);
int64_t mida__orphan_start_ns(const mida__orphan *o);

/* Frames skipped as corrupt so far, and records the writer dropped. */
uint64_t mida__orphan_corrupt(const mida__orphan *o);
uint64_t mida__orphan_dropped(const mida__orphan *o);

/* The same counts of the writer's journal up to the end of this segment:
 * its earlier segments' (the header's dropped_before, corrupt_before) and
 * this one's. The largest over a journal's segments is the sum over them
 * (what recovery sends the store, which keeps the largest). */
uint64_t mida__orphan_dropped_total(const mida__orphan *o);
uint64_t mida__orphan_corrupt_total(const mida__orphan *o);

/* Raises the header's corrupt_before to before, if it is less, in the
 * file too: a reader that counted what the segments before this one
 * hold (mida__orphan_corrupt_total of the one before, read to its end)
 * knows more than the writer did when it made this one -- the frames
 * that reader skipped in them. */
void mida__orphan_carry_corrupt(mida__orphan *o, uint64_t before);

/* Whether the segment's head or tail was damaged, so that its frames were
 * found by a scan of the whole ring (see "Damaged headers" above). */
bool mida__orphan_salvaged(const mida__orphan *o);

/* Closes the orphan; with remove true (everything was shipped) the file is
 * unlinked -- or, if it was salvaged, renamed to <name>.mj.quarantine and
 * kept, since what its damaged part held cannot be told. */
void mida__orphan_close(mida__orphan *o, bool remove);

/* As mida__orphan_close, its file put into the spool's pool from cursor
 * (spool_pool.h): for the segments that one recovery removes together. */
void mida__orphan_close_pooled(mida__orphan *o, bool remove,
                               mida__pool_cursor *cursor);

/* The writer's pid, its journal's start and the sequence number in a
 * segment file's name (<host>.<pid>.<start_ns>.<seq>.mj, the host with no
 * dot), path with or without its directory. Returns 0, or -1 for a name of
 * another shape. */
int mida__segment_name_ids(const char *path, int64_t *pid, int64_t *start_ns,
                           uint64_t *seq);

/* Calls fn for the path of every segment file (*.mj) in spool_dir, in name
 * order (so a process's segments come in sequence). fn returns 0 to go on,
 * a positive value to stop early (the walk then returns MIDA_OK), or a
 * negative MIDA_E* code to stop with that error. Returns MIDA_OK, fn's
 * error, MIDA_ENOMEM, or MIDA_EIO if the directory cannot be read (a missing
 * one is empty). */
int mida__spool_list(const char *spool_dir,
                     int (*fn)(void *ctx, const char *path), void *ctx);

/* Removes the half-made segment files (*.mj.tmp, older than a minute and
 * unlocked) of dead processes: a writer died between creating a segment and
 * renaming it into place, so nothing was ever committed to them. Returns
 * how many it removed, or MIDA_EIO if the directory cannot be read. */
int mida__spool_sweep(const char *spool_dir);

/* mida__spool_sweep, then mida__spool_list, in one reading of the
 * directory (a recovery's pass). Returns as mida__spool_list. */
int mida__spool_sweep_list(const char *spool_dir,
                           int (*fn)(void *ctx, const char *path),
                           void *ctx);

/* Sums backlog bytes and dropped counts of every segment in spool_dir, live
 * or orphan, without taking locks (for `mida stats`). */
typedef struct mida__spool_stats {
  uint64_t segments;      /* segment files */
  uint64_t orphans;       /* of which no live process holds */
  uint64_t backlog_bytes; /* reserved but not shipped */
  uint64_t dropped;       /* records dropped under the DROP policy */
  uint64_t corrupt;       /* frames skipped as corrupt */
  uint64_t damaged;       /* *.mj files whose header is damaged */
  uint64_t quarantined;   /* *.mj.quarantine files kept by recovery */
  uint64_t disk_bytes;    /* bytes on disk of the segment files */
} mida__spool_stats;

int mida__spool_stats_get(const char *spool_dir, mida__spool_stats *out);

/* The segments' part of mida__spool_stats_get (segments, orphans,
 * backlog, dropped, corrupt, damaged), without the files' bytes on disk
 * and the quarantined ones, which take another two readings of the
 * directory: for a reader that asks before each query. */
int mida__spool_segment_stats(const char *spool_dir, mida__spool_stats *out);

#endif /* MIDA_CAPTURE_JOURNAL_H */
