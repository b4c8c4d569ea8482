import { authorizeOrg } from "@boxyard/authz";
import { getQuota, setQuota } from "@boxyard/contract";
import {
  getOrgQuota,
  getOrgUsage,
  getTeamQuota,
  getTeamUsage,
  inTx,
  lockOrgForAdmission,
  lockTeamForAdmission,
  NO_LIMITS,
  type Queryable,
  type QuotaLimits,
  type QuotaUsage,
  setOrgQuota,
} from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";

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
 */
export async function admitWithinQuota(tx: Queryable, orgId: string, teamId?: string | null): Promise<void> {
  await lockOrgForAdmission(tx, orgId);
  await check(await getOrgQuota(tx, orgId), () => getOrgUsage(tx, orgId), "the organisation's");
  if (teamId) {
    await lockTeamForAdmission(tx, teamId);
    await check(await getTeamQuota(tx, teamId), () => getTeamUsage(tx, teamId), "the team's");
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
    return {
      limits: await getOrgQuota(deps.pool, access.orgId),
      usage: await getOrgUsage(deps.pool, access.orgId),
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
      await setOrgQuota(tx, access.orgId, limits);
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "quota.set",
        target: { kind: "org", id: access.orgId, name: access.orgName },
        result: "success",
        details: { ...limits },
        at: deps.clock.now(),
      });
    });
    return { limits, usage: await getOrgUsage(deps.pool, access.orgId) };
  });
}
