// Builds the in-box init (boxinit/boxinit.c) once per source version:
// `<stateDir>/bin/boxinit-<sourcehash>`, compiled with `gcc -static -Os` the
// first time a driver needs it and reused after. Building into a temp name
// and renaming keeps concurrent drivers from seeing a half-written binary.

import { createHash, randomBytes } from "node:crypto";
import { access, mkdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RuntimeUnavailableError } from "../errors.ts";
import { hostCommand } from "./host-command.ts";

export const boxinitSource = fileURLToPath(new URL("../../boxinit/boxinit.c", import.meta.url));

export async function ensureBoxinit(stateDir: string): Promise<string> {
  const source = await readFile(boxinitSource);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const binDir = join(stateDir, "bin");
  const target = join(binDir, `boxinit-${hash}`);
  try {
    await access(target);
    return target;
  } catch {}
  await mkdir(binDir, { recursive: true });
  const tmp = `${target}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await hostCommand("gcc", ["-static", "-Os", "-Wall", "-o", tmp, boxinitSource], { timeoutMs: 120_000 });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new RuntimeUnavailableError("cannot build boxinit (needs gcc and static glibc, libc6-dev)", {
      cause: err,
    });
  }
  return target;
}
