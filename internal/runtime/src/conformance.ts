// The conformance suite every runtime driver runs (gvisor, fake, later microvm
// and container). It drives one box through its whole life and a few more for
// re-adoption, asserting the observable results, not call sequences. A case a
// driver cannot support is skipped with the reason in the test name.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backgroundCommandLine, conformanceCommands as cmd } from "./conformance-commands.ts";
import { RuntimeError } from "./errors.ts";
import type { BoxId, BoxSpec, Runtime } from "./runtime.ts";
import { TextCollector } from "./wait-for.ts";

export interface ConformanceHarness {
  /** A new driver object over the harness's node state. Called again by the re-adoption case (D1). */
  newRuntime(): Runtime;
  /** The spec of a new box with this id (layers, small resources). */
  spec(id: BoxId): BoxSpec;
  /** Leak census once every box is destroyed: throws naming whatever is left (mounts, cgroups, sandboxes...). */
  assertNoLeaks?(): Promise<void>;
  /** Releases the harness itself (temporary dirs). Runs after the leak census. */
  close?(): Promise<void>;
}

export type ConformanceCase =
  | "lifecycle"
  | "exec"
  | "exec-timeout"
  | "persistence"
  | "hot-pause"
  | "checkpoint"
  | "readoption"
  | "pty-session"
  | "pty-restore"
  | "pipe-session"
  | "secrets"
  | "destroy"
  | "errors";

export interface ConformanceOptions {
  /** Cases this driver cannot support, each with the reason shown in the test name. */
  skip?: Partial<Record<ConformanceCase, string>>;
  /** Per-test timeout; real sandboxes need more than the fake. */
  timeoutMs?: number;
}

