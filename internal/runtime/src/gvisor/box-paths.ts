// Where a box's host files live. Every path derives only from the driver's
// state dir and a validated, server-generated box id, never from anything a
// tenant chose.

import { join } from "node:path";
import { assertBoxId } from "../errors.ts";

export interface BoxPaths {
  dir: string;
  record: string;
  /** Sparse ext4 image: the box's hard disk-size limit. */
  diskImage: string;
  /** Where the disk image is loop-mounted. */
  diskMount: string;
  upper: string;
  work: string;
  home: string;
  workspace: string;
  /** The overlayfs root of the box (lower = image layers, upper/work on the box disk). */
  rootfs: string;
  bundle: string;
  checkpoint: string;
  runLog: string;
  /** Scratch files for exec and sessions (pid files, process.json). */
  scratch: string;
}

export function boxPaths(stateDir: string, id: string): BoxPaths {
  assertBoxId(id);
  const dir = join(stateDir, "boxes", id);
  const diskMount = join(dir, "disk");
  return {
    dir,
    record: join(dir, "record.json"),
    diskImage: join(dir, "disk.img"),
    diskMount,
    upper: join(diskMount, "upper"),
    work: join(diskMount, "work"),
    home: join(diskMount, "home"),
    workspace: join(diskMount, "workspace"),
    rootfs: join(dir, "rootfs"),
    bundle: join(dir, "bundle"),
    checkpoint: join(dir, "checkpoint"),
    runLog: join(dir, "runsc.log"),
    scratch: join(dir, "scratch"),
  };
}
