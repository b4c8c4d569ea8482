import { type AddressInfo, createServer, type Socket } from "node:net";
import type { Session, SessionOptions } from "@boxyard/runtime";
import ssh2 from "ssh2";
import type { BoxConnector } from "./connector.ts";
import type { BoxRoute, GatewayDirectory, GatewayUser } from "./directory.ts";
import { parseLogin } from "./login.ts";
import { fingerprintOfBlob } from "./ssh-keys.ts";

export interface GatewayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SessionEvent {
  type: "open" | "close";
  kind: "shell" | "exec" | "sftp" | "port-forward";
  user: GatewayUser;
  box: BoxRoute;
  remoteAddress: string;
  /** On open: from the client's request to the session running in the box (waking included). */
  setupMs?: number;
  durationMs?: number;
  exitCode?: number;
}

export interface SshGatewayOptions {
  host: string;
  port: number;
  hostKey: string;
  directory: GatewayDirectory;
  connector: BoxConnector;
  logger?: GatewayLogger;
  /** Connections that have not authenticated yet; more are dropped at once (like OpenSSH MaxStartups). */
  maxUnauthenticated?: number;
  /** Time a client has to authenticate. */
  authTimeoutMs?: number;
  maxChannelsPerConnection?: number;
  /** Called when a session or forward opens and closes (audit, metrics). */
  onSessionEvent?: (e: SessionEvent) => void;
  /**
   * Asked when a user connects to a box that is not running; resolves with the
   * route once the box runs (wake on connect) or rejects with a message.
   */
  wake?: (user: GatewayUser, route: BoxRoute, progress: (msg: string) => void) => Promise<BoxRoute>;
  /**
   * How often an open connection checks that its user may still use the box
   * (suspended, deleted, removed from the org, box deleted: the connection is
   * closed). While the control plane cannot answer, connections stay open.
   */
  revalidateMs?: number;
}

export interface SshGateway {
  address: { host: string; port: number };
  stats(): { connections: number; unauthenticated: number; sessions: number };
  close(): Promise<void>;
}

/** Environment a client may set in the box (LANG and friends, and what IDEs send). */
const ENV_ALLOWED = /^(LANG|LANGUAGE|LC_[A-Z]+|TERM|COLORTERM|TZ|VSCODE_[A-Z0-9_]+|GIT_[A-Z_]+)$/;
const SFTP_SERVER = "/usr/lib/openssh/sftp-server";

/**
 * The SSH gateway: OpenSSH clients, VS Code Remote-SSH and JetBrains Gateway
 * log in as BOX.ORG with a registered key and get a shell, exec, sftp and
 * local port forwarding, all running inside the box as its user.
 */
