/*
 * program.c -- whether the preload library can observe a program (see
 * program.h): the file's mode bits and its ELF identification and program
 * headers, read with two pread(2) calls.
 */
#include "core/program.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#define NATIVE_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_MACHINE EM_AARCH64
#elif defined(__i386__)
#define NATIVE_MACHINE EM_386
#elif defined(__powerpc64__)
#define NATIVE_MACHINE EM_PPC64
#endif

#if UINTPTR_MAX > 0xffffffffu
#define NATIVE_CLASS ELFCLASS64
typedef Elf64_Ehdr native_ehdr;
typedef Elf64_Phdr native_phdr;
#else
#define NATIVE_CLASS ELFCLASS32
typedef Elf32_Ehdr native_ehdr;
typedef Elf32_Phdr native_phdr;
#endif

#define MAX_PHDRS 64 /* program headers looked at */

/* Whether the loader runs the program in secure-execution mode because it
 * changes the user or group id. */
static int changes_identity(const struct stat *st) {
  return ((st->st_mode & S_ISUID) != 0 && st->st_uid != geteuid()) ||
         ((st->st_mode & S_ISGID) != 0 && st->st_gid != getegid());
}

static mida__program_kind kind_of_fd(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return MIDA_PROGRAM_UNREADABLE;
  if (changes_identity(&st))
    return MIDA_PROGRAM_SETUID;
  native_ehdr eh;
  ssize_t n = pread(fd, &eh, sizeof eh, 0);
  if (n >= 2 && memcmp(&eh, "#!", 2) == 0)
    return MIDA_PROGRAM_SCRIPT;
  if (n < EI_NIDENT || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
    return MIDA_PROGRAM_UNREADABLE; /* not a program the kernel runs */
  if (eh.e_ident[EI_CLASS] != NATIVE_CLASS || n != (ssize_t)sizeof eh)
    return MIDA_PROGRAM_FOREIGN;
#ifdef NATIVE_MACHINE
  if (eh.e_machine != NATIVE_MACHINE)
    return MIDA_PROGRAM_FOREIGN;
#endif
  if (eh.e_phentsize != sizeof(native_phdr) || eh.e_phnum == 0)
    return MIDA_PROGRAM_STATIC;
  native_phdr ph[MAX_PHDRS];
  size_t count = eh.e_phnum < MAX_PHDRS ? eh.e_phnum : MAX_PHDRS;
  n = pread(fd, ph, count * sizeof ph[0], (off_t)eh.e_phoff);
  if (n < 0)
    return MIDA_PROGRAM_UNREADABLE;
  count = (size_t)n / sizeof ph[0];
  for (size_t i = 0; i < count; i++)
    if (ph[i].p_type == PT_INTERP)
      return MIDA_PROGRAM_OBSERVABLE;
  return MIDA_PROGRAM_STATIC;
}

mida__program_kind mida__program_kind_of(const char *path) {
  if (path == NULL)
    return MIDA_PROGRAM_UNREADABLE;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return MIDA_PROGRAM_UNREADABLE; /* e.g. execute-only: assume it works */
  mida__program_kind k = kind_of_fd(fd);
  close(fd);
  return k;
}

const char *mida__program_kind_note(mida__program_kind kind) {
  switch (kind) {
  case MIDA_PROGRAM_STATIC:
    return "a static binary";
  case MIDA_PROGRAM_SETUID:
    return "a set-user-ID or set-group-ID program";
  case MIDA_PROGRAM_FOREIGN:
    return "a program of another ELF class or machine";
  default:
    return NULL;
  }
}
