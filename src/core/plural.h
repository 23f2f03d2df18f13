/*
 * plural.h -- the one way mida makes a counted noun agree with its count.
 *
 * The summary lines of the CLI verbs ("1 record from 1 message applied,
 * 0 messages rejected") put a count before a noun; the noun takes its
 * plural "s" unless the count is exactly one. Every noun such a line
 * counts forms its plural with "s", so a suffix is all that is needed.
 */
#ifndef MIDA_CORE_PLURAL_H
#define MIDA_CORE_PLURAL_H

/* "" when n is 1, else "s": printf("%llu record%s", n, mida__plural_s(n)).
 * Returns a static string; thread-safe. */
static inline const char *mida__plural_s(unsigned long long n) {
  return n == 1 ? "" : "s";
}

#endif /* MIDA_CORE_PLURAL_H */
