/*
 * assets.c -- the dashboard's files and the OpenAPI document, built into
 * the binary (mida__serve_assets, generated from web/dist and
 * src/serve/openapi.json at build time by scripts/embed_assets.py): GET /,
 * /assets/{name} and /api/openapi.json. Nothing is read from the disk or
 * the network at run time.
 */
#include "serve/serve.h"

#include "mida.h"

#include <stdio.h>
#include <string.h>

const mida__asset *mida__serve_asset(const char *name) {
  for (const mida__asset *a = mida__serve_assets; a->name != NULL; a++)
    if (strcmp(a->name, name) == 0)
      return a;
  return NULL;
}

static int send_asset(mida__resp *resp, const char *name) {
  const mida__asset *a = mida__serve_asset(name);
  if (a == NULL)
    return mida__resp_error(resp, 404, "no such file: %.200s", name);
  resp->content_type = a->content_type;
  resp->static_body = a->data;
  resp->static_len = a->len;
  resp->etag = a->etag;
  return MIDA_OK;
}

static int get_index(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  (void)srv;
  (void)req;
  return send_asset(resp, "index.html");
}

static int get_file(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  (void)srv;
  char name[300];
  snprintf(name, sizeof name, "assets/%.200s", req->captures[0]);
  return send_asset(resp, name);
}

static int get_openapi(mida__serve *srv, const mida__req *req,
                       mida__resp *resp) {
  (void)srv;
  (void)req;
  return send_asset(resp, "openapi.json");
}

const mida__route mida__serve_routes_assets[] = {
    {"/", get_index, ""},
    {"/assets/{name}", get_file, ""},
    {"/api/openapi.json", get_openapi, ""},
    {NULL, NULL, NULL},
};
