// A template's onStart commands: run once per boot of a box's sandbox, as the
// box user in /workspace, in the background, once its secrets and checkout
// are in place. "Once per boot" is kept inside the box: the run claims a dir
// on the box's /tmp (a tmpfs), which a new sandbox starts without and a
// resumed or restored one still has; so neither a resume nor a restarted
// agent runs the commands again. Everything here runs as the box user, never
// as root: the commands and these scripts get the box's environment, which
// its template and image set. The run writes its outcome next to it
// (running, ok, or which command failed with what exit status), which the
// agent reads back until the run ends; the commands' output goes to
// ~/.boxyard/on-start.log, for the user, never to the agent or its reports
// (it may print anything, secrets included).

import type { Runtime } from "@boxyard/runtime";

export const ON_START_DIR = "/tmp/.boxyard-on-start";
export const ON_START_LOG = "~/.boxyard/on-start.log";

/**
 * Claims this sandbox's run (prints "new"), or prints the outcome of the run
 * already started in it. A claim whose run never started (the agent stopped
 * in between) is claimed again.
 */
const CLAIM = `d=${ON_START_DIR}
if mkdir -m 0755 "$d" 2>/dev/null || [ ! -f "$d/status" ]; then
  echo new
else
  cat "$d/status"
fi`;

/**
 * As the box user in /workspace: starts the commands ($@) one after the
 * other in the background and returns at once. The first that fails ends
 * the run: "failed N STATUS".
 */
const LAUNCH = `set -e
d=${ON_START_DIR}
log=/home/dev/.boxyard/on-start.log
mkdir -p /home/dev/.boxyard
: > "$log"
echo running > "$d/status"
(
  set +e
  n=0
  for c in "$@"; do
    n=$((n + 1))
    printf -- '--- onStart %s: %s\\n' "$n" "$c" >> "$log"
    sh -c "$c" >> "$log" 2>&1 < /dev/null
    rc=$?
    if [ "$rc" -ne 0 ]; then
      printf -- '--- onStart %s failed with exit status %s\\n' "$n" "$rc" >> "$log"
      echo "failed $n $rc" > "$d/status.new" && mv -f "$d/status.new" "$d/status"
      exit 0
    fi
  done
  printf -- '--- onStart done\\n' >> "$log"
  echo ok > "$d/status.new" && mv -f "$d/status.new" "$d/status"
) < /dev/null > /dev/null 2>&1 &`;

/** What the agent knows of a box's run in its current sandbox. */
export interface OnStartRun {
  status: "running" | "ok" | "failed";
  /** With failed: what the owner reads in the box's notice. */
  problem?: string;
  /** While running: when to look again (epoch ms), and how many looks so far. */
  nextCheck: number;
  checks: number;
}

const exec = (runtime: Runtime, boxId: string, command: string[]) =>
  runtime.exec(boxId, { command, user: "dev", cwd: "/workspace", timeoutMs: 30_000, maxOutputBytes: 4096 });

/** Starts the box's run if its sandbox has none yet, or reads how the run is doing. */
export async function checkOnStart(
  runtime: Runtime,
  boxId: string,
  commands: readonly string[],
  known: OnStartRun | undefined,
): Promise<OnStartRun> {
  let status: string;
  if (!known) {
    const claim = await exec(runtime, boxId, ["/bin/sh", "-c", CLAIM]);
    if (claim.exitCode !== 0) throw new Error(`onStart: cannot claim the run: ${stderrTail(claim.stderr)}`);
    status = claim.stdout.toString("utf8").trim();
    if (status === "new") {
      const r = await exec(runtime, boxId, ["/bin/sh", "-c", LAUNCH, "sh", ...commands]);
      if (r.exitCode !== 0) throw new Error(`onStart: cannot start the commands: ${stderrTail(r.stderr)}`);
      status = "running";
    }
  } else {
    const r = await exec(runtime, boxId, ["cat", `${ON_START_DIR}/status`]);
    if (r.exitCode !== 0) throw new Error(`onStart: cannot read how the run went: ${stderrTail(r.stderr)}`);
    status = r.stdout.toString("utf8").trim();
  }
  return outcome(status, commands, known);
}

function outcome(status: string, commands: readonly string[], known: OnStartRun | undefined): OnStartRun {
  if (status === "ok") return { status: "ok", nextCheck: 0, checks: 0 };
  const failed = /^failed (\d+) (\d+)$/.exec(status);
  if (failed) {
    const n = Number(failed[1]);
    const command = commands[n - 1] ?? "";
    const shown = command.length > 80 ? `${command.slice(0, 77)}...` : command;
    return {
      status: "failed",
      problem: `onStart command ${n} (${shown}) failed with exit status ${failed[2]}; see ${ON_START_LOG} in the box`,
      nextCheck: 0,
      checks: 0,
    };
  }
  // Still running: look again soon, then less often (a command may run for long, or for ever).
  const checks = (known?.checks ?? 0) + 1;
  return { status: "running", checks, nextCheck: Date.now() + Math.min(1000 * 2 ** (checks - 1), 60_000) };
}

function stderrTail(b: Buffer): string {
  return b.toString("utf8").trim().split("\n").slice(-2).join(" / ").slice(0, 300);
}
