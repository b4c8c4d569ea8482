import { join } from "node:path";
import {
  type ImageBuildOptions,
  type ImageBuildResult,
  type ImageResolver,
  ImageUnavailableError,
} from "@boxyard/agent";
import { type ImageSpec, imageKey } from "@boxyard/agent-protocol";
import { buildBusyboxLayer, buildDebianLayer, findDebianLayer, LayerStore } from "@boxyard/images";
import { NodeNetwork } from "@boxyard/netns";
import { FakeRuntime, GvisorRuntime, type Runtime } from "@boxyard/runtime";
import { StaticImageResolver } from "@boxyard/agent";
import type { Logger } from "pino";
import { type ServerConfig, StartupError } from "./config.ts";

/**
 * Builds (or finds in the node's layer store) the layers of an image. Each
 * image is resolved once per process, whoever asks first (a template build
 * or a box being created), and everyone asking meanwhile shares that build
 * and its log; the layer store makes a rebuild of the same spec a cache hit
 * across restarts.
 */
export class LayerStoreImageResolver implements ImageResolver {
  readonly #inFlight = new Map<string, Promise<ImageBuildResult>>();
  readonly #listeners = new Map<string, Set<(line: string) => void>>();

  constructor(
    private readonly store: LayerStore,
    private readonly logger: Logger,
  ) {}

  async resolve(spec: ImageSpec): Promise<string[]> {
    return (await this.#shared(spec)).layers;
  }

  async build(spec: ImageSpec, opts: ImageBuildOptions): Promise<ImageBuildResult> {
    const key = imageKey(spec);
    const settled = this.#inFlight.has(key) && !this.#listeners.has(key);
    if (settled) {
      const r = await this.#shared(spec);
      return { layers: r.layers, cacheHit: true };
    }
    let set = this.#listeners.get(key);
    const joined = set !== undefined;
    if (!set) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(opts.onLog);
    if (joined) opts.onLog("this image is already being built on this node; following that build");
    try {
      return await this.#shared(spec);
    } finally {
      set.delete(opts.onLog);
    }
  }

  async cached(): Promise<string[]> {
    return [...this.#inFlight.keys()];
  }

  #shared(spec: ImageSpec): Promise<ImageBuildResult> {
    const key = imageKey(spec);
    let p = this.#inFlight.get(key);
    if (!p) {
      if (!this.#listeners.has(key)) this.#listeners.set(key, new Set());
      const log = (line: string) => {
        for (const fn of this.#listeners.get(key) ?? []) fn(line);
        this.logger.debug({ image: key }, line);
      };
      p = this.#build(spec, log).then(
        (r) => {
          this.#listeners.delete(key);
          return r;
        },
        (err) => {
          this.#listeners.delete(key);
          this.#inFlight.delete(key);
          throw err;
        },
      );
      this.#inFlight.set(key, p);
    }
    return p;
  }

  async #build(spec: ImageSpec, log: (line: string) => void): Promise<ImageBuildResult> {
    if ("oci" in spec) throw new ImageUnavailableError("OCI images are not supported yet");
    const started = Date.now();
    let digest: string;
    let cacheHit = false;
    switch (spec.base) {
      case "busybox": {
        const before = new Set(await this.store.list());
        log("busybox base from the node's busybox-static");
        digest = await buildBusyboxLayer(this.store);
        cacheHit = before.has(digest);
        break;
      }
      case "debian-bookworm": {
        const packages = spec.packages ?? [];
        cacheHit = (await findDebianLayer(this.store, { packages })) !== null;
        digest = await buildDebianLayer(this.store, { packages, onLog: log });
        break;
      }
      default:
        throw new ImageUnavailableError(
          `unknown base image ${JSON.stringify(spec.base)}; use busybox or debian-bookworm`,
        );
    }
    this.logger.info({ image: imageKey(spec), digest, cacheHit, ms: Date.now() - started }, "image ready");
    return { layers: [digest], cacheHit };
  }
}

export interface LocalNode {
  runtime: Runtime;
  images: ImageResolver;
  close(): Promise<void>;
}

export interface GvisorNodeOptions {
  dataDir: string;
  logger: Logger;
  /** Interface names and nft tables start with this (2-6 letters/digits); one per node on a machine. */
  networkPrefix: string;
  /** The node's box subnet. */
  subnet: string;
  /** Where image layers live; default DATA_DIR/node/images. */
  layerDir?: string;
  /** Interface for box egress; absent: none. */
  uplink?: string;
}

/** The gVisor driver on this machine: layer store, box network and runtime under DATA_DIR/node. */
export async function openGvisorNode(opts: GvisorNodeOptions): Promise<LocalNode> {
  const nodeDir = join(opts.dataDir, "node");
  const layers = new LayerStore({ root: opts.layerDir ?? join(nodeDir, "images") });
  let network: NodeNetwork;
  try {
    network = await NodeNetwork.open({
      stateDir: join(nodeDir, "network"),
      prefix: opts.networkPrefix,
      subnet: opts.subnet,
      ...(opts.uplink ? { uplink: opts.uplink } : {}),
    });
  } catch (err) {
    throw new StartupError(
      `cannot set up the box network (${(err as Error).message}); the gvisor runtime needs root, iproute2 and nftables`,
      { cause: err },
    );
  }
  const runtime = new GvisorRuntime({ stateDir: join(nodeDir, "boxes"), layers, network });
  return {
    runtime,
    images: new LayerStoreImageResolver(layers, opts.logger.child({ component: "images" })),
    // Boxes keep running: the network (bridge, rules, netns) stays as it is.
    close: async () => {},
  };
}

/** The runtime this process's node agent drives, from `--runtime`. */
export async function createLocalNode(config: ServerConfig, logger: Logger): Promise<LocalNode> {
  switch (config.runtime) {
    case "fake":
      // Control-plane development and tests only: nothing is isolated.
      return { runtime: new FakeRuntime(), images: new StaticImageResolver(), close: async () => {} };
    case "gvisor":
      return openGvisorNode({
        dataDir: config.dataDir,
        logger,
        networkPrefix: config.networkPrefix,
        subnet: config.boxSubnet,
        ...(config.layerDir ? { layerDir: config.layerDir } : {}),
        ...(config.boxUplink ? { uplink: config.boxUplink } : {}),
      });
    case "microvm":
    case "container":
      throw new StartupError(`the ${config.runtime} runtime is not available yet; use --runtime gvisor`);
    default: {
      const never: never = config.runtime;
      return never;
    }
  }
}
