// A box's environment end to end (issue 7), through the built server, the
// CLI, OpenSSH through the gateway and real gVisor boxes: a template's `env`
// and a secret reach every command (exec) and SSH session as environment
// variables (an interactive login shell on a terminal too); the secret is
// read from its tmpfs file inside the box, so no
// host file the server keeps (its debug log, the database, runsc's logs)
// holds the value. A rotated or deleted secret reaches the running box
// without a restart. `onStart` runs in the background as dev in /workspace
// once per boot of the sandbox (again after stop/start, not after a
// resume), logging to ~/.boxyard/on-start.log; a failing command shows in
// the box's notice. The value sweep is the test catalogue's B10 for secrets
// in the environment. Ends with a leak census.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { open, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNodeClean, startTestServer, type TestServer } from "./kit.ts";

const NODE = { prefix: "byev", subnet: "10.224.0.0/24" };
const VALUES = [1, 2, 3].map((i) => `canary-env-${i}-${randomBytes(12).toString("hex")}`);
const [V1, V2, V3] = VALUES as [string, string, string];

let t: TestServer;
const ok = (args: string[], opts: { input?: string } = {}) => t.ok(args, opts);

/** What a command in the box sees: GREETING|ENV_TOKEN|EDITOR, through exec or through SSH. */
const SHOW_ENV = `echo "$GREETING|$ENV_TOKEN|$EDITOR"`;
const viaExec = async (box: string) => (await ok(["exec", box, "--", "sh", "-c", SHOW_ENV])).stdout;
const viaSsh = async (box: string) => (await ok(["ssh", box, "--", SHOW_ENV])).stdout;
const inBox = async (box: string, script: string) =>
  (await ok(["exec", box, "--", "sh", "-c", script])).stdout;
const notice = async (box: string): Promise<string | undefined> =>
  JSON.parse((await ok(["show", box, "--json"])).stdout).notice;

beforeAll(async () => {
  t = await startTestServer({ name: "env", node: NODE });
}, 180_000);

afterAll(async () => {
  await t?.release();
}, 120_000);

