// Content digest of a directory tree. Two trees have the same digest exactly
// when a box would see the same files: the walk records, in a fixed order,
// each entry's path, type, mode, owner, size, content hash and symlink
// target. Timestamps are left out so rebuilding the same content gives the
// same digest.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";

async function hashFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function typeOf(st: Awaited<ReturnType<typeof lstat>>): string {
  if (st.isDirectory()) return "d";
  if (st.isFile()) return "f";
  if (st.isSymbolicLink()) return "l";
  if (st.isCharacterDevice()) return "c";
  if (st.isBlockDevice()) return "b";
  if (st.isFIFO()) return "p";
  return "s";
}

/** Returns `sha256:<hex>` over a canonical walk of `root` (the root entry itself excluded). */
export async function digestTree(root: string): Promise<string> {
  const out = createHash("sha256");
  async function walk(rel: string): Promise<void> {
    const names = (await readdir(join(root, rel))).sort();
    for (const name of names) {
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const abs = join(root, relPath);
      const st = await lstat(abs);
      const type = typeOf(st);
      let content = "";
      if (type === "f") content = await hashFile(abs);
      else if (type === "l") content = await readlink(abs);
      else if (type === "c" || type === "b") content = String(st.rdev);
      const size = type === "f" ? st.size : 0;
      const mode = (st.mode & 0o7777).toString(8);
      out.update(`${JSON.stringify(relPath)}\0${type}\0${mode}\0${st.uid}\0${st.gid}\0${size}\0${content}\n`);
      if (type === "d") await walk(relPath);
    }
  }
  await walk("");
  return `sha256:${out.digest("hex")}`;
}
