// Prebuilds as users see them: queue one (a template push does it too, see
// templates.ts), list a template's, read one, and its log (text from an
// offset, or followed as Server-Sent Events until it ends). The prebuild
// itself runs on a node's agent (internal/agent prebuild-runner.ts).

import { type AuthorizedStore, authorizeOrg } from "@boxyard/authz";
import type { PrebuildJob } from "@boxyard/agent-protocol";
import {
  createPrebuild,
  getPrebuild,
  getPrebuildLogs,
  listPrebuilds,
  type Prebuild,
} from "@boxyard/contract";
import { inTx, type PrebuildRow, type TemplateVersionRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { ResolvedTemplate } from "@boxyard/lifecycle";
import type pg from "pg";
import { auditFor } from "./audit.ts";
import { streamJobLog } from "./job-log-stream.ts";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { resolveSpec, wantsPrebuild } from "./templates.ts";
import type { TemplateSpec } from "@boxyard/contract";
import type { IdGen } from "@boxyard/platform";

export function prebuildView(p: PrebuildRow, now: Date): Prebuild {
  const end = p.finished_at ?? (p.status === "building" ? now : null);
  return {
    id: p.id,
    template: p.template_name,
    version: p.version,
    ref: p.ref,
    status: p.status,
    trigger: p.trigger,
    requestedBy: p.requested_by_username,
    commit: p.commit_id,
    layer: p.layer,
    error: p.error,
    node: p.node_name,
    attempts: p.attempts,
    createdAt: p.created_at.toISOString(),
    startedAt: p.started_at?.toISOString() ?? null,
    finishedAt: p.finished_at?.toISOString() ?? null,
    elapsedSeconds: p.started_at && end ? Math.max(0, (end.getTime() - p.started_at.getTime()) / 1000) : null,
    logSize: Number(p.log_size),
  };
}

/** What a node runs for a prebuild of this template: everything a throw-away box of it needs. */
export function prebuildJob(t: ResolvedTemplate, ref: string | null): Omit<PrebuildJob, "id" | "attempt"> {
  return {
    image: t.image,
    resources: t.resources,
    network: t.network,
    ...(t.repo ? { repo: { ...t.repo, ...(ref !== null ? { ref } : {}) } } : {}),
    init: t.init ?? [],
    ...(t.env ? { env: t.env } : {}),
    secrets: t.secrets ?? [],
  };
}

/**
 * Queues a prebuild of a stored version (in the caller's transaction), or
 * answers the one already queued for that version and ref.
 */
export async function queuePrebuild(
  store: AuthorizedStore,
  tx: pg.PoolClient,
  ids: IdGen,
  orgId: string,
  v: TemplateVersionRow,
  o: { ref?: string; trigger: "push" | "request"; userId: string },
): Promise<{ id: string; created: boolean }> {
  const t = resolveSpec(v.name, v.version, v.spec as TemplateSpec);
  const ref = o.ref ?? t.repo?.ref ?? null;
  return store.on(tx).insertPrebuild({
    id: ids.newId("pb"),
    orgId,
    templateId: v.template_id,
    version: v.version,
    ref: t.repo ? ref : null,
    job: prebuildJob(t, ref),
    trigger: o.trigger,
    requestedBy: o.userId,
  });
}

/** One of the org's prebuilds, of the named template; 404 otherwise. */
async function findPrebuild(store: AuthorizedStore, orgId: string, name: string, id: string) {
  const p = await store.getPrebuild(orgId, id);
  if (!p || p.template_name !== name)
    throw new DomainError("prebuild_not_found", { detail: `${name}: ${id}` });
  return p;
}

export function registerPrebuildRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;

  r.add(createPrebuild, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "write");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const v = await store.getTemplateVersion(access.orgId, ctx.params.name, ctx.body.version);
    if (!v)
      throw new DomainError("template_not_found", {
        detail:
          ctx.body.version === undefined ? ctx.params.name : `${ctx.params.name} version ${ctx.body.version}`,
      });
    const spec = v.spec as TemplateSpec;
    if (!wantsPrebuild(spec))
      throw new DomainError("validation_failed", {
        detail: `${v.name} version ${v.version} has no repo and no init commands: there is nothing to prebuild`,
      });
    if (ctx.body.ref !== undefined && !spec.repo)
      throw new DomainError("validation_failed", {
        detail: `ref: ${v.name} version ${v.version} has no repository`,
      });
    const row = await inTx(deps.pool, async (tx) => {
      const q = await queuePrebuild(store, tx, deps.ids, access.orgId, v, {
        ...(ctx.body.ref !== undefined ? { ref: ctx.body.ref } : {}),
        trigger: "request",
        userId: ctx.actor.user.id,
      });
      if (q.created)
        await auditFor(tx, ctx, {
          orgId: access.orgId,
          action: "template.prebuild.request",
          target: { kind: "template", id: v.template_id, name: v.name },
          result: "success",
          details: { version: v.version, prebuild: q.id, ...(ctx.body.ref ? { ref: ctx.body.ref } : {}) },
          at: deps.clock.now(),
        });
      return (await store.on(tx).getPrebuild(access.orgId, q.id))!;
    });
    return prebuildView(row, deps.clock.now());
  });

  r.add(listPrebuilds, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const latest = await store.getTemplateVersion(access.orgId, ctx.params.name);
    if (!latest) throw new DomainError("template_not_found", { detail: ctx.params.name });
    const rows = await store.listPrebuilds(access.orgId, latest.template_id, {
      ...(ctx.query.version !== undefined ? { version: ctx.query.version } : {}),
      limit: ctx.query.limit,
    });
    const now = deps.clock.now();
    return { items: rows.map((p) => prebuildView(p, now)) };
  });

  r.add(getPrebuild, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    return prebuildView(
      await findPrebuild(store, access.orgId, ctx.params.name, ctx.params.prebuild),
      deps.clock.now(),
    );
  });

  r.add(getPrebuildLogs, async (ctx, reply) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const pb = await findPrebuild(store, access.orgId, ctx.params.name, ctx.params.prebuild);
    const follow = ctx.query.follow === "1" || ctx.query.follow === "true";
    if (!follow) {
      const log = await store.readPrebuildLog(access.orgId, {
        id: pb.id,
        offset: ctx.query.offset,
        ...(ctx.query.end !== undefined ? { end: ctx.query.end } : {}),
      });
      return log.text;
    }
    streamJobLog({
      lc,
      reply,
      requestId: ctx.requestId,
      channel: "boxyard_prebuild_changed",
      id: pb.id,
      offset: ctx.query.offset,
      get: () => store.getPrebuild(access.orgId, pb.id),
      read: (offset) => store.readPrebuildLog(access.orgId, { id: pb.id, offset }),
      view: (p) => prebuildView(p, deps.clock.now()),
      onError: (err) => deps.logger.warn({ err, prebuild: pb.id }, "cannot read the prebuild log"),
    });
    return "";
  });
}
