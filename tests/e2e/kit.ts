// What every end-to-end test shares: a node's settings (its own network
// prefix and subnet, the machine's shared image layer cache), the `boxyard`
// CLI run as a person runs it, a built server started in a fresh data dir
// with an org, and the leak census a test ends with.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { census } from "@boxyard/netns";
import { expect } from "vitest";
import {
  BOXYARD_BIN,
  ensureBuilt,
  runToExit,
  type ServerProcess,
  startServerProcess,
} from "../../apps/server/src/testing/server-process.ts";
import { releaseTestNode } from "./node-cleanup.ts";

const run = promisify(execFile);

/** Image layers are shared with the runtime's own tests (an mmdebstrap build takes a minute or more). */
export const LAYERS = process.env.BOXYARD_IMAGE_CACHE ?? "/var/cache/boxyard/images";

/** A test node's identity on this machine: nothing it creates overlaps another test's. */
export interface TestNode {
  /** Names the node's bridge, netns and nft tables (a few letters, unique per test file). */
  prefix: string;
  /** The node's box subnet, unique per test file. */
  subnet: string;
}

/** The environment that gives a server process this node's network and the shared layer cache. */
export function nodeEnv(node: TestNode): Record<string, string> {
  return { BOXYARD_NETWORK_PREFIX: node.prefix, BOXYARD_BOX_SUBNET: node.subnet, BOXYARD_LAYER_DIR: LAYERS };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliTarget {
  url: string;
  token: string;
  home: string;
  /** More environment for the CLI (for example BOXYARD_ORG). */
  env?: Record<string, string>;
}

/**
 * The `boxyard` CLI as a person runs it, against whatever `target()` says at
 * the time of the call (a restarted server may have a new address).
 * `ok` expects exit status 0 and shows the output when it is not.
 */
export function cliRunner(target: () => CliTarget) {
  const cli = (args: string[], opts: { input?: string } = {}): Promise<CliResult> => {
    const t = target();
    return runToExit(
      [BOXYARD_BIN, ...args],
      { PATH: process.env.PATH, HOME: t.home, BOXYARD_URL: t.url, BOXYARD_TOKEN: t.token, ...t.env },
      opts.input,
    );
  };
  const ok = async (args: string[], opts: { input?: string } = {}): Promise<CliResult> => {
    const r = await cli(args, opts);
    expect(r.code, `boxyard ${args.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
    return r;
  };
  return { cli, ok };
}

/** The runsc state root of the node whose data dir this is. */
export function runscRoot(dataDir: string): string {
  return join(dataDir, "node", "boxes", "runsc");
}

/**
 * The leak census: after the test deleted its boxes, the node holds no box
 * netns or veth (the bridge stays until the node stops), no mounts under its
 * boxes dir, and no sandboxes.
 */
export async function expectNodeClean(o: { dataDir: string; prefix: string }): Promise<void> {
  const c = await census(o.prefix);
  expect(c.netns).toEqual([]);
  expect(c.links.filter((l) => l !== `${o.prefix}br0`)).toEqual([]);
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .filter((l) => l.includes(join(o.dataDir, "node", "boxes")));
  expect(mounts).toEqual([]);
  const { stdout } = await run("runsc", [`--root=${runscRoot(o.dataDir)}`, "list", "-quiet"]);
  expect(stdout.trim()).toBe("");
}

/** A built server (all roles in one process) in a fresh data dir, its admin's CLI, and an org. */
export interface TestServer {
  /** The server process now running (a restart replaces it). */
  readonly server: ServerProcess;
  readonly dataDir: string;
  readonly home: string;
  readonly token: string;
  cli(args: string[], opts?: { input?: string }): Promise<CliResult>;
  ok(args: string[], opts?: { input?: string }): Promise<CliResult>;
  /** Starts the server again on the same data dir (after the test killed it). */
  restart(): Promise<ServerProcess>;
  /** Ends the server (if still running) and releases whatever a failed test left on the node. */
  release(): Promise<void>;
}

export async function startTestServer(o: {
  /** Names the data dir (boxyard-NAME-XXXX under the temp dir). */
  name: string;
  node: TestNode;
  /** More server environment. */
  env?: Record<string, string>;
  /** More CLI environment. */
  cliEnv?: Record<string, string>;
  /** An org to create as the admin (default acme; null for none). */
  org?: string | null;
}): Promise<TestServer> {
  await ensureBuilt();
  const dataDir = await mkdtemp(join(tmpdir(), `boxyard-${o.name}-`));
  const home = join(dataDir, "home");
  await mkdir(home);
  const env = { ...nodeEnv(o.node), ...o.env };
  let server: ServerProcess | undefined;
  let token = "";
  const { cli, ok } = cliRunner(() => ({ url: server?.url ?? "", token, home, env: o.cliEnv }));
  const release = async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await releaseTestNode({ dataDir, prefix: o.node.prefix, subnet: o.node.subnet });
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    server = await startServerProcess({ dataDir, env });
    token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
    const org = o.org === undefined ? "acme" : o.org;
    if (org) await ok(["orgs", "create", org]);
  } catch (err) {
    await release();
    throw err;
  }
  return {
    get server() {
      if (!server) throw new Error("the test server is not running");
      return server;
    },
    dataDir,
    home,
    token,
    cli,
    ok,
    async restart() {
      server = await startServerProcess({ dataDir, env });
      return server;
    },
    release,
  };
}
