// How a box's exec starts its command, under real runsc: PID 1 spawns it
// (CLONE_VM|CLONE_VFORK, then execve with its own PATH search), so these pin
// down what execvp gave before: the lookup through the request's PATH, exit
// 127 with a message for a command that is not there, 126 for one that
// cannot run, a script without `#!` run by /bin/sh, the caller's ids and
// cwd, and PID 1 untouched by its child (it keeps serving execs, and its
// environment is not the command's).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const ID = "exec_spawn";

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  await rt.prepare(node.spec(ID));
  await rt.start(ID);
});
afterAll(async () => {
  await rt?.destroy(ID).catch(() => {});
  if (node) {
    expect(await node.leaks()).toEqual([]);
    await node.close();
  }
});

async function sh(script: string, user: "dev" | "root" = "dev") {
  const r = await rt.exec(ID, { command: ["sh", "-c", script], user });
  expect(r.exitCode, r.stderr.toString()).toBe(0);
  return r.stdout.toString();
}

describe("gvisor exec: how PID 1 starts the command", () => {
  it("finds a bare name through the request's PATH, in order, skipping entries that do not have it", async () => {
    await sh(
      "mkdir -p /tmp/p1 /tmp/p2 && printf '#!/bin/sh\\necho from-p2\\n' > /tmp/p2/which-one && chmod +x /tmp/p2/which-one",
    );
    const r = await rt.exec(ID, {
      command: ["which-one"],
      env: { PATH: "/nonexistent:/tmp/p1:/tmp/p2:/bin" },
    });
    expect(r.stdout.toString()).toBe("from-p2\n");
    expect(r.exitCode).toBe(0);
    // The first match wins.
    await sh("printf '#!/bin/sh\\necho from-p1\\n' > /tmp/p1/which-one && chmod +x /tmp/p1/which-one");
    const first = await rt.exec(ID, { command: ["which-one"], env: { PATH: "/tmp/p1:/tmp/p2" } });
    expect(first.stdout.toString()).toBe("from-p1\n");
  });

  it("a command that is not there exits 127 and says so; one that cannot run exits 126", async () => {
    const missing = await rt.exec(ID, { command: ["no-such-command-here"] });
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr.toString()).toBe("boxinit exec: no-such-command-here: No such file or directory\n");
    const missingPath = await rt.exec(ID, { command: ["/no/such/file"] });
    expect(missingPath.exitCode).toBe(127);

    await sh("printf '#!/bin/sh\\necho hi\\n' > /tmp/noexec && chmod 644 /tmp/noexec");
    const denied = await rt.exec(ID, { command: ["/tmp/noexec"] });
    expect(denied.exitCode).toBe(126);
    expect(denied.stderr.toString()).toBe("boxinit exec: /tmp/noexec: Permission denied\n");
    // Found only where it cannot run: execvp's EACCES, not "not found".
    const deniedByPath = await rt.exec(ID, { command: ["noexec"], env: { PATH: "/nonexistent:/tmp" } });
    expect(deniedByPath.exitCode).toBe(126);
  });

  it("a script without #! runs under /bin/sh with its arguments", async () => {
    await sh("printf 'echo \"args: $1 $2\"\\n' > /tmp/bare && chmod +x /tmp/bare");
    const r = await rt.exec(ID, { command: ["/tmp/bare", "one", "two"] });
    expect(r.stdout.toString()).toBe("args: one two\n");
    expect(r.exitCode).toBe(0);
  });

  it("runs with the caller's ids, groups and cwd, in a session of its own, as a child of PID 1", async () => {
    // /proc/$$/stat: field 4 is the parent, field 6 the session.
    const dev = await sh("id -u; id -g; id -G; pwd; awk -v me=$$ '{print $4, ($6 == me)}' /proc/$$/stat");
    expect(dev).toBe("1000\n1000\n1000\n/home/dev\n1 1\n");
    expect(await sh("id -u; id -G", "root")).toBe("0\n0\n");
  });

  it("leaves PID 1 as it was: its environment is not the last command's, and it keeps serving", async () => {
    await rt.exec(ID, { command: ["true"], env: { LEAK_CHECK: "from-an-exec" } });
    const initEnv = await sh("tr '\\0' '\\n' < /proc/1/environ", "root");
    expect(initEnv).not.toContain("LEAK_CHECK");
    for (let i = 0; i < 5; i++) expect(await sh(`echo run-${i}`)).toBe(`run-${i}\n`);
  });
});
