import { addMySshKey, deleteMySshKey, listMySshKeys } from "@boxyard/contract";
import { inTx, type SshKeyRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import { normalizePublicKey, SshKeyError } from "@boxyard/gateway";
import { auditFor } from "./audit.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";
import { isUniqueViolation } from "./users.ts";

function sshKeyView(k: SshKeyRow) {
  return {
    id: k.id,
    name: k.name,
    type: k.type,
    fingerprint: k.fingerprint,
    publicKey: k.public_key,
    createdAt: k.created_at.toISOString(),
    lastUsedAt: k.last_used_at?.toISOString() ?? null,
  };
}

export function registerSshKeyRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(addMySshKey, async (ctx) => {
    let key: ReturnType<typeof normalizePublicKey>;
    try {
      key = normalizePublicKey(ctx.body.publicKey);
    } catch (err) {
      if (err instanceof SshKeyError) throw new DomainError("ssh_key_invalid", { detail: err.message });
      throw err;
    }
    try {
      const row = await inTx(deps.pool, async (tx) => {
        const k = await storeFor(deps, ctx.actor, ctx.signal)
          .on(tx)
          .insertSshKey({
            id: deps.ids.newId("key"),
            userId: ctx.actor.user.id,
            name: ctx.body.name,
            type: key.type,
            publicKey: key.publicKey,
            fingerprint: key.fingerprint,
          });
        await auditFor(tx, ctx, {
          orgId: null,
          action: "ssh_key.add",
          target: { kind: "ssh_key", id: k.id, name: k.name },
          result: "success",
          details: { fingerprint: k.fingerprint },
          at: deps.clock.now(),
        });
        return k;
      });
      return sshKeyView(row);
    } catch (err) {
      // Same answer whether the key is yours or someone else's: no oracle.
      if (isUniqueViolation(err))
        throw new DomainError("ssh_key_exists", { detail: "this key or name is already registered" });
      throw err;
    }
  });

  r.add(listMySshKeys, async (ctx) => ({
    items: (await storeFor(deps, ctx.actor, ctx.signal).listSshKeysByUser(ctx.actor.user.id)).map(sshKeyView),
  }));

  r.add(deleteMySshKey, async (ctx) => {
    await inTx(deps.pool, async (tx) => {
      if (
        !(await storeFor(deps, ctx.actor, ctx.signal)
          .on(tx)
          .deleteSshKey(ctx.actor.user.id, ctx.params.keyId))
      )
        throw new DomainError("ssh_key_not_found");
      await auditFor(tx, ctx, {
        orgId: null,
        action: "ssh_key.delete",
        target: { kind: "ssh_key", id: ctx.params.keyId },
        result: "success",
        at: deps.clock.now(),
      });
    });
    return null;
  });
}
