/*
 * write_error.c -- why a write of the `mida` command's output failed, in
 * the system's words (cli.h, "write errors").
 *
 * The one error space (mida.h) has MIDA_EIO for every failed write, and
 * mida_strerror() says "input/output error" for it: a full disk (ENOSPC),
 * a file past its size limit (EFBIG) and a reader gone (EPIPE) all read
 * alike. So each writer of the command's output -- the result printer
 * (output.c), an export's destination (dest.c), the verbs that print to
 * standard output themselves -- notes errno where the write failed,
 * before later calls change it, and the messages name that.
 */
#include "cli/cli.h"

#include "mida.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int write_errno; /* errno of the last write that failed; 0: none */

int mida__cli_write_failed(void) {
  write_errno = errno != 0 ? errno : EIO;
  return MIDA_EIO;
}

int mida__cli_flush(FILE *fp) {
  errno = 0;
  if (fflush(fp) != 0)
    return mida__cli_write_failed();
  /* A write that failed earlier, its errno noted then (or lost by a
   * caller that did not check: then EIO). */
  if (ferror(fp)) {
    if (write_errno == 0)
      write_errno = EIO;
    return MIDA_EIO;
  }
  return MIDA_OK;
}

const char *mida__cli_write_error(int rc) {
  if (rc == MIDA_EIO && write_errno != 0)
    return strerror(write_errno);
  return mida_strerror(rc);
}

int mida__cli_write_broke(int rc) {
  return rc == MIDA_EIO && write_errno != 0;
}
