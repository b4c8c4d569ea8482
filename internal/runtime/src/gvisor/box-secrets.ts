// Secrets inside a running gVisor box: files in /run/boxyard/secrets, on the
// box's /run/boxyard tmpfs (sentry memory, never the box's disk), each mode
// 0400 and owned by the box user. A value travels only on the stdin of a
// `runsc exec` (never in argv or the environment, which a host process list
// or runsc's log would show). Before a checkpoint the files are overwritten
// with zeros in place and removed, so the saved memory holds no value; a
// marker in the box's host dir says that the box may hold secrets, so a
// checkpoint of a box that never got any needs no exec (and no shell).
// Sessions and commands in the box get the values as environment variables,
// read from these files by the in-box wrapper (boxinit); so a checkpoint is
// refused while a process in the box still has one in its environment (a
// shell or server started from a session): the box stays as it was, and the
// caller may try again once those processes have ended. These scripts
// themselves run without the values in their environment.

import { access, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CheckpointRefusedError, SandboxError } from "../errors.ts";
import type { ExecResult } from "../runtime.ts";
import { type BoxExecContext, execInBox } from "./box-exec.ts";
import type { BoxPaths } from "./box-paths.ts";

export const SECRETS_DIR = "/run/boxyard/secrets";
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Writes one file from stdin, atomically (temp file, then rename). $1: the name. */
const WRITE_ONE = `set -e
d=${SECRETS_DIR}
mkdir -p "$d"
chown 1000:1000 "$d"
chmod 0500 "$d"
umask 077
t="$d/.$1.new"
rm -f "$t"
cat > "$t"
chown 1000:1000 "$t"
chmod 0400 "$t"
mv -f "$t" "$d/$1"`;

/** Zeroes and removes every file in the dir except the names given as arguments. */
const SCRUB = `d=${SECRETS_DIR}
[ -d "$d" ] || exit 0
status=0
for f in "$d"/* "$d"/.[!.]*; do
  [ -f "$f" ] || continue
  keep=0
  for k in "$@"; do [ "$f" = "$d/$k" ] && keep=1; done
  [ "$keep" = 1 ] && continue
  n=$(wc -c < "$f")
  head -c "$n" /dev/zero | dd of="$f" conv=notrunc 2>/dev/null || status=1
  rm -f "$f" || status=1
done
exit $status`;

/**
 * Prints "PID COMMAND" of each process (other than itself) whose environment
 * names one of the secrets in the dir.
 */
const HOLDERS = `d=${SECRETS_DIR}
[ -d "$d" ] || exit 0
names=$(ls -A "$d" | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | tr '\\n' '|')
[ -n "$names" ] || exit 0
names=\${names%|}
for p in /proc/[0-9]*; do
  pid=\${p#/proc/}
  [ "$pid" = "$$" ] && continue
  if tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qE "^($names)="; then
    echo "$pid $(cat "$p/comm" 2>/dev/null)"
  fi
done
exit 0`;

function markerPath(paths: BoxPaths): string {
  return join(paths.dir, "secrets-in-box");
}

function check(r: ExecResult, what: string): void {
  if (r.exitCode !== 0 || r.timedOut)
    // stderr of these scripts never holds a value (it only ever reaches stdin).
    throw new SandboxError(
      `${what}: exit ${r.exitCode}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.toString("utf8").slice(0, 300)}`,
    );
}

/** Puts exactly these secrets in the running box (others there before are scrubbed). */
export async function writeSecretsInSandbox(
  ctx: BoxExecContext,
  paths: BoxPaths,
  secrets: readonly { name: string; value: Buffer }[],
): Promise<void> {
  for (const s of secrets)
    if (!NAME.test(s.name)) throw new SandboxError(`secret name ${JSON.stringify(s.name)} is not valid`);
  // None wanted, and none ever written into this sandbox (a new box, or one
  // just restored): nothing to write or scrub. This saves every new and every
  // resumed box an exec of a shell, which costs the box's own CPU quota while
  // its owner's first command waits for the same quota.
  if (secrets.length === 0 && !(await mayHoldSecrets(paths))) return;
  // Marked first: a crash half-way still has the next checkpoint scrub.
  await writeFile(markerPath(paths), "");
  for (const s of secrets) {
    const r = await execInBox(ctx, {
      command: ["/bin/sh", "-c", WRITE_ONE, "sh", s.name],
      user: "root",
      cwd: "/",
      noSecretsEnv: true,
      stdin: s.value,
      timeoutMs: 30_000,
      maxOutputBytes: 4096,
    });
    check(r, `writing secret ${s.name} into box ${ctx.id}`);
  }
  const r = await execInBox(ctx, {
    command: ["/bin/sh", "-c", SCRUB, "sh", ...secrets.map((s) => s.name)],
    user: "root",
    cwd: "/",
    noSecretsEnv: true,
    timeoutMs: 30_000,
    maxOutputBytes: 4096,
  });
  check(r, `removing old secrets from box ${ctx.id}`);
}

/**
 * Removes every secret file from the running box before its memory is
 * saved. Throws when it cannot: the caller must not checkpoint then; and
 * CheckpointRefusedError, with nothing removed, while a process in the box
 * has a secret in its environment.
 */
export async function clearSecretsInSandbox(ctx: BoxExecContext, paths: BoxPaths): Promise<void> {
  if (!(await mayHoldSecrets(paths))) return;
  const held = await execInBox(ctx, {
    command: ["/bin/sh", "-c", HOLDERS],
    user: "root",
    cwd: "/",
    noSecretsEnv: true,
    timeoutMs: 30_000,
    maxOutputBytes: 4096,
  });
  check(held, `looking for processes with secrets in box ${ctx.id}`);
  const holders = held.stdout.toString("utf8").trim().split("\n").filter(Boolean);
  if (holders.length > 0)
    throw new CheckpointRefusedError(
      ctx.id,
      "paused",
      `processes hold secrets in their environment: ${holders.slice(0, 5).join(", ")}${holders.length > 5 ? ", ..." : ""}`,
    );
  const r = await execInBox(ctx, {
    command: ["/bin/sh", "-c", SCRUB, "sh"],
    user: "root",
    cwd: "/",
    noSecretsEnv: true,
    timeoutMs: 30_000,
    maxOutputBytes: 4096,
  });
  check(r, `removing secrets from box ${ctx.id} before its checkpoint`);
  await forgetSecrets(paths);
}

/** The sandbox (and its tmpfs) is gone: nothing of the secrets is left in it. */
export async function forgetSecrets(paths: BoxPaths): Promise<void> {
  await rm(markerPath(paths), { force: true });
}

/** Whether secrets were written into the box's current sandbox (and not yet removed). */
export async function mayHoldSecrets(paths: BoxPaths): Promise<boolean> {
  try {
    await access(markerPath(paths));
    return true;
  } catch {
    return false;
  }
}
