/*
 * mhd.h -- libmicrohttpd, loaded when `mida serve` starts (mhd.c).
 *
 * Only `mida serve` needs an HTTP server, and libmicrohttpd brings GnuTLS
 * and eight more libraries with it (p11-kit, libidn2, libunistring,
 * libtasn1, nettle, hogweed, gmp, libffi). Linked into the mida program,
 * they were loaded and relocated by every `mida run` and every other verb:
 * about 4 million instructions, most of `mida --version`. So http.c calls
 * the library through this table, filled by dlopen() of the library's
 * soname (the one the linker would have recorded, found the same way)
 * the first time a server starts -- as telemetry/gpu_nvml.c loads NVML.
 * The entry points are declared with the types of <microhttpd.h> of the
 * build, so the compiler checks every call as if the library were linked.
 */
#ifndef MIDA_SERVE_MHD_H
#define MIDA_SERVE_MHD_H

#include <microhttpd.h>
#include <stddef.h>

/* The libmicrohttpd functions http.c calls. */
typedef struct mida__mhd_api {
  __typeof__(MHD_start_daemon) *start_daemon;
  __typeof__(MHD_stop_daemon) *stop_daemon;
  __typeof__(MHD_quiesce_daemon) *quiesce_daemon;
  __typeof__(MHD_get_daemon_info) *get_daemon_info;
  __typeof__(MHD_lookup_connection_value) *lookup_connection_value;
  __typeof__(MHD_get_connection_values) *get_connection_values;
  __typeof__(MHD_get_connection_info) *get_connection_info;
  __typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
  __typeof__(MHD_create_response_from_callback) *create_response_from_callback;
  __typeof__(MHD_add_response_header) *add_response_header;
  __typeof__(MHD_queue_response) *queue_response;
  __typeof__(MHD_destroy_response) *destroy_response;
} mida__mhd_api;

/* Loads libmicrohttpd once per process (thread-safe) and returns its
 * table, or NULL with a message in err that names the library and the
 * Debian package that brings it. A failed load is tried again on the next
 * call. */
const mida__mhd_api *mida__mhd_load(char *err, size_t errlen);

#endif /* MIDA_SERVE_MHD_H */
