// Secrets and repository checkout end to end (issue 7), through the built
// server, the CLI and real gVisor boxes.
//
// Secrets: a value set with `boxyard secrets set` (stdin) reaches a busybox
// box as /run/boxyard/secrets/NAME (tmpfs, 0400, the box user); a cold pause
// removes it before the checkpoint (the checkpoint files, the box's disks,
// the database files and the whole data dir hold no copy: a canary sweep),
// and the resumed box has it again. No CLI output (API response) and no
// line of the server's debug log carries the value (B10).
//
// Checkout: a Debian box with git clones a private repository from a git
// smart-HTTP server (`git http-backend` behind node) that the test runs in
// an "upstream" netns of its own (TEST-NET-2, reached through the node's
// uplink, never an outside host), allowed by the template's egress
// allow-list and authenticated with a secret that is never written into
// .git/config. The box shows the commit it checked out; a commit pushed
// later shows up in the next box. Ends with a leak census.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureBuilt,
  type ServerProcess,
  startServerProcess,
} from "../../apps/server/src/testing/server-process.ts";
import { filesHolding, type GitUpstream, git, makePrivateRepo, startGitUpstream } from "./git-upstream.ts";
import { type CliResult, cliRunner, expectNodeClean, LAYERS, nodeEnv } from "./kit.ts";
import { releaseTestNode } from "./node-cleanup.ts";

const NODE = { prefix: "bysr", subnet: "10.222.0.0/24" };
const UPLINK = "e2esr-up0";
const UPSTREAM_NS = "e2esr-upstream";
const HOST_SIDE = "198.51.100.25";
const UPSTREAM = "198.51.100.26";
const GIT_PORT = 8080;
const REPO = join(new URL(".", import.meta.url).pathname, "../..");

const SECRET_VALUE = `canary-secret-${randomBytes(16).toString("hex")}`;
const GIT_TOKEN = `canary-gittoken-${randomBytes(16).toString("hex")}`;
const CANARIES = [SECRET_VALUE, GIT_TOKEN];

let dataDir = "";
let repos = "";
let server: ServerProcess | undefined;
let upstream: GitUpstream | undefined;
const gitLog = () => upstream?.log() ?? "";
let token = "";
const outputs: string[] = [];
const { cli: rawCli } = cliRunner(() => ({
  url: server?.url ?? "",
  token,
  home: join(dataDir, "home"),
  env: { BOXYARD_ORG: "acme" },
}));

