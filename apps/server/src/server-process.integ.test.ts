// The built `boxyard server` as its own process, the way a newcomer runs it:
// private PostgreSQL in a temp data dir, free ports, real HTTP.
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { census, isEmptyCensus, NodeNetwork } from "@boxyard/netns";
import { createTestDatabase, findProcesses, waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BOXYARD_BIN,
  ensureBuilt,
  readJson,
  runToExit,
  type ServerProcess,
  startServerProcess,
} from "./testing/server-process.ts";

const started: ServerProcess[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "boxyard-srv-"));
  dirs.push(d);
  return d;
}

// The servers here run the default gVisor runtime, so each sets up a box
// network; give it names and a subnet of its own and remove it at the end.
const NET = { BOXYARD_NETWORK_PREFIX: "bysrv", BOXYARD_BOX_SUBNET: "10.217.0.0/24" };

async function start(opts: Parameters<typeof startServerProcess>[0]): Promise<ServerProcess> {
  const p = await startServerProcess({ ...opts, env: { ...NET, ...opts.env } });
  started.push(p);
  return p;
}

function postgresPidsFor(dataDir: string): number[] {
  return findProcesses({ name: "postgres", cwd: join(dataDir, "pg", "data") });
}

beforeAll(ensureBuilt, 120_000);

afterAll(async () => {
  for (const p of started)
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
  for (const p of started) await p.exited;
  for (const d of dirs) {
    // A SIGKILLed server leaves its postgres behind by design (next start adopts or stops it); stop it here.
    for (const pid of postgresPidsFor(d)) process.kill(pid, "SIGINT");
  }
  const net = await NodeNetwork.open({
    stateDir: join(dirs[0] ?? tmpdir(), "net-cleanup"),
    prefix: NET.BOXYARD_NETWORK_PREFIX,
    subnet: NET.BOXYARD_BOX_SUBNET,
  });
  await net.close({ removeBridge: true });
  expect(isEmptyCensus(await census(NET.BOXYARD_NETWORK_PREFIX))).toBe(true);
  for (const d of dirs) {
    await waitFor(() => postgresPidsFor(d).length === 0, { timeoutMs: 10_000, message: "postgres to stop" });
    await rm(d, { recursive: true, force: true });
  }
}, 60_000);

