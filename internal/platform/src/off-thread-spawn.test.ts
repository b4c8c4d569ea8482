import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type OffThreadCommand,
  type OffThreadRawResult,
  type OffThreadResult,
  runOffThread as routed,
  runOffThreadRaw as routedRaw,
  viaWorker,
} from "./off-thread-spawn.ts";
import { spawnerHelper, spawnerRunning } from "./spawner.ts";

/** Waits until the spawner helper runs (it is built on first use; the worker threads serve meanwhile). */
async function untilSpawner(): Promise<void> {
  for (const until = Date.now() + 60_000; !spawnerRunning(); await new Promise((r) => setTimeout(r, 50))) {
    spawnerHelper();
    if (Date.now() > until) throw new Error("the spawner did not start");
  }
}

// The same behaviour through both paths: the spawner helper (what a node uses) and the worker threads
// (the fallback where the helper cannot be built).
describe.each([
  ["the spawner", true],
  ["worker threads", false],
])("runOffThread through %s", (_name, spawner) => {
  const runOffThreadRaw = async (cmd: OffThreadCommand): Promise<OffThreadRawResult> => {
    if (!spawner) return viaWorker(cmd);
    await untilSpawner();
    return routedRaw(cmd);
  };
  const runOffThread = async (cmd: OffThreadCommand): Promise<OffThreadResult> => {
    if (!spawner) {
      const { truncated: _t, stdout, stderr, ...rest } = await viaWorker(cmd);
      return { ...rest, stdout: stdout.toString("utf8"), stderr: stderr.toString("utf8") };
    }
    await untilSpawner();
    return routed(cmd);
  };

  it("returns the exit code and both streams", async () => {
    const r = await runOffThread({ file: "sh", args: ["-c", "echo out; echo err >&2; exit 3"] });
    expect(r).toEqual({ code: 3, signal: null, stdout: "out\n", stderr: "err\n" });
  });

  it("writes the input to stdin and closes it; without input stdin is empty", async () => {
    expect((await runOffThread({ file: "cat", args: [], input: "abc\n" })).stdout).toBe("abc\n");
    expect((await runOffThread({ file: "cat", args: [] })).stdout).toBe("");
    // A command that never reads its input still gives its own status.
    expect(
      (await runOffThread({ file: "sh", args: ["-c", "exit 4"], input: "x".repeat(1 << 20) })).code,
    ).toBe(4);
  });

  it("runs in the given cwd", async () => {
    expect((await runOffThread({ file: "pwd", args: [], cwd: "/tmp" })).stdout).toBe("/tmp\n");
  });

  it("a command that cannot start says why, and nothing ran", async () => {
    const r = await runOffThread({ file: "/nonexistent/boxyard-no-such-command", args: [] });
    expect(r.spawnError?.code).toBe("ENOENT");
    expect(r.code).toBeNull();
  });

  it("kills a command past its deadline", async () => {
    const started = Date.now();
    const r = await runOffThread({ file: "sleep", args: ["30"], timeoutMs: 200 });
    expect(r.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("keeps at most maxOutputBytes of each stream and still reads the rest", async () => {
    const r = await runOffThread({
      file: "head",
      args: ["-c", "3000000", "/dev/zero"],
      maxOutputBytes: 1000,
    });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(1000);
  });

  it("many commands at once each get their own answer", async () => {
    const all = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        runOffThread({ file: "sh", args: ["-c", `echo ${i}; exit ${i % 7}`] }),
      ),
    );
    all.forEach((r, i) => {
      expect(r.stdout).toBe(`${i}\n`);
      expect(r.code).toBe(i % 7);
    });
  });

  it("raw: bytes as they are, the cut flagged, byte input copied (the caller's buffer is left as it was)", async () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = await runOffThreadRaw({ file: "cat", args: [], input: all });
    expect(r.stdout.equals(all)).toBe(true);
    expect(r.truncated).toBe(false);
    expect(all[255]).toBe(255);
    const cut = await runOffThreadRaw({ file: "cat", args: [], input: all, maxOutputBytes: 100 });
    expect(cut.stdout.equals(all.subarray(0, 100))).toBe(true);
    expect(cut.truncated).toBe(true);
  });

  it("timeoutMs null sets no deadline", async () => {
    const r = await runOffThread({ file: "sh", args: ["-c", "sleep 0.3; echo slow"], timeoutMs: null });
    expect(r).toMatchObject({ code: 0, signal: null, stdout: "slow\n" });
  });

  it("outputFile takes both streams (mode 0600); detached gives the command a session of its own", async () => {
    const dir = await mkdtemp(join(tmpdir(), "boxyard-offthread-"));
    try {
      const file = join(dir, "log");
      // /proc/self/stat of the shell: field 1 is its pid, field 6 its session.
      const script = "echo out; echo err >&2; awk '{print ($1 == $6)}' /proc/$$/stat";
      const r = await runOffThread({ file: "sh", args: ["-c", script], outputFile: file, detached: true });
      expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
      expect(await readFile(file, "utf8")).toBe("out\nerr\n1\n");
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      await runOffThread({ file: "sh", args: ["-c", script], outputFile: file });
      expect((await readFile(file, "utf8")).endsWith("0\n")).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an idle helper or worker does not keep a process alive", async () => {
    const mod = fileURLToPath(new URL("./off-thread-spawn.ts", import.meta.url));
    const helperMod = fileURLToPath(new URL("./spawner.ts", import.meta.url));
    const dir = await mkdtemp(join(tmpdir(), "boxyard-offthread-"));
    try {
      const script = join(dir, "run.mts");
      await writeFile(
        script,
        `import { runOffThread } from ${JSON.stringify(mod)};
import { spawnerHelper, spawnerRunning } from ${JSON.stringify(helperMod)};
if (${spawner}) while (!spawnerRunning()) { spawnerHelper(); await new Promise((r) => setTimeout(r, 50)); }
const r = await runOffThread({ file: "echo", args: ["done"] });
process.stdout.write(r.stdout + (${spawner} ? String(spawnerRunning()) : ""));
`,
      );
      // The script ends by itself once its command has answered (the timeout would end a hung one).
      const r = spawnSync("npx", ["--no-install", "tsx", script], { timeout: 30_000, encoding: "utf8" });
      expect(r.error).toBeUndefined();
      expect(r.stdout).toBe(spawner ? "done\ntrue" : "done\n");
      expect(r.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the spawner helper", () => {
  it("starts commands itself: the server process does not fork them", async () => {
    await untilSpawner();
    const r = await routed({ file: "sh", args: ["-c", "echo $PPID"] });
    const ppid = Number(r.stdout.trim());
    expect(ppid).not.toBe(process.pid);
    // The command's parent is the helper, a child of this process.
    const stat = await readFile(`/proc/${ppid}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])).toBe(process.pid);
  });

  it("a helper that dies fails what it had in flight; the next command is served (by a new helper)", async () => {
    await untilSpawner();
    const inFlight = routed({ file: "sleep", args: ["5"] });
    const helperPid = Number((await routed({ file: "sh", args: ["-c", "echo $PPID"] })).stdout.trim());
    process.kill(helperPid, "SIGKILL");
    await expect(inFlight).rejects.toThrow(/spawner exited/);
    expect((await routed({ file: "echo", args: ["again"] })).stdout).toBe("again\n");
    await untilSpawner();
    const newPid = Number((await routed({ file: "sh", args: ["-c", "echo $PPID"] })).stdout.trim());
    expect(newPid).not.toBe(helperPid);
    expect(newPid).not.toBe(process.pid);
  });
});
