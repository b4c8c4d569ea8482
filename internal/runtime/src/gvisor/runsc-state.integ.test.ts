// The driver reads runsc's state files instead of running `runsc state` and
// `runsc list -quiet` (each a process start on the node): under real runsc,
// what it reads must be what those commands print, for a running box, a
// paused one, one whose sandbox was killed from outside, and the list.

import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { Runsc, readStateFile } from "./runsc.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

const run = promisify(execFile);
let node: TestNode;
let rt: GvisorRuntime;
let root: string;
const IDS = ["rstate_a", "rstate_b"];

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  root = join(rt.stateDir, "runsc");
  for (const id of IDS) {
    await rt.prepare(node.spec(id));
    await rt.start(id);
  }
});
afterAll(async () => {
  for (const id of IDS) await rt?.destroy(id).catch(() => {});
  if (node) {
    expect(await node.leaks()).toEqual([]);
    await node.close();
  }
});

const runscArgs = () => [`--root=${root}`, "--platform=systrap", "--network=sandbox", "--overlay2=none"];

/** What `runsc state` prints, as the driver keeps it. */
async function runscState(id: string) {
  const { stdout } = await run("runsc", [...runscArgs(), "state", id]);
  const j = JSON.parse(stdout) as { status: string; pid: number };
  return { status: j.status, pid: j.pid };
}

async function fileState(id: string) {
  const names = (await readdir(root)).filter((n) => n.startsWith(`${id}_sandbox:`) && n.endsWith(".state"));
  expect(names).toHaveLength(1);
  return readStateFile(join(root, names[0]!));
}

describe("runsc state files vs runsc's own answers", () => {
  it("running, then paused by runsc, then running again: the file says what runsc state says", async () => {
    const id = IDS[0]!;
    const running = await runscState(id);
    expect(running.status).toBe("running");
    expect(await fileState(id)).toEqual(running);

    await run("runsc", [...runscArgs(), "pause", id]);
    const paused = await runscState(id);
    expect(paused.status).toBe("paused");
    expect(await fileState(id)).toEqual(paused);

    await run("runsc", [...runscArgs(), "resume", id]);
    expect(await fileState(id)).toEqual(await runscState(id));
  });

  it("ids are what runsc list -quiet prints", async () => {
    const { stdout } = await run("runsc", [...runscArgs(), "list", "-quiet"]);
    const listed = stdout.split("\n").filter(Boolean).sort();
    const r = new Runsc({ runscPath: "runsc", root, platform: "systrap", network: "sandbox" });
    expect(await r.ids()).toEqual(listed);
    expect(listed).toEqual([...IDS].sort());
  });

  it("a sandbox killed from outside reads as stopped (runsc state's answer after the driver's pid check)", async () => {
    const id = IDS[1]!;
    const { pid } = await runscState(id);
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && (await fileState(id))?.status !== "stopped"; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await fileState(id)).toEqual({ status: "stopped", pid });
    // runsc itself still prints the last status it wrote; the driver always checked the pid after it.
    expect(await runscState(id)).toEqual({ status: "running", pid });
    // The driver sees it too (not from a cache of the running box).
    expect((await rt.inspect(id))?.phase).not.toBe("running");
  });
});
