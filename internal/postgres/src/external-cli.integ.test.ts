import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { findProcesses } from "@boxyard/testkit";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { parseDatabaseUrl } from "./database-url.ts";
import { pgLayout } from "./layout.ts";

const execFileAsync = promisify(execFile);
const cli = fileURLToPath(new URL("./external-cli.ts", import.meta.url));
const runCli = (...args: string[]) => execFileAsync(process.execPath, ["--import", "tsx", cli, ...args]);

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("external-cli", () => {
  it("starts a password-protected server on 127.0.0.1, reuses it, and stops it", async () => {
    const parent = mkdtempSync(join(tmpdir(), "boxyard-extpg-"));
    cleanups.push(() => rmSync(parent, { recursive: true, force: true }));
    chmodSync(parent, 0o711);
    const dir = join(parent, "data");

    const { stdout } = await runCli("start", "--dir", dir);
    cleanups.push(() => runCli("stop", "--dir", dir));
    const url = stdout.trim();
    const parts = parseDatabaseUrl(url);
    expect(parts.host).toBe("127.0.0.1");

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    await client.end();
    const wrong = new pg.Client({ connectionString: url.replace(`:${parts.password}@`, ":wrong@") });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);

    // A second start finds the running server and prints the same URL.
    expect((await runCli("start", "--dir", dir)).stdout.trim()).toBe(url);

    await runCli("stop", "--dir", dir);
    expect(findProcesses({ name: "postgres", cwd: pgLayout(dir).clusterDir })).toEqual([]);
  });
});
