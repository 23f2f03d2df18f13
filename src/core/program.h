/*
 * program.h -- whether the `mida run` preload library can observe a program.
 *
 * LD_PRELOAD works through the dynamic loader, so it has no effect on a
 * statically linked program (no PT_INTERP), is dropped for a set-user-ID or
 * set-group-ID program that changes identity (secure-execution mode), and
 * cannot load into an ELF of another class or machine (a 32-bit program
 * under a 64-bit library; the loader would print an error on its stderr).
 * `mida run` and the preload library ask this before each exec so that such
 * a process is still recorded as a task, with a note that its files were not
 * observed, and counted.
 */
#ifndef MIDA_CORE_PROGRAM_H
#define MIDA_CORE_PROGRAM_H

typedef enum mida__program_kind {
  MIDA_PROGRAM_OBSERVABLE = 0, /* dynamically linked for this machine */
  MIDA_PROGRAM_STATIC,         /* no program interpreter */
  MIDA_PROGRAM_SETUID,         /* runs as another user or group */
  MIDA_PROGRAM_FOREIGN,        /* an ELF of another class or machine */
  MIDA_PROGRAM_UNREADABLE,     /* cannot be read; the exec will say more */
  MIDA_PROGRAM_SCRIPT          /* "#!": its interpreter, assumed observable,
                                  runs with another argv */
} mida__program_kind;

/* What the program at path is (it is opened and its ELF headers read).
 * Thread-safe; allocates nothing. */
mida__program_kind mida__program_kind_of(const char *path);

/* A short text for a kind that is not observable ("a static binary"), or
 * NULL for MIDA_PROGRAM_OBSERVABLE, MIDA_PROGRAM_SCRIPT and
 * MIDA_PROGRAM_UNREADABLE. */
const char *mida__program_kind_note(mida__program_kind kind);

#endif /* MIDA_CORE_PROGRAM_H */