async function cli(args: string[], opts: { input?: string } = {}): Promise<CliResult> {
  const r = await rawCli(args, opts);
  // What `exec` prints comes from inside the box (where the test reads the values on purpose).
  if (args[0] !== "exec") outputs.push(r.stdout, r.stderr);
  return r;
}
async function ok(args: string[], opts: { input?: string } = {}): Promise<CliResult> {
  const r = await cli(args, opts);
  expect(r.code, `boxyard ${args.join(" ")}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
}

beforeAll(async () => {
  await ensureBuilt();
  dataDir = await mkdtemp(join(tmpdir(), "boxyard-e2e-secrets-"));
  await mkdir(join(dataDir, "home"));
  const made = await makePrivateRepo("bysr-repos-");
  repos = made.root;
  expect(await git(made.work, "rev-parse", "HEAD")).toMatch(/^[0-9a-f]{40}$/);
  upstream = await startGitUpstream({
    netns: UPSTREAM_NS,
    uplink: UPLINK,
    hostSide: HOST_SIDE,
    address: UPSTREAM,
    port: GIT_PORT,
    root: repos,
    token: GIT_TOKEN,
  });
  // Debug logging: the sweep below reads everything the server wrote.
  server = await startServerProcess({
    dataDir,
    args: ["--log-level", "debug"],
    env: { ...nodeEnv(NODE), BOXYARD_BOX_UPLINK: UPLINK },
  });
  token = (await readFile(join(dataDir, "admin-token"), "utf8")).trim();
  await ok(["orgs", "create", "acme"]);
}, 180_000);

afterAll(async () => {
  // The repo template's push prebuilt it: that layer (this run's commit) goes from the shared cache.
  if (server && server.child.exitCode === null) {
    const listed = await cli(["templates", "prebuilds", "repo", "--json"]).catch(() => undefined);
    const items = listed?.code === 0 ? (JSON.parse(listed.stdout) as Array<{ layer: string | null }>) : [];
    for (const p of items)
      if (p.layer)
        await rm(join(LAYERS, "layers", p.layer.replace(":", "-")), { recursive: true, force: true });
  }
  // For a failed run: what the server said (the sweep above proved it holds no value).
  if (server) {
    await mkdir(join(REPO, "test-artifacts"), { recursive: true });
    await writeFile(join(REPO, "test-artifacts", "secrets-repo-server.log"), server.output());
    const box = join(dataDir, "node", "boxes", "boxes");
    for (const id of await readdir(box).catch(() => [] as string[]))
      await readFile(join(box, id, "runsc.log"), "utf8")
        .then((t) =>
          writeFile(join(REPO, "test-artifacts", `secrets-repo-${id}-runsc.log`), t.slice(-200_000)),
        )
        .catch(() => {});
  }
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
  await upstream?.stop();
  if (dataDir) await releaseTestNode({ dataDir, ...NODE });
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  if (repos) await rm(repos, { recursive: true, force: true });
}, 120_000);

describe("secrets in a gVisor box", () => {
  let boxId = "";

  it("sets a secret from stdin and lists it without its value", async () => {
    await ok(["secrets", "set", "API_TOKEN"], { input: `${SECRET_VALUE}\n` });
    const listed = JSON.parse((await ok(["secrets", "ls", "--json"])).stdout);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ name: "API_TOKEN", scope: "org" });
  });

  it("gives a running box the value as a 0400 file of the box user on a tmpfs", async () => {
    const tpl = join(dataDir, "home", "with-secret.yaml");
    await writeFile(tpl, "image: { base: busybox }\nsecrets: [API_TOKEN]\n");
    await ok(["templates", "push", tpl, "--follow"]);
    await ok(["create", "sec", "--template", "with-secret", "--wait"]);
    const show = JSON.parse((await ok(["show", "sec", "--json"])).stdout);
    boxId = show.id;
    expect(show.secrets).toEqual(["API_TOKEN"]);
    const read = async () =>
      (
        await cli([
          "exec",
          "sec",
          "--",
          "sh",
          "-c",
          "stat -c '%a %u' /run/boxyard/secrets/API_TOKEN && cat /run/boxyard/secrets/API_TOKEN && echo && grep ' /run/boxyard ' /proc/mounts | cut -d' ' -f3 && id -u",
        ])
      ).stdout;
    // The box is reported running as soon as it boots; the file follows within moments.
    const out = await waitFor(async () => ((await read()).includes(SECRET_VALUE) ? read() : null), {
      timeoutMs: 20_000,
      message: "the secret file in the box",
    });
    expect(out).toBe(`400 1000\n${SECRET_VALUE}\ntmpfs\n1000\n`);
  }, 180_000);

  it("removes the file before a cold pause: no checkpoint file, disk or database file holds the value", async () => {
    await ok(["pause", "sec", "--cold", "--wait"]);
    const boxDir = join(dataDir, "node", "boxes", "boxes", boxId);
    await waitFor(
      async () => JSON.parse(await readFile(join(boxDir, "record.json"), "utf8")).phase === "checkpointed",
      { timeoutMs: 60_000, message: "the checkpoint" },
    );
    const checkpoint = await filesHolding(join(boxDir, "checkpoint"), CANARIES, () => false);
    expect(checkpoint.scanned).toBeGreaterThan(0);
    expect(checkpoint.hits).toEqual([]);
    // Everything the server keeps: database files, the box's disks (mounted), logs, keys.
    const all = await filesHolding(
      dataDir,
      CANARIES,
      (p) => p.endsWith("/disk.img") || p === join(dataDir, "home"),
    );
    expect(all.scanned).toBeGreaterThan(100);
    expect(all.hits).toEqual([]);
  }, 180_000);

  it("has the value again after the restore", async () => {
    await ok(["resume", "sec", "--wait"]);
    await waitFor(
      async () =>
        (await cli(["exec", "sec", "--", "cat", "/run/boxyard/secrets/API_TOKEN"])).stdout === SECRET_VALUE,
      { timeoutMs: 20_000, message: "the secret after resume" },
    );
    await ok(["rm", "sec", "--wait"]);
  }, 120_000);
});

describe("repository checkout in a gVisor box", () => {
  let first = "";

  it("clones a private repository with a secret as credential, through the egress allow-list", async () => {
    first = await git(join(repos, "private/app.git"), "rev-parse", "main");
    await ok(["secrets", "set", "GIT_TOKEN", "--from-file", await writeTemp("git-token", GIT_TOKEN)]);
    const tpl = join(dataDir, "home", "repo.yaml");
    await writeFile(
      tpl,
      [
        "image:",
        "  base: debian-bookworm",
        // The same packages as the OCI e2e's Debian template: the machine's layer cache has them.
        "  packages: [git, python3]",
        `repo: { url: "http://${UPSTREAM}:${GIT_PORT}/private/app.git", ref: main, secret: GIT_TOKEN }`,
        `network: { egress: { allow: ["${UPSTREAM}:${GIT_PORT}"] } }`,
        "",
      ].join("\n"),
    );
    await ok(["templates", "push", tpl, "--follow"]);
    await ok(["create", "repo1", "--template", "repo", "--wait"]);
    const shown = await checkedOut("repo1");
    expect(shown.repo).toEqual({
      url: `http://${UPSTREAM}:${GIT_PORT}/private/app.git`,
      ref: "main",
      commit: first,
    });
    const r = await ok([
      "exec",
      "repo1",
      "--",
      "sh",
      "-c",
      "cd /workspace && git rev-parse HEAD && git branch --show-current && cat README && stat -c %u README .git && cat .git/config",
    ]);
    const [head, branch, readme, owner1, owner2, ...config] = r.stdout.trim().split("\n");
    expect([head, branch, readme, owner1, owner2]).toEqual([first, "main", "first", "1000", "1000"]);
    const gitConfig = config.join("\n");
    expect(gitConfig).toContain(`url = http://${UPSTREAM}:${GIT_PORT}/private/app.git`);
    expect(gitConfig).not.toContain(GIT_TOKEN);
    expect(gitConfig).not.toMatch(/credential|extraheader/i);
    // The server saw the token (and refused the first, unauthenticated request).
    const requests = upstream!.requests();
    expect(requests.some((q) => q.auth === "none")).toBe(true);
    expect(requests.some((q) => q.auth === "good")).toBe(true);
    expect(requests.some((q) => q.auth === "bad")).toBe(false);
  }, 900_000);

  it("checks out a commit pushed since in the next box", async () => {
    const work = join(repos, "work");
    await writeFile(join(work, "README"), "second\n");
    await git(work, "commit", "-q", "-am", "second");
    await git(work, "push", "-q", join(repos, "private/app.git"), "main");
    const second = await git(work, "rev-parse", "HEAD");
    expect(second).not.toBe(first);
    await ok(["create", "repo2", "--template", "repo", "--wait"]);
    const shown = await checkedOut("repo2");
    expect(shown.repo.commit).toBe(second);
    expect((await ok(["exec", "repo2", "--", "cat", "/workspace/README"])).stdout).toBe("second\n");
    // The first box keeps what it checked out.
    const b1 = JSON.parse((await ok(["show", "repo1", "--json"])).stdout);
    expect(b1.repo.commit).toBe(first);
  }, 300_000);

  it("deletes the boxes and leaves nothing behind; no answer or log line carried a value", async () => {
    await ok(["rm", "repo1", "--wait"]);
    await ok(["rm", "repo2", "--wait"]);
    expect(JSON.parse((await ok(["ls", "--json"])).stdout)).toEqual([]);
    await expectNodeClean({ dataDir, prefix: NODE.prefix });
    const log = server!.output();
    expect(log.length).toBeGreaterThan(0);
    for (const c of CANARIES) {
      expect(log.includes(c), "the server log").toBe(false);
      expect(
        outputs.some((o) => o.includes(c)),
        "CLI output",
      ).toBe(false);
    }
    const all = await filesHolding(
      dataDir,
      CANARIES,
      (p) => p.endsWith("/disk.img") || p === join(dataDir, "home"),
    );
    expect(all.hits).toEqual([]);
  }, 120_000);
});

/** The box once the node reports its checkout; a failed checkout (the box's notice) fails at once. */
async function checkedOut(name: string) {
  let last: { notice?: string } = {};
  return waitFor(
    async () => {
      const b = JSON.parse((await ok(["show", name, "--json"])).stdout);
      last = b;
      if (b.notice) throw new Error(`${name}: ${b.notice}\ngit server:\n${gitLog()}`);
      return b.repo?.commit ? b : null;
    },
    { timeoutMs: 120_000, message: `the checkout's commit on ${name}` },
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last: ${JSON.stringify(last)})\ngit server:\n${gitLog()}`);
  });
}

async function writeTemp(name: string, content: string): Promise<string> {
  const p = join(dataDir, "home", name);
  await writeFile(p, content, { mode: 0o600 });
  return p;
}
