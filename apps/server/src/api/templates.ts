import { type AuthorizedStore, authorizeOrg } from "@boxyard/authz";
import {
  createTemplate,
  listTemplates,
  listTemplateVersions,
  TemplateSpec,
  type TemplateSpec as Spec,
} from "@boxyard/contract";
import type { ImageSpec } from "@boxyard/agent-protocol";
import { inTx, type TemplateVersionRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { baseDefaults, builtInTemplates, type ResolvedTemplate, resolveTemplate } from "@boxyard/lifecycle";
import { parse as parseYaml } from "yaml";
import { auditFor } from "./audit.ts";
import { poolView } from "./pools.ts";
import { queuePrebuild } from "./prebuilds.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { type ExpandedSpec, expandDevcontainer } from "./template-devcontainer.ts";

/**
 * A spec sent as text is YAML (JSON is YAML too); an object is taken as it
 * is. A devcontainer.json image is converted (template-devcontainer.ts) and
 * the result validated again. Errors name the field.
 */
export function parseTemplateSpec(input: string | Record<string, unknown>): ExpandedSpec {
  let raw: unknown = input;
  if (typeof input === "string") {
    try {
      raw = parseYaml(input, { maxAliasCount: 10 });
    } catch (err) {
      throw new DomainError("validation_failed", {
        detail: `spec: not valid YAML or JSON (${(err as Error).message.split("\n")[0]})`,
      });
    }
  }
  const expanded = expandDevcontainer(validSpec(raw));
  return { spec: validSpec(expanded.spec), source: expanded.source };
}

function validSpec(raw: unknown): Spec {
  const r = TemplateSpec.safeParse(raw);
  if (!r.success) {
    const errors = r.error.issues.map((i) => ({
      location: "body",
      path: ["spec", ...i.path.map(String)].join("."),
      message: i.message,
    }));
    const first = errors[0]!;
    throw new DomainError("validation_failed", {
      detail: `${first.path}: ${first.message}`,
      extensions: { errors },
    });
  }
  return r.data;
}

/**
 * A stored spec as what a box is made from: the base's defaults, overridden
 * by the spec. `imageEnv` is an imported image's config Env ("NAME=value"
 * each): the base of the box's environment, the template's env over it.
 */
export function resolveSpec(
  name: string,
  version: number,
  spec: Spec,
  imageEnv: readonly string[] = [],
): ResolvedTemplate {
  // An imported image gets the small base's defaults: it is the user's own rootfs.
  const base = baseDefaults("base" in spec.image ? spec.image.base : "busybox");
  const env: Record<string, string> = {};
  for (const e of imageEnv) {
    const at = e.indexOf("=");
    // BOXYARD_ names are Boxyard's own (see the template spec's env).
    if (at > 0 && !e.startsWith("BOXYARD_")) env[e.slice(0, at)] = e.slice(at + 1);
  }
  Object.assign(env, spec.env);
  return {
    name,
    version,
    image: imageOfSpec(spec),
    resources: { ...base.resources, ...spec.resources },
    wakeOnConnect: spec.wakeOnConnect ?? base.wakeOnConnect,
    network: spec.network ?? base.network,
    ...secretsAndRepo(spec),
    ...(spec.init?.length ? { init: [...spec.init] } : {}),
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(spec.onStart?.length ? { onStart: [...spec.onStart] } : {}),
  };
}

/** The secret names a box of the spec gets: its list, and the repository's credential. */
function secretsAndRepo(spec: Spec): Pick<ResolvedTemplate, "secrets" | "repo"> {
  const names = [...(spec.secrets ?? [])];
  if (spec.repo?.secret && !names.includes(spec.repo.secret)) names.push(spec.repo.secret);
  return {
    ...(names.length > 0 ? { secrets: names } : {}),
    ...(spec.repo ? { repo: { ...spec.repo } } : {}),
  };
}

/** What a node builds for a spec (the agent protocol's image). */
export function imageOfSpec(spec: Spec): ImageSpec {
  if ("base" in spec.image)
    return spec.image.base === "busybox"
      ? { base: "busybox" }
      : { base: spec.image.base, packages: spec.image.packages ?? [] };
  if ("oci" in spec.image) return { oci: spec.image.oci };
  throw new DomainError("validation_failed", { detail: "spec.image: unsupported image" });
}

/** Whether boxes of a spec start from prebuilds: it has a repository to check out or init commands to run. */
export function wantsPrebuild(spec: Pick<Spec, "repo" | "init">): boolean {
  return spec.repo !== undefined || (spec.init?.length ?? 0) > 0;
}

/**
 * The org's template of that name (given or latest version), else a built-in
 * one. For a new box (`forNewBox`), a version whose image build failed is
 * refused: the box could never start. With `withPrebuild` (new boxes, pool
 * fills) it carries the newest ready prebuild of that version and ref.
 */
export async function resolveOrgTemplate(
  store: AuthorizedStore,
  orgId: string,
  name: string,
  version?: number,
  opts: { forNewBox?: boolean; withPrebuild?: boolean } = {},
): Promise<ResolvedTemplate> {
  const row = await store.getTemplateVersion(orgId, name, version);
  if (row && opts.forNewBox) {
    const build = await store.getTemplateBuild(row.template_id, row.version);
    if (build?.status === "failed")
      throw new DomainError("template_build_failed", {
        detail: `${row.name} version ${row.version}: ${build.error ?? "the image build failed"}; see 'boxyard templates build ${row.name}@${row.version} --logs'`,
      });
  }
  if (row) {
    const spec = row.spec as Spec;
    const image = "oci" in spec.image ? await store.getOciImage(orgId, spec.image.oci) : null;
    const t = resolveSpec(row.name, row.version, spec, image?.env ?? []);
    if (opts.withPrebuild && wantsPrebuild(spec)) {
      const pb = await store.latestReadyPrebuild(orgId, {
        templateId: row.template_id,
        version: row.version,
        ref: t.repo?.ref ?? null,
      });
      if (pb?.layer) t.prebuild = { id: pb.id, layer: pb.layer, commit: pb.commit_id };
    }
    return t;
  }
  const own = await store.getTemplateVersion(orgId, name);
  if (own) throw new DomainError("template_not_found", { detail: `${name} version ${version}` });
  return resolveTemplate(name, version);
}

function versionView(v: TemplateVersionRow) {
  return {
    name: v.name,
    version: v.version,
    spec: v.spec as Spec,
    createdBy: v.created_by_username,
    createdAt: v.created_at.toISOString(),
    buildStatus: v.build_status,
    source: v.source as ExpandedSpec["source"],
  };
}

export function registerTemplateRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(createTemplate, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "write");
    const { spec, source } = parseTemplateSpec(ctx.body.spec);
    const store = storeFor(deps, ctx.actor, ctx.signal);
    if ("oci" in spec.image && !(await store.getOciImage(access.orgId, spec.image.oci)))
      throw new DomainError("validation_failed", {
        detail: `spec.image.oci: no image ${spec.image.oci} was uploaded to ${ctx.params.org}; upload it with 'boxyard images push FILE'`,
        extensions: {
          errors: [{ location: "body", path: "spec.image.oci", message: "no such image in this org" }],
        },
      });
    const row = await inTx(deps.pool, async (tx) => {
      const v = await store.on(tx).addTemplateVersion({
        id: deps.ids.newId("tpl"),
        orgId: access.orgId,
        name: ctx.body.name,
        spec,
        ...(source ? { source } : {}),
        userId: ctx.actor.user.id,
      });
      // A node builds the version's image now, rather than the first box waiting for it.
      await store.on(tx).insertTemplateBuild({
        id: deps.ids.newId("bld"),
        templateId: v.template_id,
        version: v.version,
        image: imageOfSpec(spec),
      });
      // And prepares what boxes of it start from: the checkout and the init commands, run once.
      if (wantsPrebuild(spec))
        await queuePrebuild(store, tx, deps.ids, access.orgId, v, {
          trigger: "push",
          userId: ctx.actor.user.id,
        });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "template.version.create",
        target: { kind: "template", id: v.template_id, name: v.name },
        result: "success",
        details: { version: v.version },
        at: deps.clock.now(),
      });
      return v;
    });
    return { ...versionView(row), buildStatus: "queued" as const, warnings: source?.warnings ?? [] };
  });

  r.add(listTemplates, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const own = (await storeFor(deps, ctx.actor, ctx.signal).listLatestTemplates(access.orgId)).map((v) => ({
      ...versionView(v),
      builtIn: false,
    }));
    const taken = new Set(own.map((t) => t.name));
    const builtIn = builtInTemplates()
      .filter((t) => !taken.has(t.name))
      .map((t) => ({
        name: t.name,
        version: t.version,
        spec: {
          image: t.image as Spec["image"],
          resources: t.resources,
          wakeOnConnect: t.wakeOnConnect,
          network: t.network,
        } as Spec,
        createdBy: null,
        createdAt: new Date(0).toISOString(),
        builtIn: true,
      }));
    // Each template's warm pool, when it has one (pools.ts).
    const pools = new Map(
      (await storeFor(deps, ctx.actor, ctx.signal).listPoolStatus(access.orgId)).map((p) => [
        p.template,
        poolView(p),
      ]),
    );
    return {
      items: [...own, ...builtIn]
        .map((t) => ({ ...t, pool: pools.get(t.name) ?? null }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    };
  });

  r.add(listTemplateVersions, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listTemplateVersions(
      access.orgId,
      ctx.params.name,
    );
    if (rows.length === 0) throw new DomainError("template_not_found", { detail: ctx.params.name });
    return { items: rows.map(versionView) };
  });
}