describe("boxyard server (all-in-one, private PostgreSQL)", () => {
  let server: ServerProcess;
  let token: string;

  beforeAll(async () => {
    server = await start({ dataDir: await tempDir() });
    token = (await readFile(join(server.dataDir, "admin-token"), "utf8")).trim();
  }, 120_000);

  it("writes the admin token with mode 0600 and prints where it is", async () => {
    const st = await stat(join(server.dataDir, "admin-token"));
    expect(st.mode & 0o777).toBe(0o600);
    expect(server.output()).toContain(join(server.dataDir, "admin-token"));
    expect(token).toMatch(/^byt_tok_/);
  });

  it("is live and ready", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await readJson(ready)).toMatchObject({
      ready: true,
      checks: { database: { ok: true }, migrations: { ok: true } },
    });
  });

  it("authenticates the admin token and rejects a wrong or missing one with problem+json", async () => {
    const me = await fetch(`${server.url}/api/v1/users/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.status).toBe(200);
    expect(await readJson(me)).toMatchObject({ username: "admin", siteAdmin: true });

    const badHeaders: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${token.slice(0, -2)}xx` },
      { authorization: "Basic abc" },
    ];
    for (const headers of badHeaders) {
      const res = await fetch(`${server.url}/api/v1/users/me`, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(await readJson(res)).toMatchObject({ status: 401, code: "unauthorized" });
    }
  });

  it("rejects unknown fields with 400 and changes nothing (C2)", async () => {
    const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const res = await fetch(`${server.url}/api/v1/users/me/tokens`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "ci", admin: true }),
    });
    expect(res.status).toBe(400);
    const problem = await readJson(res);
    expect(problem).toMatchObject({ code: "validation_failed" });
    expect(JSON.stringify(problem.errors)).toContain("admin");
    const list = await readJson(await fetch(`${server.url}/api/v1/users/me/tokens`, { headers: auth }));
    expect(list.items.map((t: { name: string }) => t.name)).toEqual(["bootstrap"]);
  });

  it("answers malformed JSON with 400 invalid_json", async () => {
    const res = await fetch(`${server.url}/api/v1/users/me/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: '{"name": "x"',
    });
    expect(res.status).toBe(400);
    expect(await readJson(res)).toMatchObject({ code: "invalid_json" });
  });

  it("answers an oversize body with 413 before reading it (C3)", async () => {
    // The body is only declared: the answer must come from the headers alone,
    // so nothing is buffered (and a client still sending is not left hanging).
    for (const length of [2 * 1024 * 1024, 10 ** 12]) {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${server.url}/api/v1/users/me/tokens`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "content-length": String(length),
          },
        });
        req.on("response", (res) => {
          let text = "";
          res.on("data", (d) => {
            text += d;
          });
          res.on("end", () => {
            resolve({ status: res.statusCode ?? 0, body: text });
            req.destroy();
          });
        });
        req.on("error", reject);
        req.write("{");
      });
      expect(status).toBe(413);
      expect(JSON.parse(body)).toMatchObject({ code: "payload_too_large" });
    }
  });

  it("serves Prometheus metrics with process and HTTP histograms", async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain("boxyard_process_cpu_user_seconds_total");
    expect(text).toMatch(/boxyard_http_request_duration_seconds_bucket\{[^}]*route="\/healthz"/);
  });

  it("serves an OpenAPI 3.1 document covering the routes", async () => {
    const res = await fetch(`${server.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = await readJson(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/v1/users/me", "/readyz", "/healthz"]),
    );
    expect(
      doc.paths["/api/v1/users/me/tokens"].post.requestBody.content["application/json"].schema,
    ).toMatchObject({
      additionalProperties: false,
    });
  });

  it("answers an unknown route with a problem document", async () => {
    const res = await fetch(`${server.url}/api/v1/nope`);
    expect(res.status).toBe(404);
    expect(await readJson(res)).toMatchObject({ code: "route_not_found" });
  });

  it("exits 0 on SIGTERM and stops its PostgreSQL", async () => {
    expect(postgresPidsFor(server.dataDir).length).toBeGreaterThan(0);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect(postgresPidsFor(server.dataDir)).toEqual([]);
  });
});

describe("restarts", () => {
  it("keeps everything acknowledged across SIGKILL and needs no repair", async () => {
    const dataDir = await tempDir();
    const first = await start({ dataDir });
    const admin = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
    const created = await fetch(`${first.url}/api/v1/users/me/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "laptop" }),
    });
    expect(created.status).toBe(201);
    const { token } = await readJson(created);

    first.child.kill("SIGKILL");
    await first.exited;

    const second = await start({ dataDir });
    // The same admin, not a second bootstrap, and the acknowledged token works.
    expect((await readFile(join(dataDir, "admin-token"), "utf8")).trim()).toBe(admin);
    const me = await fetch(`${second.url}/api/v1/users/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.status).toBe(200);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});

describe("start-up failures say what is wrong in one line and exit non-zero", () => {
  async function failing(args: string[], env: NodeJS.ProcessEnv = {}) {
    const r = await runToExit([BOXYARD_BIN, "server", ...args], { ...process.env, ...env });
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length, r.stderr).toBe(1);
    expect(lines[0]).toMatch(/^boxyard: error: /);
    return lines[0]!;
  }

  it("port already in use", async () => {
    const dataDir = await tempDir();
    const running = await start({ dataDir });
    const port = new URL(running.url).port;
    const other = await tempDir();
    const line = await failing(["--data-dir", other, "--listen", `127.0.0.1:${port}`]);
    expect(line).toContain("already in use");
    // Nothing was initialised in the second data dir.
    await expect(stat(join(other, "pg"))).rejects.toThrow();
    running.child.kill("SIGTERM");
    await running.exited;
  });

  it("unwritable data dir", async () => {
    const parent = await tempDir();
    const file = join(parent, "not-a-dir");
    await writeFile(file, "");
    const line = await failing(["--data-dir", join(file, "data"), "--listen", "127.0.0.1:0"]);
    expect(line).toContain("not writable");
  });

  it("external database unreachable", async () => {
    const dataDir = await tempDir();
    const line = await failing([
      "--data-dir",
      dataDir,
      "--listen",
      "127.0.0.1:0",
      "--database-url",
      "postgres://boxyard:x@127.0.0.1:1/boxyard",
    ]);
    expect(line).toContain("cannot reach the database");
  });

  it("PostgreSQL binaries missing", async () => {
    const dataDir = await tempDir();
    const empty = await tempDir();
    const line = await failing(["--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
      BOXYARD_POSTGRES_BIN_DIR: empty,
    });
    expect(line).toMatch(/postgres/i);
    await expect(stat(join(dataDir, "pg", "data"))).rejects.toThrow();
  });

  it("a bad flag value", async () => {
    const line = await failing(["--listen", "nowhere"]);
    expect(line).toContain("listen");
  });

  it("an agent or gateway without a control plane to talk to", async () => {
    const dataDir = await tempDir();
    expect(await failing(["--role", "agent", "--data-dir", dataDir, "--listen", "127.0.0.1:0"])).toContain(
      "--control-url",
    );
    const noToken = await failing(
      [
        "--role",
        "gateway",
        "--data-dir",
        dataDir,
        "--listen",
        "127.0.0.1:0",
        "--control-url",
        "http://127.0.0.1:9",
      ],
      { BOXYARD_CONTROL_TOKEN: "" },
    );
    expect(noToken).toContain("BOXYARD_CONTROL_TOKEN");
  });

  it("a gateway whose token the control plane refuses", async () => {
    const running = await start({ dataDir: await tempDir() });
    const line = await failing(
      [
        "--role",
        "gateway",
        "--data-dir",
        await tempDir(),
        "--listen",
        "127.0.0.1:0",
        "--ssh-listen",
        "127.0.0.1:0",
        "--control-url",
        running.url,
      ],
      { BOXYARD_CONTROL_TOKEN: "byt_tok_not-a-real-token" },
    );
    expect(line).toContain("refused to register this gateway");
    running.child.kill("SIGTERM");
    await running.exited;
  });
});

describe("with --database-url (an external PostgreSQL)", () => {
  const external = process.env.BOXYARD_EXTERNAL_DATABASE_URL ?? process.env.BOXYARD_TEST_DATABASE_URL;

  it("migrates, bootstraps and serves against it", async () => {
    const db = await createTestDatabase(external ? { serverUrl: external } : {});
    try {
      const server = await start({ dataDir: await tempDir(), args: ["--database-url", db.url] });
      expect(postgresPidsFor(server.dataDir)).toEqual([]);
      const token = (await readFile(join(server.dataDir, "admin-token"), "utf8")).trim();
      const me = await fetch(`${server.url}/api/v1/users/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(me.status).toBe(200);
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    } finally {
      await db.drop();
    }
  });
});
