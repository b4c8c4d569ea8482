// Test support: the whole server in this process (like testing/test-api.ts)
// with the fake runtime shared with the test and every lifecycle interval
// shortened, so box tests converge in milliseconds without sleeping.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeRuntime } from "@boxyard/runtime";
import { createTestDatabase } from "@boxyard/testkit";
import pino from "pino";
import { resolveServerConfig } from "../config.ts";
import { type LifecycleOverrides, type RunningServer, runServer } from "../server.ts";
import type { TestApi } from "../testing/test-api.ts";

export const FAST_LIFECYCLE: LifecycleOverrides = {
  reconciler: {
    pollMs: 50,
    leaseMs: 2_000,
    waitRequeueMs: 500,
    resyncMs: 1_000,
    backoff: { baseMs: 20, capMs: 200 },
  },
  agent: {
    heartbeatMs: 200,
    longPollMs: 300,
    rereportMs: 1_000,
    retry: { baseMs: 20, capMs: 200 },
    capacity: { cpu: 64, memoryMiB: 262_144, diskGiB: 4096, gpus: 0 },
  },
  sseHeartbeatMs: 200,
};

export interface BoxTestApi extends TestApi {
  runtime: FakeRuntime;
  server: RunningServer;
}

export async function startBoxTestApi(
  opts: { runtime?: FakeRuntime; lifecycle?: LifecycleOverrides } = {},
): Promise<BoxTestApi> {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), "boxyard-boxes-"));
  const config = resolveServerConfig(
    { dataDir, listen: "127.0.0.1:0", databaseUrl: db.url, logLevel: "silent", runtime: "fake" },
    {},
  );
  const runtime = opts.runtime ?? new FakeRuntime();
  const server = await runServer({
    config,
    logger: pino({ level: "silent" }),
    lifecycle: { ...FAST_LIFECYCLE, ...opts.lifecycle, runtime },
  });
  const adminToken = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();

  const call: TestApi["call"] = async (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    headers.authorization = `Bearer ${o.token ?? adminToken}`;
    if (o.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(server.url + path, {
      method,
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON: keep the text.
    }
    return { status: res.status, body, headers: res.headers };
  };

  return {
    server,
    url: server.url,
    adminToken,
    runtime,
    call,
    async createUser(username) {
      const u = await call("POST", "/api/v1/users", { body: { username } });
      if (u.status !== 201) throw new Error(`createUser ${username}: ${u.status} ${JSON.stringify(u.body)}`);
      const t = await call("POST", `/api/v1/users/${username}/tokens`, { body: { name: "test" } });
      return t.body.token as string;
    },
    async close() {
      await server.close();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
