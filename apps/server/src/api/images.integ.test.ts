// Image archive uploads (issue 7): an OCI layout and a docker save archive
// are accepted, stored by their sha256 and listed; a malicious one (C5 path
// traversal, link escape, device node, setuid without the allow flag) is
// refused at upload with the entry named and leaves nothing behind (no file,
// no row); archives over --image-max-bytes get 413; a template names an
// uploaded image by digest (another org's or an unknown digest is refused)
// and its build runs; its boxes get the image config's Env under the
// template's env; nodes download archives only with their token.

import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ImageUnavailableError } from "@boxyard/agent";
import { HttpControlPlaneLink } from "@boxyard/agent-protocol";
import { buildImageArchive, writeTar } from "@boxyard/images";
import { waitFor } from "@boxyard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadingArchiveSource } from "../node-runtime.ts";
import { type BoxTestApi, startBoxTestApi } from "./box-test-api.ts";

let api: BoxTestApi;
let owner: string;
let dataDir: string;
const org = "/api/v1/orgs/acme";
const MAX = 256 * 1024;

const lower = writeTar([
  { path: "bin/", type: "dir" },
  { path: "bin/sh", content: "#!\n", mode: 0o755 },
  { path: "etc/", type: "dir" },
  { path: "etc/motd", content: "hi\n" },
]);
const upper = writeTar([{ path: "etc/.wh.motd" }, { path: "etc/issue", content: "boxyard\n" }]);

