/*
 * spool_dir.h -- makes and checks a spool directory before anything is
 * written to it or shipped from it (spool_dir.c).
 *
 * A spool holds the journals that become a store's records, so whoever can
 * put a file in it, or swap it for a directory of their own, can forge what
 * the store says and read its argv and parameters. The journal calls
 * mida__spool_dir_prepare() before it makes a segment and recovery before
 * it ships, and each refuses a spool that fails the checks; recovery and
 * the statistics open segments through mida__spool_open_segment(), which
 * refuses a file this user does not own. docs/security.md says what this
 * guarantees.
 */
#ifndef MIDA_CAPTURE_SPOOL_DIR_H
#define MIDA_CAPTURE_SPOOL_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Makes dir if create and it is missing (its missing ancestors with mode
 * 0700), then checks it:
 *   - every directory from / down to its parent (the current directory's
 *     path first for a relative dir) belongs to this user (the effective
 *     uid) or to root, and is not writable by everyone unless sticky (as
 *     /tmp is); a symbolic link on the way is followed only if this user
 *     or root made it, and its target is checked the same way;
 *   - dir itself is a directory, not a symbolic link, and belongs to this
 *     user; group or other permissions on it are taken away (mode 0700).
 * The checks run on descriptors (each component opened with openat and
 * O_NOFOLLOW from the one above, fstat), so a link swapped in between is
 * refused, not followed.
 * Returns MIDA_OK; MIDA_ENOTFOUND when dir is missing and not create;
 * MIDA_EIO with a message naming the problem and what to do (errno set
 * where a system call failed; ENOSPC/EDQUOT: the disk is full); or
 * MIDA_ENOMEM. Thread-safe. */
int mida__spool_dir_prepare(const char *dir, bool create, char *err,
                            size_t errlen);

/* Opens the spool file at path (flags as open(2), O_NOFOLLOW and O_CLOEXEC
 * added) only if it is a regular file that belongs to this user. Returns
 * the descriptor, or -1 with errno: ELOOP (a link), EPERM (another user's
 * file), EINVAL (not a regular file), or open's. The caller closes it. */
int mida__spool_open_segment(const char *path, int flags);

/* As mida__spool_open_segment, with the file's stat(2) into *st. */
int mida__spool_open_segment_stat(const char *path, int flags,
                                  struct stat *st);

#endif /* MIDA_CAPTURE_SPOOL_DIR_H */
