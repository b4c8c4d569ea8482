import { type ImageSpec, imageKey } from "@boxyard/agent-protocol";

/**
 * Turns a box's image spec into the layer digests the runtime mounts, making
 * sure they are in the node's layer store. The real one wraps
 * @boxyard/images (build busybox/debian bases, unpack OCI archives).
 */
export interface ImageResolver {
  resolve(spec: ImageSpec): Promise<string[]>;
  /**
   * A template build (build-runner.ts): like resolve, with the builder's
   * output as log lines and whether the layers were already there.
   * Resolvers without it are asked to resolve, and report no log.
   */
  build?(spec: ImageSpec, opts: ImageBuildOptions): Promise<ImageBuildResult>;
  /** Whether a layer (a prebuild's) is in the node's store; resolvers without it have every layer. */
  hasLayer?(digest: string): Promise<boolean>;
  /** The layers an image resolved to on this node, when known without building (for the layer cache's GC). */
  layersOf?(spec: ImageSpec): string[] | undefined;
  /** Image keys (imageKey(spec)) already cached on this node, for scheduling affinity. */
  cached?(): Promise<string[]>;
}

export interface ImageBuildOptions {
  /** One line of the builder's output (without its newline). */
  onLog: (line: string) => void;
}

export interface ImageBuildResult {
  layers: string[];
  /** Nothing was built: the node already had these layers for this spec. */
  cacheHit: boolean;
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

  async build(spec: ImageSpec, opts: ImageBuildOptions): Promise<ImageBuildResult> {
    const cacheHit = this.seen.has(imageKey(spec));
    const layers = await this.resolve(spec);
    opts.onLog(cacheHit ? `cache hit: ${layers[0]} (pretend layer)` : `pretend layer ${layers[0]}`);
    return { layers, cacheHit };
  }

  async cached(): Promise<string[]> {
    return [...this.seen];
  }
}
