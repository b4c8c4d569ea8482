// The fake driver's "shell": it recognises the argv shapes of the
// conformance commands (conformance-commands.ts) and a few more a control-
// plane test may use, and answers them from the fake box's in-memory files and
// process table. Anything else exits 127, like a missing command. It is
// scripted on purpose: deterministic, instant and free of host processes.

export interface FakeBoxState {
  /** Absolute path -> content. */
  files: Map<string, string>;
  /** In-box PID -> command line as /proc/PID/cmdline with NULs as spaces. */
  processes: Map<number, string>;
  nextPid: number;
}

export interface FakeInvocation {
  argv: string[];
  uid: number;
  cwd: string;
  env: Record<string, string>;
  stdin: string;
  timeoutMs?: number;
}

export interface FakeOutcome {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

const ok = (stdout: string | Buffer = ""): FakeOutcome => ({
  exitCode: 0,
  stdout: Buffer.from(stdout),
  stderr: Buffer.alloc(0),
  timedOut: false,
});
const fail = (exitCode: number, stderr: string): FakeOutcome => ({
  exitCode,
  stdout: Buffer.alloc(0),
  stderr: Buffer.from(stderr),
  timedOut: false,
});

/** Whether `uid` may write `path` in the fake box: dev owns its home, /workspace and /tmp. */
function writable(uid: number, path: string): boolean {
  if (uid === 0) return true;
  return ["/home/dev/", "/workspace/", "/tmp/"].some((p) => path.startsWith(p));
}

export function runFakeCommand(box: FakeBoxState, inv: FakeInvocation): FakeOutcome {
  const [prog, ...args] = inv.argv;
  const script = (prog === "sh" || prog === "/bin/sh") && args[0] === "-c" ? (args[1] ?? "") : undefined;
  if (script !== undefined) {
    let m = /^exit (\d+)$/.exec(script);
    if (m) return { ...ok(), exitCode: Number(m[1]) };
    if (script === "true") return ok();
    // `echo WORDS > /abs/path`: writes the file (what a prebuild's init command may do).
    m = /^echo ([^>]*?) > (\/\S+)$/.exec(script);
    if (m) {
      const path = m[2] ?? "";
      if (!writable(inv.uid, path)) return fail(1, `sh: can't create ${path}: Permission denied\n`);
      box.files.set(path, `${m[1]}\n`);
      return ok();
    }
    m = /^echo (\S+); echo (\S+) >&2$/.exec(script);
    if (m) return { ...ok(`${m[1]}\n`), stderr: Buffer.from(`${m[2]}\n`) };
    if (script === "id -u; id -g; pwd") return ok(`${inv.uid}\n${inv.uid}\n${inv.cwd}\n`);
    m = /^echo "\$(\w+)"$/.exec(script);
    if (m) return ok(`${inv.env[m[1] ?? ""] ?? ""}\n`);
    if (script === "sleep 4242; true") {
      if (inv.timeoutMs === undefined)
        throw new Error("fake shell: a command that never ends needs timeoutMs");
      return { exitCode: 137, stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), timedOut: true };
    }
    if (script.includes("[s]leep 4242")) {
      const n = [...box.processes.values()].filter((c) => c.startsWith("sleep 4242")).length;
      return ok(`${n}\n`);
    }
    if (script === `printf '%s' "$1" > "$2"`) {
      const content = args[3] ?? "";
      const path = args[4] ?? "";
      if (!writable(inv.uid, path)) return fail(1, `sh: can't create ${path}: Permission denied\n`);
      box.files.set(path, content);
      return ok();
    }
    if (script === "nohup sleep 4343 >/dev/null 2>&1 </dev/null & echo $!") {
      const pid = box.nextPid++;
      box.processes.set(pid, "sleep 4343 ");
      return ok(`${pid}\n`);
    }
    m = /^tr '\\0' ' ' < \/proc\/(\d+)\/cmdline$/.exec(script);
    if (m) {
      const line = box.processes.get(Number(m[1]));
      return line === undefined ? fail(1, "sh: can't open: no such file\n") : ok(line);
    }
  }
  if (prog === "true") return ok();
  if (prog === "hostname" && args.length === 0) return ok(box.files.get("/etc/hostname") ?? "");
  if (prog === "false") return fail(1, "");
  if (prog === "cat" && args.length === 0) return ok(inv.stdin);
  if (prog === "cat" && args.length === 1) {
    const content = box.files.get(args[0] ?? "");
    return content === undefined
      ? fail(1, `cat: can't open '${args[0]}': No such file or directory\n`)
      : ok(content);
  }
  if (prog === "head" && args[0] === "-c" && args[2] === "/dev/zero")
    return ok(Buffer.alloc(Number(args[1])));
  if (prog === "echo") return ok(`${args.join(" ")}\n`);
  return fail(127, `fake: ${prog ?? ""}: not found\n`);
}

/**
 * One line typed into a fake interactive shell (pty or pipes). Returns the
 * output, or an exit code when the line exits the shell.
 */
export function runFakeShellLine(
  line: string,
  ctx: { tty: boolean; rows: number; cols: number },
): { output: string; exit?: number } {
  let output = "";
  for (const raw of line.split(";")) {
    const part = raw
      .trim()
      .replace(/\$\(\((\d+)\+(\d+)\)\)/g, (_, a: string, b: string) => String(Number(a) + Number(b)));
    if (part === "") continue;
    const exit = /^exit (\d+)$/.exec(part);
    if (exit) return { output, exit: Number(exit[1]) };
    if (part === "test -t 0 && echo is-a-tty") output += ctx.tty ? "is-a-tty\n" : "";
    else if (part === "tty") output += ctx.tty ? "/dev/pts/0\n" : "not a tty\n";
    else if (part === "stty size")
      output += ctx.tty ? `${ctx.rows} ${ctx.cols}\n` : "stty: standard input: Not a tty\n";
    else if (part.startsWith("echo ")) output += `${part.slice(5)}\n`;
    else output += `sh: ${part}: not found\n`;
  }
  return { output };
}
