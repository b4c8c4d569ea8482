import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readOomKills } from "./box-oom-log.ts";

let upper: string;
const kill =
  "2026-11-29T05:10:00Z oom-guard: killed pid 42 (awk) uid 1000 rss 180 MiB; box used 230 of 256 MiB";

beforeEach(async () => {
  upper = await mkdtemp(join(tmpdir(), "boxyard-oomlog-"));
});
afterEach(async () => {
  await rm(upper, { recursive: true, force: true });
});

describe("readOomKills", () => {
  it("counts the guard's kill lines and nothing else", async () => {
    await mkdir(join(upper, "var/log/boxyard"), { recursive: true });
    await writeFile(
      join(upper, "var/log/boxyard/oom.log"),
      [
        kill,
        "2026-11-29T05:10:05Z oom-guard: low memory (250 of 256 MiB used) but no process large enough to kill",
        "garbage",
        kill.replace("pid 42 (awk)", "pid 77 (sort)"),
        "",
      ].join("\n"),
    );
    expect(await readOomKills(upper)).toEqual([
      { at: "2026-11-29T05:10:00Z", pid: 42, command: "awk", uid: 1000, rssMiB: 180 },
      { at: "2026-11-29T05:10:00Z", pid: 77, command: "sort", uid: 1000, rssMiB: 180 },
    ]);
  });

  it("is empty without a log", async () => {
    expect(await readOomKills(upper)).toEqual([]);
  });

  it("follows no link the box made, in the path or as the file (A4: no host file read through the box)", async () => {
    const host = await mkdtemp(join(tmpdir(), "boxyard-host-"));
    try {
      await mkdir(join(host, "boxyard"), { recursive: true });
      await writeFile(join(host, "boxyard/oom.log"), `${kill}\n`);
      // /var/log -> a host directory holding a well-formed log.
      await mkdir(join(upper, "var"), { recursive: true });
      await symlink(host, join(upper, "var/log"));
      expect(await readOomKills(upper)).toEqual([]);
      // The file itself a link to a host file.
      await rm(join(upper, "var/log"));
      await mkdir(join(upper, "var/log/boxyard"), { recursive: true });
      await symlink(join(host, "boxyard/oom.log"), join(upper, "var/log/boxyard/oom.log"));
      expect(await readOomKills(upper)).toEqual([]);
    } finally {
      await rm(host, { recursive: true, force: true });
    }
  });

  it("never waits on a FIFO the box put in the log's place (the read is on the agent's event loop)", async () => {
    await mkdir(join(upper, "var/log/boxyard"), { recursive: true });
    execFileSync("mkfifo", [join(upper, "var/log/boxyard/oom.log")]);
    // A blocking open or read would hang here until the test's timeout.
    expect(await readOomKills(upper)).toEqual([]);
  });
});
