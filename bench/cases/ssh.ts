// ssh: what a person feels over SSH, through Boxyard's gateway into a box,
// against OpenSSH's own sshd on loopback running the same commands on the
// host (no sandbox, no gateway): the floor. The floor logs in as a temporary
// user whose shell is /bin/sh with no start-up files, as the box's dev runs
// busybox sh: root's login shell would read root's ~/.bashrc (a pyenv set-up
// costs 0.47 s on the reference machine) and only the floor would pay for it.
//
//   ssh-setup   `ssh HOST true`: connect, key exchange, key login, one exec, exit
//   ssh-copy    100 MiB (BENCH_SSH_MIB) through `ssh HOST 'cat > FILE'`, in MiB/s;
//               the ratio is floor throughput / Boxyard's, so above 1 is slower
//
// Both sides use the same client, key and key exchange (curve25519-sha256, which
// the gateway offers); ciphers are negotiated as OpenSSH's defaults choose.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import {
  type CaseContext,
  type CaseOutput,
  deleteBoxes,
  envInt,
  progress,
  run,
  sleep,
  stats,
  timed,
  waitRunning,
} from "./common.ts";

const BOX = "sshbench";

/** One `ssh` run; stdin from a file when given. Rejects on a non-zero exit with its stderr. */
function ssh(args: string[], stdinFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", args, { stdio: [stdinFile ? "pipe" : "ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr?.on("data", (d) => {
      err += d;
    });
    if (stdinFile && child.stdin) createReadStream(stdinFile).pipe(child.stdin);
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`ssh exited ${code}: ${err.trim()}`)),
    );
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, "127.0.0.1");
    sock.on("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.on("error", () => resolve(false));
  });
}

/**
 * A system user for the floor's logins, created for this run and removed by
 * the caller: home in `dir`, shell /bin/sh, a password field of "*" (no
 * password, but not "locked", which sshd without PAM refuses).
 */
async function floorUser(dir: string): Promise<{ name: string; home: string; remove: () => Promise<void> }> {
  const name = `bybench${Math.random().toString(36).slice(2, 8)}`;
  const home = join(dir, "home");
  await run("useradd", [
    "--system",
    "--user-group",
    "--shell",
    "/bin/sh",
    "--home-dir",
    home,
    "--password",
    "*",
    name,
  ]);
  await mkdir(home, { mode: 0o700 });
  await run("chown", [`${name}:${name}`, home]);
  return { name, home, remove: async () => void (await run("userdel", [name]).catch(() => {})) };
}

