// build.mjs OUTDIR -- bundles the dashboard with esbuild: src/main.js and
// everything it imports (the views, uPlot, dagre) into OUTDIR/app.js, their
// CSS into OUTDIR/app.css, and copies index.html. Deterministic: the same
// sources and lock file give the same bytes.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: "src/main.js" },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync("src/index.html", join(out, "index.html"));