export function describeRuntimeConformance(
  name: string,
  makeHarness: () => Promise<ConformanceHarness>,
  opts: ConformanceOptions = {},
): void {
  const timeout = opts.timeoutMs ?? 60_000;
  // Ids are unique per run so leftovers of a crashed earlier run never collide.
  const run = randomBytes(3).toString("hex");
  const mainId = `cf${run}_main`;
  const adoptIds = [`cf${run}_run`, `cf${run}_hot`, `cf${run}_cold`] as const;

  let harness: ConformanceHarness;
  let rt: Runtime;
  let backgroundPid = 0;

  const test = (c: ConformanceCase, title: string, fn: () => Promise<void>) => {
    const reason = opts.skip?.[c];
    if (reason !== undefined) it.skip(`${title} (skipped: ${reason})`, fn);
    else it(title, fn, timeout);
  };
  const exec = async (id: BoxId, command: string[], extra: Partial<Parameters<Runtime["exec"]>[1]> = {}) =>
    rt.exec(id, { command, ...extra });
  const text = async (id: BoxId, command: string[], extra: Partial<Parameters<Runtime["exec"]>[1]> = {}) => {
    const r = await exec(id, command, extra);
    expect(r.exitCode, `${command.join(" ")}: ${r.stderr.toString()}`).toBe(0);
    return r.stdout.toString();
  };

  describe(`runtime conformance: ${name}`, () => {
    beforeAll(async () => {
      harness = await makeHarness();
      rt = harness.newRuntime();
    });

    afterAll(async () => {
      // Destroy through a fresh driver object too, so a case that failed
      // half-way still releases its boxes.
      if (rt) for (const id of [mainId, ...adoptIds]) await rt.destroy(id).catch(() => {});
      try {
        await harness?.assertNoLeaks?.();
      } finally {
        await harness?.close?.();
      }
    });

    test("lifecycle", "prepare then start, each twice, reports prepared then running", async () => {
      const spec = harness.spec(mainId);
      const p1 = await rt.prepare(spec);
      expect(p1.phase).toBe("prepared");
      const p2 = await rt.prepare(spec);
      expect(p2.phase).toBe("prepared");
      expect((await rt.inspect(mainId))?.phase).toBe("prepared");
      const s1 = await rt.start(mainId);
      expect(s1.phase).toBe("running");
      const s2 = await rt.start(mainId);
      expect(s2.phase).toBe("running");
      expect(s2.pid).toBe(s1.pid);
      const listed = await rt.list();
      expect(listed.find((b) => b.id === mainId)?.phase).toBe("running");
    });

    test(
      "exec",
      "exec: exit code, separate stdout/stderr, stdin, identity, root, cwd, env, output cap",
      async () => {
        const r3 = await exec(mainId, cmd.exitWith(3));
        expect(r3.exitCode).toBe(3);
        expect(r3.timedOut).toBe(false);

        const split = await exec(mainId, cmd.splitOutput("to-out", "to-err"));
        expect(split.stdout.toString()).toBe("to-out\n");
        expect(split.stderr.toString()).toBe("to-err\n");

        expect(await text(mainId, cmd.cat(), { stdin: "piped input\n" })).toBe("piped input\n");
        expect(await text(mainId, cmd.identity())).toBe("1000\n1000\n/home/dev\n");
        expect(await text(mainId, cmd.identity(), { user: "root", cwd: "/" })).toBe("0\n0\n/\n");
        expect(await text(mainId, cmd.identity(), { cwd: "/workspace" })).toBe("1000\n1000\n/workspace\n");
        expect(await text(mainId, cmd.printEnv("BOXYARD_CONF"), { env: { BOXYARD_CONF: "yes" } })).toBe(
          "yes\n",
        );
        expect(await text(mainId, cmd.printEnv("HOME"))).toBe("/home/dev\n");

        const capped = await exec(mainId, cmd.zeros(100_000), { maxOutputBytes: 1000 });
        expect(capped.exitCode).toBe(0);
        expect(capped.stdout.length).toBe(1000);
        expect(capped.truncated).toBe(true);
        const whole = await exec(mainId, cmd.zeros(5000), { maxOutputBytes: 5000 });
        expect(whole.stdout.length).toBe(5000);
        expect(whole.truncated).toBe(false);
      },
    );

    test(
      "exec-timeout",
      "exec timeout kills the command and everything it started inside the box",
      async () => {
        const started = Date.now();
        const r = await exec(mainId, cmd.sleepLong(), { timeoutMs: 500 });
        expect(r.timedOut).toBe(true);
        expect(r.exitCode).not.toBe(0);
        expect(Date.now() - started).toBeLessThan(15_000);
        expect((await text(mainId, cmd.countLongSleepers())).trim()).toBe("0");
      },
    );

    test("persistence", "files in /home/dev, /workspace and the root fs survive stop/start", async () => {
      await text(mainId, cmd.writeFile("/home/dev/keep.txt", "home-data"));
      await text(mainId, cmd.writeFile("/workspace/keep.txt", "workspace-data"));
      await text(mainId, cmd.writeFile("/etc/boxyard-keep", "root-data"), { user: "root" });
      const s1 = await rt.stop(mainId);
      expect(s1.phase).toBe("stopped");
      expect((await rt.stop(mainId)).phase).toBe("stopped");
      expect((await rt.inspect(mainId))?.phase).toBe("stopped");
      expect((await rt.start(mainId)).phase).toBe("running");
      expect(await text(mainId, cmd.readFile("/home/dev/keep.txt"))).toBe("home-data");
      expect(await text(mainId, cmd.readFile("/workspace/keep.txt"))).toBe("workspace-data");
      expect(await text(mainId, cmd.readFile("/etc/boxyard-keep"))).toBe("root-data");
    });

    test("hot-pause", "pause then resume (each twice) keeps a background process", async () => {
      backgroundPid = Number((await text(mainId, cmd.startBackground())).trim());
      expect(backgroundPid).toBeGreaterThan(1);
      expect((await rt.pause(mainId)).phase).toBe("paused");
      expect((await rt.pause(mainId)).phase).toBe("paused");
      expect((await rt.inspect(mainId))?.phase).toBe("paused");
      expect((await rt.resume(mainId)).phase).toBe("running");
      expect((await rt.resume(mainId)).phase).toBe("running");
      expect(await text(mainId, cmd.commandLineOf(backgroundPid))).toBe(backgroundCommandLine);
    });

    test("checkpoint", "checkpoint then resume (each twice) keeps the process and the files", async () => {
      if (backgroundPid === 0) backgroundPid = Number((await text(mainId, cmd.startBackground())).trim());
      const c1 = await rt.checkpoint(mainId);
      expect(c1.phase).toBe("checkpointed");
      expect(c1.pid).toBeUndefined();
      expect((await rt.checkpoint(mainId)).phase).toBe("checkpointed");
      expect((await rt.inspect(mainId))?.phase).toBe("checkpointed");
      expect((await rt.resume(mainId)).phase).toBe("running");
      expect((await rt.resume(mainId)).phase).toBe("running");
      expect(await text(mainId, cmd.commandLineOf(backgroundPid))).toBe(backgroundCommandLine);
      expect(await text(mainId, cmd.readFile("/home/dev/keep.txt"))).toBe("home-data");
    });

    test(
      "readoption",
      "D1: a new driver object re-adopts running, hot-paused and checkpointed boxes untouched",
      async () => {
        const [runId, hotId, coldId] = adoptIds;
        for (const id of adoptIds) {
          await rt.prepare(harness.spec(id));
          await rt.start(id);
        }
        await text(hotId, cmd.writeFile("/home/dev/mark", "hot"));
        await rt.pause(hotId);
        await rt.checkpoint(coldId);
        const before = new Map((await rt.list()).map((b) => [b.id, b]));

        const again = harness.newRuntime();
        expect(again).not.toBe(rt);
        const listed = new Map((await again.list()).map((b) => [b.id, b]));
        expect(listed.get(runId)?.phase).toBe("running");
        expect(listed.get(hotId)?.phase).toBe("paused");
        expect(listed.get(coldId)?.phase).toBe("checkpointed");
        expect(listed.get(runId)?.pid).toBe(before.get(runId)?.pid);
        expect(listed.get(hotId)?.pid).toBe(before.get(hotId)?.pid);
        // Listing must not have changed anything: the old driver sees the same.
        expect((await rt.inspect(hotId))?.phase).toBe("paused");
        expect((await rt.inspect(coldId))?.phase).toBe("checkpointed");

        rt = again;
        expect(await text(runId, cmd.identity())).toBe("1000\n1000\n/home/dev\n");
        expect((await rt.resume(hotId)).phase).toBe("running");
        expect(await text(hotId, cmd.readFile("/home/dev/mark"))).toBe("hot");
        expect((await rt.resume(coldId)).phase).toBe("running");
        for (const id of adoptIds) await rt.destroy(id);
        for (const id of adoptIds) expect(await rt.inspect(id)).toBeNull();
      },
    );

    test("pty-session", "session with a pty: tty, stty size, resize, exit code", async () => {
      const s = await rt.session(mainId, { command: ["sh"], pty: { cols: 80, rows: 24 } });
      const out = new TextCollector(s.stdout);
      s.stdin.write("test -t 0 && echo is-a-tty; stty size; echo mark-$((40+2))\n");
      const first = await out.until((t) => t.includes("mark-42"), {
        timeoutMs: 15_000,
        what: "first pty reply",
      });
      expect(first).toMatch(/(^|\n)is-a-tty\r?\n/);
      expect(first).toMatch(/24 80/);
      s.resize(100, 30);
      // A resize may take a moment to reach the box; ask until it shows.
      let shown = false;
      for (let i = 0; i < 50 && !shown; i++) {
        s.stdin.write(`stty size; echo probe-${i}-done\n`);
        const t = await out.until(
          (x) => x.includes(`probe-${i}-done\r\n`) || x.includes(`probe-${i}-done\n`),
          {
            timeoutMs: 10_000,
            what: `resize probe ${i}`,
          },
        );
        shown = /30 100/.test(t);
      }
      expect(shown).toBe(true);
      s.stdin.write("exit 7\n");
      expect(await s.exited).toBe(7);
    });

    test(
      "pty-restore",
      "a job started with nohup from a pty session outlives a checkpoint and restore; the session itself hangs up",
      async () => {
        const s = await rt.session(mainId, { command: ["sh"], pty: { cols: 80, rows: 24 } });
        const out = new TextCollector(s.stdout);
        s.stdin.write("nohup sleep 4545 >/dev/null 2>&1 & echo job-$!-started\n");
        const started = await out.until((t) => /job-\d+-started/.test(t), {
          timeoutMs: 15_000,
          what: "the pty job's pid",
        });
        const jobPid = Number(/job-(\d+)-started/.exec(started)?.[1]);
        expect(jobPid).toBeGreaterThan(1);
        expect((await rt.checkpoint(mainId)).phase).toBe("checkpointed");
        // The session's connection to the box is gone with the old sandbox.
        await Promise.race([
          s.exited,
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error("the pty session did not end")), 30_000),
          ),
        ]);
        expect((await rt.resume(mainId)).phase).toBe("running");
        expect(await text(mainId, cmd.commandLineOf(jobPid))).toBe("sleep 4545 ");
        // A new terminal session works after the restore.
        const again = await rt.session(mainId, { command: ["sh"], pty: { cols: 80, rows: 24 } });
        const out2 = new TextCollector(again.stdout);
        again.stdin.write("echo back-$((6*7)); exit 3\n");
        await out2.until((t) => t.includes("back-42"), { timeoutMs: 15_000, what: "a pty after restore" });
        expect(await again.exited).toBe(3);
        await text(mainId, ["kill", String(jobPid)]);
      },
    );

    test("pipe-session", "session without a pty: separate streams, stdin, exit code, signals", async () => {
      const s = await rt.session(mainId, {
        command: ["sh", "-c", "read x; echo got:$x; echo err >&2; tty; exit 5"],
      });
      const out = new TextCollector(s.stdout);
      const err = new TextCollector(s.stderr);
      s.stdin.write("hello\n");
      s.stdin.end();
      expect(await s.exited).toBe(5);
      await out.until((t) => t.includes("not a tty"), { timeoutMs: 5000, what: "stdout" });
      expect(out.text).toContain("got:hello\n");
      await err.until((t) => t.includes("err\n"), { timeoutMs: 5000, what: "stderr" });
      expect(err.text).not.toContain("got:");

      const long = await rt.session(mainId, { command: ["sleep", "600"] });
      long.signal("SIGKILL");
      expect(await long.exited).toBe(128 + 9);
    });

    test(
      "secrets",
      "writeSecrets: files the box user reads and env of later commands; a rewrite replaces them; a checkpoint takes them out",
      async () => {
        if (!rt.writeSecrets) throw new Error(`the ${rt.name} driver has no writeSecrets`);
        const file = (name: string) => `/run/boxyard/secrets/${name}`;
        await rt.writeSecrets(mainId, [
          { name: "CF_ALPHA", value: Buffer.from("alpha-1") },
          { name: "CF_BETA", value: Buffer.from("beta-1") },
        ]);
        expect(await text(mainId, cmd.readFile(file("CF_ALPHA")))).toBe("alpha-1");
        expect(await text(mainId, cmd.readFile(file("CF_BETA")))).toBe("beta-1");
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"))).toBe("alpha-1\n");
        expect(await text(mainId, cmd.printEnv("CF_BETA"), { user: "root", cwd: "/" })).toBe("beta-1\n");
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"), { noSecretsEnv: true })).toBe("\n");

        // Rotated and one removed: the running box sees exactly the new set.
        await rt.writeSecrets(mainId, [{ name: "CF_ALPHA", value: Buffer.from("alpha-2") }]);
        expect(await text(mainId, cmd.readFile(file("CF_ALPHA")))).toBe("alpha-2");
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"))).toBe("alpha-2\n");
        expect((await exec(mainId, cmd.readFile(file("CF_BETA")))).exitCode).not.toBe(0);
        expect(await text(mainId, cmd.printEnv("CF_BETA"))).toBe("\n");

        // Never in a checkpoint: gone after the restore until written again.
        expect((await rt.checkpoint(mainId)).phase).toBe("checkpointed");
        expect((await rt.resume(mainId)).phase).toBe("running");
        expect((await exec(mainId, cmd.readFile(file("CF_ALPHA")))).exitCode).not.toBe(0);
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"))).toBe("\n");
        await rt.writeSecrets(mainId, [{ name: "CF_ALPHA", value: Buffer.from("alpha-3") }]);
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"))).toBe("alpha-3\n");
        await rt.writeSecrets(mainId, []);
        expect(await text(mainId, cmd.printEnv("CF_ALPHA"))).toBe("\n");
      },
    );

    test("destroy", "destroy (twice) releases the box; inspect is null and list excludes it", async () => {
      await rt.destroy(mainId);
      await rt.destroy(mainId);
      expect(await rt.inspect(mainId)).toBeNull();
      expect((await rt.list()).some((b) => b.id === mainId)).toBe(false);
    });

    test("errors", "typed errors for unknown boxes and invalid ids", async () => {
      const ghost = `cf${run}_ghost`;
      await expect(rt.start(ghost)).rejects.toMatchObject({ code: "box_not_found" });
      await expect(rt.exec(ghost, { command: ["true"] })).rejects.toBeInstanceOf(RuntimeError);
      await expect(rt.destroy(ghost)).resolves.toBeUndefined();
      expect(await rt.inspect(ghost)).toBeNull();
      await expect(rt.prepare({ ...harness.spec(ghost), id: "../etc" })).rejects.toMatchObject({
        code: "invalid_box_id",
      });
      await expect(rt.inspect("Bad-Id")).rejects.toMatchObject({ code: "invalid_box_id" });
    });
  });
}
