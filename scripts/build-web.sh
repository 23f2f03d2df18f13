#!/usr/bin/env bash
# build-web.sh OUTDIR -- builds the dashboard (web/) into OUTDIR/index.html,
# OUTDIR/app.js and OUTDIR/app.css, for the mida binary to embed (meson
# runs it; scripts/embed_assets.py turns the files into C).
#
# The npm packages are those of web/package-lock.json, installed with
# `npm ci` when web/node_modules is missing or older than the lock file;
# esbuild bundles the ES modules and the libraries' CSS into one file
# each, minified, with no source maps and no network at run time.
set -euo pipefail
out=$(realpath -m "$1")
web="$(dirname "$0")/../web"
cd "$web"
if [ ! -f node_modules/.package-lock.json ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
mkdir -p "$out"
node build.mjs "$out"
