// Builds the console into ../internal/console/dist: one hashed JS bundle and
// one hashed stylesheet under assets/, and index.html naming them. The output
// is committed (the Go binary embeds it), so the build must be reproducible:
// CI runs it again and fails on any difference.
import * as esbuild from "esbuild";
import { mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "internal", "console", "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: join(here, "src", "main.tsx") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith(".js"));
const css = outputs.find((f) => f.endsWith(".css"));
if (!js || !css) throw new Error("build: expected one .js and one .css output, got " + outputs.join(", "));

const html = readFileSync(join(here, "src", "index.html"), "utf8")
  .replace("%CSS%", `/console/assets/${css}`)
  .replace("%JS%", `/console/assets/${js}`);
writeFileSync(join(out, "index.html"), html);
// Not hashed, so not under assets/ (immutable): revalidated like the page.
writeFileSync(join(out, "favicon.svg"), readFileSync(join(here, "src", "favicon.svg")));

let total = 0;
for (const f of [js, css]) {
  const b = readFileSync(join(out, "assets", f));
  const gz = gzipSync(b, { level: 9 }).length;
  total += gz;
  console.log(`${f}: ${(b.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped`);
}
console.log(`first load (JS + CSS, gzipped): ${(total / 1024).toFixed(1)} KB (budget 250 KB)`);
if (total > 250 * 1024) throw new Error("over the 250 KB budget");
