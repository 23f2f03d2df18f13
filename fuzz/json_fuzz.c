/*
 * json_fuzz.c -- libFuzzer target for the JSON checker and merge, which see
 * whatever callers hand to the API. The checker must never read out of
 * bounds; whatever it accepts, the merge must accept too, and merging a
 * value with itself must give a value the checker accepts. The same
 * texts go through the masking of the URLs inside a text (url_text.h),
 * as every recorded JSON value and error text does: it must keep a JSON
 * value JSON, grow a text by at most the masks' bytes, and mask nothing
 * more on a second pass.
 */
#include "core/json.h"
#include "core/url_text.h"
#include "mida.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy without slack after it, so ASan sees any overread. */
  char *text = malloc(size ? size : 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  size_t where = 0;
  int any = mida__json_check(text, size, false, &where);
  int obj = mida__json_check(text, size, true, NULL);
  if (where > size)
    abort();
  if (obj == MIDA_OK && any != MIDA_OK)
    abort();
  if (obj == MIDA_OK) {
    mida__buf out;
    mida__buf_init(&out, 1 << 24);
    if (mida__json_merge(text, size, text, size, &out) != MIDA_OK)
      abort();
    if (mida__json_check(out.ptr, out.len, true, NULL) != MIDA_OK)
      abort();
    mida__buf_free(&out);
  }
  mida__buf esc;
  mida__buf_init(&esc, 1 << 24);
  if (mida__json_add_string(&esc, text, size) == MIDA_OK &&
      mida__json_check(esc.ptr, esc.len, false, NULL) != MIDA_OK)
    abort(); /* an escaped string must always be valid JSON */
  mida__buf_free(&esc);
  mida__buf masked;
  mida__buf_init(&masked, 1 << 24);
  if (mida__url_text_redact(text, size, &masked) == MIDA_OK) {
    if (masked.len > 2 * size + 16)
      abort();
    if (obj == MIDA_OK &&
        mida__json_check(masked.ptr, masked.len, true, NULL) != MIDA_OK)
      abort(); /* the masks add nothing JSON would escape */
    if (masked.len > 0 &&
        mida__url_text_has_secret(masked.ptr, masked.len))
      abort(); /* masked once is masked */
  }
  mida__buf_free(&masked);
  free(text);
  return 0;
}
