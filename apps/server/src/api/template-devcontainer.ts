// A template whose image is a devcontainer.json (its text, as the CLI or an
// API client sends it) becomes a plain spec on push: the converter in the
// contract package maps what it can, the result is validated like any spec,
// and the version keeps where it came from (the file's path and text, its
// digest, and the warnings) so a reader sees what was not honoured.

import { createHash } from "node:crypto";
import {
  convertDevcontainer,
  DevcontainerError,
  type TemplateSpec as Spec,
  type TemplateSource,
  withDevcontainer,
} from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import type { z } from "zod";

export interface ExpandedSpec {
  spec: Spec;
  source: z.infer<typeof TemplateSource> | null;
}

/** The spec with its devcontainer image converted (validate the result again); a plain spec as it is. */
export function expandDevcontainer(spec: Spec): { spec: unknown; source: ExpandedSpec["source"] } {
  if (!("devcontainer" in spec.image)) return { spec, source: null };
  const { devcontainer: text, file } = spec.image;
  let converted: ReturnType<typeof convertDevcontainer>;
  try {
    converted = convertDevcontainer(text);
  } catch (err) {
    if (!(err instanceof DevcontainerError)) throw err;
    const path = ["spec.image.devcontainer", ...(err.key ? [err.key] : [])].join(".");
    throw new DomainError("validation_failed", {
      detail: `spec.image.devcontainer: devcontainer.json${err.key ? ` ${err.key}` : ""}: ${err.reason}`,
      extensions: { errors: [{ location: "body", path, message: err.reason }] },
    });
  }
  const { image: _image, ...rest } = spec;
  return {
    spec: withDevcontainer(rest, converted),
    source: {
      devcontainer: { file: file ?? null, sha256: createHash("sha256").update(text).digest("hex"), text },
      warnings: converted.warnings,
    },
  };
}
