// The SSH gateway's protocol handling with the real OpenSSH client (ssh, scp,
// sftp, ssh -L). Sessions run as host processes through a test connector;
// the same gateway against real gVisor boxes is tested end to end elsewhere.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort, waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BoxRoute, GatewayDirectory } from "./directory.ts";
import { loadOrCreateHostKey } from "./host-key.ts";
import { normalizePublicKey } from "./ssh-keys.ts";
import { type SessionEvent, type SshGateway, startSshGateway } from "./ssh-server.ts";
import { HostProcessConnector } from "./testing/host-connector.ts";

const run = promisify(execFile);
let dir: string;
let gateway: SshGateway;
let aliceKey: string;
let malloryKey: string;
let connector: HostProcessConnector;
const events: SessionEvent[] = [];
/** Users whose access has been taken away (suspended, deleted, removed from the org). */
const revoked = new Set<string>();

const box = (name: string, org: string, state = "running"): BoxRoute => ({
  boxId: `box_${name}`,
  orgId: `org_${org}`,
  boxName: name,
  orgName: org,
  nodeId: "node_1",
  actualState: state,
  desiredState: "running",
});

async function keygen(name: string): Promise<string> {
  const path = join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path, "-C", name]);
  return path;
}

function sshArgs(key: string, extra: string[] = []): string[] {
  return [
    "-F",
    "/dev/null",
    "-i",
    key,
    "-p",
    String(gateway.address.port),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
    ...extra,
  ];
}

async function ssh(
  key: string,
  login: string,
  command: string[],
  opts: { input?: string; extra?: string[] } = {},
) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile("ssh", [...sshArgs(key, opts.extra), `${login}@127.0.0.1`, ...command], {
      maxBuffer: 64 * 1024 * 1024,
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => {
      stdout += d;
    });
    child.stderr!.on("data", (d) => {
      stderr += d;
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
    child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "boxyard-gw-"));
  aliceKey = await keygen("alice");
  malloryKey = await keygen("mallory");
  const alice = normalizePublicKey(await readFile(`${aliceKey}.pub`, "utf8"));
  const mallory = normalizePublicKey(await readFile(`${malloryKey}.pub`, "utf8"));
  const users = new Map([
    [alice.fingerprint, { userId: "usr_alice", username: "alice", keyId: "key_a" }],
    [mallory.fingerprint, { userId: "usr_mallory", username: "mallory", keyId: "key_m" }],
  ]);
  const directory: GatewayDirectory = {
    userForKey: async (fp) => users.get(fp) ?? null,
    boxForUser: async (userId, t) => {
      if (userId !== "usr_alice" || revoked.has(userId)) return null;
      if (t.box === "dev" && (t.org === "acme" || t.org === undefined)) return box("dev", "acme");
      if (t.box === "sleepy" && t.org === "acme") return box("sleepy", "acme", "paused");
      return null;
    },
  };
  const home = join(dir, "home");
  await run("mkdir", ["-p", home]);
  connector = new HostProcessConnector(home);
  const hostKey = await loadOrCreateHostKey(join(dir, "gateway"));
  gateway = await startSshGateway({
    host: "127.0.0.1",
    port: await freePort(),
    hostKey: hostKey.privateKey,
    directory,
    connector,
    maxUnauthenticated: 4,
    authTimeoutMs: 5_000,
    onSessionEvent: (e) => events.push(e),
    revalidateMs: 200,
  });
});

