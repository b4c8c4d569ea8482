// Image archives as `docker save` and OCI tools write them: a tar holding
// either an OCI image layout (oci-layout, index.json, blobs/sha256/...) or
// Docker's layout (manifest.json naming each layer's tar). The archive is
// read where it lies: one pass indexes its entries (offset and size), and
// each layer is then streamed from its byte range, gunzipped when it is
// compressed, with its digest checked where the layout records one. The
// layers are unpacked (layer-unpack.ts: every entry checked first) into one
// tree published in the node's layer store.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chown, lstat, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createGunzip } from "node:zlib";
import { TarFormatError } from "./errors.ts";
import type { LayerStore } from "./layer-store.ts";
import {
  checkLayers,
  DEFAULT_UNPACK_LIMITS,
  type LayerSource,
  normalizeEntryPath,
  type UnpackLimits,
  unpackLayers,
} from "./layer-unpack.ts";
import { readTar } from "./tar.ts";

export type ImageArchiveFormat = "oci" | "docker";

interface Member {
  offset: number;
  size: number;
}

export interface ImageArchive {
  format: ImageArchiveFormat;
  /** Layer blobs, lowest first: where they are in the archive and the digest the layout gives them. */
  layers: Array<{ path: string; digest: string | null; member: Member }>;
  /** What of the image's config a box uses: its environment (Env, "NAME=value" each). */
  config: ImageConfig;
}

/**
 * The part of an image's config a box applies: Env, as the base of the box's
 * environment. Cmd, Entrypoint, User and WorkingDir are not applied (the box's
 * init is Boxyard's, its user is dev, sessions start in the user's home).
 */
export interface ImageConfig {
  env: string[];
}

const ENV_ENTRY = /^[A-Za-z_][A-Za-z0-9_]{0,127}=/;

/** The config's Env, keeping only well-formed NAME=value entries (at most 100, 32 KiB each). */
function configOf(doc: unknown): ImageConfig {
  const env = (doc as { config?: { Env?: unknown } } | null)?.config?.Env;
  if (!Array.isArray(env)) return { env: [] };
  return {
    env: env
      .filter((e): e is string => typeof e === "string" && ENV_ENTRY.test(e) && e.length <= 32 * 1024)
      .slice(0, 100),
  };
}

/** The config blob a manifest names, read for its Env; an archive without one has an empty config. */
async function readConfig(
  path: string,
  members: Map<string, Member>,
  name: string | null,
): Promise<ImageConfig> {
  if (name === null || !members.has(name)) return { env: [] };
  return configOf(await readJson(path, members, name));
}

/** Metadata files (index, manifests, configs) are read into memory; bigger ones are refused. */
const MAX_JSON = 4 * 1024 * 1024;

async function indexMembers(path: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  for await (const e of readTar(createReadStream(path))) {
    if (e.type !== "file") continue;
    let name: string;
    try {
      name = normalizeEntryPath(e.path);
    } catch {
      // The outer archive is only ever read, never unpacked: such a name just cannot be a blob we use.
      continue;
    }
    members.set(name, { offset: e.dataOffset, size: e.size });
  }
  return members;
}

