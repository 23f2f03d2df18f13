/*
 * program_fuzz.c -- libFuzzer target for the program check of `mida run`
 * and the preload library (src/core/program.c), which reads the ELF header
 * and program headers of whatever file a process is about to exec. The
 * input is the file's content, put in a memory file and checked through
 * its /proc/self/fd link, as an exec's target would be: the check must
 * never read out of its buffers, and must say one of its kinds.
 */
#include "core/program.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("program", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  if (write(fd, data, size) == (ssize_t)size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    mida__program_kind k = mida__program_kind_of(path);
    if (k < MIDA_PROGRAM_OBSERVABLE || k > MIDA_PROGRAM_SCRIPT)
      __builtin_trap();
    (void)mida__program_kind_note(k);
  }
  close(fd);
  return 0;
}
