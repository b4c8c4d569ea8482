// Helpers for integration tests that use plain network namespaces as
// stand-ins for boxes. Processes run in a netns through `nsenter --net=`
// (not `ip netns exec`, which remounts /sys). Every process started here is
// recorded by PID and stopped by PID; nothing is killed by name.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { type CommandResult, spawnRunner } from "../commands.ts";

/** Waits on a condition with a deadline instead of sleeping. */
export async function waitFor<T>(
  check: () => Promise<T | null | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? "condition"}`);
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? 20));
  }
}

/** Runs argv inside the netns at `nsPath` (or on the host when null). */
export function inNetns(nsPath: string | null, argv: string[], input?: string): Promise<CommandResult> {
  const full = nsPath === null ? argv : ["nsenter", `--net=${nsPath}`, ...argv];
  return spawnRunner(full, input === undefined ? undefined : { input });
}

export type ProbeResult =
  | { kind: "ok"; data: string }
  | { kind: "refused" | "timeout" | "unreachable" | "error"; detail: string };

/**
 * One TCP connection attempt from inside a netns with socat: "ok" with what
 * the server sent, "refused" (RST), "timeout" (dropped) or "unreachable".
 */
export async function tcpProbe(
  nsPath: string | null,
  ip: string,
  port: number,
  opts: { timeoutMs?: number; sourceIp?: string } = {},
): Promise<ProbeResult> {
  const seconds = ((opts.timeoutMs ?? 1500) / 1000).toFixed(1);
  const bind = opts.sourceIp === undefined ? "" : `,bind=${opts.sourceIp}`;
  const r = await inNetns(nsPath, [
    "socat",
    `-T${seconds}`,
    "-",
    `TCP4:${ip}:${port},connect-timeout=${seconds}${bind}`,
  ]);
  if (r.exitCode === 0 && r.stdout.length > 0) return { kind: "ok", data: r.stdout.trim() };
  const detail = r.stderr.trim();
  if (/refused/i.test(detail)) return { kind: "refused", detail };
  if (/timed out|in progress/i.test(detail)) return { kind: "timeout", detail };
  if (/unreachable|no route/i.test(detail)) return { kind: "unreachable", detail };
  return { kind: "error", detail: `exit ${r.exitCode}: ${detail} ${r.stdout}` };
}

export interface ServerHandle {
  pid: number;
  stop(): Promise<void>;
}

/**
 * A socat TCP server in a netns: each connection runs `shellReply` (a shell
 * command without "," or ":", which socat would parse; $SOCAT_PEERADDR is
 * the client address) and closes. Resolves once the socket is listening.
 */
export async function startTcpServer(
  nsPath: string | null,
  opts: { ip: string; port: number; shellReply: string },
): Promise<ServerHandle> {
  const argv = [
    "socat",
    `TCP4-LISTEN:${opts.port},bind=${opts.ip},reuseaddr,fork`,
    `SYSTEM:${opts.shellReply}`,
  ];
  const full = nsPath === null ? argv : ["nsenter", `--net=${nsPath}`, ...argv];
  const [file, ...args] = full;
  const child: ChildProcess = spawn(file ?? "nsenter", args, { stdio: ["ignore", "ignore", "pipe"] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${full.join(" ")}`);
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.on("exit", () => {
      exited = true;
      resolve();
    }),
  );
  const stop = async () => {
    if (exited) return;
    // nsenter execs socat, so this PID is the listener itself.
    process.kill(pid, "SIGTERM");
    await exitedPromise;
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`server ${full.join(" ")} exited early`);
        const r = await inNetns(nsPath, ["ss", "-Hltn", `sport = :${opts.port}`]);
        return r.stdout.includes(`${opts.ip}:${opts.port}`);
      },
      { what: `listener on ${opts.ip}:${opts.port}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid, stop };
}

/** Runs ip(8) on the host and throws on failure (test set-up). */
export async function ip(...args: string[]): Promise<string> {
  const r = await spawnRunner(["ip", ...args]);
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface HostServerHandle {
  port: number;
  stop(): Promise<void>;
}

/**
 * A TCP server in the test process (host netns) on `ip` and an ephemeral
 * port, answering `reply` to each connection. stop() destroys open sockets:
 * a killed sandbox never finishes its half of the close.
 */
export async function startHostServer(ip: string, reply: string, port = 0): Promise<HostServerHandle> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.end(`${reply}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, ip, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("server has no port");
  return {
    port: address.port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
