// Builds the in-box init (boxinit/boxinit.c) once per source version:
// `<stateDir>/bin/boxinit-<sourcehash>`, compiled with `gcc -static -Os` the
// first time a driver needs it and reused after. Building into a temp name
// and renaming keeps concurrent drivers from seeing a half-written binary.

import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { access, mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RuntimeUnavailableError } from "../errors.ts";
import { hostCommand } from "./host-command.ts";

/**
 * The C source: beside the bundled server (dist/boxinit/boxinit.c, copied by
 * scripts/build.mjs) or in the source tree when running from TypeScript.
 */
export const boxinitSource = [
  fileURLToPath(new URL("./boxinit/boxinit.c", import.meta.url)),
  fileURLToPath(new URL("../../boxinit/boxinit.c", import.meta.url)),
].find((p) => existsSync(p)) as string;

/** The binary's path per state dir, once this process has found or built it (the source does not change while it runs). */
const known = new Map<string, string>();

export async function ensureBoxinit(stateDir: string): Promise<string> {
  const cached = known.get(stateDir);
  if (cached !== undefined) {
    // One stat, made at once, instead of reading and hashing the source: every prepare and boot calls this.
    if (existsSync(cached)) return cached;
    known.delete(stateDir);
  }
  if (!boxinitSource)
    throw new RuntimeUnavailableError("boxinit.c is missing from this installation; rebuild Boxyard");
  const source = await readFile(boxinitSource);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const binDir = join(stateDir, "bin");
  const target = join(binDir, `boxinit-${hash}`);
  try {
    await access(target);
    known.set(stateDir, target);
    return target;
  } catch {}
  await mkdir(binDir, { recursive: true });
  const tmp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await hostCommand("gcc", ["-static", "-Os", "-Wall", "-o", tmp, boxinitSource], { timeoutMs: 120_000 });
    await rename(tmp, target);
    known.set(stateDir, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new RuntimeUnavailableError("cannot build boxinit (needs gcc and static glibc, libc6-dev)", {
      cause: err,
    });
  }
  return target;
}
