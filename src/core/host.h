/*
 * host.h -- facts about the running process that records default to.
 */
#ifndef MIDA_CORE_HOST_H
#define MIDA_CORE_HOST_H

#include <stdint.h>

/* This host's name (gethostname), cached; never NULL. */
const char *mida__hostname(void);

/* The user's login name, cached; never NULL ("" if unknown). */
const char *mida__username(void);

#endif /* MIDA_CORE_HOST_H */
