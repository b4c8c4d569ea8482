import { authorizeOrg } from "@boxyard/authz";
import { getUsage } from "@boxyard/contract";
import { DomainError } from "@boxyard/errors";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

export interface Prices {
  cpuHour: number;
  memoryGiBHour: number;
  diskGiBMonth: number;
}

const HOURS_PER_MONTH = 730;

interface Metered {
  computeHours: number;
  cpuHours: number;
  memoryGiBHours: number;
  diskGiBHours: number;
  cost: number;
}

const zero = (): Metered => ({ computeHours: 0, cpuHours: 0, memoryGiBHours: 0, diskGiBHours: 0, cost: 0 });

function add(into: Metered, m: Metered): void {
  into.computeHours += m.computeHours;
  into.cpuHours += m.cpuHours;
  into.memoryGiBHours += m.memoryGiBHours;
  into.diskGiBHours += m.diskGiBHours;
  into.cost += m.cost;
}

const round = (m: Metered): Metered => ({
  computeHours: Number(m.computeHours.toFixed(6)),
  cpuHours: Number(m.cpuHours.toFixed(6)),
  memoryGiBHours: Number(m.memoryGiBHours.toFixed(6)),
  diskGiBHours: Number(m.diskGiBHours.toFixed(6)),
  cost: Number(m.cost.toFixed(6)),
});

export function registerUsageRoutes(r: RouteRegistrar, prices: Prices): void {
  const { deps } = r;
  r.add(getUsage, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "usage", "read");
    const now = deps.clock.now();
    const to = ctx.query.to ? new Date(ctx.query.to) : now;
    const from = ctx.query.from
      ? new Date(ctx.query.from)
      : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    if (!(from < to))
      throw new DomainError("validation_failed", { detail: "query.from must be before query.to" });
    const total = zero();
    const teams = new Map<string | null, Metered>();
    const boxes = (await storeFor(deps, ctx.actor, ctx.signal).orgBoxUsage(access.orgId, from, to)).map(
      (b) => {
        const computeHours = b.compute_seconds / 3600;
        const m: Metered = {
          computeHours,
          cpuHours: computeHours * b.cpu,
          memoryGiBHours: (computeHours * b.memory_mib) / 1024,
          diskGiBHours: (b.exists_seconds / 3600) * b.disk_gib,
          cost: 0,
        };
        m.cost =
          m.cpuHours * prices.cpuHour +
          m.memoryGiBHours * prices.memoryGiBHour +
          (m.diskGiBHours / HOURS_PER_MONTH) * prices.diskGiBMonth;
        add(total, m);
        const t = teams.get(b.team) ?? zero();
        add(t, m);
        teams.set(b.team, t);
        return { box: b.name, owner: b.owner, team: b.team, deleted: b.deleted, ...round(m) };
      },
    );
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      currency: "USD",
      prices,
      total: round(total),
      boxes,
      teams: [...teams].map(([team, m]) => ({ team, ...round(m) })),
    };
  });
}
