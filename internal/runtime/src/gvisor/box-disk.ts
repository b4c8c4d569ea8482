// The box's writable disk: a sparse ext4 image of resources.diskGiB, loop-
// mounted, holding the overlay upper/work dirs and the home and workspace
// volumes. Filling it stops at its size (ENOSPC inside the box) and never
// fills the host.

import { statfsSync } from "node:fs";
import { open, rm } from "node:fs/promises";
import { NodeDiskFullError } from "../errors.ts";
import { HostCommandError, hostCommand } from "./host-command.ts";

export interface CreateDiskOptions {
  path: string;
  sizeGiB: number;
  /** Let the sum of sparse disks exceed the host's free space (default false). */
  allowOvercommit?: boolean;
}

export async function createDisk(opts: CreateDiskOptions): Promise<void> {
  const bytes = Math.ceil(opts.sizeGiB * 1024 ** 3);
  const dir = opts.path.slice(0, opts.path.lastIndexOf("/"));
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  if (!opts.allowOvercommit && free < bytes) {
    throw new NodeDiskFullError(`node has ${free} bytes free, box disk needs ${bytes}`);
  }
  try {
    const fh = await open(opts.path, "wx", 0o600);
    try {
      await fh.truncate(bytes);
    } finally {
      await fh.close();
    }
    // No reserved blocks: the whole size is the box's. lazy init keeps mkfs fast on a sparse file.
    await hostCommand(
      "mkfs.ext4",
      ["-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", opts.path],
      {
        timeoutMs: 120_000,
      },
    );
  } catch (err) {
    await rm(opts.path, { force: true });
    const text = err instanceof HostCommandError ? err.result.stderr : String((err as Error).message);
    if ((err as NodeJS.ErrnoException).code === "ENOSPC" || /No space left/i.test(text)) {
      throw new NodeDiskFullError(`no space on the node for the box disk ${opts.path}`, { cause: err });
    }
    throw err;
  }
}

/** Bytes used on a mounted box disk. */
export async function diskUsedBytes(mountPoint: string): Promise<number> {
  const fs = statfsSync(mountPoint);
  return (fs.blocks - fs.bfree) * fs.bsize;
}
