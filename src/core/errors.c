/*
 * errors.c -- the messages of the one error space (MIDA_ERRNO_MAP in mida.h).
 */
#include "core/errors.h"

#include "mida.h"
#include "mida_config.h"

const char *mida_strerror(int rc) {
  switch (rc) {
#define MIDA_ERRNO_CASE(name, code, msg)                                       \
  case (code):                                                                 \
    return msg;
    MIDA_ERRNO_MAP(MIDA_ERRNO_CASE)
#undef MIDA_ERRNO_CASE
  default:
    return "unknown error";
  }
}

const char *mida_version(void) {
  return MIDA_VERSION;
}
