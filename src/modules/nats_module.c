/*
 * nats_module.c -- mida's nats module (src/sink/module.h): the nats
 * sink and the consumer of `mida ingest` (src/sink/nats.c), exported for
 * libmida to find.
 */
#include "sink/module.h"
#include "sink/sink.h"
#include "sink/wire.h"

#include <stddef.h>

MIDA__MODULE_EXPORT const mida__sink_methods *const mida_module_sinks[] = {
    &mida__nats_sink, &mida__nats_tls_sink, NULL};
MIDA__MODULE_EXPORT const mida__consumer_methods *const mida_module_consumer =
    &mida__nats_consumer;
