// Isolation from inside a real gVisor box (test-catalogue.md group (a)): the
// box sees only its own processes (A5) and no host paths (A4), raw and packet
// sockets are refused (A7), mount and
// namespace calls stay inside the sandbox (A6), a fork bomb gets EAGAIN
// (A8), a memory bomb kills only the offending process, even in a box that
// has run many processes, and tmpfs fills stop at their caps (A9; one
// system call larger than the box ends only that box, reported out of
// memory), and
// filling the disk stops at the box's limit (A10). A neighbour box must be
// unaffected.

import { randomBytes } from "node:crypto";
import { readFile, statfs, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ExecOptions } from "../runtime.ts";
import { oomKills } from "./cgroups.ts";
import type { GvisorRuntime } from "./gvisor-runtime.ts";
import { mountPoints } from "./mounts.ts";
import { createTestNode, type TestNode } from "./test-node.ts";

let node: TestNode;
let rt: GvisorRuntime;
const A = `iso${randomBytes(3).toString("hex")}_a`;
const B = `iso${randomBytes(3).toString("hex")}_b`;
let canaryPath = "";
let canary = "";
let canarySecret = "";

const sh = (id: string, script: string, extra: Partial<ExecOptions> = {}) =>
  rt.exec(id, { command: ["sh", "-c", script], timeoutMs: 60_000, ...extra });

beforeAll(async () => {
  node = await createTestNode();
  rt = node.runtime();
  canary = `CANARY-${randomBytes(8).toString("hex")}`;
  canaryPath = join(node.dir, canary);
  canarySecret = `secret-${randomBytes(8).toString("hex")}`;
  await writeFile(canaryPath, canarySecret);
  for (const id of [A, B]) {
    await rt.prepare(node.spec(id, { resources: { memoryMiB: 256, diskGiB: 1, maxProcesses: 128 } }));
    await rt.start(id);
  }
});

afterAll(async () => {
  for (const id of [A, B]) await rt?.destroy(id).catch(() => {});
  try {
    expect(await node.leaks()).toEqual([]);
  } finally {
    await node?.close();
  }
});

