// The contract with the gvisor driver, checked with a real runsc netstack
// box (machine-notes.md recipe): runsc takes the kernel address off the veth,
// reset() must run before `runsc run`, the sandbox keeps the veth's MAC so
// the anti-spoofing set lets it through, and the policy holds for it (A1, A3).
// Prefix "byt5", subnet 10.214.5.0/24.
import { access, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { census } from "./census.ts";
import { spawnRunner } from "./commands.ts";
import { NodeNetwork } from "./node-network.ts";
import {
  type HostServerHandle,
  inNetns,
  type ServerHandle,
  startHostServer,
  startTcpServer,
  tcpProbe,
} from "./testing/harness.ts";
import type { BoxNetwork } from "./types.ts";

const PREFIX = "byt5";
const SUBNET = "10.214.5.0/24";
const CONTAINER = `${PREFIX}-gvisor-${process.pid}`;

const hasRunsc = await access("/usr/bin/runsc").then(
  () => true,
  () => false,
);

let dir = "";
let network: NodeNetwork | null = null;
let started = false;
const hostServers: HostServerHandle[] = [];
const boxServers: ServerHandle[] = [];
let sandboxBox: BoxNetwork;
let plainBox: BoxNetwork;
let allowedPort = 0;
let closedPort = 0;

function runsc(...args: string[]): string[] {
  return ["runsc", `--root=${join(dir, "state")}`, "--platform=systrap", ...args];
}

async function listen(gateway: string, reply: string): Promise<number> {
  const server = await startHostServer(gateway, reply);
  hostServers.push(server);
  return server.port;
}

async function writeBundle(netnsPath: string): Promise<string> {
  const rootfs = join(dir, "rootfs");
  for (const sub of ["bin", "proc", "dev", "tmp", "etc"]) await mkdir(join(rootfs, sub), { recursive: true });
  await copyFile("/usr/bin/busybox", join(rootfs, "bin/busybox"));
  for (const applet of ["sh", "nc", "ip"]) await symlink("busybox", join(rootfs, "bin", applet));
  const bundle = join(dir, "bundle");
  await mkdir(bundle);
  const spec = await spawnRunner([
    "runsc",
    "spec",
    "--bundle",
    bundle,
    "--",
    "/bin/sh",
    "-c",
    "sleep 100000",
  ]);
  expect(spec.exitCode).toBe(0);
  const config = JSON.parse(
    await import("node:fs/promises").then((fs) => fs.readFile(join(bundle, "config.json"), "utf8")),
  );
  config.process.terminal = false;
  config.root = { path: rootfs, readonly: false };
  config.linux.namespaces = [
    ...config.linux.namespaces.filter((n: { type: string }) => n.type !== "network"),
    { type: "network", path: netnsPath },
  ];
  await writeFile(join(bundle, "config.json"), JSON.stringify(config));
  return bundle;
}

async function boxExec(command: string): Promise<{ exitCode: number; out: string }> {
  const r = await spawnRunner(runsc("exec", CONTAINER, "/bin/sh", "-c", command));
  return { exitCode: r.exitCode, out: `${r.stdout}${r.stderr}`.trim() };
}

async function cleanup(): Promise<void> {
  if (started) {
    await spawnRunner(runsc("kill", CONTAINER, "KILL"));
    await spawnRunner(runsc("delete", "--force", CONTAINER));
    started = false;
  }
  for (const s of boxServers.splice(0)) await s.stop();
  for (const s of hostServers.splice(0)) await s.stop();
  await network?.close({ removeBridge: true });
  network = null;
  if (dir !== "") await rm(dir, { recursive: true, force: true });
}

describe.skipIf(!hasRunsc)("a gVisor netstack box on the node network (needs /usr/bin/runsc)", () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "byt5-"));
    network = await NodeNetwork.open({ stateDir: join(dir, "net"), prefix: PREFIX, subnet: SUBNET });
    allowedPort = await listen(network.gateway, "host-allowed");
    closedPort = await listen(network.gateway, "host-forbidden");
    await network.setHostPorts([allowedPort]);
    sandboxBox = await network.attach("gv_sandbox", { egress: "deny-all" });
    plainBox = await network.attach("gv_plain", { egress: "deny-all" });
    boxServers.push(
      await startTcpServer(plainBox.netnsPath, {
        ip: plainBox.address,
        port: 7001,
        shellReply: "echo plain",
      }),
    );
    const bundle = await writeBundle(sandboxBox.netnsPath);
    await network.reset("gv_sandbox");
    // runsc refuses a netns that shows /proc/sys/net/core; hide it in a private
    // mount namespace from inside the box netns. Output goes to a file: the
    // detached sandbox would otherwise hold our pipes open.
    const log = join(dir, "run.log");
    const script = [
      `nsenter --net=${sandboxBox.netnsPath} mount -t tmpfs -o size=4k hide /proc/sys/net/core`,
      `exec ${runsc("--network=sandbox", "run", `--bundle=${bundle}`, "--detach", CONTAINER).join(" ")} >${log} 2>&1`,
    ].join(" && ");
    const run = await spawnRunner(["unshare", "-m", "--propagation", "private", "sh", "-c", script]);
    started = run.exitCode === 0;
    expect(run.exitCode, await readFile(log, "utf8")).toBe(0);
  });

  afterAll(cleanup);

  it("the sandbox takes the veth's address and MAC (so reset() must run before every start)", async () => {
    const inside = await boxExec("ip addr show eth0");
    expect(inside.out).toContain(sandboxBox.mac);
    expect(inside.out).toContain(sandboxBox.address);
    const kernel = await inNetns(sandboxBox.netnsPath, ["ip", "-4", "addr", "show", "dev", "eth0"]);
    expect(kernel.stdout).not.toContain(sandboxBox.address);
  });

  it("A1: reaches the allowed gateway port and is refused on another", async () => {
    expect(await boxExec(`echo | nc -w 2 ${sandboxBox.gateway} ${allowedPort}`)).toEqual({
      exitCode: 0,
      out: "host-allowed",
    });
    expect((await boxExec(`echo | nc -w 2 ${sandboxBox.gateway} ${closedPort}`)).out).toMatch(/refused/);
  });

  it("A3: cannot reach another box; the host reaches the sandbox", async () => {
    const r = await boxExec(`echo | nc -w 1 ${plainBox.address} 7001`);
    expect(r.exitCode).not.toBe(0);
    await boxExec("nc -l -p 7005 -e echo from-gvisor >/dev/null 2>&1 &");
    // The listener starts in the background: on a busy machine it may not be up at the first try.
    let probe = await tcpProbe(null, sandboxBox.address, 7005);
    for (let i = 0; i < 20 && probe.kind !== "ok"; i++) {
      await new Promise((r) => setTimeout(r, 250));
      probe = await tcpProbe(null, sandboxBox.address, 7005);
    }
    expect(probe).toEqual({ kind: "ok", data: "from-gvisor" });
  });

  it("leaves nothing behind (leak census)", async () => {
    await cleanup();
    expect(await census(PREFIX)).toEqual({ netns: [], links: [], nftTables: [] });
  });
});
