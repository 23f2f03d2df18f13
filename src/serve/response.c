/*
 * response.c -- a response being built, and the one shape of every error
 * the server sends: {"error": {"status": N, "message": "..."}}.
 */
#include "serve/serve.h"

#include "core/json.h"
#include "mida.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mida__resp_init(mida__resp *resp) {
  memset(resp, 0, sizeof *resp);
  resp->status = 200;
  resp->content_type = "application/json";
  mida__buf_init(&resp->body, MIDA_SERVE_MAX_BODY);
}

void mida__resp_free(mida__resp *resp) {
  mida__buf_free(&resp->body);
}

int mida__resp_error(mida__resp *resp, int status, const char *fmt, ...) {
  char msg[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  resp->status = status;
  resp->content_type = "application/json";
  resp->disposition = NULL;
  resp->static_body = NULL;
  resp->static_len = 0;
  resp->etag = NULL;
  resp->events = 0;
  mida__buf_reset(&resp->body);
  int rc = mida__buf_printf(&resp->body,
                            "{\"error\": {\"status\": %d, "
                            "\"message\": ",
                            status);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(&resp->body, msg, strlen(msg));
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}}\n");
  return MIDA_OK;
}
