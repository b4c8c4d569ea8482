// Secrets: set, list and delete an org's secrets. A value enters here, is
// sealed at once (envelope encryption, @boxyard/secrets) and is never
// returned, logged or audited; the only path that opens it is delivery to
// a box's node (InProcessNodeLink.fetchBoxSecrets).

import type { Actor } from "@boxyard/auth";
import { type AuthorizedStore, authorizeOrg, type OrgAccess, roleAllows } from "@boxyard/authz";
import { createSecret, deleteSecret, listSecrets } from "@boxyard/contract";
import { inTx, type Queryable, type SecretHolder, type SecretMetaRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { SecretKeyring } from "@boxyard/secrets";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

/** "org", "team:NAME" or "user:USERNAME", as listings show a secret's scope. */
function scopeLabel(s: SecretMetaRow): string {
  if (s.scope === "team") return `team:${s.team_name}`;
  if (s.scope === "user") return `user:${s.username}`;
  return "org";
}

function secretView(s: SecretMetaRow) {
  return {
    name: s.name,
    scope: scopeLabel(s),
    createdAt: s.created_at.toISOString(),
    updatedAt: s.updated_at.toISOString(),
  };
}

/**
 * Authorises a change to one scope and names its holder: org and team
 * secrets need secret.write, the caller's own user secrets secret.writeOwn.
 */
async function holderFor(
  db: Queryable,
  store: AuthorizedStore,
  actor: Actor & { kind: "user" },
  org: string,
  name: string,
  scope: string,
): Promise<{ access: OrgAccess; holder: SecretHolder }> {
  if (scope === "user") {
    const access = await authorizeOrg(db, actor, org, "secret", "writeOwn");
    return { access, holder: { orgId: access.orgId, name, scope: "user", userId: actor.user.id } };
  }
  const access = await authorizeOrg(db, actor, org, "secret", "write");
  if (scope === "org") return { access, holder: { orgId: access.orgId, name, scope: "org" } };
  const teamName = scope.slice("team:".length);
  const team = await store.getTeamByName(access.orgId, teamName);
  if (!team) throw new DomainError("team_not_found", { detail: teamName });
  return { access, holder: { orgId: access.orgId, name, scope: "team", teamId: team.id } };
}

function keyring(secrets: SecretKeyring | undefined): SecretKeyring {
  if (!secrets) throw new DomainError("not_ready", { detail: "this server has no secrets master key" });
  return secrets;
}

export function registerSecretRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(createSecret, async (ctx) => {
    const ring = keyring(deps.secrets);
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const { access, holder } = await holderFor(
      deps.pool,
      store,
      ctx.actor,
      ctx.params.org,
      ctx.body.name,
      ctx.body.scope,
    );
    const value = Buffer.from(ctx.body.value, "utf8");
    const { row, created } = await inTx(deps.pool, async (tx) => {
      const out = await store.on(tx).upsertSecret({
        ...holder,
        newId: deps.ids.newId("sec"),
        seal: (id) => ring.seal(id, value),
        createdBy: ctx.actor.user.id,
      });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: out.created ? "secret.create" : "secret.update",
        target: { kind: "secret", id: out.row.id, name: out.row.name },
        result: "success",
        details: { scope: scopeLabel(out.row) },
        at: deps.clock.now(),
      });
      return out;
    });
    value.fill(0);
    deps.logger.info(
      { org: ctx.params.org, secret: row.name, scope: scopeLabel(row), created },
      "secret set",
    );
    return secretView(row);
  });

  r.add(listSecrets, async (ctx) => {
    const access = await authorizeOrg(deps.pool, ctx.actor, ctx.params.org, "secret", "read");
    // Whoever may set org-wide secrets sees every member's own ones listed (names only).
    const allUsers = roleAllows(access.role, "secret", "write");
    const rows = await storeFor(deps, ctx.actor, ctx.signal).listSecrets(access.orgId, {
      userId: ctx.actor.user.id,
      allUsers,
    });
    return { items: rows.map(secretView) };
  });

  r.add(deleteSecret, async (ctx) => {
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const { access, holder } = await holderFor(
      deps.pool,
      store,
      ctx.actor,
      ctx.params.org,
      ctx.params.name,
      ctx.query.scope,
    );
    await inTx(deps.pool, async (tx) => {
      const row = await store.on(tx).getSecretMeta(holder);
      if (!row || !(await store.on(tx).deleteSecret(row.id)))
        throw new DomainError("secret_not_found", { detail: `${ctx.params.name} (${ctx.query.scope})` });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "secret.delete",
        target: { kind: "secret", id: row.id, name: row.name },
        result: "success",
        details: { scope: scopeLabel(row) },
        at: deps.clock.now(),
      });
    });
    return null;
  });
}
