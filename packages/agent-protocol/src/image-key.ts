import { createHash } from "node:crypto";
import type { ImageSpec } from "./schemas.ts";

/**
 * A stable name for an image spec, used for cache affinity: a node reports
 * the keys of images whose layers it holds, and the scheduler prefers it
 * for boxes of the same image.
 */
export function imageKey(spec: ImageSpec): string {
  const canonical =
    "base" in spec
      ? JSON.stringify({ base: spec.base, packages: [...(spec.packages ?? [])].sort() })
      : JSON.stringify({ oci: spec.oci });
  return `img_${createHash("sha256").update(canonical).digest("hex").slice(0, 24)}`;
}
