// Templates: an org's named, versioned box recipes (contract.md "Template
// spec"). A spec is accepted as JSON or YAML; every POST of an existing name
// adds an immutable version. Fields this server cannot honour yet are refused
// with the path and the reason, never silently ignored.

import { SecretName } from "@boxyard/agent-protocol";
import { z } from "zod";
import { Name, Timestamp } from "./common.ts";
import { WarmPool } from "./pools.ts";
import { defineRoute } from "./route.ts";

const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]{0,99}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const NOT_YET: Record<string, string> = {
  idle: "idle auto-pause/stop is not available yet",
  maxLifetimeHours: "box lifetimes are not available yet",
};

export const TemplateImage = z.union([
  z.strictObject({
    base: z.enum(["busybox", "debian-bookworm"], { error: "must be busybox or debian-bookworm" }),
    packages: z.array(z.string().regex(DEBIAN_PACKAGE, "must be a Debian package name")).max(200).optional(),
  }),
  /** An image archive uploaded to the org (`boxyard images push`), by its digest. */
  z.strictObject({
    oci: z
      .string()
      .regex(
        /^sha256:[0-9a-f]{64}$/,
        "must be the sha256:... digest of an image archive uploaded to the org ('boxyard images push FILE' prints it)",
      ),
  }),
  /**
   * A devcontainer.json's text (JSONC), converted on push into the template's
   * image, init, onStart, env and ports (devcontainer.ts); `file` is where it
   * was read from, kept with the version. `boxyard templates push` reads the
   * file that contract.md's `devcontainer: path/to/devcontainer.json` names.
   */
  z.strictObject({
    devcontainer: z
      .string()
      .max(64 * 1024)
      .refine(
        (t) => /^\s*(?:\/[/*]|\{)/.test(t),
        "must be the text of a devcontainer.json (`boxyard templates push` reads the file it names)",
      ),
    file: z.string().max(1024).optional(),
  }),
]);

/** A port the template declares: listed for every box made from it (private until shared). */
export const TemplatePort = z.strictObject({
  port: z.int("must be a port number").min(1, "must be 1-65535").max(65535, "must be 1-65535"),
  name: z
    .string()
    .regex(
      /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/,
      "must be lower-case letters, digits and dashes, e.g. web",
    )
    .optional(),
});

/** http(s) only, without credentials in it (a private repository names a secret instead). */
const RepoUrl = z
  .string()
  .max(2048)
  .refine((u) => {
    try {
      const url = new URL(u);
      return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, "must be an http:// or https:// URL")
  .refine((u) => {
    try {
      const url = new URL(u);
      return url.username === "" && url.password === "";
    } catch {
      return true;
    }
  }, "must not contain a user name or password; name a secret in repo.secret instead");

export const TemplateRepo = z.strictObject({
  url: RepoUrl,
  /** A branch, tag or full commit id; absent: the repository's default branch. */
  ref: z
    .string()
    .regex(/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,255}$/, "must be a branch, tag or commit id")
    .optional(),
  /** A secret the box gets, sent as the HTTP password (user x-access-token); never written to .git/config. */
  secret: SecretName.optional(),
});

export const TemplateSpec = z
  .strictObject({
    image: TemplateImage,
    resources: z
      .strictObject({
        cpu: z.number().min(0.25).max(64).optional(),
        memoryMiB: z.int().min(128).max(262_144).optional(),
        diskGiB: z.int().min(1).max(2048).optional(),
        gpus: z.int().min(0).max(0, "GPUs are not available on this server").optional(),
      })
      .optional(),
    runtime: z.literal("gvisor", { error: "only gvisor is available on this server" }).optional(),
    persistent: z.boolean().optional(),
    network: z
      .strictObject({
        egress: z.union([
          z.literal("deny-all"),
          z.literal("allow-all"),
          z.strictObject({
            allow: z
              .array(
                z
                  .string()
                  .regex(/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/, 'must be "host:port", e.g. deb.debian.org:443'),
              )
              .max(100),
          }),
        ]),
      })
      .optional(),
    /** What connecting to a box that is not running does: resume a paused one, or also boot a stopped one. */
    wakeOnConnect: z.enum(["paused", "stopped"]).optional(),
    /** Cloned into /workspace (owned by the box user) at the box's first start, inside the box. */
    repo: TemplateRepo.optional(),
    /**
     * Shell commands run once per prebuild (template version and repository
     * commit), in order, as the box user in /workspace; the result is a layer
     * every box from that prebuild starts with. One failing fails the prebuild.
     */
    init: z.array(z.string().min(1, "must not be empty").max(8192)).max(50).optional(),
    /**
     * Secrets the box gets while it runs, as files in /run/boxyard/secrets/NAME
     * and as environment variables NAME of its sessions and commands. A new
     * value reaches a running box without a restart.
     */
    secrets: z
      .array(SecretName)
      .max(100)
      .refine((a) => new Set(a).size === a.length, "must not repeat a name")
      .optional(),
    /**
     * Environment variables of every command and session in the box (exec,
     * SSH, terminal, init, onStart). Not for secrets: those are `secrets`.
     */
    env: z
      .record(
        // Names are checked in superRefine below, so an error names the variable.
        z.string(),
        z.string().max(32 * 1024),
      )
      .refine((e) => Object.keys(e).length <= 100, "must have at most 100 variables")
      .optional(),
    /**
     * Shell commands run in order as the box user in /workspace, in the
     * background, each time the box's sandbox boots (not on resume), after
     * its secrets and checkout; output in ~/.boxyard/on-start.log. The first
     * that fails ends the run and shows in the box's notice.
     */
    onStart: z.array(z.string().min(1, "must not be empty").max(8192)).max(20).optional(),
    /** Ports the box's port list shows from the start, with their names and previews (private until shared). */
    ports: z
      .array(TemplatePort)
      .max(50)
      .refine((a) => new Set(a.map((p) => p.port)).size === a.length, "must not repeat a port")
      .refine(
        (a) => {
          const names = a.flatMap((p) => (p.name ? [p.name] : []));
          return new Set(names).size === names.length;
        },
        { message: "must not repeat a name" },
      )
      .optional(),
    idle: z.unknown().optional(),
    maxLifetimeHours: z.unknown().optional(),
  })
  .superRefine((spec, ctx) => {
    for (const name of Object.keys(spec.env ?? {})) {
      if (!ENV_NAME.test(name))
        ctx.addIssue({
          code: "custom",
          path: ["env", name],
          message: "must be an environment variable name",
        });
      else if (name.startsWith("BOXYARD_"))
        ctx.addIssue({
          code: "custom",
          path: ["env", name],
          message: "names starting BOXYARD_ are reserved",
        });
    }
    for (const name of spec.secrets ?? [])
      if (spec.env && Object.hasOwn(spec.env, name))
        ctx.addIssue({
          code: "custom",
          path: ["env", name],
          message: `${name} is also a secret (its value reaches the box's environment from there); remove one`,
        });
    for (const [key, why] of Object.entries(NOT_YET))
      if ((spec as Record<string, unknown>)[key] !== undefined)
        ctx.addIssue({ code: "custom", path: [key], message: `${why}; remove it` });
  })
  .meta({ id: "TemplateSpec" });
export type TemplateSpec = z.infer<typeof TemplateSpec>;

/** Something in a devcontainer.json the template could not honour, by its key there. */
export const TemplateWarning = z
  .object({ key: z.string(), message: z.string() })
  .meta({ id: "TemplateWarning" });

/** Where a version's spec came from, when it was converted (a devcontainer.json). */
export const TemplateSource = z
  .object({
    devcontainer: z.object({
      /** The path the template named (as written there); null when the API was sent the text alone. */
      file: z.string().nullable(),
      sha256: z.string(),
      text: z.string(),
    }),
    warnings: z.array(TemplateWarning),
  })
  .meta({ id: "TemplateSource" });

export const TemplateVersion = z
  .object({
    name: Name,
    version: z.int(),
    spec: TemplateSpec,
    createdBy: z.string().nullable(),
    createdAt: Timestamp,
    /** The version's image build (GET .../versions/{version}/build has the details); absent for built-ins. */
    buildStatus: z.enum(["queued", "building", "ready", "failed"]).nullable().optional(),
    /** The devcontainer.json the spec was converted from, and what it could not honour. */
    source: TemplateSource.nullable().optional(),
  })
  .meta({ id: "TemplateVersion" });

const OrgParams = z.strictObject({ org: Name });

export const createTemplate = defineRoute({
  operationId: "createTemplate",
  method: "POST",
  path: "/api/v1/orgs/:org/templates",
  summary:
    "Add a template, or a new version of one: {name, spec} with spec as an object or as JSON/YAML text (org owners and admins); an image {devcontainer: TEXT} is converted, and what it cannot honour comes back in warnings",
  tags: ["templates"],
  auth: "token",
  params: OrgParams,
  body: z.strictObject({
    name: Name,
    spec: z.union([z.string().max(64 * 1024), z.record(z.string(), z.unknown())]),
  }),
  successStatus: 201,
  /** warnings: what the devcontainer.json asked for that the template does not do (empty otherwise). */
  response: TemplateVersion.extend({ warnings: z.array(TemplateWarning) }),
  errors: ["org_not_found", "forbidden"],
});

export const listTemplates = defineRoute({
  operationId: "listTemplates",
  method: "GET",
  path: "/api/v1/orgs/:org/templates",
  summary: "The org's templates at their latest version, and the built-in ones",
  tags: ["templates"],
  auth: "token",
  params: OrgParams,
  successStatus: 200,
  response: z.object({
    items: z.array(TemplateVersion.extend({ builtIn: z.boolean(), pool: WarmPool.nullable().optional() })),
  }),
  errors: ["org_not_found"],
});

export const listTemplateVersions = defineRoute({
  operationId: "listTemplateVersions",
  method: "GET",
  path: "/api/v1/orgs/:org/templates/:name/versions",
  summary: "Every version of one of the org's templates, newest first",
  tags: ["templates"],
  auth: "token",
  params: z.strictObject({ org: Name, name: Name }),
  successStatus: 200,
  response: z.object({ items: z.array(TemplateVersion) }),
  errors: ["org_not_found", "template_not_found"],
});
