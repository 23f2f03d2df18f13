/*
 * path.h -- a path made absolute lexically, as a program's open names it.
 *
 * The preload library records the absolute path of every file a program
 * opens by a relative name: the working directory, then the name's
 * components, "." and empty ones dropped and ".." taking the last one off
 * (never above the root), no link followed -- what the program named, not
 * what it resolves to. `mida lineage` makes a relative path typed by a
 * user absolute by the same rule, so that it meets the recorded one.
 */
#ifndef MIDA_CORE_PATH_H
#define MIDA_CORE_PATH_H

#include <stddef.h>

/* Appends the components of rel to the absolute path out[0..len) (len 0
 * or "/" alone: the root) by the rule above, NUL-terminated, in at most
 * cap bytes (the NUL included). Returns the new length, or (size_t)-1
 * when it does not fit (out then holds a part). */
size_t mida__path_append(char *out, size_t len, size_t cap, const char *rel);

#endif /* MIDA_CORE_PATH_H */