describe("gvisor isolation", () => {
  it("A5: the box sees only its own process tree", async () => {
    const r = await sh(
      A,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a JS template.
      "for p in /proc/[0-9]*; do echo \"${p#/proc/} $(tr '\\0' ' ' < $p/cmdline)\"; done",
      {
        user: "root",
      },
    );
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.toString().trim().split("\n");
    // init, the exec wrapper, the shell and its children: nothing from the host.
    expect(lines.length).toBeLessThan(10);
    expect(lines.find((l) => l.startsWith("1 "))).toMatch(/^1 \/\.boxyard\/init/);
    expect(r.stdout.toString()).not.toMatch(/node|vitest|runsc|systemd/);
  });

  it("A4: no host path or host canary is reachable through /proc or the filesystem", async () => {
    const reads = await sh(
      A,
      `cat /proc/1/root${canaryPath}; cat ${canaryPath}; cat /proc/1/cwd${canaryPath}; true`,
      {
        user: "root",
      },
    );
    expect(reads.stdout.toString()).not.toContain(canarySecret);
    expect(reads.stderr.toString()).not.toContain(canarySecret);
    const found = await sh(A, `find / -path /proc -prune -o -name 'CANARY-*' -print 2>/dev/null; true`, {
      user: "root",
    });
    expect(found.stdout.toString()).toBe("");
    const views = await sh(
      A,
      "cat /proc/self/mountinfo /proc/mounts; readlink /proc/self/exe; ls -a /proc/1/root/",
      {
        user: "root",
      },
    );
    const out = views.stdout.toString();
    expect(out).not.toContain(node.dir);
    expect(out).not.toContain("/var/lib");
    expect(out).toMatch(/\.boxyard/);
  });

  it("A6: mount, unshare and cgroup writes fail or stay inside the sandbox", async () => {
    const hostMountsBefore = await mountPoints();
    const r = await sh(
      A,
      [
        "mkdir -p /mnt/t",
        "mount -t tmpfs none /mnt/t; echo mount-tmpfs=$?",
        "mount -t proc proc /mnt/t; echo mount-proc=$?",
        "unshare -m -p -f true; echo unshare=$?",
        "echo /tmp/x > /sys/fs/cgroup/release_agent; echo release_agent=$?",
        "ls /dev",
      ].join("; "),
      { user: "root" },
    );
    const out = r.stdout.toString();
    // Without CAP_SYS_ADMIN every one of these is refused inside the sandbox.
    expect(out).toMatch(/mount-tmpfs=[1-9]/);
    expect(out).toMatch(/mount-proc=[1-9]/);
    expect(out).toMatch(/release_agent=[1-9]/);
    expect(out).not.toMatch(/\bkvm\b|\bmem\b|\bvda\b|\bsda\b/);
    // Whatever happened, the host's mount table did not change.
    const after = await mountPoints();
    expect([...after].filter((m) => !hostMountsBefore.has(m))).toEqual([]);
    expect(await readFile("/sys/fs/cgroup/memory/release_agent", "utf8").catch(() => "")).not.toContain(
      "/tmp/x",
    );
  });

  it("A7: packet and raw sockets are refused, even to root in the box", async () => {
    // busybox arping opens an AF_PACKET socket first and ping a raw ICMP one;
    // gVisor runs without --net-raw, so both fail before any packet is sent.
    const packet = await sh(A, "arping -c 1 -w 1 -I lo 127.0.0.1", { user: "root" });
    expect(packet.exitCode).not.toBe(0);
    expect(packet.stderr.toString()).toMatch(/socket: (operation not permitted|permission denied)/i);
    const raw = await sh(A, "ping -c 1 -W 1 127.0.0.1", { user: "root" });
    expect(`${raw.stdout}${raw.stderr}`).not.toMatch(/1 packets received/);
  });

  it("A8: a fork bomb gets EAGAIN and the box still answers exec", async () => {
    const r = await sh(A, "i=0; while [ $i -lt 300 ]; do sleep 300 & i=$((i+1)); done; echo started=$i", {
      timeoutMs: 60_000,
    });
    expect(r.stderr.toString()).toMatch(/can't fork|Resource temporarily unavailable|EAGAIN/i);
    const alive = await sh(A, "echo alive", { user: "root" });
    expect(alive.stdout.toString()).toBe("alive\n");
    expect((await sh(B, "echo neighbour")).stdout.toString()).toBe("neighbour\n");
    // (busybox has no pgrep.) The sleeps would otherwise hold dev's whole
    // RLIMIT_NPROC for five minutes, and later tests need to fork.
    const cleanup = await sh(A, "killall -9 sleep; while pidof sleep > /dev/null; do usleep 50000; done", {
      user: "root",
    });
    expect(cleanup.exitCode).toBe(0);
    const dev = await sh(A, "id -u");
    expect(dev.stdout.toString()).toBe("1000\n");
  });

  // A9: boxinit's OOM guard (boxinit.c) kills the largest process while the
  // box's memory cgroup still has a reserve, so the host OOM killer, which
  // may pick the sentry and end the whole box, never has to act.
  const awkBomb = `awk 'BEGIN { s = "xxxxxxxxxxxxxxxx"; while (1) s = s s }'`;
  const oomLog = async (id: string) =>
    (await sh(id, "cat /run/boxyard/oom.log 2>/dev/null; true")).stdout
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean);

  /** Runs `bomb` in A and checks that the guard killed it and nothing else happened. */
  async function bombA(bomb: string, comm: string): Promise<void> {
    const logBefore = await oomLog(A);
    const killsBefore = (await rt.inspect(A))?.usage?.oomKills ?? 0;
    const r = await sh(A, bomb);
    expect(r.exitCode).toBe(137);
    expect((await sh(A, "echo still-here")).stdout.toString()).toBe("still-here\n");
    const added = (await oomLog(A)).slice(logBefore.length).join("\n");
    expect(added).toMatch(new RegExp(`oom-guard: killed pid \\d+ \\(${comm}\\) uid 1000`));
    // The node sees the kill too (the guard's log in the box's upper dir), with what was killed.
    const seen = await rt.inspect(A);
    expect(seen?.usage?.oomKills).toBeGreaterThan(killsBefore);
    expect(seen?.oomKills?.at(-1)).toMatchObject({ command: comm, uid: 1000, pid: expect.any(Number) });
    expect(seen?.oomKills?.at(-1)?.rssMiB).toBeGreaterThan(0);
  }

  it("A9: a memory bomb is killed inside the box, five times in a row; the box, the neighbour and the host live on", async () => {
    const before = await rt.inspect(B);
    const sandboxA = (await rt.inspect(A))?.pid;
    for (let i = 0; i < 5; i++) await bombA(awkBomb, "awk");
    const obs = await rt.inspect(A);
    expect(obs?.phase).toBe("running");
    expect(obs?.pid).toBe(sandboxA);
    // The guard acted before the box's cgroup limit: no host OOM kill at all.
    expect(await oomKills(rt.cgroupsPath(A))).toBe(0);
    const after = await rt.inspect(B);
    expect(after?.phase).toBe("running");
    expect(after?.pid).toBe(before?.pid);
    expect((await sh(B, "echo fine")).stdout.toString()).toBe("fine\n");
  }, 180_000);

  it("A9: a box holding 60% of its memory is left alone", async () => {
    // B has run only a few commands, so its sentry is still small (see below).
    // dd's 150 MiB buffer (60% of 256 MiB) is filled and held over ten reads.
    const r = await sh(B, "dd if=/dev/zero of=/dev/null bs=150M count=10 2>&1");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/10\+0 records out/);
    expect(await oomLog(B)).toEqual([]);
  });

  it("A9: filling /tmp and /dev/shm stops at their caps instead of ending the box", async () => {
    const r = await sh(
      A,
      [
        "dd if=/dev/zero of=/tmp/fill bs=1M count=1000 2>/dev/null; echo tmp=$?; ls -l /tmp/fill; rm /tmp/fill",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=1000 2>/dev/null; echo shm=$?; ls -l /dev/shm/fill",
        "rm /dev/shm/fill",
      ].join("; "),
      { timeoutMs: 100_000 },
    );
    const out = r.stdout.toString();
    expect(out).toMatch(/tmp=[1-9]/);
    expect(out).toMatch(/shm=[1-9]/);
    // Half and a quarter of the box's 256 MiB.
    expect(out).toMatch(/\s134217728\s.*\/tmp\/fill/);
    expect(out).toMatch(/\s67108864\s.*\/dev\/shm\/fill/);
    expect((await sh(A, "echo still-here")).stdout.toString()).toBe("still-here\n");
    expect((await rt.inspect(A))?.phase).toBe("running");
  }, 120_000);

  it("A9: another bomb style (sort reading /dev/zero), in a box that has already run many processes", async () => {
    // Every process a box has run grows the sentry's heap (about 100 KiB each
    // here), which counts against the box's limit but is invisible inside
    // the box; without the guard's view of the host cgroup the host OOM
    // killer would act first, and with a big sentry it picks the sentry.
    const churn = await sh(A, "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; echo $i", {
      timeoutMs: 180_000,
    });
    expect(churn.stdout.toString()).toBe("1000\n");
    const sandboxA = (await rt.inspect(A))?.pid;
    for (let i = 0; i < 5; i++) {
      await bombA("sort /dev/zero > /dev/null", "sort");
      await bombA(awkBomb, "awk");
    }
    expect((await rt.inspect(A))?.pid).toBe(sandboxA);
    expect(await oomKills(rt.cgroupsPath(A))).toBe(0);
    expect((await sh(B, "echo fine")).stdout.toString()).toBe("fine\n");
  }, 400_000);

  it("A10: dd until full stops at the box's disk limit and the host is unaffected", async () => {
    const hostBefore = await statfs(node.dir);
    const r = await sh(
      A,
      "dd if=/dev/zero of=/home/dev/fill bs=1M count=4096 2>&1; echo rc=$?; ls -l /home/dev/fill",
    );
    const out = r.stdout.toString();
    expect(out).toMatch(/No space left on device/);
    expect(out).toMatch(/rc=[1-9]/);
    const size = Number(/\s(\d{6,})\s/.exec(out)?.[1] ?? "0");
    expect(size).toBeGreaterThan(500 * 1024 * 1024);
    expect(size).toBeLessThanOrEqual(1024 ** 3);
    const usage = (await rt.inspect(A))?.usage;
    expect(usage?.diskBytes).toBeGreaterThan(500 * 1024 * 1024);
    const hostAfter = await statfs(node.dir);
    // The sparse disk grew by at most its size; the host filesystem kept its room.
    const usedByBox = (hostBefore.bavail - hostAfter.bavail) * hostAfter.bsize;
    expect(usedByBox).toBeLessThan(1.2 * 1024 ** 3);
    expect((await sh(A, "rm /home/dev/fill && echo removed")).stdout.toString()).toBe("removed\n");
    expect((await sh(B, "echo fine")).stdout.toString()).toBe("fine\n");
  });

  it("reports per-box usage from its cgroup and disk", async () => {
    const obs = await rt.inspect(B);
    expect(obs?.usage?.cpuSeconds).toBeGreaterThan(0);
    expect(obs?.usage?.memoryBytes).toBeGreaterThan(0);
    expect(obs?.usage?.diskBytes).toBeGreaterThan(0);
  });

  // The case the guard cannot catch (docs/runtime-notes.md): one read() of
  // 1000 MiB into a 256 MiB box is filled inside the sentry without a signal
  // check, so the host OOM killer ends the sandbox. Still confined: the
  // neighbour and the host live, the box reads as failed for lack of memory
  // (what the API shows as lastError oom_killed), and it starts again.
  // Which host process the OOM killer picks is the host's choice: mostly the
  // sentry (its mapping of the pages makes it the largest), sometimes dd's own
  // stub (oom_score_adj 1000), whose death ends only dd. Either outcome is
  // confined and reported; anything else (the box running with dd's exec
  // succeeding, a death not reported as out of memory) fails.
  it("A9: one system call larger than the box ends only that box, reported out of memory; it starts again", async () => {
    const neighbour = (await rt.inspect(B))?.pid;
    const before = await rt.inspect(A);
    const oomsBefore = await oomKills(rt.cgroupsPath(A));
    const r = await sh(A, "dd if=/dev/zero of=/dev/null bs=1000M count=1").catch((err: unknown) => err);
    // The sentry's exit (freeing a full cgroup's pages) may still be running
    // when the exec returns: look until the box is no longer running.
    let dead = await rt.inspect(A);
    for (let i = 0; i < 50 && dead?.phase === "running"; i++) {
      await new Promise((res) => setTimeout(res, 100));
      dead = await rt.inspect(A);
    }
    if (dead?.phase === "running") {
      // Only dd ended: the host OOM killer took its stub, the box lives on.
      expect(dead.pid, JSON.stringify(dead)).toBe(before?.pid);
      expect(r instanceof Error || (r as { exitCode: number }).exitCode !== 0, String(r)).toBe(true);
      expect(await oomKills(rt.cgroupsPath(A))).toBeGreaterThan(oomsBefore);
    } else {
      expect(dead, JSON.stringify(dead)).toMatchObject({
        phase: "failed",
        oomKilled: true,
        reason: "sandbox died: out of memory",
      });
    }
    const after = await rt.inspect(B);
    expect(after?.phase).toBe("running");
    expect(after?.pid).toBe(neighbour);
    expect((await sh(B, "echo fine")).stdout.toString()).toBe("fine\n");
    if (dead?.phase !== "running") await rt.start(A);
    expect((await rt.inspect(A))?.phase).toBe("running");
    expect((await sh(A, "echo back")).stdout.toString()).toBe("back\n");
  }, 180_000);
});
