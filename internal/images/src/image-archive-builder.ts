// Builds image archives in memory in the two layouts the importer reads: an
// OCI image layout (as `skopeo copy oci-archive:` or `docker save` since
// Docker 25 write it) and Docker's classic `docker save` layout. Tests use
// it to make archives from layer tars they write themselves.

import { gzipSync } from "node:zlib";
import { sha256, writeTar } from "./tar-writer.ts";

export interface BuiltImageArchive {
  archive: Buffer;
  /** sha256 of the whole archive, as the control plane names it. */
  digest: string;
}

export function buildImageArchive(o: {
  format: "oci" | "docker";
  /** Uncompressed layer tars, lowest first. */
  layers: Buffer[];
  /** OCI only: store layers gzip-compressed. */
  gzip?: boolean;
  /** Replace a layer's recorded digest (tests of digest checks). */
  wrongDigest?: boolean;
  /** The image config's Env ("NAME=value" each). */
  env?: string[];
}): BuiltImageArchive {
  const config = Buffer.from(
    JSON.stringify({
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["/bin/sh"], ...(o.env ? { Env: o.env } : {}) },
      rootfs: { type: "layers", diff_ids: o.layers.map((l) => sha256(l)) },
    }),
  );
  let archive: Buffer;
  if (o.format === "oci") {
    const blobs = o.layers.map((l) => (o.gzip ? gzipSync(l) : l));
    const layerType = `application/vnd.oci.image.layer.v1.tar${o.gzip ? "+gzip" : ""}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: sha256(config),
          size: config.length,
        },
        layers: blobs.map((b, i) => ({
          mediaType: layerType,
          digest: o.wrongDigest && i === 0 ? sha256("something else") : sha256(b),
          size: b.length,
        })),
      }),
    );
    const index = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: sha256(manifest),
          size: manifest.length,
          platform: { os: "linux", architecture: "amd64" },
        },
      ],
    };
    const blob = (b: Buffer) => ({ path: `blobs/sha256/${sha256(b).slice(7)}`, content: b });
    // A layer stored under a name (and recorded with a digest) its content does not hash to.
    const layerBlob = (b: Buffer, i: number) =>
      o.wrongDigest && i === 0
        ? { path: `blobs/sha256/${sha256("something else").slice(7)}`, content: b }
        : blob(b);
    archive = writeTar([
      { path: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      { path: "index.json", content: JSON.stringify(index) },
      { path: "blobs/", type: "dir" },
      { path: "blobs/sha256/", type: "dir" },
      blob(manifest),
      blob(config),
      ...blobs.map(layerBlob),
    ]);
  } else {
    const ids = o.layers.map((l) => sha256(l).slice(7));
    const configName = `${sha256(config).slice(7)}.json`;
    archive = writeTar([
      { path: configName, content: config },
      ...o.layers.flatMap((l, i) => [
        { path: `${ids[i]}/`, type: "dir" as const },
        { path: `${ids[i]}/VERSION`, content: "1.0" },
        { path: `${ids[i]}/layer.tar`, content: l },
      ]),
      {
        path: "manifest.json",
        content: JSON.stringify([
          { Config: configName, RepoTags: ["test/image:latest"], Layers: ids.map((id) => `${id}/layer.tar`) },
        ]),
      },
    ]);
  }
  return { archive, digest: sha256(archive) };
}