/** OpenSSH's sshd on a loopback port, key login only (one key), nothing else. */
async function startSshd(
  dir: string,
  publicKey: string,
): Promise<{ port: number; stop: () => Promise<void> }> {
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  // Read with the floor user's rights.
  await writeFile(join(dir, "authorized_keys"), `${publicKey}\n`, { mode: 0o644 });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  await writeFile(
    join(dir, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PermitRootLogin no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "StrictModes no",
      `PidFile ${join(dir, "sshd.pid")}`,
      "",
    ].join("\n"),
  );
  const child = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], { stdio: "ignore" });
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  // Ready when it accepts a connection.
  for (let i = 0; !(await accepts(port)); i++) {
    if (i > 100) throw new Error("sshd did not listen");
    await sleep(50);
  }
  return {
    port,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

export async function sshCase(ctx: CaseContext): Promise<CaseOutput> {
  const n = envInt("BENCH_N", 30);
  const mib = envInt("BENCH_SSH_MIB", 100);
  const copies = Math.min(n, envInt("BENCH_SSH_COPIES", 5));
  const dir = join(ctx.work, "ssh");
  await mkdir(dir, { recursive: true });
  const key = join(dir, "id_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const publicKey = (await readFile(`${key}.pub`, "utf8")).trim();
  const blob = join(dir, "blob");
  {
    const f = await open(blob, "w");
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < mib; i++) {
      for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, j);
      await f.write(chunk);
    }
    await f.close();
  }
  const common = [
    "-i",
    key,
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    // The gateway's key exchange; OpenSSH's default (sntrup761x25519) would make the floor pay for more.
    "-o",
    "KexAlgorithms=curve25519-sha256",
  ];
  const user = await floorUser(dir);
  const sshd = await startSshd(dir, publicKey).catch(async (err) => {
    await user.remove();
    throw err;
  });
  try {
    const keyRes = await ctx.api.call("POST", "/api/v1/users/me/ssh-keys", { name: "bench", publicKey });
    if (keyRes.status !== 201 && keyRes.status !== 200)
      throw new Error(`ssh key: ${keyRes.status} ${JSON.stringify(keyRes.body)}`);
    const info = (await ctx.api.call("GET", "/api/v1/info")).body;
    const gw = info?.sshGateway as { host: string; port: number } | null;
    if (!gw) throw new Error("the server has no SSH gateway");
    const created = await ctx.api.call("POST", "/api/v1/orgs/bench/boxes", {
      name: BOX,
      template: "busybox",
    });
    if (created.status !== 202) throw new Error(`create: ${created.status} ${JSON.stringify(created.body)}`);
    await waitRunning(ctx.api, BOX);
    const viaGateway = [...common, "-p", String(gw.port), `${BOX}.bench@${gw.host}`];
    const direct = [...common, "-p", String(sshd.port), `${user.name}@127.0.0.1`];
    // Warm both (first exec in a box, sshd's first fork).
    await ssh([...viaGateway, "true"]);
    await ssh([...direct, "true"]);

    const setup: number[] = [];
    const setupFloor: number[] = [];
    for (let i = 0; i < n; i++) {
      progress(`ssh-setup ${i + 1}/${n}`);
      setup.push((await timed(() => ssh([...viaGateway, "true"])))[0]);
      setupFloor.push((await timed(() => ssh([...direct, "true"])))[0]);
    }
    const copy: number[] = [];
    const copyFloor: number[] = [];
    const target = join(user.home, "copied");
    for (let i = 0; i < copies; i++) {
      progress(`ssh-copy ${mib} MiB ${i + 1}/${copies}`);
      const [ms] = await timed(() => ssh([...viaGateway, "cat > /home/dev/blob"], blob));
      copy.push(mib / (ms / 1000));
      const [f] = await timed(() => ssh([...direct, `cat > ${target}`], blob));
      copyFloor.push(mib / (f / 1000));
    }
    // The bytes arrived whole, both ways.
    const size = (
      await ctx.api.call("POST", `/api/v1/orgs/bench/boxes/${BOX}/exec`, {
        command: ["sh", "-c", "wc -c < /home/dev/blob"],
      })
    ).body?.stdout?.trim();
    if (Number(size) !== mib * 1024 * 1024) throw new Error(`the box got ${size} bytes of ${mib} MiB`);
    const copyStats = stats(copy);
    const floorStats = stats(copyFloor);
    return {
      results: {
        "ssh-setup": { boxyard: stats(setup), floor: stats(setupFloor), ratio: 0, unit: "ms" },
        "ssh-copy": {
          boxyard: copyStats,
          floor: floorStats,
          // Throughput: above 1 means slower than the floor, as for the time rows.
          ratio: floorStats.p50 / copyStats.p50,
          unit: "MiB/s",
          extra: { mib },
        },
      },
      notes: [
        `ssh-setup: \`ssh HOST true\` through the gateway into a busybox box vs OpenSSH sshd on loopback (same client and key; a temporary user with /bin/sh and no start-up files)`,
        `ssh-copy: ${mib} MiB through \`ssh HOST 'cat > FILE'\`, ${copies} samples, MiB/s (ratio = floor/boxyard throughput)`,
      ],
    };
  } finally {
    await deleteBoxes(ctx.api, [BOX]);
    await sshd.stop();
    await user.remove();
    await rm(dir, { recursive: true, force: true });
  }
}
