/*
 * redis_module.c -- mida's redis module (src/sink/module.h): the redis
 * sink and the consumer of `mida ingest` (src/sink/redis.c), exported for
 * libmida to find.
 */
#include "sink/module.h"
#include "sink/sink.h"
#include "sink/wire.h"

#include <stddef.h>

MIDA__MODULE_EXPORT const mida__sink_methods *const mida_module_sinks[] = {
    &mida__redis_sink, &mida__rediss_sink, NULL};
MIDA__MODULE_EXPORT const mida__consumer_methods *const mida_module_consumer =
    &mida__redis_consumer;
