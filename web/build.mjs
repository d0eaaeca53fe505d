// Bundles the explorer page into scenegraph/web/static/dist/ (served by `scenegraph serve`).
// Everything the page needs ends up in app.js and app.css: it loads nothing from the network.
// SCENEGRAPH_WEB_DEBUG=1 node build.mjs leaves the bundle unminified (for profiling).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: { app: here("./src/main.js") },
  outdir: here("../scenegraph/web/static/dist"),
  bundle: true,
  format: "esm",
  minify: process.env.SCENEGRAPH_WEB_DEBUG !== "1",
  sourcemap: true,
  target: ["chrome110", "firefox110", "safari16"],
  legalComments: "linked",
  logLevel: "warning",
});
