// The commands the conformance suite runs inside boxes. They are plain POSIX
// shell and busybox/coreutils commands, so every real image runs them; the
// fake driver recognises exactly these argv shapes (see fake/fake-shell.ts),
// which keeps the fake deterministic without a real shell.

export const conformanceCommands = {
  exitWith: (code: number): string[] => ["sh", "-c", `exit ${code}`],
  splitOutput: (out: string, err: string): string[] => ["sh", "-c", `echo ${out}; echo ${err} >&2`],
  cat: (): string[] => ["cat"],
  identity: (): string[] => ["sh", "-c", "id -u; id -g; pwd"],
  printEnv: (name: string): string[] => ["sh", "-c", `echo "$${name}"`],
  /** A command that outlives its timeout: a shell whose child sleeps (so a whole process group must die). */
  sleepLong: (): string[] => ["sh", "-c", "sleep 4242; true"],
  /** Prints how many processes run `sleep 4242` (0 after a timeout killed them). */
  countLongSleepers: (): string[] => [
    "sh",
    "-c",
    "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f 2>/dev/null; echo; done | grep -c '^[s]leep 4242'; true",
  ],
  zeros: (bytes: number): string[] => ["head", "-c", String(bytes), "/dev/zero"],
  writeFile: (path: string, content: string): string[] => [
    "sh",
    "-c",
    `printf '%s' "$1" > "$2"`,
    "sh",
    content,
    path,
  ],
  readFile: (path: string): string[] => ["cat", path],
  /** Starts `nohup sleep` in the background and prints its PID. */
  startBackground: (): string[] => ["sh", "-c", "nohup sleep 4343 >/dev/null 2>&1 </dev/null & echo $!"],
  /** Prints the command line of a PID with spaces for NULs (fails when the PID is gone). */
  commandLineOf: (pid: number): string[] => ["sh", "-c", `tr '\\0' ' ' < /proc/${pid}/cmdline`],
} as const;

/** Background command line as printed by commandLineOf. */
export const backgroundCommandLine = "sleep 4343 ";
