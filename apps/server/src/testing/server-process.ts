import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@boxyard/testkit";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const BOXYARD_BIN = resolve(REPO_ROOT, "boxyard");

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

/** Builds the bundle if a test runs before `make build`. */
export async function ensureBuilt(): Promise<void> {
  if (existsSync(resolve(REPO_ROOT, "dist/boxyard.mjs"))) return;
  await runToExit(["node", resolve(REPO_ROOT, "scripts/build.mjs")]);
}

/** Runs a command to its end; `input` is its whole stdin (default: none, an immediate end of file). */
export function runToExit(argv: string[], env: NodeJS.ProcessEnv = process.env, input?: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolveRun) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
    child.stdin.end(input ?? "");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** Starts `./boxyard server` as its own process on a free port and waits for /readyz. */
export async function startServerProcess(opts: {
  dataDir: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  waitReady?: boolean;
  /** Listen here (a restart on the same address); default: a free port. */
  port?: number;
}): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const sshPort = await freePort();
  const child = spawn(
    BOXYARD_BIN,
    [
      "server",
      "--data-dir",
      opts.dataDir,
      "--listen",
      `127.0.0.1:${port}`,
      "--ssh-listen",
      `127.0.0.1:${sshPort}`,
      "--log-level",
      "warn",
      ...(opts.args ?? []),
    ],
    { env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    out += d;
  });
  const exited = new Promise<number | string>((r) =>
    child.on("exit", (code, signal) => r(code ?? signal ?? -1)),
  );
  const url = `http://127.0.0.1:${port}`;
  const proc = { child, url, dataDir: opts.dataDir, output: () => out, exited };
  if (opts.waitReady ?? true) {
    let ended = false;
    exited.then(() => {
      ended = true;
    });
    await waitFor(
      async () => ended || (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
      { timeoutMs: 90_000, intervalMs: 100, message: "server /readyz" },
    ).catch((err) => {
      child.kill("SIGKILL");
      throw new Error(`${(err as Error).message}\n--- server output ---\n${out}`);
    });
    if (ended) throw new Error(`server exited before it was ready:\n${out}`);
  }
  return proc;
}

/** A response body as loosely typed JSON, for assertions that walk it. */
// biome-ignore lint/suspicious/noExplicitAny: tests assert on arbitrary JSON shapes.
export async function readJson(res: Response): Promise<any> {
  return res.json();
}