export async function startSshGateway(opts: SshGatewayOptions): Promise<SshGateway> {
  const log = opts.logger ?? { info() {}, warn() {} };
  const maxUnauth = opts.maxUnauthenticated ?? 64;
  const authTimeoutMs = opts.authTimeoutMs ?? 30_000;
  const maxChannels = opts.maxChannelsPerConnection ?? 64;
  let connections = 0;
  let sessions = 0;
  const clients = new Set<ssh2.Connection>();
  // Sockets that have not authenticated yet, by remote address:port. Counted
  // at the TCP level, so a client that never even sends its version string
  // still takes a slot, and loses it at the auth deadline.
  const pending = new Map<string, { sock: Socket; timer: NodeJS.Timeout }>();

  const server = new ssh2.Server({ hostKeys: [opts.hostKey], ident: "Boxyard" }, (client, info) => {
    connections++;
    clients.add(client);
    const pendingKey = `${info.ip}:${info.port}`;
    let user: GatewayUser | undefined;
    let route: BoxRoute | undefined;
    let channels = 0;

    client.on("authentication", (ctx) => {
      const target = parseLogin(ctx.username);
      if (!target || ctx.method !== "publickey") return ctx.reject(["publickey"]);
      const key = ctx.key;
      const check = async () => {
        const parsed = ssh2.utils.parseKey(key.data);
        if (parsed instanceof Error || Array.isArray(parsed)) return false;
        const found = await opts.directory.userForKey(fingerprintOfBlob(key.data));
        if (!found) return false;
        const r = await opts.directory.boxForUser(found.userId, target);
        if (!r) return false;
        // Without a signature the client only asks whether the key would do.
        if (ctx.signature && !parsed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo)) return false;
        if (ctx.signature) {
          user = found;
          route = r;
        }
        return true;
      };
      check().then(
        (ok) => (ok ? ctx.accept() : ctx.reject(["publickey"])),
        (err) => {
          log.warn({ err: String(err) }, "ssh authentication lookup failed");
          ctx.reject(["publickey"]);
        },
      );
    });

    client.on("ready", () => {
      const p = pending.get(pendingKey);
      if (p) clearTimeout(p.timer);
      pending.delete(pendingKey);
      const u = user!;
      let r = route!;
      log.info({ user: u.username, box: r.boxName, org: r.orgName, remote: info.ip }, "ssh login");
      const recheck = setInterval(() => {
        opts.directory.boxForUser(u.userId, { box: r.boxName, org: r.orgName }).then(
          (still) => {
            if (still && still.boxId === r.boxId) return;
            log.info(
              { user: u.username, box: r.boxName, org: r.orgName },
              "access revoked; closing the ssh connection",
            );
            client.end();
          },
          () => {
            // The control plane is away: keep the connection (outage rule).
          },
        );
      }, opts.revalidateMs ?? 30_000);
      recheck.unref();
      client.once("close", () => clearInterval(recheck));

      const ensureRunning = async (say: (m: string) => void): Promise<BoxRoute> => {
        if (r.actualState === "running") return r;
        if (!opts.wake)
          throw new Error(
            `box ${r.boxName} is ${r.actualState}; start it first (boxyard start ${r.boxName})`,
          );
        r = await opts.wake(u, r, say);
        return r;
      };

      const track = (kind: SessionEvent["kind"], box: BoxRoute, requestedAt: number) => {
        const started = Date.now();
        sessions++;
        opts.onSessionEvent?.({
          type: "open",
          kind,
          user: u,
          box,
          remoteAddress: info.ip,
          setupMs: started - requestedAt,
        });
        let done = false;
        return (exitCode?: number) => {
          if (done) return;
          done = true;
          sessions--;
          opts.onSessionEvent?.({
            type: "close",
            kind,
            user: u,
            box,
            remoteAddress: info.ip,
            durationMs: Date.now() - started,
            ...(exitCode === undefined ? {} : { exitCode }),
          });
        };
      };

      client.on("session", (accept, reject) => {
        if (++channels > maxChannels) {
          channels--;
          return reject();
        }
        const channel = accept();
        let pty: SessionOptions["pty"];
        const env: Record<string, string> = {};
        let current: Session | undefined;

        channel.on("pty", (acc, _rej, p) => {
          pty = { cols: p.cols || 80, rows: p.rows || 24, term: p.term || "xterm-256color" };
          acc?.();
        });
        channel.on("window-change", (acc, _rej, p) => {
          if (pty) pty = { ...pty, cols: p.cols, rows: p.rows };
          current?.resize(p.cols, p.rows);
          acc?.();
        });
        channel.on("env", (acc, rej, e) => {
          if (ENV_ALLOWED.test(e.key) && e.val.length <= 4096 && Object.keys(env).length < 64) {
            env[e.key] = e.val;
            acc?.();
          } else rej?.();
        });
        channel.on("signal", (acc, _rej, s) => {
          current?.signal(`SIG${s.name}` as NodeJS.Signals);
          acc?.();
        });

        const run = (
          acceptStream: () => ssh2.ServerChannel,
          kind: SessionEvent["kind"],
          command?: string[],
        ) => {
          const requestedAt = Date.now();
          const stream = acceptStream();
          const usePty = kind === "sftp" ? undefined : pty;
          ensureRunning((m) => stream.stderr.write(`${m}\r\n`))
            .then((box) =>
              opts.connector
                .session(box, {
                  ...(command ? { command } : {}),
                  user: "dev",
                  cwd: "/home/dev",
                  env: { ...env, ...(usePty?.term ? { TERM: usePty.term } : {}) },
                  ...(usePty ? { pty: usePty } : {}),
                })
                .then((s) => ({ s, box })),
            )
            .then(({ s, box }) => {
              current = s;
              const finish = track(kind, box, requestedAt);
              stream.on("data", (d: Buffer) => s.stdin.write(d));
              stream.on("end", () => s.stdin.end());
              stream.on("close", () => {
                s.signal("SIGHUP");
                finish();
              });
              s.stdout.pipe(stream, { end: false });
              s.stderr.pipe(stream.stderr, { end: false });
              const drained = Promise.all([ended(s.stdout), ended(s.stderr)]);
              s.exited.then(async (code) => {
                await Promise.race([drained, new Promise((res) => setTimeout(res, 2_000))]);
                finish(code);
                if (!stream.destroyed) {
                  stream.exit(code);
                  stream.end();
                }
              });
            })
            .catch((err: unknown) => {
              stream.stderr.write(`boxyard: ${err instanceof Error ? err.message : String(err)}\r\n`);
              stream.exit(1);
              stream.end();
            });
        };

        channel.on("shell", (acc) => run(acc as () => ssh2.ServerChannel, "shell"));
        channel.on("exec", (acc, _rej, e) =>
          run(acc as () => ssh2.ServerChannel, "exec", ["/bin/sh", "-c", e.command]),
        );
        channel.on("subsystem", (acc, rej, s) => {
          if (s.name !== "sftp") return rej?.();
          run(acc as () => ssh2.ServerChannel, "sftp", [SFTP_SERVER]);
        });
        channel.on("close", () => {
          channels--;
        });
      });

      client.on("tcpip", (accept, reject, t) => {
        // Only ports of the box itself, whatever host name the client asked
        // for: a forward is never a way to reach the node or another box.
        if (
          !Number.isInteger(t.destPort) ||
          t.destPort < 1 ||
          t.destPort > 65535 ||
          ++channels > maxChannels
        ) {
          if (channels > maxChannels) channels--;
          return reject();
        }
        const requestedAt = Date.now();
        ensureRunning(() => {})
          .then((box) => opts.connector.connectTcp(box, t.destPort).then((sock) => ({ sock, box })))
          .then(({ sock, box }) => {
            const finish = track("port-forward", box, requestedAt);
            const ch = accept();
            sock.pipe(ch).pipe(sock);
            const close = () => {
              channels--;
              finish();
              sock.destroy();
            };
            ch.once("close", close);
            sock.once("error", () => ch.destroy());
          })
          .catch(() => {
            channels--;
            reject();
          });
      });
    });

    client.on("error", (err) => log.warn({ err: String(err), remote: info.ip }, "ssh connection error"));
    client.on("close", () => {
      connections--;
      clients.delete(client);
    });
  });

  const listener = createServer((sock) => {
    if (pending.size >= maxUnauth) {
      log.warn({ remote: sock.remoteAddress }, "too many unauthenticated connections; dropping");
      sock.destroy();
      return;
    }
    const key = `${sock.remoteAddress}:${sock.remotePort}`;
    const timer = setTimeout(() => sock.destroy(), authTimeoutMs);
    pending.set(key, { sock, timer });
    sock.once("close", () => {
      clearTimeout(timer);
      if (pending.get(key)?.sock === sock) pending.delete(key);
    });
    server.injectSocket(sock);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const addr = listener.address() as AddressInfo;
  return {
    address: { host: opts.host, port: addr.port },
    stats: () => ({ connections, unauthenticated: pending.size, sessions }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of clients) c.end();
        for (const p of pending.values()) p.sock.destroy();
        listener.close(() => resolve());
      }),
  };
}

function ended(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    stream.once("end", resolve);
    stream.once("close", resolve);
  });
}
