// An exec's answer may take as long as its own timeout: the HTTP server's idle
// timeout (nothing sent either way) must not close the connection under the
// waiting client. Found by the burst bench: under load an exec answered after
// 60 s, and the client saw "other side closed" instead of the command's output.
// The server runs here with a 300 ms idle timeout and a runtime whose exec
// takes 1 s.

import { createConnection } from "node:net";
import { FakeRuntime } from "@boxyard/runtime";
import type { BoxId, ExecOptions, ExecResult } from "@boxyard/runtime";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

const IDLE_MS = 300;
const EXEC_MS = 1_000;

class SlowExecRuntime extends FakeRuntime {
  override async exec(id: BoxId, opts: ExecOptions): Promise<ExecResult> {
    if (opts.command[0] === "slow") {
      await new Promise((r) => setTimeout(r, EXEC_MS));
      return super.exec(id, { ...opts, command: ["echo", "done"] });
    }
    return super.exec(id, opts);
  }
}

let api: BoxTestApi;
let token: string;
const base = "/api/v1/orgs/idle/boxes";

beforeAll(async () => {
  api = await startBoxTestApi({ runtime: new SlowExecRuntime(), lifecycle: { httpIdleTimeoutMs: IDLE_MS } });
  token = await api.createUser("ida");
  await api.call("POST", "/api/v1/orgs", { token, body: { name: "idle" } });
  expect((await api.call("POST", base, { token, body: { name: "slow", template: "busybox" } })).status).toBe(
    202,
  );
  await waitFor(
    async () => {
      const b = (await api.call("GET", `${base}/slow`, { token })).body;
      return b.actualState === "running" && b.observedGeneration === b.generation ? b : null;
    },
    { timeoutMs: 15_000, message: "the box to run" },
  );
});
afterAll(async () => api?.close());

describe("exec longer than the server's idle timeout (C-series: no acknowledged work lost)", () => {
  it("a quiet connection is still closed after the idle timeout (the limit is on)", async () => {
    const { port, hostname } = new URL(api.url);
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const t0 = Date.now();
      const s = createConnection({ port: Number(port), host: hostname });
      s.on("error", reject);
      s.on("close", () => resolve(Date.now() - t0));
    });
    expect(closedAfter).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(closedAfter).toBeLessThan(10_000);
  });

  it("answers an exec that takes longer than the idle timeout with its output", async () => {
    const r = await api.call("POST", `${base}/slow/exec`, {
      token,
      body: { command: ["slow"], timeoutSeconds: 5 },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ exitCode: 0, stdout: "done\n" });
    // The same keep-alive connection serves the next request normally.
    const again = await api.call("POST", `${base}/slow/exec`, { token, body: { command: ["echo", "hi"] } });
    expect(again.body).toMatchObject({ exitCode: 0, stdout: "hi\n" });
  });
});
