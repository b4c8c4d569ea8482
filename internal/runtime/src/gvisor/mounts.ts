// Host mounts of a box: the loop-mounted disk image and the overlayfs root.
// Each helper is idempotent (checks /proc/self/mountinfo first) so prepare,
// start and destroy can be re-run after a crash at any step.

import { readFileSync } from "node:fs";
import { hostCommand } from "./host-command.ts";

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Mount points currently in this mount namespace. */
export async function mountPoints(): Promise<Set<string>> {
  // Read at once (procfs, microseconds): each box observation asks, and a trip through the
  // thread pool costs a loaded node more than the read.
  const info = readFileSync("/proc/self/mountinfo", "utf8");
  const points = new Set<string>();
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (field) points.add(unescapeMountPath(field));
  }
  return points;
}

export async function isMounted(path: string): Promise<boolean> {
  return (await mountPoints()).has(path);
}

/** Loop-mounts an ext4 image. `-o loop` sets autoclear, so unmounting frees the loop device. */
export async function mountDisk(image: string, target: string): Promise<void> {
  if (await isMounted(target)) return;
  await hostCommand("mount", ["-t", "ext4", "-o", "loop,nosuid,nodev", image, target]);
}

export async function mountOverlay(opts: {
  lowers: string[];
  upper: string;
  work: string;
  target: string;
}): Promise<void> {
  if (await isMounted(opts.target)) return;
  for (const p of [...opts.lowers, opts.upper, opts.work]) {
    // overlayfs splits its options on ',' and ':'.
    if (/[,:]/.test(p)) throw new Error(`path not usable in overlay options: ${p}`);
  }
  // The first lowerdir is the top: callers pass layers lowest first.
  const lowerdir = [...opts.lowers].reverse().join(":");
  await hostCommand("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lowerdir},upperdir=${opts.upper},workdir=${opts.work},nosuid,nodev`,
    opts.target,
  ]);
}

/** Unmounts if mounted; a busy mount is detached lazily so destroy never hangs. */
export async function unmount(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  const r = await hostCommand("umount", [target], { check: false });
  if (r.code !== 0 && (await isMounted(target))) await hostCommand("umount", ["-l", target]);
}

/** Loop devices still attached to `image` (for leak checks and clean-up). */
export async function loopDevicesOf(image: string): Promise<string[]> {
  const r = await hostCommand("losetup", ["-j", image], { check: false });
  return r.stdout
    .split("\n")
    .map((l) => l.split(":")[0] ?? "")
    .filter((d) => d.startsWith("/dev/loop"));
}

export async function detachLoops(image: string): Promise<void> {
  for (const dev of await loopDevicesOf(image)) await hostCommand("losetup", ["-d", dev], { check: false });
}
