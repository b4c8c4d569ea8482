// The API's only ways to change a box: write desired state and an
// operation in one transaction, then wake the reconcilers. Nothing here
// touches a runtime.

import { randomBytes } from "node:crypto";
import type { AuthorizedStore } from "@boxyard/authz";
import type { BoxRow, OperationRow } from "@boxyard/db";
import { DomainError } from "@boxyard/errors";
import type { IdGen } from "@boxyard/platform";
import type pg from "pg";
import { type ActualState, type BoxVerb, type DesiredState, desiredChange } from "./states.ts";
import type { ResolvedTemplate } from "./templates.ts";
import type { Applied } from "./apply-plan.ts";
import { publishStep, takeStepInTx } from "./inline-steps.ts";

export interface CreateBoxInput {
  orgId: string;
  ownerId: string;
  name: string;
  template: ResolvedTemplate;
  persistent: boolean;
  teamId?: string | null;
  /**
   * Take a ready box from the org's warm pool of this template when one of
   * exactly this version, image, resources and network waits there; else
   * (a pool miss) create one as usual.
   */
  fromPool?: boolean;
}

/** A new /etc/machine-id: 128 random bits, as systemd writes them. */
export function newMachineId(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Runs in the same transaction as the change, after it: the audit record of
 * the change commits with it or not at all.
 */
export type InSameTx = (
  tx: pg.PoolClient,
  change: { box: BoxRow; operation: OperationRow; noop: boolean },
) => Promise<unknown>;

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "23505";
}

/** `store` is the caller's: a user's create is checked as that user (box.create in the org). */
export async function createBox(
  store: AuthorizedStore,
  ids: IdGen,
  input: CreateBoxInput,
  inSameTx?: InSameTx,
): Promise<{ box: BoxRow; operation: OperationRow; claimed: boolean }> {
  try {
    const out = await store.transaction(async (s, tx) => {
      const machineId = newMachineId();
      const match = {
        orgId: input.orgId,
        template: input.template.name,
        templateVersion: input.template.version,
        image: input.template.image,
        resources: input.template.resources,
        network: input.template.network,
      };
      // Only where a ready pooled box matches now: with none (no pool, or all taken) the create
      // goes straight to a fresh box and holds the org's lock only for its admission at the end.
      const tryPool = input.fromPool === true && (await s.hasClaimablePooledBox(match));
      // Creates of one org that may claim queue here (the lock admission takes anyway) before looking
      // at the pool: each sees the claims committed before it, so with quota room every ready box is
      // handed out before anyone falls back to a fresh create, and never twice.
      if (tryPool) await s.lockOrgForAdmission(input.orgId);
      // A claim binds the pooled box in this transaction; if admission (inSameTx) refuses, it stays pooled.
      const claimed = tryPool
        ? await s.claimPooledBox({
            ...match,
            ownerId: input.ownerId,
            name: input.name,
            teamId: input.teamId ?? null,
            persistent: input.persistent,
            machineId,
          })
        : null;
      const box =
        claimed ??
        (await s.insertBox({
          id: ids.newId("box"),
          orgId: input.orgId,
          name: input.name,
          ownerId: input.ownerId,
          teamId: input.teamId ?? null,
          network: input.template.network,
          template: input.template.name,
          templateVersion: input.template.version,
          image: input.template.image,
          resources: input.template.resources,
          persistent: input.persistent,
          machineId,
          secrets: input.template.secrets ?? [],
          repo: input.template.repo ?? null,
          prebuild: input.template.prebuild ?? null,
          env: input.template.env ?? {},
          onStart: input.template.onStart ?? [],
        }));
      // A claimed box is already running: its create is done at once.
      const operation = await s.insertOperation({
        id: ids.newId("op"),
        boxId: box.id,
        orgId: box.org_id,
        kind: "create",
        targetGeneration: box.generation,
        succeeded: claimed !== null,
      });
      await s.insertBoxEvent({
        boxId: box.id,
        orgId: box.org_id,
        generation: box.generation,
        from: null,
        to: claimed ? "running" : "pending",
        reason: claimed ? "claimed from pool: a warm box, already running" : "created",
      });
      await s.notifyBoxChanged(box.id);
      if (claimed) {
        // Its node learns the new name and machine-id (desired set) and applies them in the running box.
        if (claimed.node_id) await s.bumpNodeDesiredVersion(claimed.node_id);
        await s.notifyPoolChanged(input.template.name);
      }
      await inSameTx?.(tx, { box, operation, noop: false });
      return { box, operation, claimed: claimed !== null };
    });
    return out;
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError("box_exists", { detail: input.name });
    throw err;
  }
}

/**
 * Applies a user's verb: a legal change bumps the generation and makes the
 * box due; a no-op returns an operation for the current generation; an
 * illegal one is 409 invalid_transition. When the box is on a node, the
 * reconciler's first step (the transient state, the change published to
 * the node) is taken in the same transaction, so the node's agent wakes at
 * its commit (inline-steps.ts); `left` is the state it left, for the
 * time-in-state histogram.
 */
export async function changeBoxDesiredState(
  store: AuthorizedStore,
  ids: IdGen,
  c: { boxId: string; verb: BoxVerb; now?: Date },
  inSameTx?: InSameTx,
): Promise<{ box: BoxRow; operation: OperationRow; left?: Applied["left"] }> {
  return store.transaction(async (s, tx) => {
    const current = await s.getBoxByIdForUpdate(c.boxId);
    if (!current || current.deleted_at) throw new DomainError("box_not_found");
    const decision = desiredChange(
      {
        desiredState: current.desired_state as DesiredState,
        actualState: current.actual_state as ActualState,
      },
      c.verb,
    );
    if (decision.kind === "invalid") throw new DomainError("invalid_transition", { detail: decision.reason });
    if (decision.kind === "noop") {
      const settled =
        current.observed_generation >= current.generation && current.actual_state === current.desired_state;
      const operation = await s.insertOperation({
        id: ids.newId("op"),
        boxId: current.id,
        orgId: current.org_id,
        kind: c.verb,
        targetGeneration: current.generation,
        succeeded: settled,
      });
      await inSameTx?.(tx, { box: current, operation, noop: true });
      return { box: current, operation };
    }
    const desired = await s.setBoxDesiredState({
      id: current.id,
      version: current.version,
      desiredState: decision.to,
    });
    if (!desired)
      throw new DomainError("conflict", { detail: "the box changed while this request ran; retry" });
    const step = publishStep(desired);
    const published = step ? await takeStepInTx(tx, desired, step, c.now ?? new Date()) : undefined;
    const box = published?.box ?? desired;
    const operation = await s.insertOperation({
      id: ids.newId("op"),
      boxId: box.id,
      orgId: box.org_id,
      kind: c.verb,
      targetGeneration: box.generation,
    });
    // The row is due either way, so the reconciler still looks (level-triggered) within its poll;
    // after a publish there is nothing for it to do now, so it is woken only when the step is its own.
    if (!published) await s.notifyBoxChanged(box.id);
    await inSameTx?.(tx, { box, operation, noop: false });
    return { box, operation, ...(published?.left ? { left: published.left } : {}) };
  });
}
