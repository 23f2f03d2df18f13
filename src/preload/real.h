/*
 * real.h -- the functions the preload library wraps, as libc (or the next
 * library in the search order) defines them.
 *
 * Each is found with dlsym(RTLD_NEXT, name) the first time it is needed, or
 * all at once when the library starts (Darshan's MAP_OR_FAIL, done
 * lazily): a wrapper called before the library's constructor ran, from
 * another library's constructor, still works. A function this libc lacks
 * stays NULL; its wrapper then fails with ENOSYS, which cannot happen for a
 * program linked against this libc.
 */
#ifndef MIDA_PRELOAD_REAL_H
#define MIDA_PRELOAD_REAL_H

#include <dirent.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <utime.h>
#include <wchar.h>

/* X(name, return type, parameter list) */
#define MIDA_PL_REAL_FUNCTIONS(X)                                            \
  X(open, int, (const char *, int, ...))                                     \
  X(open64, int, (const char *, int, ...))                                   \
  X(openat, int, (int, const char *, int, ...))                              \
  X(openat64, int, (int, const char *, int, ...))                            \
  X(creat, int, (const char *, mode_t))                                      \
  X(creat64, int, (const char *, mode_t))                                    \
  X(__open_2, int, (const char *, int))                                      \
  X(__open64_2, int, (const char *, int))                                    \
  X(__openat_2, int, (int, const char *, int))                               \
  X(__openat64_2, int, (int, const char *, int))                             \
  X(close, int, (int))                                                       \
  X(close_range, int, (unsigned, unsigned, int))                             \
  X(closefrom, void, (int))                                                  \
  X(dup, int, (int))                                                         \
  X(dup2, int, (int, int))                                                   \
  X(dup3, int, (int, int, int))                                              \
  X(fcntl, int, (int, int, ...))                                             \
  X(fcntl64, int, (int, int, ...))                                           \
  X(pipe, int, (int[2]))                                                     \
  X(pipe2, int, (int[2], int))                                               \
  X(read, ssize_t, (int, void *, size_t))                                    \
  X(write, ssize_t, (int, const void *, size_t))                             \
  X(pread, ssize_t, (int, void *, size_t, off_t))                            \
  X(pread64, ssize_t, (int, void *, size_t, off_t))                          \
  X(pwrite, ssize_t, (int, const void *, size_t, off_t))                     \
  X(pwrite64, ssize_t, (int, const void *, size_t, off_t))                   \
  X(readv, ssize_t, (int, const struct iovec *, int))                        \
  X(writev, ssize_t, (int, const struct iovec *, int))                       \
  X(preadv, ssize_t, (int, const struct iovec *, int, off_t))                \
  X(preadv64, ssize_t, (int, const struct iovec *, int, off_t))              \
  X(pwritev, ssize_t, (int, const struct iovec *, int, off_t))               \
  X(pwritev64, ssize_t, (int, const struct iovec *, int, off_t))             \
  X(preadv2, ssize_t, (int, const struct iovec *, int, off_t, int))          \
  X(pwritev2, ssize_t, (int, const struct iovec *, int, off_t, int))         \
  X(__read_chk, ssize_t, (int, void *, size_t, size_t))                      \
  X(__pread_chk, ssize_t, (int, void *, size_t, off_t, size_t))              \
  X(__pread64_chk, ssize_t, (int, void *, size_t, off_t, size_t))            \
  X(copy_file_range, ssize_t,                                                \
    (int, off_t *, int, off_t *, size_t, unsigned))                          \
  X(splice, ssize_t, (int, off_t *, int, off_t *, size_t, unsigned))         \
  X(sendfile, ssize_t, (int, int, off_t *, size_t))                          \
  X(sendfile64, ssize_t, (int, int, off_t *, size_t))                        \
  X(mkstemp, int, (char *))                                                  \
  X(mkstemp64, int, (char *))                                                \
  X(mkostemp, int, (char *, int))                                            \
  X(mkostemp64, int, (char *, int))                                          \
  X(mkstemps, int, (char *, int))                                            \
  X(mkstemps64, int, (char *, int))                                          \
  X(mkostemps, int, (char *, int, int))                                      \
  X(mkostemps64, int, (char *, int, int))                                    \
  X(fopen, FILE *, (const char *, const char *))                             \
  X(fopen64, FILE *, (const char *, const char *))                           \
  X(fdopen, FILE *, (int, const char *))                                     \
  X(freopen, FILE *, (const char *, const char *, FILE *))                   \
  X(freopen64, FILE *, (const char *, const char *, FILE *))                 \
  X(fclose, int, (FILE *))                                                   \
  X(fflush, int, (FILE *))                                                   \
  X(fflush_unlocked, int, (FILE *))                                          \
  X(popen, FILE *, (const char *, const char *))                             \
  X(pclose, int, (FILE *))                                                   \
  X(fread, size_t, (void *, size_t, size_t, FILE *))                         \
  X(fwrite, size_t, (const void *, size_t, size_t, FILE *))                  \
  X(fread_unlocked, size_t, (void *, size_t, size_t, FILE *))                \
  X(fwrite_unlocked, size_t, (const void *, size_t, size_t, FILE *))         \
  X(__fread_chk, size_t, (void *, size_t, size_t, size_t, FILE *))           \
  X(__fread_unlocked_chk, size_t, (void *, size_t, size_t, size_t, FILE *))  \
  X(vdprintf, int, (int, const char *, va_list))                             \
  X(vfprintf, int, (FILE *, const char *, va_list))                          \
  X(__vfprintf_chk, int, (FILE *, int, const char *, va_list))               \
  X(fputs, int, (const char *, FILE *))                                      \
  X(fputs_unlocked, int, (const char *, FILE *))                             \
  X(puts, int, (const char *))                                               \
  X(fputc, int, (int, FILE *))                                               \
  X(putc, int, (int, FILE *))                                                \
  X(fputc_unlocked, int, (int, FILE *))                                      \
  X(putw, int, (int, FILE *))                                                \
  X(__overflow, int, (FILE *, int))                                          \
  X(vfwprintf, int, (FILE *, const wchar_t *, va_list))                      \
  X(__vfwprintf_chk, int, (FILE *, int, const wchar_t *, va_list))           \
  X(fputws, int, (const wchar_t *, FILE *))                                  \
  X(fputws_unlocked, int, (const wchar_t *, FILE *))                         \
  X(fputwc, wint_t, (wchar_t, FILE *))                                       \
  X(fputwc_unlocked, wint_t, (wchar_t, FILE *))                              \
  X(__woverflow, wint_t, (FILE *, wint_t))                                   \
  X(perror, void, (const char *))                                            \
  X(psignal, void, (int, const char *))                                      \
  X(psiginfo, void, (const siginfo_t *, const char *))                       \
  X(error, void, (int, int, const char *, ...))                              \
  X(error_at_line, void, (int, int, const char *, unsigned, const char *,    \
                          ...))                                              \
  X(vwarn, void, (const char *, va_list))                                    \
  X(vwarnx, void, (const char *, va_list))                                   \
  X(verr, void, (int, const char *, va_list))                                \
  X(verrx, void, (int, const char *, va_list))                               \
  X(__vdprintf_chk, int, (int, int, const char *, va_list))                  \
  X(closedir, int, (DIR *))                                                  \
  X(mmap, void *, (void *, size_t, int, int, int, off_t))                    \
  X(mmap64, void *, (void *, size_t, int, int, int, off_t))                  \
  X(rename, int, (const char *, const char *))                               \
  X(renameat, int, (int, const char *, int, const char *))                   \
  X(renameat2, int, (int, const char *, int, const char *, unsigned))        \
  X(link, int, (const char *, const char *))                                 \
  X(linkat, int, (int, const char *, int, const char *, int))                \
  X(unlink, int, (const char *))                                             \
  X(unlinkat, int, (int, const char *, int))                                 \
  X(remove, int, (const char *))                                             \
  X(truncate, int, (const char *, off_t))                                    \
  X(truncate64, int, (const char *, off_t))                                  \
  X(ftruncate, int, (int, off_t))                                            \
  X(ftruncate64, int, (int, off_t))                                          \
  X(utimensat, int, (int, const char *, const struct timespec[2], int))      \
  X(futimens, int, (int, const struct timespec[2]))                          \
  X(utimes, int, (const char *, const struct timeval[2]))                    \
  X(lutimes, int, (const char *, const struct timeval[2]))                   \
  X(futimesat, int, (int, const char *, const struct timeval[2]))            \
  X(futimes, int, (int, const struct timeval[2]))                            \
  X(utime, int, (const char *, const struct utimbuf *))                      \
  X(fstat, int, (int, struct stat *))                                        \
  X(fstat64, int, (int, struct stat64 *))                                    \
  X(chdir, int, (const char *))                                              \
  X(fchdir, int, (int))                                                      \
  X(execve, int, (const char *, char *const[], char *const[]))               \
  X(execveat, int, (int, const char *, char *const[], char *const[], int))   \
  X(fexecve, int, (int, char *const[], char *const[]))                       \
  X(execvpe, int, (const char *, char *const[], char *const[]))              \
  X(posix_spawn, int,                                                        \
    (pid_t *, const char *, const posix_spawn_file_actions_t *,              \
     const posix_spawnattr_t *, char *const[], char *const[]))               \
  X(posix_spawnp, int,                                                       \
    (pid_t *, const char *, const posix_spawn_file_actions_t *,              \
     const posix_spawnattr_t *, char *const[], char *const[]))               \
  X(fork, pid_t, (void))                                                     \
  X(vfork, pid_t, (void))                                                    \
  X(wait, pid_t, (int *))                                                    \
  X(waitpid, pid_t, (pid_t, int *, int))                                     \
  X(wait3, pid_t, (int *, int, struct rusage *))                             \
  X(wait4, pid_t, (pid_t, int *, int, struct rusage *))                      \
  X(waitid, int, (idtype_t, id_t, siginfo_t *, int))                         \
  X(on_exit, int, (void (*)(int, void *), void *))                           \
  X(__cxa_atexit, int, (void (*)(void *), void *, void *))                   \
  X(_exit, void, (int))                                                      \
  X(_Exit, void, (int))

typedef struct mida__pl_real_table {
#define MIDA_PL_REAL_FIELD(name, ret, params) ret(*name) params;
  MIDA_PL_REAL_FUNCTIONS(MIDA_PL_REAL_FIELD)
#undef MIDA_PL_REAL_FIELD
} mida__pl_real_table;

extern mida__pl_real_table mida__pl_real;

/* Finds every real function that is not found yet. */
void mida__pl_resolve_all(void);

/* The real function name (found now if it was not yet), or NULL if this
 * libc has none. */
#define MIDA_PL_REAL(name)                                                   \
  (__atomic_load_n(&mida__pl_real.name, __ATOMIC_RELAXED) != NULL            \
       ? __atomic_load_n(&mida__pl_real.name, __ATOMIC_RELAXED)              \
       : (mida__pl_resolve_all(),                                            \
          __atomic_load_n(&mida__pl_real.name, __ATOMIC_RELAXED)))

#endif /* MIDA_PRELOAD_REAL_H */
