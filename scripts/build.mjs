// Bundles the `boxyard` executable into dist/boxyard.mjs with esbuild.
// Workspace packages (@boxyard/*) are bundled from their TypeScript sources;
// third-party packages stay in node_modules (some have native parts).
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8"));
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];

/** `import sql from "./x.sql?raw"`: the file's text, as vite does in tests. */
const rawPlugin = {
  name: "raw",
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.replace(/\?raw$/, "")),
      namespace: "raw",
    }));
    b.onLoad({ filter: /.*/, namespace: "raw" }, (args) => ({
      contents: readFileSync(args.path, "utf8"),
      loader: "text",
    }));
  },
};

const started = Date.now();
await build({
  entryPoints: [resolve(root, "apps/cli/src/bin.ts")],
  outfile: resolve(root, "dist/boxyard.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  external,
  plugins: [rawPlugin],
  logLevel: "warning",
  banner: {
    // Bundled CommonJS dependencies may call require(); give them one.
    js: "import { createRequire as __boxyardRequire } from 'node:module'; const require = __boxyardRequire(import.meta.url);",
  },
});
console.log(`build: dist/boxyard.mjs in ${Date.now() - started} ms`);
