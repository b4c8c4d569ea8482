import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedVolume } from "./box-storage.ts";
import { hostCommand } from "./host-command.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "boxyard-seed-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** hostCommand that counts its processes. */
function counting() {
  const calls: string[][] = [];
  const run: typeof hostCommand = (cmd, args, opts) => {
    calls.push([cmd, ...args]);
    return hostCommand(cmd, args, opts);
  };
  return { calls, run };
}

describe("seedVolume (a box's /home/dev and /workspace from its image)", () => {
  it("copies a directory with content, keeping its files", async () => {
    const from = join(dir, "a/home/dev");
    const to = join(dir, "a-vol");
    await mkdir(join(from, "sub"), { recursive: true });
    await writeFile(join(from, "sub/f.txt"), "hello");
    await mkdir(to);
    const c = counting();
    expect(await seedVolume(from, to, c.run)).toBe(true);
    expect(c.calls).toHaveLength(1);
    expect(await readFile(join(to, "sub/f.txt"), "utf8")).toBe("hello");
  });

  it("starts no process for an empty or missing directory", async () => {
    const empty = join(dir, "b/workspace");
    await mkdir(empty, { recursive: true });
    const c = counting();
    expect(await seedVolume(empty, join(dir, "b-vol"), c.run)).toBe(false);
    expect(await seedVolume(join(dir, "b/nothing"), join(dir, "b-vol"), c.run)).toBe(false);
    expect(c.calls).toEqual([]);
  });

  it("does not follow a symlink in the image (it would resolve on the host)", async () => {
    const host = join(dir, "host-secret");
    await mkdir(host);
    await writeFile(join(host, "key"), "not the box's");
    const link = join(dir, "c/workspace");
    await mkdir(join(dir, "c"));
    await symlink(host, link);
    const c = counting();
    expect(await seedVolume(link, join(dir, "c-vol"), c.run)).toBe(false);
    expect(c.calls).toEqual([]);
  });
});
