// Layer unpacking (issue 7, C5 for paths): two layers with a whiteout and an
// opaque directory come out as the union a box should see; every unsafe
// entry is refused with its name and nothing at all is written, even when
// the bad entry comes after good ones; GNU tar's own archives (long names,
// hardlinks) read the same as ours.

import { execFileSync } from "node:child_process";
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTar } from "./tar.ts";
import { type TarWriteEntry, writeTar } from "./tar-writer.ts";
import { DEFAULT_UNPACK_LIMITS, unpackLayers } from "./layer-unpack.ts";

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "boxyard-unpack-"));
});
afterAll(async () => rm(work, { recursive: true, force: true }));

const source = (b: Buffer) => () =>
  (async function* () {
    // Odd chunk sizes, so headers and bodies straddle chunk boundaries.
    for (let i = 0; i < b.length; i += 777) yield b.subarray(i, i + 777);
  })();

async function fresh(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  return dir;
}

async function tree(root: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, p));
    if (st.isDirectory()) out.push(`${p}/`, ...(await tree(root, p)));
    else if (st.isSymbolicLink()) out.push(`${p} -> ${await readlink(join(root, p))}`);
    else out.push(p);
  }
  return out;
}

describe("readTar", () => {
  it("reads names, types, modes, owners and bodies, with pax long names", async () => {
    const long = `deep/${"d".repeat(120)}/file.txt`;
    const entries: TarWriteEntry[] = [
      { path: "etc/", type: "dir", mode: 0o755 },
      { path: "etc/hosts", content: "127.0.0.1 localhost\n", mode: 0o644, uid: 1000, gid: 1000 },
      { path: "bin/sh", type: "symlink", linkname: "/bin/busybox" },
      { path: long, content: "x".repeat(5000) },
    ];
    const seen: Array<{ path: string; type: string; mode: number; uid: number; text: string }> = [];
    for await (const e of readTar(source(writeTar(entries))())) {
      let text = "";
      for await (const c of e.body()) text += c.toString();
      seen.push({ path: e.path, type: e.type, mode: e.mode, uid: e.uid, text });
    }
    expect(seen.map((s) => [s.path, s.type])).toEqual([
      ["etc/", "dir"],
      ["etc/hosts", "file"],
      ["bin/sh", "symlink"],
      [long, "file"],
    ]);
    expect(seen[1]).toMatchObject({ mode: 0o644, uid: 1000, text: "127.0.0.1 localhost\n" });
    expect(seen[3]!.text).toHaveLength(5000);
  });

  it("reads GNU tar's archives (GNU long names, hardlinks) and refuses what is not tar", async () => {
    const src = await fresh("gnu-src");
    const longDir = "l".repeat(150);
    await mkdir(join(src, longDir), { recursive: true });
    await writeFile(join(src, longDir, "a"), "A");
    execFileSync("ln", [join(src, longDir, "a"), join(src, "hard")]);
    const tarball = execFileSync("tar", ["--format=gnu", "-C", src, "-cf", "-", "."]);
    const names: string[] = [];
    for await (const e of readTar(source(tarball)()))
      names.push(`${e.type}:${e.path}${e.linkname ? `=>${e.linkname}` : ""}`);
    expect(names).toContain(`file:./${longDir}/a`);
    expect(
      names.some((n) => n.startsWith("hardlink:./hard=>") || n.startsWith(`hardlink:./${longDir}/a=>`)),
    ).toBe(true);
    await expect(async () => {
      for await (const _ of readTar(source(Buffer.alloc(600, 7))())) void _;
    }).rejects.toThrow(/checksum/);
  });
});

