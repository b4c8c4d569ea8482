import { type ImageSpec, imageKey } from "@boxyard/agent-protocol";

/**
 * Turns a box's image spec into the layer digests the runtime mounts, making
 * sure they are in the node's layer store. The real one wraps
 * @boxyard/images (build busybox/debian bases, unpack OCI archives).
 */
export interface ImageResolver {
  resolve(spec: ImageSpec): Promise<string[]>;
  /** Image keys (imageKey(spec)) already cached on this node, for scheduling affinity. */
  cached?(): Promise<string[]>;
}

/** Thrown by a resolver when the image can never be built (bad spec, missing archive): not retried. */
export class ImageUnavailableError extends Error {
  readonly code = "image_unavailable";
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = "ImageUnavailableError";
  }
}

/** For the fake runtime: every image is one pretend layer named after its key. */
export class StaticImageResolver implements ImageResolver {
  private readonly seen = new Set<string>();

  async resolve(spec: ImageSpec): Promise<string[]> {
    const key = imageKey(spec);
    this.seen.add(key);
    return [`sha256:${key.slice(4).padEnd(64, "0")}`];
  }

  async cached(): Promise<string[]> {
    return [...this.seen];
  }
}