async function upload(
  body: Buffer | ReadableStream,
  opts: { token?: string; query?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${api.url}${org}/images${opts.query ?? ""}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${opts.token ?? owner}`,
      "content-type": "application/x-tar",
      ...opts.headers,
    },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function stored(): Promise<string[]> {
  const list = async (d: string) => readdir(join(dataDir, "images", d)).catch(() => [] as string[]);
  return [...(await list("oci")), ...(await list("uploads")).map((n) => `uploads/${n}`)].sort();
}

beforeAll(async () => {
  api = await startBoxTestApi({ env: { BOXYARD_IMAGE_MAX_BYTES: String(MAX) } });
  dataDir = dirname(api.server.adminTokenPath);
  owner = await api.createUser("olive");
  await api.call("POST", "/api/v1/orgs", { token: owner, body: { name: "acme" } });
});
afterAll(async () => api?.close());

describe("image uploads", () => {
  it("store an OCI layout and a docker save archive by digest, and list them", async () => {
    const oci = buildImageArchive({ format: "oci", layers: [lower, upper], gzip: true });
    const res = await upload(oci.archive);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({
      digest: oci.digest,
      sizeBytes: oci.archive.length,
      format: "oci",
      layers: 2,
      allowSetuid: false,
      createdBy: "olive",
    });
    const docker = buildImageArchive({ format: "docker", layers: [lower] });
    expect((await upload(docker.archive)).body).toMatchObject({
      digest: docker.digest,
      format: "docker",
      layers: 1,
    });
    // The same bytes again: the same image.
    expect((await upload(oci.archive)).status).toBe(201);
    const list = await api.call("GET", `${org}/images`, { token: owner });
    expect(list.body.items.map((i: { digest: string }) => i.digest).sort()).toEqual(
      [oci.digest, docker.digest].sort(),
    );
    expect(await stored()).toEqual(
      [
        `sha256-${oci.digest.slice(7)}.json`,
        `sha256-${oci.digest.slice(7)}.tar`,
        `sha256-${docker.digest.slice(7)}.json`,
        `sha256-${docker.digest.slice(7)}.tar`,
      ].sort(),
    );
  });

  const malicious: Array<[string, Buffer, number, string, RegExp]> = [
    [
      "a ../ path",
      writeTar([{ path: "../../../etc/cron.d/x", content: "x" }]),
      422,
      "image_unsafe",
      /path climbs out/,
    ],
    [
      "a write through an absolute symlink",
      writeTar([
        { path: "etc", type: "symlink", linkname: "/etc" },
        { path: "etc/shadow", content: "x" },
      ]),
      422,
      "image_unsafe",
      /"etc\/shadow": goes through the symlink etc/,
    ],
    [
      "a device node",
      writeTar([{ path: "dev/kmem", type: "char", devmajor: 1, devminor: 2 }]),
      422,
      "image_unsafe",
      /"dev\/kmem": device node/,
    ],
    [
      "a setuid binary",
      writeTar([{ path: "bin/su", content: "x", mode: 0o4755 }]),
      422,
      "image_unsafe",
      /"bin\/su": has the setuid bit/,
    ],
  ];
  for (const [what, layer, status, code, detail] of malicious) {
    it(`refuse an archive with ${what}, naming the entry, and keep nothing`, async () => {
      const before = await stored();
      const rows = await api.server.pool.query("SELECT count(*)::int AS n FROM oci_images");
      const { archive } = buildImageArchive({ format: "oci", layers: [lower, layer], gzip: true });
      const res = await upload(archive);
      expect(res.status).toBe(status);
      expect(res.body.code).toBe(code);
      expect(res.body.detail).toMatch(detail);
      expect(await stored()).toEqual(before);
      expect((await api.server.pool.query("SELECT count(*)::int AS n FROM oci_images")).rows[0].n).toBe(
        rows.rows[0].n,
      );
    });
  }

  it("keep setuid bits only when the upload allows them", async () => {
    const { archive, digest } = buildImageArchive({
      format: "docker",
      layers: [writeTar([{ path: "bin/su", content: "x", mode: 0o4755 }])],
    });
    const res = await upload(archive, { query: "?allowSetuid=1" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ digest, allowSetuid: true });
  });

  it("refuse what is not an image archive, and archives over the size limit", async () => {
    const notTar = await upload(Buffer.from("hello".repeat(300)));
    expect(notTar).toMatchObject({ status: 400, body: { code: "image_invalid" } });
    const plain = await upload(writeTar([{ path: "hello", content: "x" }]));
    expect(plain.body.detail).toContain("not an image archive");
    const before = await stored();
    const big = buildImageArchive({
      format: "docker",
      layers: [writeTar([{ path: "big", content: Buffer.alloc(MAX) }])],
    });
    // Known from Content-Length: refused before reading.
    const declared = await upload(big.archive);
    expect(declared.status).toBe(413);
    expect(declared.body.detail).toContain(`at most ${MAX}`);
    // Streamed without a length: cut off at the limit (the server may close the connection behind its 413).
    const chunks = [big.archive.subarray(0, MAX / 2), big.archive.subarray(MAX / 2)];
    const stream = new ReadableStream({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    const streamed = await upload(stream).catch((err: Error) => ({
      status: 0,
      body: { error: err.message },
    }));
    expect([0, 413]).toContain(streamed.status);
    expect(await stored()).toEqual(before);
  });

  it("let a template name an uploaded image by digest, and build it", async () => {
    const { digest } = buildImageArchive({ format: "oci", layers: [lower, upper], gzip: true });
    const v = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "mine", spec: { image: { oci: digest } } },
    });
    expect(v.status, JSON.stringify(v.body)).toBe(201);
    await waitFor(
      async () =>
        (await api.call("GET", `${org}/templates/mine/versions/1/build`, { token: owner })).body.status ===
        "ready",
      { message: "the build of the imported image" },
    );
    const unknown = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "nope", spec: { image: { oci: `sha256:${"1".repeat(64)}` } } },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.detail).toContain("spec.image.oci: no image");
    // Another org cannot name acme's upload.
    const other = await api.createUser("mallory");
    await api.call("POST", "/api/v1/orgs", { token: other, body: { name: "evil" } });
    const stolen = await api.call("POST", "/api/v1/orgs/evil/templates", {
      token: other,
      body: { name: "stolen", spec: { image: { oci: digest } } },
    });
    expect(stolen.status).toBe(400);
    expect((await api.call("GET", `${org}/images`, { token: other })).status).toBe(404);
    const bad = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: { name: "bad", spec: { image: { oci: "img.tar" } } },
    });
    expect(bad.body.detail).toContain("spec.image.oci: must be the sha256:");
  });

  it("give boxes the image config's Env as the base of their environment, the template's env over it", async () => {
    const img = buildImageArchive({
      format: "docker",
      layers: [lower],
      env: [
        "PATH=/opt/tool/bin:/usr/bin:/bin",
        "LANG=C.UTF-8",
        "TOOL_HOME=/opt/tool",
        "BOXYARD_NO_SECRETS_ENV=1",
      ],
    });
    const uploaded = await upload(img.archive);
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.env).toEqual([
      "PATH=/opt/tool/bin:/usr/bin:/bin",
      "LANG=C.UTF-8",
      "TOOL_HOME=/opt/tool",
      "BOXYARD_NO_SECRETS_ENV=1",
    ]);
    const v = await api.call("POST", `${org}/templates`, {
      token: owner,
      body: {
        name: "envimg",
        spec: {
          image: { oci: img.digest },
          env: { LANG: "en_GB.UTF-8", EDITOR: "vi" },
          onStart: ["make run"],
        },
      },
    });
    expect(v.status, JSON.stringify(v.body)).toBe(201);
    const created = await api.call("POST", `${org}/boxes`, {
      token: owner,
      body: { name: "envbox", template: "envimg" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(202);
    const { rows } = await api.server.pool.query("SELECT env, on_start FROM boxes WHERE name = 'envbox'");
    expect(rows).toEqual([
      {
        env: {
          PATH: "/opt/tool/bin:/usr/bin:/bin",
          LANG: "en_GB.UTF-8",
          TOOL_HOME: "/opt/tool",
          EDITOR: "vi",
        },
        on_start: ["make run"],
      },
    ]);
  });

  it("serve archives to nodes in other processes with their node token only", async () => {
    const { archive, digest } = buildImageArchive({ format: "docker", layers: [lower] });
    const anon = await fetch(`${api.url}/api/v1/agent/nodes/node_zzzzzzzzzzzzzzzzzzzz/images/${digest}`);
    expect(anon.status).toBe(401);
    // A node agent elsewhere (role agent) downloads the archive once, checked against its digest.
    const link = new HttpControlPlaneLink({ baseUrl: api.url, registrationToken: api.adminToken });
    const { nodeId } = await link.register({
      name: "downloader",
      runtime: "fake",
      capacity: { cpu: 1, memoryMiB: 1, diskGiB: 1, gpus: 0 },
      agentVersion: "test",
    });
    const forged = await fetch(`${api.url}/api/v1/agent/nodes/${nodeId}/images/${digest}`, {
      headers: { "x-boxyard-node-token": "byn_forged" },
    });
    expect(forged.status).toBe(401);
    const cache = join(dataDir, "node-archives");
    const source = downloadingArchiveSource(link, cache);
    const log: string[] = [];
    const got = await source.fetch(digest, (l) => log.push(l));
    expect(got.allowSetuid).toBe(false);
    expect((await readFile(got.path)).equals(archive)).toBe(true);
    expect(log).toEqual([`downloaded ${archive.length} bytes from the control plane`]);
    const again: string[] = [];
    expect((await source.fetch(digest, (l) => again.push(l))).path).toBe(got.path);
    expect(again).toEqual([]);
    const missing = await source.fetch(`sha256:${"3".repeat(64)}`, () => {}).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageUnavailableError);
    expect((await readdir(cache)).filter((n) => n.endsWith(".part"))).toEqual([]);
  });
});