async function readMember(path: string, m: Member, what: string): Promise<Buffer> {
  if (m.size > MAX_JSON) throw new TarFormatError(`${what} is ${m.size} bytes; too large for image metadata`);
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(m.size);
    await fh.read(buf, 0, m.size, m.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

async function readJson(path: string, members: Map<string, Member>, name: string): Promise<unknown> {
  const m = members.get(name);
  if (!m) throw new TarFormatError(`the archive has no ${name}`);
  try {
    return JSON.parse((await readMember(path, m, name)).toString("utf8"));
  } catch (err) {
    if (err instanceof TarFormatError) throw err;
    throw new TarFormatError(`${name} is not valid JSON`);
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

function blobPath(digest: unknown, what: string): string {
  if (typeof digest !== "string" || !DIGEST.test(digest))
    throw new TarFormatError(`${what}: not a sha256 digest (${JSON.stringify(digest)})`);
  return `blobs/sha256/${digest.slice(7)}`;
}

type Descriptor = { mediaType?: string; digest?: string; platform?: { os?: string; architecture?: string } };

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

/** The image manifest an OCI index points to (linux/amd64 when it says, else the first), one level of nesting. */
async function ociManifest(
  path: string,
  members: Map<string, Member>,
): Promise<{ layers: Descriptor[]; config: Descriptor | undefined }> {
  let index = (await readJson(path, members, "index.json")) as { manifests?: Descriptor[] };
  for (let depth = 0; depth < 3; depth++) {
    const manifests = Array.isArray(index.manifests) ? index.manifests : [];
    if (manifests.length === 0) throw new TarFormatError("index.json lists no manifests");
    const pick =
      manifests.find((m) => m.platform?.os === "linux" && m.platform.architecture === "amd64") ??
      manifests[0]!;
    const doc = (await readJson(path, members, blobPath(pick.digest, "index.json manifest"))) as {
      mediaType?: string;
      manifests?: Descriptor[];
      layers?: Descriptor[];
      config?: Descriptor;
    };
    if (INDEX_TYPES.has(pick.mediaType ?? "") || Array.isArray(doc.manifests)) {
      index = doc;
      continue;
    }
    if (!Array.isArray(doc.layers)) throw new TarFormatError("the image manifest lists no layers");
    return { layers: doc.layers, config: doc.config };
  }
  throw new TarFormatError("image indexes nested too deep");
}

/** Finds what the archive holds: its layout and its layers, lowest first. */
export async function readImageArchive(path: string): Promise<ImageArchive> {
  const members = await indexMembers(path);
  const member = (name: string) => {
    const m = members.get(name);
    if (!m) throw new TarFormatError(`the archive has no ${name}, which its manifest names`);
    return m;
  };
  if (members.has("index.json") && members.has("oci-layout")) {
    const { layers, config } = await ociManifest(path, members);
    return {
      format: "oci",
      config: await readConfig(path, members, config ? blobPath(config.digest, "the image config") : null),
      layers: layers.map((l, i) => {
        if (l.mediaType?.includes("zstd"))
          throw new TarFormatError(
            `layer ${i + 1} is zstd-compressed; save the image with gzip or uncompressed layers`,
          );
        const p = blobPath(l.digest, `layer ${i + 1}`);
        return { path: p, digest: l.digest!, member: member(p) };
      }),
    };
  }
  if (members.has("manifest.json")) {
    const manifest = (await readJson(path, members, "manifest.json")) as Array<{
      Layers?: unknown;
      Config?: unknown;
    }>;
    const first = Array.isArray(manifest) ? manifest[0] : undefined;
    if (!first || !Array.isArray(first.Layers))
      throw new TarFormatError("manifest.json lists no image with layers");
    return {
      format: "docker",
      config: await readConfig(
        path,
        members,
        typeof first.Config === "string" ? normalizeEntryPath(first.Config) : null,
      ),
      layers: first.Layers.map((l: unknown, i) => {
        if (typeof l !== "string") throw new TarFormatError(`manifest.json: layer ${i + 1} is not a path`);
        const p = normalizeEntryPath(l);
        const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(p);
        return { path: p, digest: m ? `sha256:${m[1]}` : null, member: member(p) };
      }),
    };
  }
  throw new TarFormatError(
    "not an image archive: expected an OCI image layout (oci-layout, index.json) or a docker save archive (manifest.json)",
  );
}

/** The layer's bytes as stored, checking the digest at the end when there is one. */
async function* rawLayer(path: string, layer: ImageArchive["layers"][number]): AsyncIterable<Buffer> {
  const hash = createHash("sha256");
  const { offset, size } = layer.member;
  if (size > 0) {
    for await (const chunk of createReadStream(path, { start: offset, end: offset + size - 1 })) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  }
  const got = `sha256:${hash.digest("hex")}`;
  if (layer.digest && got !== layer.digest)
    throw new TarFormatError(`${layer.path}: content digest ${got} does not match ${layer.digest}`);
}

async function isGzip(path: string, m: Member): Promise<boolean> {
  if (m.size < 2) return false;
  const head = await readMember(path, { offset: m.offset, size: 2 }, "layer");
  return head[0] === 0x1f && head[1] === 0x8b;
}

function layerSource(path: string, layer: ImageArchive["layers"][number], gzip: boolean): LayerSource {
  return () => {
    const raw = rawLayer(path, layer);
    if (!gzip) return raw;
    const gunzip = createGunzip();
    // The digest check happens as the compressed bytes go by; an error there fails the unpacking.
    (async () => {
      try {
        for await (const chunk of raw)
          if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once("drain", r));
        gunzip.end();
      } catch (err) {
        gunzip.destroy(err as Error);
      }
    })();
    return gunzip;
  };
}

export interface ImportOciOptions extends Partial<UnpackLimits> {
  /** The archive's own digest (sha256 of the whole file), if the caller knows it; checked. */
  digest?: string;
  onLog?: (line: string) => void;
}

/** sha256 of a whole file. */
export async function digestFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

async function ensureBoxDirs(root: string, log: (line: string) => void): Promise<void> {
  // Boxes mount the user's volume on /home/dev and /workspace and run as dev (uid 1000).
  for (const d of ["home", "home/dev", "workspace"]) {
    const abs = join(root, d);
    const st = await lstat(abs).catch(() => null);
    if (st?.isSymbolicLink())
      throw new TarFormatError(`/${d} is a symlink in the image; boxes mount a volume there`);
    if (!st) {
      await mkdir(abs, { mode: 0o755 });
      if (d !== "home") await chown(abs, 1000, 1000);
      log(`added /${d} (the box's volume is mounted there)`);
    }
  }
  const passwd = join(root, "etc/passwd");
  const pst = await lstat(passwd).catch(() => null);
  if (pst?.isFile()) {
    const text = await readFile(passwd, "utf8");
    if (!/^dev:/m.test(text) && !/^[^:]*:[^:]*:1000:/m.test(text)) {
      await writeFile(
        passwd,
        `${text.endsWith("\n") || text === "" ? text : `${text}\n`}dev:x:1000:1000:dev:/home/dev:/bin/sh\n`,
      );
      log("added the box user dev (uid 1000) to /etc/passwd");
    }
  }
}

async function sourcesOf(path: string, archive: ImageArchive): Promise<LayerSource[]> {
  const sources: LayerSource[] = [];
  for (const l of archive.layers) sources.push(layerSource(path, l, await isGzip(path, l.member)));
  return sources;
}

function limitsOf(opts: Partial<UnpackLimits>): UnpackLimits {
  return {
    maxUnpackedBytes: opts.maxUnpackedBytes ?? DEFAULT_UNPACK_LIMITS.maxUnpackedBytes,
    maxEntries: opts.maxEntries ?? DEFAULT_UNPACK_LIMITS.maxEntries,
    allowSetuid: opts.allowSetuid ?? DEFAULT_UNPACK_LIMITS.allowSetuid,
  };
}

/**
 * Reads an uploaded archive the way a node will unpack it and checks every
 * entry of every layer, writing nothing: the control plane refuses a bad
 * image at upload, with the entry's name, rather than at a box's first start.
 */
export async function checkImageArchive(
  path: string,
  opts: Partial<UnpackLimits> = {},
): Promise<ImageArchive> {
  const archive = await readImageArchive(path);
  await checkLayers(await sourcesOf(path, archive), limitsOf(opts));
  return archive;
}

/**
 * Unpacks an image archive into one layer of the store and returns its
 * digest. The same archive (and options) again is a cache hit.
 */
export async function importOciArchive(
  store: LayerStore,
  path: string,
  opts: ImportOciOptions = {},
): Promise<string> {
  const log = opts.onLog ?? (() => {});
  const limits = limitsOf(opts);
  const digest = await digestFile(path);
  if (opts.digest && opts.digest !== digest)
    throw new TarFormatError(`the archive's digest is ${digest}, not ${opts.digest}`);
  const spec = { kind: "oci", version: 1, archive: digest, allowSetuid: limits.allowSetuid };
  const cached = await store.lookupSpec(spec);
  if (cached) {
    log(`cache hit: archive ${digest} was unpacked before as ${cached}`);
    return cached;
  }
  const archive = await readImageArchive(path);
  log(
    `${archive.format === "oci" ? "OCI image layout" : "docker save archive"} with ${archive.layers.length} layer(s)`,
  );
  const sources = await sourcesOf(path, archive);
  const layer = await store.publish(async (dir) => {
    await unpackLayers(dir, sources, limits);
    log("every entry checked; layers unpacked");
    await ensureBoxDirs(dir, log);
  });
  await store.recordSpec(spec, layer);
  log(`unpacked as ${layer}`);
  return layer;
}
