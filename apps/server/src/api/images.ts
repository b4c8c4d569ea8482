// Uploaded image archives (issue 7). The body streams to a temporary file
// under DATA_DIR/images (hashed and counted as it comes, cut off at the size
// limit), is checked entry by entry the way a node will unpack it, and is
// then renamed to its content address, DATA_DIR/images/oci/sha256-HEX.tar.
// Nodes in this process read it there; nodes elsewhere download it through
// the agent route with their node token.

import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { authorizeOrg } from "@boxyard/authz";
import { agentImageArchive, listImages, type OciImage, uploadImage } from "@boxyard/contract";
import { inTx, type OciImageRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { checkImageArchive, ImageError } from "@boxyard/images";
import type { FastifyInstance } from "fastify";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

export interface ImageStoreOptions {
  dataDir: string;
  /** Largest archive accepted. */
  maxBytes: number;
  /** Largest content an archive may unpack to. */
  maxUnpackedBytes: number;
}

/** Where the control plane keeps an uploaded archive, and what nodes must know to unpack it. */
export function ociArchivePath(dataDir: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`not an image digest: ${digest}`);
  return join(dataDir, "images", "oci", `sha256-${digest.slice(7)}.tar`);
}

/** Whether nodes keep setuid bits when unpacking the archive (the sidecar the upload wrote). */
export async function ociArchiveAllowsSetuid(dataDir: string, digest: string): Promise<boolean> {
  try {
    const meta = JSON.parse(
      await readFile(ociArchivePath(dataDir, digest).replace(/\.tar$/, ".json"), "utf8"),
    );
    return meta.allowSetuid === true;
  } catch {
    return false;
  }
}

function view(r: OciImageRow): OciImage {
  return {
    digest: r.digest,
    sizeBytes: Number(r.size_bytes),
    format: r.format,
    layers: r.layers,
    allowSetuid: r.allow_setuid,
    env: r.env,
    createdBy: r.created_by_username,
    createdAt: r.created_at.toISOString(),
  };
}

/** Lets the upload route read its body as a stream: no parsing, no buffering. */
export function acceptImageBodies(app: FastifyInstance): void {
  for (const type of ["application/x-tar", "application/octet-stream"])
    app.addContentTypeParser(type, (_req, _payload, done) => done(null, undefined));
}

function mapImageError(err: unknown): unknown {
  if (!(err instanceof ImageError)) return err;
  switch (err.code) {
    case "unsafe_entry":
      return new DomainError("image_unsafe", { detail: err.message });
    case "image_too_large":
      return new DomainError("image_too_large", { detail: err.message });
    default:
      return new DomainError("image_invalid", { detail: err.message });
  }
}

export function registerImageRoutes(
  r: RouteRegistrar,
  o: ImageStoreOptions & {
    authorizeNode: (nodeId: string, headers: Record<string, unknown>) => Promise<void>;
  },
): void {
  const { deps } = r;

  r.add(uploadImage, async (ctx, reply) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "write");
    const req = reply.request.raw;
    const declared = Number(ctx.headers["content-length"] ?? Number.NaN);
    if (declared > o.maxBytes)
      throw new DomainError("payload_too_large", {
        detail: `the archive is ${declared} bytes; this server takes at most ${o.maxBytes} (--image-max-bytes)`,
        headers: { connection: "close" },
      });
    const allowSetuid = ctx.query.allowSetuid === "1" || ctx.query.allowSetuid === "true";
    const dir = join(o.dataDir, "images");
    await mkdir(join(dir, "oci"), { recursive: true, mode: 0o700 });
    await mkdir(join(dir, "uploads"), { recursive: true, mode: 0o700 });
    const tmp = join(dir, "uploads", `upload-${randomBytes(8).toString("hex")}.tar`);
    try {
      const hash = createHash("sha256");
      let size = 0;
      await new Promise<void>((resolve, reject) => {
        const out = createWriteStream(tmp, { mode: 0o600 });
        out.on("error", reject);
        req.on("error", reject);
        req.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > o.maxBytes) {
            // Stop reading; the 413 goes out and the connection is closed behind it.
            req.removeAllListeners("data");
            req.pause();
            out.destroy();
            reject(
              new DomainError("payload_too_large", {
                detail: `the archive is over ${o.maxBytes} bytes, the most this server takes (--image-max-bytes)`,
                headers: { connection: "close" },
              }),
            );
            return;
          }
          hash.update(chunk);
          if (!out.write(chunk)) {
            req.pause();
            out.once("drain", () => req.resume());
          }
        });
        req.on("end", () => out.end(() => resolve()));
      });
      if (size === 0)
        throw new DomainError("image_invalid", { detail: "the request has no body; send the archive" });
      const digest = `sha256:${hash.digest("hex")}`;
      const archive = await checkImageArchive(tmp, {
        allowSetuid,
        maxUnpackedBytes: o.maxUnpackedBytes,
      }).catch((err) => {
        throw mapImageError(err);
      });
      const final = ociArchivePath(o.dataDir, digest);
      const sidecar = final.replace(/\.tar$/, ".json");
      const before = await ociArchiveAllowsSetuid(o.dataDir, digest);
      await writeFile(
        `${sidecar}.tmp`,
        JSON.stringify({ format: archive.format, allowSetuid: before || allowSetuid }),
      );
      await rename(`${sidecar}.tmp`, sidecar);
      await rename(tmp, final);
      const row = await inTx(deps.pool, async (tx) => {
        const row = await storeFor(deps, ctx.actor, ctx.signal).on(tx).insertOciImage({
          orgId: access.orgId,
          digest,
          sizeBytes: size,
          format: archive.format,
          layers: archive.layers.length,
          allowSetuid,
          env: archive.config.env,
          userId: ctx.actor.user.id,
        });
        await auditFor(tx, ctx, {
          orgId: access.orgId,
          action: "image.upload",
          target: { kind: "image", id: digest, name: digest },
          result: "success",
          details: { sizeBytes: size, format: archive.format, allowSetuid },
          at: deps.clock.now(),
        });
        return row;
      });
      return view(row);
    } finally {
      await rm(tmp, { force: true });
    }
  });

  r.add(listImages, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    return { items: (await storeFor(deps, ctx.actor, ctx.signal).listOciImages(access.orgId)).map(view) };
  });

  r.add(agentImageArchive, async (ctx, reply) => {
    await o.authorizeNode(ctx.params.node, ctx.headers);
    const path = ociArchivePath(o.dataDir, ctx.params.digest);
    const st = await stat(path).catch(() => null);
    if (!st) throw new DomainError("image_not_found", { detail: ctx.params.digest });
    const allow = await ociArchiveAllowsSetuid(o.dataDir, ctx.params.digest);
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "application/x-tar",
      "content-length": String(st.size),
      "x-boxyard-allow-setuid": String(allow),
      "x-request-id": ctx.requestId,
    });
    await pipeline(createReadStream(path), reply.raw).catch((err) =>
      deps.logger.warn({ err, digest: ctx.params.digest }, "image download cut short"),
    );
    return "";
  });
}
