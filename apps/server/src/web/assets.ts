import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where the browser bundles are: beside the server bundle (dist/web, when
 * running dist/boxyard.mjs) or in the repository's dist/web (when running
 * from source in tests).
 */
export function findAssetsDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "web"), resolve(here, "../../../../dist/web")]) {
    if (existsSync(join(candidate, "terminal.js"))) return candidate;
  }
  return null;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
};

/** Only these names are served: no path ever comes from the request. */
export const ASSET_FILES = new Set(["terminal.js", "terminal.js.map", "xterm.css"]);

export async function readAsset(dir: string, name: string): Promise<{ body: Buffer; type: string } | null> {
  if (!ASSET_FILES.has(name)) return null;
  const ext = name.slice(name.lastIndexOf("."));
  try {
    return { body: await readFile(join(dir, name)), type: TYPES[ext] ?? "application/octet-stream" };
  } catch {
    return null;
  }
}

/**
 * Where the dashboard's build is (vite's output: index.html and static/):
 * beside the server bundle (dist/dashboard) or in the repository's dist.
 */
export function findDashboardDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, "dashboard"), resolve(here, "../../../../dist/dashboard")]) {
    if (existsSync(join(candidate, "index.html"))) return candidate;
  }
  return null;
}

const STATIC_TYPES: Record<string, string> = {
  ...TYPES,
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** A file of the dashboard's build, by a name listed in its static/ folder (never a path from the request). */
export async function readDashboardFile(
  dir: string,
  name: string,
): Promise<{ body: Buffer; type: string } | null> {
  if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith(".")) return null;
  const listed = await readdir(join(dir, "static")).catch(() => [] as string[]);
  if (!listed.includes(name)) return null;
  const ext = name.slice(name.lastIndexOf("."));
  try {
    return {
      body: await readFile(join(dir, "static", name)),
      type: STATIC_TYPES[ext] ?? "application/octet-stream",
    };
  } catch {
    return null;
  }
}
