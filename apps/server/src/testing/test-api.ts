import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase } from "@boxyard/testkit";
import pino from "pino";
import { type RawServerFlags, resolveServerConfig } from "../config.ts";
import { type LifecycleOverrides, type RunningServer, runServer } from "../server.ts";

export interface TestApi {
  server: RunningServer;
  url: string;
  adminToken: string;
  /** fetch against the API with a bearer token and JSON body. */
  call(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    // biome-ignore lint/suspicious/noExplicitAny: tests assert on arbitrary JSON shapes.
    body: any;
    headers: Headers;
  }>;
  /** Creates a user (as the admin) and returns a token for them. */
  createUser(username: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The real server in this process (all routes, real PostgreSQL in a fresh
 * database, a loopback port), for API tests that do not need a separate
 * process.
 */
export async function startTestApi(
  opts: {
    port?: number;
    flags?: Partial<RawServerFlags>;
    env?: NodeJS.ProcessEnv;
    /** Lifecycle tuning and a runtime shared with the test (box tests). */
    lifecycle?: LifecycleOverrides;
  } = {},
): Promise<TestApi> {
  const db = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), "boxyard-api-"));
  const config = resolveServerConfig(
    {
      dataDir,
      listen: `127.0.0.1:${opts.port ?? 0}`,
      sshListen: "127.0.0.1:0",
      databaseUrl: db.url,
      logLevel: "silent",
      runtime: "fake",
      ...opts.flags,
    },
    // Tests poll the API far faster than people do: no rate limit unless a test asks for one.
    { BOXYARD_RATE_LIMIT: "0", ...opts.env },
  );
  const server = await runServer({
    config,
    // BOXYARD_TEST_LOG=warn (or debug) shows the server's log while debugging a test.
    logger: pino({ level: process.env.BOXYARD_TEST_LOG ?? "silent" }),
    ...(opts.lifecycle ? { lifecycle: opts.lifecycle } : {}),
  });
  const adminToken = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();

  const call: TestApi["call"] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token ?? adminToken;
    if (token) headers.authorization = `Bearer ${token}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(server.url + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (metrics, HTML): keep the text.
    }
    return { status: res.status, body, headers: res.headers };
  };

  return {
    server,
    url: server.url,
    adminToken,
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
