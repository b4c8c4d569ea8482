// Which image layers the boxes of a driver's state dir mount, from their
// records: the node's layer-cache garbage collection keeps these. Every
// record counts, whatever its phase (a stopped or cold-paused box mounts
// its layers again when it starts), until destroy removes it after
// unmounting.

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { readRecord } from "./box-record.ts";

export async function layersOfBoxes(stateDir: string): Promise<Set<string>> {
  const boxes = join(stateDir, "boxes");
  let ids: string[];
  try {
    ids = await readdir(boxes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw err;
  }
  const out = new Set<string>();
  for (const id of ids) {
    const rec = await readRecord(join(boxes, id, "record.json")).catch(() => null);
    if (!rec) continue;
    for (const d of rec.spec?.layers ?? []) out.add(d);
    // The mounted paths name the digests too (sha256-<hex>), should a spec ever disagree.
    for (const dir of rec.layerDirs ?? []) {
      const m = /sha256-([0-9a-f]{64})$/.exec(dir);
      if (m) out.add(`sha256:${m[1]}`);
    }
  }
  return out;
}
