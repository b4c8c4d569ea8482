// Issue 3's last runtime gaps, end to end (built server, real gVisor, the
// CLI): a cold pause of a box with TCP connections in flight (netstack used
// to refuse to save them and runsc then ended the sandbox), and an OOM kill
// in a box reported through the API (test catalogue A9: the box object and
// its events say what was killed, and the box keeps running and restarts).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNodeClean, runscRoot, startTestServer, type TestServer } from "./kit.ts";

const run = promisify(execFile);
const NODE = { prefix: "byme", subnet: "10.223.0.0/24" };

let t: TestServer;
const ok = (args: string[]) => t.ok(args);
const show = async (name: string) => JSON.parse((await ok(["show", name, "--json"])).stdout);

beforeAll(async () => {
  t = await startTestServer({ name: "memnet", node: NODE });
}, 180_000);

afterAll(async () => {
  await t?.release();
}, 120_000);

describe("cold pause with connections, and OOM kills through the API (gVisor)", () => {
  it("cold-pauses a box with a connection attempt in flight and one open over loopback; its processes survive", async () => {
    await ok(["create", "net", "--template", "busybox", "--wait"]);
    const gateway = (
      await ok(["exec", "net", "--", "sh", "-c", "ip route | awk '/default/ { print $3 }'"])
    ).stdout.trim();
    expect(gateway).toMatch(/^10\.223\.0\.\d+$/);
    // The node drops the box's packets to a host port it was not given: the connect stays in SYN_SENT.
    // Over loopback, a listener and a client keep a connection open.
    await ok([
      "exec",
      "net",
      "--",
      "sh",
      "-c",
      [
        "nohup sleep 100000 >/dev/null 2>&1 & echo $! > /home/dev/sleeper.pid",
        `nohup nc -w 120 ${gateway} 9 >/dev/null 2>&1 </dev/null &`,
        "nohup nc -l -p 7000 >/dev/null 2>&1 </dev/null &",
        "sleep 1; nohup sh -c 'sleep 100000 | nc 127.0.0.1 7000' >/dev/null 2>&1 </dev/null &",
      ].join("\n"),
    ]);
    const pid = (await ok(["exec", "net", "--", "cat", "/home/dev/sleeper.pid"])).stdout.trim();
    const id = (await show("net")).id as string;
    const sandbox = async () => {
      const list = (JSON.parse(
        (await run("runsc", [`--root=${runscRoot(t.dataDir)}`, "list", "-format=json"])).stdout || "[]",
      ) ?? []) as Array<{ id: string; status: string }>;
      return list.find((c) => c.id === id)?.status ?? "gone";
    };
    await ok(["pause", "net", "--cold", "--wait"]);
    await waitFor(async () => ["gone", "stopped"].includes(await sandbox()), {
      timeoutMs: 60_000,
      message: "the sandbox to be checkpointed and end",
    });
    expect((await show("net")).actualState).toBe("paused");
    await ok(["resume", "net", "--wait"]);
    expect(await sandbox()).toBe("running");
    const alive = await ok(["exec", "net", "--", "sh", "-c", `kill -0 ${pid} && echo alive`]);
    expect(alive.stdout).toBe("alive\n");
    await ok(["rm", "net", "--wait"]);
  }, 180_000);

  it("A9: an OOM kill shows on the box (oomKills, lastOomKill) and in its events; the box runs on and restarts", async () => {
    await ok(["create", "hog", "--template", "busybox", "--wait"]);
    expect(await show("hog")).toMatchObject({ oomKills: 0, lastOomKill: null });
    const bomb = await t.cli([
      "exec",
      "hog",
      "--",
      "awk",
      'BEGIN { s = "xxxxxxxxxxxxxxxx"; while (1) s = s s }',
    ]);
    expect(bomb.code).toBe(137);
    const box = await waitFor(
      async () => {
        const b = await show("hog");
        return b.oomKills >= 1 ? b : null;
      },
      { timeoutMs: 90_000, intervalMs: 1_000, message: "the node to report the OOM kill" },
    );
    expect(box.actualState).toBe("running");
    expect(box.lastOomKill).toMatchObject({ command: "awk", uid: 1000, pid: expect.any(Number) });
    const events = JSON.parse((await ok(["events", "hog", "--json"])).stdout) as Array<
      Record<string, unknown>
    >;
    expect(events).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "oom_kill", reason: expect.stringMatching(/\(awk\), uid 1000/) }),
      ]),
    );
    await ok(["stop", "hog", "--wait"]);
    await ok(["start", "hog", "--wait"]);
    expect((await ok(["exec", "hog", "--", "echo", "back"])).stdout).toBe("back\n");
    await ok(["rm", "hog", "--wait"]);
  }, 240_000);

  it("leaves nothing behind on the node", async () => {
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
  });
});
