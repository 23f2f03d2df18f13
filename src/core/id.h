/*
 * id.h -- internal helpers around the public mida_id_t functions.
 */
#ifndef MIDA_CORE_ID_H
#define MIDA_CORE_ID_H

#include "mida.h"

/* A stable id for a name within a namespace ("campaign"): the same on every
 * host, in UUIDv8 layout so it never collides with a time-ordered UUIDv7. A
 * name that is already the text form of an id gives that id. */
mida_id_t mida__id_from_name(const char *ns, const char *name);

#endif /* MIDA_CORE_ID_H */
