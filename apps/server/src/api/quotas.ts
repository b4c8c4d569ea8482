import { type AuthorizedStore, authorizeOrg } from "@boxyard/authz";
import { getQuota, setQuota } from "@boxyard/contract";
import { inTx, NO_LIMITS, type QuotaLimits, type QuotaUsage } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

const CHECKS: Array<[keyof QuotaLimits, keyof QuotaUsage, string]> = [
  ["maxBoxes", "boxes", "boxes"],
  ["maxRunningBoxes", "runningBoxes", "running boxes"],
  ["cpu", "cpu", "CPUs"],
  ["memoryMiB", "memoryMiB", "MiB of memory"],
  ["diskGiB", "diskGiB", "GiB of disk"],
  ["gpus", "gpus", "GPUs"],
];

/**
 * Admission: called inside the transaction that creates, starts or resumes a
 * box, after the change. It locks the org so admissions in one org happen one
 * at a time, then checks what the org's boxes hold now, this change included.
 * Over a limit, the whole transaction rolls back with 429 quota_exceeded.
 * `tx` is the store bound to that transaction, as whoever is admitting.
 */
export async function admitWithinQuota(
  tx: AuthorizedStore,
  orgId: string,
  teamId?: string | null,
): Promise<void> {
  await tx.lockOrgForAdmission(orgId);
  await check(await tx.getOrgQuota(orgId), () => tx.getOrgUsage(orgId), "the organisation's");
  if (teamId) {
    await tx.lockTeamForAdmission(teamId);
    await check(await tx.getTeamQuota(teamId), () => tx.getTeamUsage(teamId), "the team's");
  }
}

async function check(limits: QuotaLimits, usageOf: () => Promise<QuotaUsage>, whose: string): Promise<void> {
  if (Object.values(limits).every((v) => v === null)) return;
  const usage = await usageOf();
  for (const [lim, use, what] of CHECKS) {
    const max = limits[lim];
    if (max !== null && usage[use] > max + 1e-9) {
      throw new DomainError("quota_exceeded", {
        detail: `this would use ${usage[use]} ${what}; ${whose} quota is ${max}`,
        extensions: { dimension: lim, limit: max, usage: usage[use] },
        headers: { "retry-after": "60" },
      });
    }
  }
}

export function registerQuotaRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(getQuota, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "quota", "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    return {
      limits: await store.getOrgQuota(access.orgId),
      usage: await store.getOrgUsage(access.orgId),
    };
  });

  r.add(setQuota, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "quota", "read");
    // Quotas are the operator's cost control: org owners may read theirs, only site admins set them.
    if (!ctx.actor.user.site_admin) {
      throw new DomainError("forbidden", {
        detail: "only a site admin may set quotas",
        audit: { orgId: access.orgId, action: "quota.set" },
      });
    }
    const limits: QuotaLimits = { ...NO_LIMITS, ...ctx.body };
    await inTx(deps.pool, async (tx) => {
      await storeFor(deps, ctx.actor, ctx.signal).on(tx).setOrgQuota(access.orgId, limits);
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "quota.set",
        target: { kind: "org", id: access.orgId, name: access.orgName },
        result: "success",
        details: { ...limits },
        at: deps.clock.now(),
      });
    });
    return { limits, usage: await storeFor(deps, ctx.actor, ctx.signal).getOrgUsage(access.orgId) };
  });
}
