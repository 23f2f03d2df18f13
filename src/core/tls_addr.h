/*
 * tls_addr.h -- the address of a thread-local, found once per call.
 *
 * A thread-local of a shared library (libmida is one, often dlopen'ed by
 * Python) is reached through a call of __tls_get_addr, and GCC makes that
 * call again at each use of the variable rather than keep the address in
 * a register: a dozen calls in one function of the per-task path. Taking
 * the address into a pointer and passing the pointer through an empty asm
 * hides where it came from, so the compiler keeps it:
 *
 *   state *st = &tls_state;
 *   MIDA_TLS_KEEP(st);
 *
 * or, for a function to call once at the top of each user:
 *
 *   MIDA_TLS_ACCESSOR(thread_state, state, tls_state)
 *   ... state *st = thread_state();
 */
#ifndef MIDA_CORE_TLS_ADDR_H
#define MIDA_CORE_TLS_ADDR_H

#define MIDA_TLS_KEEP(ptr) __asm__("" : "+r"(ptr))

/* Defines static inline type *fn(void), the address of the thread-local
 * var, found once a call. */
#define MIDA_TLS_ACCESSOR(fn, type, var)                                     \
  static inline type *fn(void) {                                             \
    type *p_ = &(var);                                                       \
    MIDA_TLS_KEEP(p_);                                                       \
    return p_;                                                               \
  }

#endif /* MIDA_CORE_TLS_ADDR_H */
