import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type ImageBuildOptions,
  type ImageBuildResult,
  type ImageResolver,
  ImageUnavailableError,
} from "@boxyard/agent";
import { type ImageSpec, imageKey } from "@boxyard/agent-protocol";
import {
  buildBusyboxLayer,
  buildDebianLayer,
  digestFile,
  findDebianLayer,
  ImageError,
  importOciArchive,
  LayerStore,
} from "@boxyard/images";
import { NodeNetwork } from "@boxyard/netns";
import { FakeRuntime, GvisorRuntime, layersOfBoxes, type Runtime } from "@boxyard/runtime";
import { StaticImageResolver } from "@boxyard/agent";
import type { Logger } from "pino";
import { ociArchiveAllowsSetuid, ociArchivePath } from "./api/images.ts";
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
  readonly #settled = new Map<string, string[]>();

  constructor(
    private readonly store: LayerStore,
    private readonly logger: Logger,
    private readonly archives?: OciArchiveSource,
    private readonly unpackedLimit?: number,
  ) {}

  async resolve(spec: ImageSpec): Promise<string[]> {
    const p = this.#shared(spec);
    const { layers } = await p;
    // The layer cache's garbage collection may have removed a layer resolved
    // earlier: build the image again (a use marks the layers, so a pass
    // running now keeps them).
    await this.store.touch(layers);
    if ((await Promise.all(layers.map((d) => this.store.has(d)))).every(Boolean)) return layers;
    if (this.#inFlight.get(imageKey(spec)) === p) this.#inFlight.delete(imageKey(spec));
    return (await this.#shared(spec)).layers;
  }

  /** The layers an image resolved to in this process, if it did (for the cache's garbage collection). */
  layersOf(spec: ImageSpec): string[] | undefined {
    return this.#settled.get(imageKey(spec));
  }

  hasLayer(digest: string): Promise<boolean> {
    return this.store.has(digest);
  }

  async build(spec: ImageSpec, opts: ImageBuildOptions): Promise<ImageBuildResult> {
    const key = imageKey(spec);
    const settled = this.#inFlight.has(key) && !this.#listeners.has(key);
    if (settled) {
      const r = await this.#shared(spec);
      await this.store.touch(r.layers);
      if ((await Promise.all(r.layers.map((d) => this.store.has(d)))).every(Boolean))
        return { layers: r.layers, cacheHit: true };
      // Garbage-collected since: built again below.
      this.#inFlight.delete(key);
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

  /** Image keys resolved by this process, and every layer in the store (a prebuild's among them). */
  async cached(): Promise<string[]> {
    return [...this.#inFlight.keys(), ...(await this.store.list())];
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
          this.#settled.set(key, r.layers);
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
    const started = Date.now();
    if ("oci" in spec) return this.#importOci(spec.oci, log, started);
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

  async #importOci(digest: string, log: (line: string) => void, started: number): Promise<ImageBuildResult> {
    if (!this.archives) throw new ImageUnavailableError("this node cannot reach uploaded image archives");
    const { path, allowSetuid } = await this.archives.fetch(digest, log);
    let cacheHit = true;
    const layer = await importOciArchive(this.store, path, {
      digest,
      allowSetuid,
      ...(this.unpackedLimit ? { maxUnpackedBytes: this.unpackedLimit } : {}),
      onLog: (line) => {
        if (!line.startsWith("cache hit")) cacheHit = false;
        log(line);
      },
    }).catch((err) => {
      // A refused archive never becomes acceptable: the box fails for good, with the entry named.
      if (err instanceof ImageError && err.code !== "layer_build_failed")
        throw new ImageUnavailableError(err.message);
      throw err;
    });
    this.logger.info({ image: digest, layer, cacheHit, ms: Date.now() - started }, "image ready");
    return { layers: [layer], cacheHit };
  }
}

/** Where a node finds an uploaded image archive (see apps/server/src/api/images.ts). */
export interface OciArchiveSource {
  fetch(digest: string, log: (line: string) => void): Promise<{ path: string; allowSetuid: boolean }>;
}

/** The control plane's own store, for a node in the same process (role all). */
export function localArchiveSource(dataDir: string): OciArchiveSource {
  return {
    async fetch(digest) {
      const path = ociArchivePath(dataDir, digest);
      if (!existsSync(path)) throw new ImageUnavailableError(`image archive ${digest} is not on this server`);
      return { path, allowSetuid: await ociArchiveAllowsSetuid(dataDir, digest) };
    },
  };
}

/** What downloads an archive from the control plane (HttpControlPlaneLink, for role agent). */
export interface ArchiveDownloader {
  openImageArchive(digest: string): Promise<{ body: ReadableStream<Uint8Array>; allowSetuid: boolean }>;
}

/**
 * For a node in another process than the control plane: archives are
 * downloaded once into `dir` (checked against their digest) and kept there
 * for later unpacks on this node.
 */
export function downloadingArchiveSource(link: ArchiveDownloader, dir: string): OciArchiveSource {
  return {
    async fetch(digest, log) {
      const hex = digest.replace(/^sha256:/, "");
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new ImageUnavailableError(`not an image digest: ${digest}`);
      const path = join(dir, `sha256-${hex}.tar`);
      const meta = join(dir, `sha256-${hex}.json`);
      if (existsSync(path) && existsSync(meta))
        return { path, allowSetuid: JSON.parse(await readFile(meta, "utf8")).allowSetuid === true };
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const got = await link.openImageArchive(digest).catch((err) => {
        if ((err as { code?: string }).code === "image_not_found")
          throw new ImageUnavailableError(`image archive ${digest} is not on the control plane`);
        throw err;
      });
      // Written whole under a temporary name, checked against its digest, then renamed into place.
      const tmp = `${path}.${randomBytes(4).toString("hex")}.part`;
      try {
        await pipeline(Readable.fromWeb(got.body as never), createWriteStream(tmp, { mode: 0o600 }));
        if ((await digestFile(tmp)) !== digest)
          throw new ImageUnavailableError(`the downloaded archive does not match ${digest}`);
        await writeFile(meta, JSON.stringify({ allowSetuid: got.allowSetuid }));
        await rename(tmp, path);
      } finally {
        await rm(tmp, { force: true });
      }
      log(`downloaded ${(await stat(path)).size} bytes from the control plane`);
      return { path, allowSetuid: got.allowSetuid };
    },
  };
}

export interface LocalNode {
  runtime: Runtime;
  images: ImageResolver;
  /** The node's layer cache and the layers its boxes mount (gvisor), for garbage collection. */
  layers?: { store: LayerStore; inUse(): Promise<Set<string>> };
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
  /** CPUs a box may use while its sandbox comes up (GvisorRuntimeOptions.bootCpu). */
  bootCpu?: number;
  /** How long a box keeps it after its sandbox is up (GvisorRuntimeOptions.bootCpuGraceMs). */
  bootCpuGraceMs?: number;
  /** Where uploaded image archives come from; absent: the control plane's store in DATA_DIR (role all). */
  archives?: OciArchiveSource;
  /** Largest content an imported image may unpack to. */
  maxUnpackedBytes?: number;
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
  const runtime = new GvisorRuntime({
    stateDir: join(nodeDir, "boxes"),
    layers,
    network,
    ...(opts.bootCpu !== undefined ? { bootCpu: opts.bootCpu } : {}),
    ...(opts.bootCpuGraceMs !== undefined ? { bootCpuGraceMs: opts.bootCpuGraceMs } : {}),
  });
  await runtime.registerLayerUse();
  return {
    runtime,
    layers: {
      store: layers,
      // Every node sharing the store (BOXYARD_LAYER_DIR) registered its state dir: their boxes count too.
      inUse: async () => {
        const out = await layersOfBoxes(runtime.stateDir);
        for (const dir of await layers.users())
          if (dir !== runtime.stateDir) for (const d of await layersOfBoxes(dir)) out.add(d);
        return out;
      },
    },
    images: new LayerStoreImageResolver(
      layers,
      opts.logger.child({ component: "images" }),
      opts.archives ?? localArchiveSource(opts.dataDir),
      opts.maxUnpackedBytes,
    ),
    // Boxes keep running: the network (bridge, rules, netns) stays as it is.
    close: async () => {},
  };
}

/** The runtime this process's node agent drives, from `--runtime`. */
export async function createLocalNode(
  config: ServerConfig,
  logger: Logger,
  opts: { archives?: OciArchiveSource } = {},
): Promise<LocalNode> {
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
        ...(opts.archives ? { archives: opts.archives } : {}),
        maxUnpackedBytes: config.imageMaxUnpackedBytes,
        bootCpu: config.bootCpu,
        bootCpuGraceMs: config.bootCpuGraceSeconds * 1000,
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
