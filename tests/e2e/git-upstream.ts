// A git smart-HTTP server for e2e tests, reached by boxes as an outside host
// would be: `git http-backend` behind node (testdata/git-http-server.mjs) in
// an "upstream" network namespace of the test's own, joined to the node by a
// veth whose host end is the node's box uplink (TEST-NET addresses, never a
// real outside host). Repositories under ROOT/private need HTTP Basic with
// the token; every request is logged (never the password). Also: git on the
// host with a fixed identity, a repository with one commit, and a byte scan
// of a directory tree for secret values.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, open, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { waitFor } from "@boxyard/testkit";

const run = promisify(execFile);
const HERE = new URL(".", import.meta.url).pathname;

export interface GitUpstreamOptions {
  /** The netns the server runs in, and the host end of its veth (the node's BOXYARD_BOX_UPLINK). */
  netns: string;
  uplink: string;
  /** Two addresses of one /30: the host end and the server. */
  hostSide: string;
  address: string;
  port: number;
  /** Repositories are served from here. */
  root: string;
  token: string;
}

export interface GitUpstream {
  /** Each request as {method, path, auth: none|good|bad}, so far. */
  requests(): Array<{ method: string; path: string; auth: string }>;
  log(): string;
  stop(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  await run("ip", args);
}

export async function startGitUpstream(o: GitUpstreamOptions): Promise<GitUpstream> {
  await ip("netns", "add", o.netns);
  await ip("link", "add", o.uplink, "type", "veth", "peer", "name", "up1", "netns", o.netns);
  await ip("addr", "add", `${o.hostSide}/30`, "dev", o.uplink);
  await ip("link", "set", o.uplink, "up");
  await ip("-n", o.netns, "link", "set", "lo", "up");
  await ip("-n", o.netns, "link", "set", "up1", "up");
  await ip("-n", o.netns, "addr", "add", `${o.address}/30`, "dev", "up1");
  let log = "";
  const child: ChildProcess = spawn(
    "nsenter",
    [
      `--net=/var/run/netns/${o.netns}`,
      process.execPath,
      join(HERE, "testdata/git-http-server.mjs"),
      o.address,
      String(o.port),
      o.root,
      o.token,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  child.stdout!.on("data", (d) => {
    log += d;
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    // Deleting the netns removes the veth pair with it.
    await ip("netns", "del", o.netns).catch(() => undefined);
  };
  // Generous: on a loaded machine node alone may take many seconds to start.
  await waitFor(async () => log.includes('"listening"'), {
    timeoutMs: 60_000,
    message: "the git server",
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  return {
    log: () => log,
    requests: () =>
      log
        .split("\n")
        .filter((l) => l.includes('"path"'))
        .map((l) => JSON.parse(l) as { method: string; path: string; auth: string }),
    stop,
  };
}

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const { stdout } = await run("git", args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@e",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@e",
    },
  });
  return stdout.trim();
}

/**
 * A private repository `private/app.git` with one commit on main (README
 * "first") under a new temporary root; `work` is a clone that pushes to it.
 */
export async function makePrivateRepo(prefix: string): Promise<{ root: string; work: string; bare: string }> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const bare = join(root, "private/app.git");
  await git(root, "init", "-q", "--bare", "-b", "main", "private/app.git");
  const work = join(root, "work");
  await git(root, "init", "-q", "-b", "main", "work");
  await writeFile(join(work, "README"), "first\n");
  await git(work, "add", "README");
  await git(work, "commit", "-q", "-m", "first");
  await git(work, "push", "-q", bare, "main");
  return { root, work, bare };
}

/** Files under `dir` (not following links) holding one of the values, and how many were read. */
export async function filesHolding(dir: string, values: readonly string[], skip: (path: string) => boolean) {
  const needles = values.map((v) => Buffer.from(v));
  const hits: string[] = [];
  let scanned = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (skip(p)) continue;
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        scanned++;
        const f = await open(p, "r");
        try {
          const size = (await f.stat()).size;
          const chunk = Buffer.alloc(Math.min(size, 8 << 20) + 256);
          let carry = 0;
          for (let pos = 0; pos < size; ) {
            const { bytesRead } = await f.read(chunk, carry, chunk.length - carry, pos);
            if (bytesRead === 0) break;
            const view = chunk.subarray(0, carry + bytesRead);
            if (needles.some((n) => view.includes(n))) {
              hits.push(p);
              break;
            }
            pos += bytesRead;
            carry = Math.min(255, view.length);
            view.copy(chunk, 0, view.length - carry);
          }
        } finally {
          await f.close();
        }
      }
    }
  };
  await walk(dir);
  return { hits, scanned };
}
