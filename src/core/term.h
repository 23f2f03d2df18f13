/*
 * term.h -- text made safe for a terminal: the one function through which
 * every human-readable output of mida passes values it did not write.
 *
 * Activity names, errors, workflow names, file names, parameters and host
 * names come from the workflows mida watches, and anyone who can run a job
 * can put bytes in them. Written raw, ESC and OSC sequences would retitle,
 * recolour or rewrite the user's terminal, a CR would overwrite what a line
 * says, and a newline would start a fake line ("mida: all good"). So
 * control characters never reach a terminal as they are:
 *
 *   - C0 controls (U+0000..U+001F) and DEL;
 *   - C1 controls (U+0080..U+009F);
 *   - the invisible marks that reorder or hide text: the bidirectional
 *     marks (U+061C, U+200E, U+200F), embeddings, overrides and isolates
 *     (U+202A..U+202E, U+2066..U+2069), the line and paragraph separators
 *     (U+2028, U+2029), zero width space (U+200B), word joiner (U+2060)
 *     and the byte order mark (U+FEFF);
 *   - bytes that are not UTF-8 (a lone 0x9B is CSI to some terminals).
 *
 * MIDA_TERM_ESCAPE shows each as a visible escape (\n, \r, \t, \e, \xNN
 * for bytes and C0, \u{NNNN} for the others), so that what was there can
 * still be read, and doubles each backslash (\\), so that the two
 * characters "\n" in a value never read as a newline; MIDA_TERM_SPACE
 * (table cells, whose width is counted) makes each unsafe character a
 * space and keeps backslashes. Everything else, valid UTF-8 included (the
 * joiners U+200C and U+200D that scripts and emoji need among it), is
 * kept.
 */
#ifndef MIDA_CORE_TERM_H
#define MIDA_CORE_TERM_H

#include "core/buf.h"

#include <stddef.h>

typedef enum mida__term_mode {
  MIDA_TERM_ESCAPE = 0, /* a visible escape: "\e]0;x\a" */
  MIDA_TERM_SPACE = 1   /* a space */
} mida__term_mode;

/* Appends s[0..len) to b, made safe as above. Returns MIDA_OK or the
 * buffer's error. */
int mida__term_add(mida__buf *b, const char *s, size_t len,
                   mida__term_mode mode);

/* Whether s[0..len) would be changed by mida__term_add in MIDA_TERM_ESCAPE
 * (no allocation); in MIDA_TERM_SPACE a string with a backslash is
 * reported but kept as it is. */
int mida__term_unsafe(const char *s, size_t len);

#endif /* MIDA_CORE_TERM_H */