describe("a box's environment, secrets and onStart", () => {
  it("gives exec and SSH sessions the template's env and the secret; runs onStart once after boot", async () => {
    await ok(["secrets", "set", "ENV_TOKEN"], { input: `${V1}\n` });
    const tpl = join(t.home, "env.yaml");
    await writeFile(
      tpl,
      [
        "image: { base: busybox }",
        'env: { GREETING: "hello from the template", EDITOR: vi }',
        "secrets: [ENV_TOKEN]",
        "onStart:",
        `  - 'echo "boot in $(pwd) as $(id -u) greeting=$GREETING token-set=\${ENV_TOKEN:+yes}" >> /workspace/on-start.marker'`,
        "  - echo second command ran",
        "",
      ].join("\n"),
    );
    await ok(["templates", "push", tpl, "--follow"]);
    await ok(["create", "envy", "--template", "env", "--wait"]);

    // The box is reported running as it boots; its secret follows within moments.
    await waitFor(async () => (await viaExec("envy")) === `hello from the template|${V1}|vi\n`, {
      timeoutMs: 30_000,
      message: "the env and the secret in an exec",
    });
    expect(await viaSsh("envy")).toBe(`hello from the template|${V1}|vi\n`);
    // The file is there too, as before.
    expect(await inBox("envy", "cat /run/boxyard/secrets/ENV_TOKEN")).toBe(V1);

    const marker = await waitFor(
      async () => {
        const m = await inBox("envy", "cat /workspace/on-start.marker 2>/dev/null; true");
        return m === "" ? null : m;
      },
      { timeoutMs: 30_000, message: "the onStart marker" },
    );
    expect(marker).toBe("boot in /workspace as 1000 greeting=hello from the template token-set=yes\n");
    const log = await waitFor(
      async () => {
        const l = await inBox("envy", "cat ~/.boxyard/on-start.log");
        return l.includes("--- onStart done") ? l : null;
      },
      { timeoutMs: 30_000, message: "the onStart log" },
    );
    expect(log).toContain("second command ran\n");
    expect(await notice("envy")).toBeUndefined();
  }, 240_000);

  it("delivers a rotated secret to the running box, and takes a deleted one away, without a restart", async () => {
    // On the box's /tmp (a tmpfs): gone if the sandbox restarted.
    await inBox("envy", "echo still-the-same-sandbox > /tmp/alive");
    await ok(["secrets", "set", "ENV_TOKEN"], { input: `${V2}\n` });
    await waitFor(async () => (await viaExec("envy")) === `hello from the template|${V2}|vi\n`, {
      timeoutMs: 30_000,
      message: "the rotated secret in an exec",
    });
    expect(await viaSsh("envy")).toBe(`hello from the template|${V2}|vi\n`);
    expect(await inBox("envy", "cat /run/boxyard/secrets/ENV_TOKEN")).toBe(V2);

    await ok(["secrets", "rm", "ENV_TOKEN"]);
    await waitFor(async () => (await viaExec("envy")) === "hello from the template||vi\n", {
      timeoutMs: 30_000,
      message: "the deleted secret gone from the box",
    });
    expect(await inBox("envy", "ls -A /run/boxyard/secrets")).toBe("");
    await waitFor(async () => /secrets not set: ENV_TOKEN/.test((await notice("envy")) ?? ""), {
      timeoutMs: 30_000,
      message: "the missing secret in the box's notice",
    });

    await ok(["secrets", "set", "ENV_TOKEN"], { input: `${V3}\n` });
    await waitFor(async () => (await viaExec("envy")) === `hello from the template|${V3}|vi\n`, {
      timeoutMs: 30_000,
      message: "the secret set again",
    });
    expect(await inBox("envy", "cat /tmp/alive")).toBe("still-the-same-sandbox\n");
    expect(await inBox("envy", "wc -l < /workspace/on-start.marker")).toMatch(/^\s*1\n$/);
    await waitFor(async () => (await notice("envy")) === undefined, {
      timeoutMs: 30_000,
      message: "the notice cleared",
    });
  }, 180_000);

  it("runs onStart again after stop/start, not after pause/resume", async () => {
    await ok(["stop", "envy", "--wait"]);
    await ok(["start", "envy", "--wait"]);
    await waitFor(async () => (await inBox("envy", "wc -l < /workspace/on-start.marker")).trim() === "2", {
      timeoutMs: 30_000,
      message: "the second onStart run",
    });
    await waitFor(async () => (await viaExec("envy")) === `hello from the template|${V3}|vi\n`, {
      timeoutMs: 30_000,
      message: "the secret after the restart",
    });
    await ok(["pause", "envy", "--wait"]);
    await ok(["resume", "envy", "--wait"]);
    expect(await viaSsh("envy")).toBe(`hello from the template|${V3}|vi\n`);
    // An interactive login shell on a terminal (plain OpenSSH with -tt, as a person logs in).
    const cfg = join(t.home, ".ssh", "config");
    await ok(["config-ssh", "--ssh-config", cfg]);
    const shell = spawn("ssh", ["-tt", "-F", cfg, "-o", "BatchMode=yes", "boxyard.envy"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let seen = "";
    shell.stdout.on("data", (d: Buffer) => {
      seen += d.toString();
    });
    shell.stdin.write('tty >/dev/null && echo "on-a-tty:$GREETING|$ENV_TOKEN|$EDITOR"; exit\n');
    const code = await new Promise<number | null>((r) => shell.on("exit", r));
    expect(seen, seen).toContain(`on-a-tty:hello from the template|${V3}|vi`);
    expect(code).toBe(0);
    // Give a wrongly repeated run time to show.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await inBox("envy", "wc -l < /workspace/on-start.marker")).trim()).toBe("2");
  }, 180_000);

  it("shows a failing onStart command in the box's notice, with its log in the box", async () => {
    const tpl = join(t.home, "failing.yaml");
    await writeFile(tpl, "image: { base: busybox }\nonStart: [echo first, 'echo broken >&2; exit 7']\n");
    await ok(["templates", "push", tpl, "--follow"]);
    await ok(["create", "failing", "--template", "failing", "--wait"]);
    const shown = await waitFor(async () => (await notice("failing")) ?? null, {
      timeoutMs: 30_000,
      message: "the failed onStart in the notice",
    });
    expect(shown).toMatch(
      /^onStart command 2 \(echo broken >&2; exit 7\) failed with exit status 7; see ~\/\.boxyard\/on-start\.log/,
    );
    const log = await inBox("failing", "cat ~/.boxyard/on-start.log");
    expect(log).toContain("first\n");
    expect(log).toContain("broken\n");
    expect(log).toContain("--- onStart 2 failed with exit status 7");
  }, 180_000);

  it("keeps every value out of the server's files, logs and runsc's logs", async () => {
    const hits: string[] = [];
    let scanned = 0;
    const needles = VALUES.map((v) => Buffer.from(v));
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
        const p = join(d, e.name);
        // The boxes' disks hold what commands in them wrote; the CLI's home is the test's own.
        if (p.endsWith("/disk.img") || p === t.home) continue;
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          scanned++;
          const f = await open(p, "r");
          try {
            const buf = await f.readFile();
            if (needles.some((n) => buf.includes(n))) hits.push(p);
          } finally {
            await f.close();
          }
        }
      }
    };
    await walk(t.dataDir);
    expect(scanned).toBeGreaterThan(100);
    expect(hits).toEqual([]);
    expect(t.server.output()).not.toMatch(/canary-env-/);
  }, 120_000);

  it("leaves nothing behind on the node once the boxes are gone", async () => {
    await ok(["rm", "envy", "--wait"]);
    await ok(["rm", "failing", "--wait"]);
    await expectNodeClean({ dataDir: t.dataDir, prefix: NODE.prefix });
  }, 120_000);
});
