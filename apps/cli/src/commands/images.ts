import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { listImages, type OciImage } from "@boxyard/contract";
import { ApiError, buildPath, ConnectionError } from "@boxyard/sdk";
import type { Command } from "commander";
import { readConfig } from "../config.ts";
import { CliError, connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";

function size(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${Math.ceil(bytes / 1024)} KiB`;
}

/** Streams the archive as the request body; the SDK's JSON calls cannot carry a file. */
export async function uploadArchive(
  url: string,
  org: string,
  file: string,
  allowSetuid: boolean,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OciImage> {
  const token = env.BOXYARD_TOKEN || (await readConfig(env))?.token;
  let length: number;
  try {
    length = (await stat(file)).size;
  } catch (err) {
    throw new CliError(
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
      "check the path",
    );
  }
  const target = new URL(buildPath("/api/v1/orgs/:org/images", { org }), url);
  if (allowSetuid) target.searchParams.set("allowSetuid", "1");
  let res: Response;
  try {
    res = await fetch(target, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/x-tar",
        "content-length": String(length),
      },
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      duplex: "half",
    } as RequestInit);
  } catch (err) {
    throw new ConnectionError(`cannot reach ${url}: ${(err as Error).cause ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let problem: Record<string, unknown> = { title: `HTTP ${res.status}` };
    try {
      problem = JSON.parse(text) as Record<string, unknown>;
    } catch {
      problem.detail = text.slice(0, 200);
    }
    throw new ApiError(res.status, problem);
  }
  return JSON.parse(text) as OciImage;
}

export function registerImageCommands(program: Command): void {
  const images = program.command("images").description("Image archives uploaded to the organisation");
  images
    .command("push")
    .description(
      "Upload an OCI image layout or `docker save` archive; prints its digest for a template's image: {oci: DIGEST}",
    )
    .argument("<archive>", "a .tar written by `docker save` or an OCI image layout in a tar")
    .option("--allow-setuid", "keep setuid/setgid files (refused otherwise)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText(
      "after",
      "\nExample:\n  docker save myimage:latest -o myimage.tar\n  boxyard images push myimage.tar\n",
    )
    .action(async (file: string, opts: { allowSetuid?: boolean; org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const image = await uploadArchive(conn.url, org, file, opts.allowSetuid === true);
      if (opts.json) return printJson(image);
      process.stdout.write(
        `${image.digest}\nUploaded ${size(image.sizeBytes)} (${image.format === "oci" ? "OCI layout" : "docker save"}, ${image.layers} layer(s)) to ${org}.\nUse it in a template:\n  image:\n    oci: "${image.digest}"\n`,
      );
    });
  images
    .command("ls")
    .description("List the organisation's uploaded image archives")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard images ls\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listImages, { params: { org } });
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "digest", value: (i) => i.digest },
          { header: "format", value: (i) => i.format },
          { header: "layers", value: (i) => String(i.layers) },
          { header: "size", value: (i) => size(i.sizeBytes) },
          { header: "by", value: (i) => i.createdBy ?? "-" },
          { header: "uploaded", value: (i) => `${age(i.createdAt)} ago` },
        ])}\n`,
      );
    });
}
