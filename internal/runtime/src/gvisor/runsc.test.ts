import { spawn } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runsc, readStateFile } from "./runsc.ts";

// A stand-in runsc that logs each subcommand and answers `state` with the pid
// written in a file, so the test can count how often the real one would run.
let dir: string;
let fake: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "boxyard-runsc-"));
  fake = join(dir, "runsc");
  await writeFile(
    fake,
    `#!/bin/sh
for a; do case "$a" in --*) ;; *) echo "$a" >> "${dir}/calls"; break;; esac; done
case "$*" in
  *" state "*) # What the sandbox was when asked; a slow runsc answers a second later.
               if [ -f "${dir}/pid" ]; then out="{\\"status\\":\\"$(cat ${dir}/status)\\",\\"pid\\":$(cat ${dir}/pid)}"; else out=""; fi
               [ -f "${dir}/slow" ] && sleep 1
               [ -n "$out" ] || { echo "container does not exist" >&2; exit 1; }
               echo "$out";;
esac
exit 0
`,
  );
  await chmod(fake, 0o755);
  // runsc's state files (the root is this dir): the ids below are asked about; b9 has none.
  for (let i = 1; i <= 8; i++) await writeFile(join(dir, `b${i}_sandbox:b${i}.state`), "{}");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function calls(): Promise<string[]> {
  return (await readFile(join(dir, "calls"), "utf8").catch(() => "")).split("\n").filter(Boolean);
}

function runsc(): Runsc {
  return new Runsc({ runscPath: fake, root: dir, platform: "systrap", network: "none" });
}

