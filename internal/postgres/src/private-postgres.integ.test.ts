import { type ChildProcess, spawn } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { alivePids, findProcesses, waitFor } from "@boxyard/testkit";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { PostgresError } from "./errors.ts";
import { pgLayout } from "./layout.ts";
import { type PrivatePostgres, startPrivatePostgres } from "./private-postgres.ts";
import type { PostgresEvent } from "./supervisor.ts";

// Clean-up registered as each resource is acquired, run in reverse.
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "boxyard-pg-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  // mkdtemp makes the dir 0700; the pg user must be able to traverse it.
  chmodSync(dir, 0o711);
  return join(dir, "data");
}

async function start(options: Parameters<typeof startPrivatePostgres>[0]): Promise<PrivatePostgres> {
  const server = await startPrivatePostgres(options);
  cleanups.push(() => server.stop());
  return server;
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql, params);
  } finally {
    await client.end();
  }
}

function postgresProcesses(dataDir: string): number[] {
  return findProcesses({ name: "postgres", cwd: pgLayout(dataDir).clusterDir });
}

async function timed<T>(label: string, run: () => Promise<T>): Promise<T> {
  const startedAt = performance.now();
  const result = await run();
  console.info(`[timing] ${label}: ${Math.round(performance.now() - startedAt)} ms`);
  return result;
}

