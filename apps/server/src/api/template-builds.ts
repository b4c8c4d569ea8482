// The image build of each template version, as users see it: status and
// timings, and the log (text from an offset, or followed as Server-Sent
// Events until the build ends). The build itself runs on a node's agent
// (internal/agent build-runner.ts), which reports through the node link;
// a failed build can be queued again.

import { type AuthorizedStore, authorizeOrg } from "@boxyard/authz";
import {
  getTemplateBuild as getTemplateBuildRoute,
  getTemplateBuildLogs,
  retryTemplateBuild,
  type TemplateBuild,
} from "@boxyard/contract";
import { inTx, type TemplateBuildRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import { streamJobLog } from "./job-log-stream.ts";
import type { LifecycleDeps } from "./lifecycle-deps.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

export function buildView(name: string, b: TemplateBuildRow, now: Date): TemplateBuild {
  const end = b.finished_at ?? (b.status === "building" ? now : null);
  return {
    name,
    version: b.version,
    status: b.status,
    layers: b.layers ?? [],
    cacheHit: b.cache_hit,
    error: b.error,
    node: b.node_name,
    attempts: b.attempts,
    createdAt: b.created_at.toISOString(),
    startedAt: b.started_at?.toISOString() ?? null,
    finishedAt: b.finished_at?.toISOString() ?? null,
    elapsedSeconds: b.started_at && end ? Math.max(0, (end.getTime() - b.started_at.getTime()) / 1000) : null,
    logSize: Number(b.log_size),
  };
}

/** The build of an org's template version; 404 when the version (or its build) does not exist. */
async function findBuild(store: AuthorizedStore, orgId: string, name: string, version: number) {
  const v = await store.getTemplateVersion(orgId, name, version);
  const build = v ? await store.getTemplateBuild(v.template_id, version) : null;
  if (!v || !build)
    throw new DomainError("template_not_found", {
      detail: v ? `${name} version ${version} has no recorded build` : `${name} version ${version}`,
    });
  return build;
}

export function registerTemplateBuildRoutes(r: RouteRegistrar, lc: LifecycleDeps): void {
  const { deps } = r;

  r.add(getTemplateBuildRoute, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const b = await findBuild(store, access.orgId, ctx.params.name, ctx.params.version);
    return buildView(ctx.params.name, b, deps.clock.now());
  });

  r.add(retryTemplateBuild, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "write");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const build = await findBuild(store, access.orgId, ctx.params.name, ctx.params.version);
    const ref = `${ctx.params.name}@${ctx.params.version}`;
    // The answer is the build as this retry left it (queued), read before a node can claim it.
    const queued = await inTx(deps.pool, async (tx) => {
      const note = `--- build queued again by ${ctx.actor.user.username} ---\n`;
      if (!(await store.on(tx).requeueTemplateBuild({ id: build.id, note })))
        throw new DomainError("conflict", {
          detail: `the build of ${ref} is ${build.status}; only a failed build is retried`,
        });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "template.build.retry",
        target: { kind: "template", id: build.template_id, name: ctx.params.name },
        result: "success",
        details: { version: ctx.params.version },
        at: deps.clock.now(),
      });
      return (await store.on(tx).getTemplateBuildById(build.id))!;
    });
    return buildView(ctx.params.name, queued, deps.clock.now());
  });

  r.add(getTemplateBuildLogs, async (ctx, reply) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "template", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const build = await findBuild(store, access.orgId, ctx.params.name, ctx.params.version);
    const follow = ctx.query.follow === "1" || ctx.query.follow === "true";
    if (!follow) {
      const log = await store.readTemplateBuildLog({
        id: build.id,
        offset: ctx.query.offset,
        ...(ctx.query.end !== undefined ? { end: ctx.query.end } : {}),
      });
      return log.text;
    }
    // Followed: the log from `offset` as `log` events as it is written, then `end` with the build.
    streamJobLog({
      lc,
      reply,
      requestId: ctx.requestId,
      channel: "boxyard_template_build_changed",
      id: build.id,
      offset: ctx.query.offset,
      get: () => store.getTemplateBuildById(build.id),
      read: (offset) => store.readTemplateBuildLog({ id: build.id, offset }),
      view: (b) => buildView(ctx.params.name, b, deps.clock.now()),
      onError: (err) => deps.logger.warn({ err, build: build.id }, "cannot read the build log"),
    });
    return "";
  });
}
