/*
 * real.c -- finds the real functions behind the wrappers (see real.h).
 */
#include "preload/real.h"

#include <dlfcn.h>

mida__pl_real_table mida__pl_real;

void mida__pl_resolve_all(void) {
  /* Each store is of the same value whichever thread makes it. */
#define MIDA_PL_REAL_FIND(name, ret, params)                                 \
  if (__atomic_load_n(&mida__pl_real.name, __ATOMIC_RELAXED) == NULL) {      \
    void *sym = dlsym(RTLD_NEXT, #name);                                     \
    ret(*fn) params;                                                         \
    __builtin_memcpy(&fn, &sym, sizeof fn);                                  \
    __atomic_store_n(&mida__pl_real.name, fn, __ATOMIC_RELAXED);             \
  }
  MIDA_PL_REAL_FUNCTIONS(MIDA_PL_REAL_FIND)
#undef MIDA_PL_REAL_FIND
}
