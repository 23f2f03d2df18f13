/*
 * number.h -- the one way mida writes a double as text.
 *
 * Every output that shows a stored value (`mida query` as a table, CSV or
 * JSON, the Python mida.query, PROV and the other exports, the HTTP API,
 * JSON values built by the observers) writes doubles through
 * mida__dtoa(), so what is printed reads back to the very double that was
 * stored: the shortest of %.15g, %.16g and %.17g that strtod() turns back
 * into the same value (15 digits, SQLite's own text form, changes most
 * metric values).
 */
#ifndef MIDA_CORE_NUMBER_H
#define MIDA_CORE_NUMBER_H

#include <stddef.h>

/* Room for any text mida__dtoa() writes, its NUL included. */
#define MIDA_DTOA_MAX 32

/* Writes v into buf as the shortest decimal text that strtod() reads back
 * as v, always looking like a real (with a '.' or an exponent: 3.0 is
 * "3.0", 1e300 is "1e+300"), with '.' whatever the locale. NaN is "NaN",
 * infinities "Inf" and "-Inf" (SQLite's words; JSON has none, see
 * mida__json_add_double()). Returns the length, not counting the NUL.
 * Thread-safe; no allocation. */
size_t mida__dtoa(double v, char buf[MIDA_DTOA_MAX]);

#endif /* MIDA_CORE_NUMBER_H */