describe("startPrivatePostgres", () => {
  it("initialises on first start, reuses the cluster on the next, and keeps data", async () => {
    const dataDir = tempDataDir();
    const first = await timed("first start (initdb)", () => start({ dataDir }));
    expect(first.created).toBe(true);
    await query(first.url, "CREATE TABLE kept (v text)");
    await query(first.url, "INSERT INTO kept VALUES ($1)", ["survives restart"]);
    const layout = pgLayout(dataDir);
    expect(statSync(layout.passwordFile).mode & 0o777).toBe(0o600);
    expect(statSync(layout.runDir).mode & 0o777).toBe(0o700);
    expect(statSync(dataDir).mode & 0o004).toBe(0);
    // Nothing listens on TCP: the only listener is the socket.
    const settings = await query(first.superuserUrl, "SELECT current_setting('listen_addresses') AS l");
    expect(settings.rows[0].l).toBe("");
    await timed("stop", () => first.stop());

    const second = await timed("second start (existing cluster)", () => start({ dataDir }));
    expect(second.created).toBe(false);
    expect(second.url).toBe(first.url);
    const rows = await query(second.url, "SELECT v FROM kept");
    expect(rows.rows).toEqual([{ v: "survives restart" }]);
    const durability = await query(
      second.superuserUrl,
      "SELECT current_setting('fsync') AS f, current_setting('synchronous_commit') AS s",
    );
    expect(durability.rows[0]).toEqual({ f: "on", s: "on" });
  });

  it("restarts PostgreSQL after its postmaster is SIGKILLed", async () => {
    const events: PostgresEvent[] = [];
    const server = await start({ dataDir: tempDataDir(), onEvent: (event) => events.push(event) });
    await query(server.url, "CREATE TABLE t (v int)");
    await query(server.url, "INSERT INTO t VALUES (1)");
    const oldPid = server.pid();
    expect(oldPid).toBeTypeOf("number");
    const killedAt = performance.now();
    process.kill(oldPid!, "SIGKILL");
    await waitFor(() => events.some((event) => event.type === "restarted"), {
      timeoutMs: 30_000,
      message: "the supervisor to restart PostgreSQL",
    });
    console.info(`[timing] restart after postmaster SIGKILL: ${Math.round(performance.now() - killedAt)} ms`);
    expect(server.pid()).not.toBe(oldPid);
    const rows = await query(server.url, "SELECT v FROM t");
    expect(rows.rows).toEqual([{ v: 1 }]);
  });

  it("recovers without manual repair after the server process itself is SIGKILLed", async () => {
    const dataDir = tempDataDir();
    const holder = spawnHolder(dataDir);
    const { pid: orphanPid, url } = await firstLine(holder);
    await query(url, "CREATE TABLE t (v int)");
    await query(url, "INSERT INTO t VALUES (7)");
    process.kill(holder.pid!, "SIGKILL");
    await waitFor(() => holder.exitCode !== null || holder.signalCode !== null, {
      message: "the holder to die",
    });
    // PostgreSQL outlives its supervisor: that is the stale state to handle.
    expect(alivePids([orphanPid])).toEqual([orphanPid]);

    const server = await timed("start over an orphaned postmaster", () => start({ dataDir }));
    expect(alivePids([orphanPid])).toEqual([]);
    expect(server.pid()).not.toBe(orphanPid);
    const rows = await query(server.url, "SELECT v FROM t");
    expect(rows.rows).toEqual([{ v: 7 }]);
  });

  it("stop() leaves no postgres process for the data dir", async () => {
    const dataDir = tempDataDir();
    const server = await start({ dataDir });
    await query(server.url, "SELECT 1");
    expect(postgresProcesses(dataDir).length).toBeGreaterThan(0);
    await server.stop();
    await server.stop();
    expect(postgresProcesses(dataDir)).toEqual([]);
    expect(server.pid()).toBeUndefined();
  });

  it("fails with postgres_missing and creates nothing when the binaries are absent", async () => {
    const dataDir = tempDataDir();
    const emptyBin = join(dataDir, "..", "empty-bin");
    mkdirSync(emptyBin);
    const failure = startPrivatePostgres({ dataDir, binDir: emptyBin });
    await expect(failure).rejects.toBeInstanceOf(PostgresError);
    await expect(failure).rejects.toMatchObject({ code: "postgres_missing" });
    await expect(failure).rejects.toThrow(/install postgresql \(make up does this\)/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it("fails with data_dir_unwritable when the data dir cannot be created", async () => {
    const parent = tempDataDir();
    // A regular file where a directory should be: not writable even for root.
    writeFileSync(parent, "not a directory");
    await expect(startPrivatePostgres({ dataDir: join(parent, "data") })).rejects.toMatchObject({
      code: "data_dir_unwritable",
    });
  });

  it("fails with pg_user_missing for an unknown user", async () => {
    const dataDir = tempDataDir();
    await expect(startPrivatePostgres({ dataDir, runAsUser: "boxyard-no-such-user" })).rejects.toMatchObject({
      code: "pg_user_missing",
    });
    expect(existsSync(dataDir)).toBe(false);
  });

  it.skipIf(process.getuid?.() !== 0)("names the ancestor the pg user cannot traverse", async () => {
    const dataDir = tempDataDir();
    const parent = join(dataDir, "..");
    chmodSync(parent, 0o700);
    await expect(startPrivatePostgres({ dataDir })).rejects.toMatchObject({
      code: "data_dir_untraversable",
      message: expect.stringContaining(parent.replace(/\/data\/\.\.$/, "")),
    });
  });

  it("fails with postgres_start_failed and the log tail when postgres cannot start", async () => {
    const dataDir = tempDataDir();
    await (await start({ dataDir })).stop();
    appendFileSync(join(pgLayout(dataDir).clusterDir, "postgresql.conf"), "boxyard_bogus_setting = 1\n");
    const failure = startPrivatePostgres({ dataDir, startTimeoutMs: 20_000 });
    await expect(failure).rejects.toMatchObject({ code: "postgres_start_failed" });
    await expect(failure).rejects.toThrow(/boxyard_bogus_setting/);
    expect(postgresProcesses(dataDir)).toEqual([]);
  });

  it("refuses a data dir that exists but is not a cluster", async () => {
    const dataDir = tempDataDir();
    const layout = pgLayout(dataDir);
    mkdirSync(layout.clusterDir, { recursive: true });
    writeFileSync(join(layout.clusterDir, "stray"), "x");
    await expect(startPrivatePostgres({ dataDir })).rejects.toMatchObject({ code: "data_dir_invalid" });
  });

  it("discards the leftovers of an interrupted initdb and initialises afresh", async () => {
    const dataDir = tempDataDir();
    const layout = pgLayout(dataDir);
    const leftover = join(layout.pgDir, "data.init-deadbeef");
    mkdirSync(leftover, { recursive: true });
    writeFileSync(join(leftover, "PG_VERSION"), "15\n");
    chmodSync(layout.pgDir, 0o711);
    const server = await start({ dataDir });
    expect(server.created).toBe(true);
    expect(existsSync(leftover)).toBe(false);
  });
});

function spawnHolder(dataDir: string): ChildProcess {
  const fixture = fileURLToPath(new URL("./testdata/hold-postgres.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", fixture, dataDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return child;
}

function firstLine(child: ChildProcess): Promise<{ pid: number; url: string }> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => resolve(JSON.parse(line)));
    child.once("exit", (code, signal) => reject(new Error(`holder exited early (${code ?? signal})`)));
  });
}