describe("unpackLayers", () => {
  it("applies two layers with a whiteout and an opaque directory", async () => {
    const lower = writeTar([
      { path: "etc/", type: "dir" },
      { path: "etc/keep", content: "lower" },
      { path: "etc/remove-me", content: "gone" },
      { path: "cache/", type: "dir" },
      { path: "cache/old-1", content: "1" },
      { path: "cache/sub/", type: "dir" },
      { path: "cache/sub/old-2", content: "2" },
      { path: "bin/", type: "dir" },
      { path: "bin/busybox", content: "#!", mode: 0o755 },
      { path: "bin/sh", type: "symlink", linkname: "/bin/busybox" },
      { path: "bin/ash", type: "hardlink", linkname: "bin/busybox" },
    ]);
    const upper = writeTar([
      // The new file comes before the opaque marker: opaque hides only the layers below.
      { path: "cache/new", content: "new" },
      { path: "cache/.wh..wh..opq" },
      { path: "etc/.wh.remove-me" },
      { path: "etc/keep", content: "upper", mode: 0o600, uid: 1000, gid: 1000 },
      { path: "home/dev/", type: "dir", uid: 1000, gid: 1000, mode: 0o750 },
    ]);
    const root = await fresh("two-layers");
    await unpackLayers(root, [source(lower), source(upper)]);
    expect(await tree(root)).toEqual([
      "bin/",
      "bin/ash",
      "bin/busybox",
      "bin/sh -> /bin/busybox",
      "cache/",
      "cache/new",
      "etc/",
      "etc/keep",
      "home/",
      "home/dev/",
    ]);
    expect(await readFile(join(root, "etc/keep"), "utf8")).toBe("upper");
    const keep = await lstat(join(root, "etc/keep"));
    expect([keep.mode & 0o7777, keep.uid, keep.gid]).toEqual([0o600, 1000, 1000]);
    expect((await lstat(join(root, "bin/ash"))).ino).toBe((await lstat(join(root, "bin/busybox"))).ino);
    expect((await lstat(join(root, "home/dev"))).mode & 0o7777).toBe(0o750);
  });

  const refused: Array<[string, TarWriteEntry[], RegExp]> = [
    ["a ../ path", [{ path: "../../outside", content: "x" }], /"\.\.\/\.\.\/outside": path climbs out/],
    ["a .. in the middle", [{ path: "a/../../x", content: "x" }], /climbs out/],
    ["an absolute path", [{ path: "/etc/passwd", content: "x" }], /"\/etc\/passwd": absolute path/],
    [
      "a write through an absolute symlink",
      [
        { path: "escape", type: "symlink", linkname: "/tmp" },
        { path: "escape/owned", content: "x" },
      ],
      /"escape\/owned": goes through the symlink escape/,
    ],
    [
      "a relative symlink out of the image",
      [{ path: "a/up", type: "symlink", linkname: "../../../etc/shadow" }],
      /"a\/up": symlink points outside the image/,
    ],
    [
      "a hardlink to a host file",
      [{ path: "pw", type: "hardlink", linkname: "/etc/passwd" }],
      /"\/etc\/passwd": absolute path/,
    ],
    [
      "a hardlink through a symlink",
      [
        { path: "root", type: "symlink", linkname: "/" },
        { path: "pw", type: "hardlink", linkname: "root/etc/passwd" },
      ],
      /"pw": goes through the symlink root/,
    ],
    [
      "a hardlink to nothing in the image",
      [{ path: "pw", type: "hardlink", linkname: "etc/passwd" }],
      /"pw": hardlink to "etc\/passwd", which is not a file of the image/,
    ],
    ["a device node", [{ path: "dev/sda", type: "block", devmajor: 8 }], /"dev\/sda": device node/],
    [
      "a char device",
      [{ path: "dev/mem", type: "char", devmajor: 1, devminor: 1 }],
      /"dev\/mem": device node/,
    ],
    [
      "a setuid file",
      [{ path: "bin/su", content: "x", mode: 0o4755 }],
      /"bin\/su": has the setuid bit \(mode 4755\)/,
    ],
    ["a setgid dir", [{ path: "var/mail/", type: "dir", mode: 0o2775 }], /"var\/mail\/": has the setgid bit/],
  ];

  for (const [what, bad, message] of refused) {
    it(`refuses ${what}, naming the entry, and writes nothing`, async () => {
      const root = await fresh(`refused-${what.replace(/\W+/g, "-")}`);
      // A good first layer and good entries before the bad one: still nothing may be written.
      const good = writeTar([
        { path: "etc/", type: "dir" },
        { path: "etc/ok", content: "ok" },
      ]);
      const layer = writeTar([{ path: "first", content: "fine" }, ...bad]);
      await expect(unpackLayers(root, [source(good), source(layer)])).rejects.toThrow(message);
      expect(await readdir(root)).toEqual([]);
    });
  }

  it("keeps a setuid bit when allowed", async () => {
    const root = await fresh("setuid-allowed");
    await unpackLayers(root, [source(writeTar([{ path: "su", content: "x", mode: 0o4755 }]))], {
      ...DEFAULT_UNPACK_LIMITS,
      allowSetuid: true,
    });
    expect((await lstat(join(root, "su"))).mode & 0o7777).toBe(0o4755);
  });

  it("refuses images over the unpacked size or entry limits before writing", async () => {
    const root = await fresh("too-big");
    const layer = writeTar([
      { path: "a", content: "x".repeat(600) },
      { path: "b", content: "x".repeat(600) },
    ]);
    await expect(
      unpackLayers(root, [source(layer)], { ...DEFAULT_UNPACK_LIMITS, maxUnpackedBytes: 1000 }),
    ).rejects.toThrow(/unpacks to more than 1000 bytes \(at "b"\)/);
    await expect(
      unpackLayers(root, [source(layer)], { ...DEFAULT_UNPACK_LIMITS, maxEntries: 1 }),
    ).rejects.toThrow(/more than 1 entries/);
    expect(await readdir(root)).toEqual([]);
  });
});
