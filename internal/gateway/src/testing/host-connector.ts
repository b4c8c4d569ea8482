// A test double of BoxConnector that runs sessions as plain host processes
// in a scratch directory. It exercises the SSH protocol handling (pty, exec,
// exit codes, sftp, forwarding) with the real OpenSSH client; it proves
// nothing about boxes, whose sessions are tested against real runsc.
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { PassThrough, type Duplex } from "node:stream";
import type { Session, SessionOptions } from "@boxyard/runtime";
import pty from "node-pty";
import type { BoxConnector } from "../connector.ts";
import type { BoxRoute } from "../directory.ts";

export class HostProcessConnector implements BoxConnector {
  readonly opened: Array<{ route: BoxRoute; opts: SessionOptions }> = [];
  constructor(private readonly home: string) {}

  async session(route: BoxRoute, opts: SessionOptions): Promise<Session> {
    this.opened.push({ route, opts });
    const argv = opts.command ?? ["/bin/bash", "--noprofile", "--norc", "-i"];
    const env = { PATH: "/usr/bin:/bin", HOME: this.home, ...opts.env };
    if (opts.pty) {
      const p = pty.spawn(argv[0]!, argv.slice(1), {
        cols: opts.pty.cols,
        rows: opts.pty.rows,
        name: opts.pty.term ?? "xterm",
        cwd: this.home,
        env,
      });
      const stdout = new PassThrough();
      const stdin = new PassThrough();
      p.onData((d) => stdout.write(d));
      stdin.on("data", (d: Buffer) => p.write(d.toString("utf8")));
      const exited = new Promise<number>((resolve) =>
        p.onExit(({ exitCode, signal }) => {
          stdout.end();
          resolve(signal ? 128 + signal : exitCode);
        }),
      );
      return {
        stdin,
        stdout,
        stderr: endedStream(),
        resize: (c, r) => p.resize(c, r),
        signal: (s) => p.kill(s),
        exited,
      };
    }
    const child = spawn(argv[0]!, argv.slice(1), { cwd: this.home, env, stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number>((resolve) =>
      child.on("exit", (code, signal) => resolve(code ?? 128 + (signal ? 15 : 0))),
    );
    return {
      stdin: child.stdin,
      stdout: child.stdout,
      stderr: child.stderr,
      resize: () => {},
      signal: (s) => child.kill(s),
      exited,
    };
  }

  async connectTcp(_route: BoxRoute, port: number): Promise<Duplex> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: "127.0.0.1", port }, () => resolve(s));
      s.once("error", reject);
    });
  }
}

function endedStream(): PassThrough {
  const s = new PassThrough();
  s.end();
  return s;
}
