// The dashboard: React, bundled whole by vite into dist/dashboard (no CDN).
// scripts/build.mjs runs this build; the server serves index.html at / and
// the hashed files under /static/.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: "/",
  plugins: [react()],
  resolve: { alias: { "node:crypto": resolve(here, "src/node-crypto-stub.ts") } },
  logLevel: "warn",
  build: {
    outDir: resolve(here, "../../../dist/dashboard"),
    emptyOutDir: true,
    assetsDir: "static",
    // Everything is a file under /static: no inline data: scripts or styles for the CSP to allow.
    assetsInlineLimit: 0,
    sourcemap: true,
    target: "es2022",
    modulePreload: { polyfill: false },
  },
});
