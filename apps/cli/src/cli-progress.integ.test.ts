// Long operations on a terminal: `create --wait` in a real pseudo-terminal
// (node-pty) shows one live line with the phase and elapsed time and ends
// with how long it took; Ctrl-C stops the waiting, not the operation, and
// says so. Without a terminal the same command prints plain lines.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BoxSpec } from "@boxyard/runtime";
import { FakeRuntime } from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import * as pty from "node-pty";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "../../server/src/api/box-test-api.ts";
import { BOXYARD_BIN, ensureBuilt, runToExit } from "../../server/src/testing/server-process.ts";

/** A fake runtime whose boxes take a while to boot, so there is progress to show. */
class SlowRuntime extends FakeRuntime {
  bootMs = 1_500;
  override async prepare(spec: BoxSpec) {
    // Re-reads bootMs, so a test that lowers it lets a waiting boot finish early.
    const started = Date.now();
    while (Date.now() - started < this.bootMs) await new Promise((r) => setTimeout(r, 50));
    return super.prepare(spec);
  }
}

let api: BoxTestApi;
let home: string;
const runtime = new SlowRuntime();

function env(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: home,
    BOXYARD_URL: api.url,
    BOXYARD_TOKEN: api.adminToken,
    TERM: "xterm",
  };
}

function inPty(args: string[]) {
  const p = pty.spawn(BOXYARD_BIN, args, { cols: 100, rows: 30, env: env() });
  let out = "";
  p.onData((d) => {
    out += d;
  });
  const exited = new Promise<number>((r) => p.onExit(({ exitCode }) => r(exitCode)));
  return { p, output: () => out, exited };
}

beforeAll(async () => {
  await ensureBuilt();
  api = await startBoxTestApi({ runtime });
  home = await mkdtemp(join(tmpdir(), "boxyard-cli-pty-"));
  await api.call("POST", "/api/v1/orgs", { body: { name: "acme" } });
}, 60_000);

afterAll(async () => {
  await api?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("progress on a terminal", () => {
  it("shows one live line with the phase and the elapsed time, then how long it took", async () => {
    const run = inPty(["create", "slow", "--template", "busybox", "--wait"]);
    expect(await run.exited).toBe(0);
    const out = run.output();
    // The live line is rewritten in place (carriage return + erase line) with a spinner and seconds.
    expect(out).toContain("\r\u001b[K");
    expect(out).toMatch(/K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] slow: (pending|scheduling|provisioning|starting) {2}\d+\.\ds/);
    expect(out).toMatch(/slow: running after \d+\.\ds\r?\n/);
  });

  it("prints plain lines when not on a terminal", async () => {
    const r = await runToExit([BOXYARD_BIN, "create", "plain", "--template", "busybox", "--wait"], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("\u001b[K");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^plain: running \(\d+\.\ds\)$/);
  });

  it("stops waiting on Ctrl-C, says the box carries on, and leaves the operation running", async () => {
    runtime.bootMs = 60_000;
    try {
      const run = inPty(["create", "stuck", "--template", "busybox", "--wait"]);
      await waitFor(() => /stuck: \w+ {2}\d/.test(run.output()), {
        timeoutMs: 15_000,
        message: "the live line",
      });
      run.p.write("\x03");
      expect(await run.exited).toBe(130);
      expect(run.output()).toContain("Stopped waiting; stuck carries on.");
      const box = await api.call("GET", "/api/v1/orgs/acme/boxes/stuck");
      expect(box.body).toMatchObject({ desiredState: "running" });
      expect(box.body.actualState).not.toBe("running");
    } finally {
      runtime.bootMs = 1_500;
    }
  });
});