describe("Runsc.state cache", () => {
  it("asks runsc once for repeated reads, again after a change or when asked for a fresh answer", async () => {
    await rm(join(dir, "calls"), { force: true });
    await writeFile(join(dir, "pid"), String(process.pid));
    await writeFile(join(dir, "status"), "running");
    const r = runsc();
    expect(await r.state("b1")).toEqual({ status: "running", pid: process.pid });
    expect(await r.state("b1")).toEqual({ status: "running", pid: process.pid });
    expect(await calls()).toEqual(["state"]);

    // What this object paused it knows without asking, past the cache's lifetime too (a frozen sandbox cannot change itself).
    await writeFile(join(dir, "status"), "paused");
    await r.pause("b1");
    expect(await r.state("b1")).toEqual({ status: "paused", pid: process.pid });
    expect(await calls()).toEqual(["state", "pause"]);

    await r.state("b1", { fresh: true });
    // A signal to one process inside leaves the sandbox's entry alone.
    await r.kill("b1", "TERM", { pid: 7 });
    await r.state("b1");
    expect(await calls()).toEqual(["state", "pause", "state", "kill"]);

    // A resume: one runsc process for the whole check-resume-check of the driver.
    await writeFile(join(dir, "status"), "running");
    await r.resume("b1");
    expect(await r.state("b1")).toEqual({ status: "running", pid: process.pid });
    expect(await calls()).toEqual(["state", "pause", "state", "kill", "resume"]);
    // A signal to the whole sandbox forgets it.
    await r.kill("b1", "KILL");
    await r.state("b1");
    expect(await calls()).toEqual(["state", "pause", "state", "kill", "resume", "kill", "state"]);
  });

  it("keeps a paused sandbox it paused only while its process lives", async () => {
    const child = spawn("sleep", ["30"]);
    await writeFile(join(dir, "pid"), String(child.pid));
    await writeFile(join(dir, "status"), "running");
    const r = runsc();
    expect((await r.state("b4"))?.status).toBe("running");
    await r.pause("b4");
    expect((await r.state("b4"))?.status).toBe("paused");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect((await r.state("b4"))?.status).toBe("stopped");
  });

  it("asks again after a pause of a sandbox it never saw", async () => {
    await rm(join(dir, "calls"), { force: true });
    await writeFile(join(dir, "pid"), String(process.pid));
    await writeFile(join(dir, "status"), "paused");
    const r = runsc();
    await r.pause("b5");
    expect((await r.state("b5"))?.status).toBe("paused");
    expect(await calls()).toEqual(["pause", "state"]);
  });

  it("answers a state the driver assumed (a thaw of the sandbox's cgroup) without runsc, while its process lives", async () => {
    await rm(join(dir, "calls"), { force: true });
    const child = spawn("sleep", ["30"]);
    const r = runsc();
    r.assume("b7", { status: "running", pid: child.pid ?? -1 });
    expect(await r.state("b7")).toEqual({ status: "running", pid: child.pid });
    expect(await calls()).toEqual([]);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect((await r.state("b7"))?.status).toBe("stopped");
    // A pid that is not alive is not assumed: runsc is asked.
    await writeFile(join(dir, "pid"), String(process.pid));
    await writeFile(join(dir, "status"), "running");
    r.assume("b8", { status: "running", pid: child.pid ?? -1 });
    expect((await r.state("b8"))?.status).toBe("running");
    expect(await calls()).toEqual(["state"]);
  });

  it("reads a cached live sandbox whose process has gone as stopped", async () => {
    const child = spawn("sleep", ["30"]);
    await writeFile(join(dir, "pid"), String(child.pid));
    await writeFile(join(dir, "status"), "running");
    const r = runsc();
    expect((await r.state("b2"))?.status).toBe("running");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect((await r.state("b2"))?.status).toBe("stopped");
  });

  it("caches that a sandbox does not exist until something starts one", async () => {
    await rm(join(dir, "calls"), { force: true });
    await rm(join(dir, "pid"), { force: true });
    const r = runsc();
    expect(await r.state("b3")).toBeNull();
    expect(await r.state("b3")).toBeNull();
    expect(await calls()).toEqual(["state"]);
    // A delete leaves it known gone too: the look right after it needs no runsc.
    await r.delete("b3");
    expect(await r.state("b3")).toBeNull();
    expect(await calls()).toEqual(["state", "delete"]);
    await r.startDetached({ id: "b3", bundle: dir, logPath: join(dir, "b3.log") });
    expect(await r.state("b3")).toBeNull();
    expect(await calls()).toEqual(["state", "delete", "run", "state"]);
  });

  it("answers that a sandbox does not exist without runsc when its root has no state file for it", async () => {
    await rm(join(dir, "calls"), { force: true });
    await writeFile(join(dir, "pid"), String(process.pid));
    await writeFile(join(dir, "status"), "running");
    const r = runsc();
    // A new box's looks before its first start: no runsc process for them.
    expect(await r.state("b9", { fresh: true })).toBeNull();
    expect(await calls()).toEqual([]);
    // Once runsc has a file for it, it is asked.
    await writeFile(join(dir, "b9_sandbox:b9.state"), "{}");
    try {
      expect(await r.state("b9", { fresh: true })).toEqual({ status: "running", pid: process.pid });
      expect(await calls()).toEqual(["state"]);
    } finally {
      await rm(join(dir, "b9_sandbox:b9.state"), { force: true });
    }
    // No root at all (before the first sandbox on a node): nothing either.
    const none = new Runsc({
      runscPath: fake,
      root: join(dir, "no-root"),
      platform: "systrap",
      network: "none",
    });
    expect(await none.state("b1")).toBeNull();
    expect(await calls()).toEqual(["state"]);
  });

  it("does not keep an answer that a change overtook (a state read before a start)", async () => {
    await rm(join(dir, "calls"), { force: true });
    await rm(join(dir, "pid"), { force: true });
    await writeFile(join(dir, "slow"), "");
    try {
      const r = runsc();
      // runsc answers "no such sandbox" for a read that began before the start...
      const early = r.state("b6");
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writeFile(join(dir, "pid"), String(process.pid));
      await writeFile(join(dir, "status"), "running");
      await r.startDetached({ id: "b6", bundle: dir, logPath: join(dir, "b6.log") });
      expect(await early).toBeNull();
      // ...and the next read asks again instead of repeating it.
      await rm(join(dir, "slow"), { force: true });
      expect(await r.state("b6")).toEqual({ status: "running", pid: process.pid });
      expect(await calls()).toEqual(["state", "run", "state"]);
    } finally {
      await rm(join(dir, "slow"), { force: true });
    }
  });
});

