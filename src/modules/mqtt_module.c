/*
 * mqtt_module.c -- mida's mqtt module (src/sink/module.h): the mqtt
 * sink and the consumer of `mida ingest` (src/sink/mqtt.c), exported for
 * libmida to find.
 */
#include "sink/module.h"
#include "sink/sink.h"
#include "sink/wire.h"

#include <stddef.h>

MIDA__MODULE_EXPORT const mida__sink_methods *const mida_module_sinks[] = {
    &mida__mqtt_sink, &mida__mqtts_sink, NULL};
MIDA__MODULE_EXPORT const mida__consumer_methods *const mida_module_consumer =
    &mida__mqtt_consumer;
