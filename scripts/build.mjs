// Bundles the `boxyard` executable into dist/boxyard.mjs with esbuild.
// Workspace packages (@boxyard/*) are bundled from their TypeScript sources;
// third-party packages stay in node_modules (some have native parts).
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
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

// Browser code for the pages the server serves, bundled whole (no CDN).
await build({
  entryPoints: { terminal: resolve(root, "apps/web/src/terminal.ts") },
  outdir: resolve(root, "dist/web"),
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: "linked",
  logLevel: "warning",
});
copyFileSync(resolve(root, "node_modules/@xterm/xterm/css/xterm.css"), resolve(root, "dist/web/xterm.css"));
// The dashboard (React), built by vite into dist/dashboard: index.html and hashed files under static/.
const { build: viteBuild } = await import("vite");
await viteBuild({ configFile: resolve(root, "apps/web/dashboard/vite.config.ts"), logLevel: "warn" });
// The in-box init is compiled on each node from its C source (static, so it
// runs in any image); ship the source beside the bundle.
mkdirSync(resolve(root, "dist/boxinit"), { recursive: true });
copyFileSync(resolve(root, "internal/runtime/boxinit/boxinit.c"), resolve(root, "dist/boxinit/boxinit.c"));
mkdirSync(resolve(root, "dist/spawner"), { recursive: true });
copyFileSync(resolve(root, "internal/platform/spawner/spawner.c"), resolve(root, "dist/spawner/spawner.c"));
console.log(`build: dist/boxyard.mjs, dist/web and dist/dashboard in ${Date.now() - started} ms`);