// runsc's state file holds what `runsc state` prints (status, sandbox pid); the
// driver reads it instead of starting a runsc process, and asks runsc only when
// the file cannot say. (runsc-state.integ compares the two on real sandboxes.)
describe("runsc state files", () => {
  const stateFile = (status: unknown, pid: unknown) =>
    JSON.stringify({ id: "x", status, goferPid: 1, sandbox: { id: "x", pid } });
  const dead = 2 ** 22 + 12345; // above pid_max's default: no such process

  it("reads status and sandbox pid; a live status whose process is gone reads as stopped", async () => {
    const f = join(dir, "one.state");
    await writeFile(f, stateFile("running", process.pid));
    expect(await readStateFile(f)).toEqual({ status: "running", pid: process.pid });
    await writeFile(f, stateFile("paused", process.pid));
    expect(await readStateFile(f)).toEqual({ status: "paused", pid: process.pid });
    await writeFile(f, stateFile("running", dead));
    expect(await readStateFile(f)).toEqual({ status: "stopped", pid: dead });
    await writeFile(f, stateFile("stopped", 0));
    expect(await readStateFile(f)).toEqual({ status: "stopped", pid: 0 });
  });

  it("cannot say for a file being rewritten, gone, or in a form it does not know", async () => {
    const f = join(dir, "two.state");
    const whole = stateFile("running", process.pid);
    await writeFile(f, whole.slice(0, whole.length - 5));
    expect(await readStateFile(f)).toBeUndefined();
    await writeFile(f, stateFile("creating", process.pid));
    expect(await readStateFile(f)).toBeUndefined();
    await writeFile(f, stateFile(3, process.pid));
    expect(await readStateFile(f)).toBeUndefined();
    await writeFile(f, JSON.stringify({ status: "running" }));
    expect(await readStateFile(f)).toBeUndefined();
    expect(await readStateFile(join(dir, "absent.state"))).toBeUndefined();
  });

  it("Runsc.state answers from a readable file without runsc, and asks runsc when the file cannot say", async () => {
    await rm(join(dir, "calls"), { force: true });
    await writeFile(join(dir, "f1_sandbox:f1.state"), stateFile("running", process.pid));
    await writeFile(join(dir, "f1_sandbox:f1.lock"), "");
    expect(await runsc().state("f1")).toEqual({ status: "running", pid: process.pid });
    expect(await calls()).toEqual([]);
    // Half-written: runsc answers (the stand-in says paused).
    await writeFile(join(dir, "f2_sandbox:f2.state"), "{");
    await writeFile(join(dir, "pid"), String(process.pid));
    await writeFile(join(dir, "status"), "paused");
    expect(await runsc().state("f2")).toEqual({ status: "paused", pid: process.pid });
    expect(await calls()).toEqual(["state"]);
  });

  it("ids lists the container of each state file without runsc", async () => {
    await rm(join(dir, "calls"), { force: true });
    const ids = await runsc().ids();
    expect(ids).toEqual(expect.arrayContaining(["b1", "b8", "f1", "f2"]));
    expect(ids).not.toContain("b9");
    expect(ids.some((i) => i.includes("lock") || i.includes(":"))).toBe(false);
    expect(await calls()).toEqual([]);
    const none = new Runsc({
      runscPath: fake,
      root: join(dir, "no-root"),
      platform: "systrap",
      network: "none",
    });
    expect(await none.ids()).toEqual([]);
  });
});
