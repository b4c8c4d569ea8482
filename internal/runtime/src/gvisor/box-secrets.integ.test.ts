// Secrets in a real gVisor box: writeSecrets puts exactly the given files in
// /run/boxyard/secrets (tmpfs, 0400, uid 1000), replacing earlier ones; a
// checkpoint zeroes and removes them first, so the checkpoint files never
// hold a value, and the restored box has none until they are written again.
// Sessions and commands get them as environment variables (read inside the
// box, never on a host process's argv or environment); a checkpoint is
// refused, with the box left running and its files in place, while a process
// still holds one in its environment, and the checkpoint taken once it has
// ended holds no value, even though the box was then full of such processes.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { TextCollector } from "../wait-for.ts";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const id = `sec${process.pid}`;
const value = `canary-${randomBytes(16).toString("hex")}`;

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
});

afterAll(async () => {
  await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

async function sh(script: string, user: "dev" | "root" = "dev"): Promise<string> {
  const r = await rt.exec(id, { command: ["sh", "-c", script], user });
  return `${r.stdout.toString()}${r.stderr.length ? `[stderr] ${r.stderr.toString()}` : ""}`;
}

describe("secrets in a gVisor box", () => {
  it("writes 0400 files of the box user on a tmpfs, replacing earlier ones, and keeps the box running", async () => {
    await rt.prepare(node.spec(id));
    await rt.start(id);
    for (let i = 0; i < 5; i++) {
      await rt.writeSecrets(id, [
        { name: "A", value: Buffer.from(`${value}-${i}`) },
        { name: "B", value: Buffer.from("b") },
      ]);
      expect((await rt.inspect(id))?.phase).toBe("running");
    }
    await rt.writeSecrets(id, [{ name: "A", value: Buffer.from(value) }]);
    expect(await sh("cd /run/boxyard/secrets && ls -A && stat -c '%a %u' A && cat A")).toBe(
      `A\n400 1000\n${value}`,
    );
    expect(await sh("grep ' /run/boxyard ' /proc/mounts | cut -d' ' -f3")).toBe("tmpfs\n");
    expect((await rt.inspect(id))?.phase).toBe("running");
  }, 120_000);

  it("gives exec and terminal sessions the values as environment variables, never through the host", async () => {
    expect(await sh('echo "$A"')).toBe(`${value}\n`);
    expect(await sh('echo "$A"', "root")).toBe(`${value}\n`);
    const s = await rt.session(id, { command: ["sh"], pty: { cols: 80, rows: 24 } });
    const out = new TextCollector(s.stdout);
    s.stdin.write('echo "got-$A-end"; exit 0\n');
    await out.until((t) => t.includes(`got-${value}-end`), {
      timeoutMs: 15_000,
      what: "the secret in a pty",
    });
    expect(await s.exited).toBe(0);
    // No host process (runsc, its gofer, the sentry) carries it in argv or environment.
    const hostProcs = execFileSync(
      "sh",
      ["-c", "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null; true"],
      {
        maxBuffer: 256 << 20,
      },
    );
    expect(hostProcs.includes(Buffer.from(value))).toBe(false);
  }, 120_000);

  it("refuses a checkpoint while a process has a secret in its environment, leaving the box running", async () => {
    const bg = Number((await sh("nohup sleep 4646 >/dev/null 2>&1 </dev/null & echo $!")).trim());
    await expect(rt.checkpoint(id)).rejects.toMatchObject({
      code: "checkpoint_refused",
      message: expect.stringContaining(`${bg} sleep`),
    });
    expect((await rt.inspect(id))?.phase).toBe("running");
    expect(await sh("cat /run/boxyard/secrets/A")).toBe(value);
    await sh(`kill ${bg}`);
  }, 120_000);

  it("removes them before a checkpoint: the checkpoint holds no value, the restored box no file", async () => {
    await rt.checkpoint(id);
    const dir = join(rt.stateDir, "boxes", id, "checkpoint");
    const files = await readdir(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect((await readFile(join(dir, f))).includes(Buffer.from(value)), f).toBe(false);
    await rt.resume(id);
    expect(await sh("ls -A /run/boxyard/secrets")).toBe("");
    await rt.writeSecrets(id, [{ name: "A", value: Buffer.from(value) }]);
    expect(await sh("cat /run/boxyard/secrets/A")).toBe(value);
    await rt.destroy(id);
  }, 120_000);

  it("writing no secrets into a sandbox that never had any runs nothing in it; after a write it removes them", async () => {
    // runsc through a wrapper that logs each command, so the test sees every exec into the box.
    const log = join(node.dir, "runsc-calls.log");
    const wrapper = join(node.dir, "runsc-logged");
    await writeFile(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec runsc "$@"\n`, { mode: 0o755 });
    const logged = node.runtime({ runscPath: wrapper });
    const execs = async () =>
      (await readFile(log, "utf8").catch(() => "")).split("\n").filter((l) => / exec /.test(` ${l} `)).length;
    const quiet = `${id}q`;
    await logged.prepare(node.spec(quiet));
    await logged.start(quiet);
    const before = await execs();
    await logged.writeSecrets(quiet, []);
    expect(await execs()).toBe(before);

    await logged.writeSecrets(quiet, [{ name: "A", value: Buffer.from(value) }]);
    expect(await execs()).toBeGreaterThan(before);
    await logged.writeSecrets(quiet, []);
    const r = await logged.exec(quiet, { command: ["ls", "-A", "/run/boxyard/secrets"] });
    expect(r.stdout.toString()).toBe("");

    // A restored sandbox has none (they were scrubbed before its checkpoint): again nothing to run.
    await logged.checkpoint(quiet);
    await logged.resume(quiet);
    const restored = await execs();
    await logged.writeSecrets(quiet, []);
    expect(await execs()).toBe(restored);
    await logged.destroy(quiet);
  }, 120_000);
});
