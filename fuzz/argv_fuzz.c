/*
 * argv_fuzz.c -- libFuzzer target for the recording of a command line
 * (src/core/argv.c with its maskers: URLs, conninfo words, headers, the
 * secrets inside a shell command, core/shell_secret.c). It runs inside
 * every process `mida run` observes, on arguments anyone can write, so it
 * must never read out of its buffers nor loop, and what it writes must be
 * a JSON array within its bounds, the same every time. The input is the
 * arguments, each ended by a NUL (the last need not be).
 */
#include "core/argv.h"
#include "core/json.h"
#include "mida.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FUZZ_ARGS (MIDA_ARGV_MAX_ARGS + 8)

/* The JSON of argv, or NULL if the buffer refused it. */
static char *recorded(int argc, char *const *argv, size_t *len) {
  mida__buf b;
  mida__buf_init(&b, 1 << 24);
  if (mida__argv_json(&b, argc, argv) != MIDA_OK) {
    mida__buf_free(&b);
    return NULL;
  }
  char *out = malloc(b.len + 1);
  if (out != NULL) {
    memcpy(out, b.ptr, b.len);
    out[b.len] = '\0';
    *len = b.len;
  }
  mida__buf_free(&b);
  return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Each argument a private copy without slack, so ASan sees overreads. */
  char *argv[MAX_FUZZ_ARGS + 1];
  int argc = 0;
  size_t at = 0;
  while (at < size && argc < MAX_FUZZ_ARGS) {
    const uint8_t *nul = memchr(data + at, 0, size - at);
    size_t n = nul != NULL ? (size_t)(nul - (data + at)) : size - at;
    argv[argc] = malloc(n + 1);
    if (argv[argc] == NULL)
      break;
    memcpy(argv[argc], data + at, n);
    argv[argc++][n] = '\0';
    at += n + 1;
  }
  argv[argc] = NULL;
  size_t len = 0, again_len = 0;
  char *out = recorded(argc, argv, &len);
  char *again = recorded(argc, argv, &again_len);
  if ((out == NULL) != (again == NULL))
    abort();
  if (out != NULL) {
    if (mida__json_check(out, len, false, NULL) != MIDA_OK || out[0] != '[')
      abort(); /* not a JSON array */
    /* Each argument at most MIDA_ARGV_MAX_ARG bytes, escaped (\u00XX: 6
     * a byte) and quoted, and the note of what was left out. */
    if (len > (MIDA_ARGV_MAX_ARGS + 1) * (6 * MIDA_ARGV_MAX_ARG + 16) + 2)
      abort();
    if (again_len != len || memcmp(out, again, len) != 0)
      abort(); /* not the same twice */
  }
  free(out);
  free(again);
  for (int i = 0; i < argc; i++)
    free(argv[i]);
  return 0;
}