afterAll(async () => {
  await gateway?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("ssh gateway with OpenSSH", () => {
  it("runs exec with stdout, stderr and the exit status kept apart", async () => {
    const r = await ssh(aliceKey, "dev.acme", ["echo out; echo err >&2; exit 7"]);
    expect(r).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n" });
    expect(connector.opened.at(-1)?.route.boxId).toBe("box_dev");
    expect(connector.opened.at(-1)?.opts).toMatchObject({ user: "dev", cwd: "/home/dev" });
  });

  it("streams stdin to the command", async () => {
    const data = randomBytes(256 * 1024).toString("base64");
    const r = await ssh(aliceKey, "dev.acme", ["wc -c"], { input: data });
    expect(r.stdout.trim()).toBe(String(data.length));
  });

  it("accepts BOX without the org when the name is unambiguous", async () => {
    const r = await ssh(aliceKey, "dev", ["echo hi"]);
    expect(r).toMatchObject({ code: 0, stdout: "hi\n" });
  });

  it("gives a pty with the client's size and TERM", async () => {
    const r = await ssh(aliceKey, "dev.acme", ["tty; stty size; echo $TERM"], {
      extra: ["-tt", "-o", "SetEnv=TERM=xterm-boxyard"],
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain("xterm");
  });

  it("refuses an unknown key, another user's box and a malformed login", async () => {
    for (const [key, login] of [
      [malloryKey, "dev.acme"],
      [aliceKey, "dev.other"],
      [aliceKey, "../etc"],
      [aliceKey, "DEV.ACME"],
    ] as const) {
      const r = await ssh(key, login, ["echo no"]);
      expect(r.code, login).toBe(255);
      expect(r.stderr).toContain("Permission denied");
    }
  });

  it("says what to do when the box is not running", async () => {
    const r = await ssh(aliceKey, "sleepy.acme", ["echo no"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("boxyard start sleepy");
  });

  it("copies a file both ways with scp and sftp (checksums match)", async () => {
    const payload = randomBytes(5 * 1024 * 1024);
    const src = join(dir, "payload.bin");
    await writeFile(src, payload);
    const sum = createHash("sha256").update(payload).digest("hex");
    const port = String(gateway.address.port);
    const common = ["-F", "/dev/null", "-i", aliceKey, "-P", port, "-o", "StrictHostKeyChecking=no"];
    await run("scp", [
      ...common,
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      src,
      "dev.acme@127.0.0.1:up.bin",
    ]);
    expect(
      createHash("sha256")
        .update(await readFile(join(dir, "home", "up.bin")))
        .digest("hex"),
    ).toBe(sum);
    const back = join(dir, "back.bin");
    const batch = join(dir, "batch");
    await writeFile(batch, `get up.bin ${back}\n`);
    await run("sftp", [
      ...common,
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
      "-b",
      batch,
      "dev.acme@127.0.0.1",
    ]);
    expect(
      createHash("sha256")
        .update(await readFile(back))
        .digest("hex"),
    ).toBe(sum);
  });

  it("forwards a local port to a port of the box (ssh -L)", async () => {
    const web: Server = createServer((_req, res) => res.end("hello from the box\n"));
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    const boxPort = (web.address() as { port: number }).port;
    const localPort = await freePort();
    const child = execFile("ssh", [
      ...sshArgs(aliceKey, ["-N", "-L", `127.0.0.1:${localPort}:127.0.0.1:${boxPort}`]),
      "dev.acme@127.0.0.1",
    ]);
    try {
      const body = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${localPort}/`);
          return res.ok ? res.text() : undefined;
        },
        { timeoutMs: 15_000, message: "the forwarded port to answer" },
      );
      expect(body).toBe("hello from the box\n");
    } finally {
      child.kill("SIGTERM");
      web.close();
    }
  });

  it("records who opened which session, for how long (audit feed)", async () => {
    await ssh(aliceKey, "dev.acme", ["true"]);
    const closes = events.filter((e) => e.type === "close" && e.kind === "exec");
    expect(closes.length).toBeGreaterThan(0);
    expect(closes.at(-1)).toMatchObject({
      user: { username: "alice" },
      box: { boxName: "dev" },
      exitCode: 0,
    });
    expect(closes.at(-1)?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("drops connections beyond the unauthenticated limit without starving logins (C6)", async () => {
    const { connect } = await import("node:net");
    const idle = Array.from({ length: 8 }, () => connect(gateway.address.port, "127.0.0.1"));
    try {
      await waitFor(() => gateway.stats().unauthenticated >= 4, { timeoutMs: 5_000 });
      expect(gateway.stats().unauthenticated).toBeLessThanOrEqual(4);
    } finally {
      for (const s of idle) s.destroy();
    }
    await waitFor(() => gateway.stats().unauthenticated === 0, { timeoutMs: 5_000 });
    const r = await ssh(aliceKey, "dev.acme", ["echo still-fine"]);
    expect(r.stdout).toBe("still-fine\n");
  });

  it("closes an open connection once its user loses access to the box (suspended or deleted user)", async () => {
    const started = Date.now();
    const long = ssh(aliceKey, "dev.acme", ["sleep 30; echo finished"]);
    await waitFor(() => gateway.stats().sessions >= 1, { timeoutMs: 10_000, message: "the session to open" });
    revoked.add("usr_alice");
    try {
      const r = await long;
      expect(r.stdout).not.toContain("finished");
      expect(Date.now() - started).toBeLessThan(20_000);
      // And a new login is refused.
      expect((await ssh(aliceKey, "dev.acme", ["true"])).code).toBe(255);
    } finally {
      revoked.delete("usr_alice");
    }
    expect((await ssh(aliceKey, "dev.acme", ["echo back"])).stdout).toBe("back\n");
  });

  it("refuses a forward to a port outside 1-65535, and survives an oversized packet (C6)", async () => {
    const { default: ssh2 } = await import("ssh2");
    const privateKey = await readFile(aliceKey, "utf8");
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({ host: "127.0.0.1", port: gateway.address.port, username: "dev.acme", privateKey });
    });
    try {
      for (const port of [0, 70_000]) {
        const err = await new Promise<Error | undefined>((resolve) =>
          client.forwardOut("127.0.0.1", 1234, "127.0.0.1", port, (e) => resolve(e)),
        );
        expect(err, `port ${port}`).toBeInstanceOf(Error);
      }
    } finally {
      client.end();
    }
    // A packet far over the SSH maximum, right after the version exchange: the
    // connection is dropped and nothing else is affected.
    const { connect } = await import("node:net");
    const sock = connect(gateway.address.port, "127.0.0.1");
    await new Promise<void>((resolve) => sock.once("data", () => resolve()));
    sock.write("SSH-2.0-attacker\r\n");
    const huge = Buffer.alloc(8 + 40_000);
    huge.writeUInt32BE(10_000_000, 0);
    sock.write(huge);
    const closedByServer = await new Promise<boolean>((resolve) => {
      sock.once("close", () => resolve(true));
      sock.on("error", () => {});
      setTimeout(() => {
        resolve(false);
        sock.destroy();
      }, 10_000).unref();
    });
    expect(closedByServer).toBe(true);
    expect((await ssh(aliceKey, "dev.acme", ["echo unharmed"])).stdout).toBe("unharmed\n");
  });

  it("answers keepalives and runs many channels on one connection", async () => {
    // OpenSSH gives up after 2 unanswered keepalives at 1 s: the command outlives that.
    const kept = await ssh(aliceKey, "dev.acme", ["sleep 4; echo alive"], {
      extra: ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"],
    });
    expect(kept).toMatchObject({ code: 0, stdout: "alive\n" });

    const { default: ssh2 } = await import("ssh2");
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        host: "127.0.0.1",
        port: gateway.address.port,
        username: "dev.acme",
        privateKey: readFileSync(aliceKey, "utf8"),
      });
    });
    try {
      const outputs = await Promise.all(
        Array.from(
          { length: 12 },
          (_, i) =>
            new Promise<string>((resolve, reject) => {
              client.exec(`echo channel-${i}`, (err, stream) => {
                if (err) return reject(err);
                let out = "";
                stream.on("data", (d: Buffer) => {
                  out += d;
                });
                stream.on("close", () => resolve(out));
              });
            }),
        ),
      );
      expect(outputs).toEqual(Array.from({ length: 12 }, (_, i) => `channel-${i}\n`));
    } finally {
      client.end();
    }
  });
});
