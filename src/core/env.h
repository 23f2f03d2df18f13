/*
 * env.h -- the environment as mida's own threads read it.
 *
 * mida's threads (the shipper, the telemetry sampler) run inside someone
 * else's program, beside its threads, and the program may change its
 * environment at any moment (os.environ in Python, setenv in C). glibc's
 * getenv walks environ without a lock and setenv may move that array:
 * a getenv on a mida thread while the program sets a variable can crash
 * the program (a `mida run` did so once in ~1,500 runs, in SQLite's
 * start on the shipper's thread). So the variables mida's threads need
 * are read on the thread that opens a session (mida_open, the caller's,
 * where any library would read them), into a copy that mida's threads
 * read under a lock. On any other thread mida__env_dup is getenv.
 */
#ifndef MIDA_CORE_ENV_H
#define MIDA_CORE_ENV_H

/* Copies the values of the variables of env.c's list (MIDA_INDEX,
 * MIDA_WAL_MAX, MIDA_TLS_*, ...). Call on the program's thread, before
 * starting mida threads that read them; each call takes a fresh copy.
 * Thread-safe. */
void mida__env_capture(void);

/* Marks the calling thread as mida's own: from now on mida__env_dup on
 * it reads the copy, never the environment. */
void mida__env_own_thread(void);

/* A copy of the value of variable name (free with mida__free), or NULL
 * when it is unset or memory is short. On a thread of mida's own, for a
 * name of env.c's list: the value as the last mida__env_capture saw it
 * (NULL before any); otherwise getenv's. */
char *mida__env_dup(const char *name);

#endif
