import type { BoxRow, BoxViewRow, OperationRow } from "@boxyard/db";

/** The public JSON of a box (contract.md "A box object"). */
export function boxView(b: BoxViewRow) {
  return {
    id: b.id,
    name: b.name,
    org: b.org_name,
    owner: b.owner_username,
    template: b.template,
    templateVersion: b.template_version,
    desiredState: b.desired_state as "running" | "stopped" | "paused" | "deleted",
    actualState: b.actual_state as never,
    generation: b.generation,
    observedGeneration: b.observed_generation,
    node: b.node_name,
    team: b.team_name,
    resources: b.resources,
    persistent: b.persistent,
    createdAt: b.created_at.toISOString(),
    updatedAt: b.updated_at.toISOString(),
    lastError: b.last_error,
    oomKills: b.oom_kills ?? 0,
    lastOomKill: b.last_oom_kill ?? null,
    secrets: b.secrets ?? [],
    ...(b.actual_state === "running" && b.agent_reason ? { notice: b.agent_reason } : {}),
    repo: b.repo ? { url: b.repo.url, ref: b.repo.ref ?? null, commit: b.repo_commit ?? null } : null,
    prebuild: b.prebuild ? { id: b.prebuild.id, commit: b.prebuild.commit } : null,
  };
}

/** A freshly written row with the names of the view it came from. */
export function withNames(
  row: BoxRow,
  names: Pick<BoxViewRow, "org_name" | "owner_username" | "node_name" | "team_name">,
): BoxViewRow {
  if (row.owner_id === null) throw new Error(`box ${row.id} is pooled and has no view`);
  return { ...row, owner_id: row.owner_id, ...names };
}

export function operationView(o: OperationRow) {
  return {
    id: o.id,
    box: o.box_id,
    kind: o.kind as "create" | "start" | "stop" | "pause" | "resume" | "delete",
    status: o.status,
    targetGeneration: o.target_generation,
    ...(o.error ? { error: o.error } : {}),
    createdAt: o.created_at.toISOString(),
    finishedAt: o.finished_at ? o.finished_at.toISOString() : null,
  };
}

/** Keyset cursor over (created_at, id): opaque to clients. */
export function encodeCursor(b: { created_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify([b.created_at.toISOString(), b.id])).toString("base64url");
}

export function decodeCursor(c: string): { createdAt: Date; id: string } | null {
  try {
    const [at, id] = JSON.parse(Buffer.from(c, "base64url").toString("utf8")) as [unknown, unknown];
    if (typeof at !== "string" || typeof id !== "string") return null;
    const createdAt = new Date(at);
    return Number.isNaN(createdAt.getTime()) ? null : { createdAt, id };
  } catch {
    return null;
  }
}
