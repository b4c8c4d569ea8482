// D1: SIGKILL of the node agent leaves its boxes running, and a new driver
// object re-adopts them. The "agent" is a separate node process that starts
// a box through the driver; the test kills it by PID.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TextCollector } from "../wait-for.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

const childScript = fileURLToPath(new URL("./testdata/agent-child.ts", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));
let node: TestNode;
let rt: GvisorRuntime;
let child: ChildProcess | undefined;
const tag = randomBytes(3).toString("hex");
const mine = `d1${tag}_parent`;
const theirs = `d1${tag}_child`;

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
});

afterAll(async () => {
  if (child?.pid && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const id of [mine, theirs]) await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

describe("D1: agent SIGKILL", () => {
  it("leaves boxes running and a new driver object re-adopts them", async () => {
    await rt.prepare(node.spec(mine));
    await rt.start(mine);
    await rt.exec(mine, { command: ["sh", "-c", "echo before > /home/dev/d1.txt"] });

    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        childScript,
        node.stateDir,
        node.store.root,
        node.cgroupParent,
        theirs,
        node.busybox,
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    const out = new TextCollector(child.stdout!);
    const err = new TextCollector(child.stderr!);
    await out
      .until((t) => /READY \d+/.test(t), { timeoutMs: 60_000, what: "the child agent's box" })
      .catch((e: Error) => {
        throw new Error(`${e.message}; stderr: ${err.text}`);
      });
    const sandboxPid = Number(/READY (\d+)/.exec(out.text)?.[1]);
    const exited = new Promise((resolve) => child!.on("exit", resolve));
    process.kill(child.pid!, "SIGKILL");
    await exited;

    const fresh = node.runtime();
    const listed = new Map((await fresh.list()).map((b) => [b.id, b]));
    expect(listed.get(theirs)).toMatchObject({ phase: "running", pid: sandboxPid });
    expect(listed.get(mine)?.phase).toBe("running");
    const r = await fresh.exec(theirs, { command: ["sh", "-c", "echo alive; id -u"] });
    expect(r.stdout.toString()).toBe("alive\n1000\n");
    const r2 = await fresh.exec(mine, { command: ["cat", "/home/dev/d1.txt"] });
    expect(r2.stdout.toString()).toBe("before\n");
    rt = fresh;
  });
});
