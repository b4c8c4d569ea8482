import { z } from "zod";
import { Id, Name, Timestamp } from "./common.ts";
import { defineRoute } from "./route.ts";

export const DesiredState = z.enum(["running", "stopped", "paused", "deleted"]);
export const ActualState = z.enum([
  "pending",
  "scheduling",
  "provisioning",
  "starting",
  "running",
  "stopping",
  "stopped",
  "pausing",
  "paused",
  "resuming",
  "deleting",
  "deleted",
  "failed",
]);

export const BoxResources = z
  .object({ cpu: z.number(), memoryMiB: z.int(), diskGiB: z.int(), gpus: z.int() })
  .meta({ id: "BoxResources" });

/** What a create may ask for instead of the template's sizes; bounds keep a typo from asking for a rack. */
export const BoxResourcesOverride = z.strictObject({
  cpu: z.number().min(0.25).max(64).optional(),
  memoryMiB: z.int().min(128).max(262_144).optional(),
  diskGiB: z.int().min(1).max(2048).optional(),
  gpus: z.int().min(0).max(8).optional(),
});

export const BoxError = z
  .object({
    code: z.string(),
    message: z.string(),
    at: Timestamp,
    attempts: z.int(),
    /** True when the platform stopped retrying; start or delete the box to act on it. */
    permanent: z.boolean(),
  })
  .meta({ id: "BoxError" });

/** A process killed in a box because the box ran out of memory. */
export const OomKill = z
  .object({
    at: Timestamp,
    /** Its pid inside the box. */
    pid: z.int(),
    command: z.string(),
    uid: z.int(),
    rssMiB: z.int(),
  })
  .meta({ id: "OomKill" });

export const Box = z
  .object({
    id: Id,
    name: Name,
    org: Name,
    owner: Name,
    template: z.string(),
    templateVersion: z.int(),
    desiredState: DesiredState,
    actualState: ActualState,
    generation: z.int(),
    observedGeneration: z.int(),
    node: z.string().nullable(),
    /** The team the box belongs to (its quota counts the box), if any. */
    team: z.string().nullable(),
    resources: BoxResources,
    persistent: z.boolean(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    lastError: BoxError.nullable(),
    /** Processes killed in the box because it ran out of memory (each is also a box event `oom_kill`). */
    oomKills: z.int(),
    lastOomKill: OomKill.nullable(),
    /** The names of the secrets the box gets in /run/boxyard/secrets (never their values). */
    secrets: z.array(z.string()).optional(),
    /** What the node says about a running box's set-up: a secret not set, a checkout that failed. */
    notice: z.string().optional(),
    /** The repository checked out in /workspace and the commit the node checked out (null until it has). */
    repo: z
      .object({ url: z.string(), ref: z.string().nullable(), commit: z.string().nullable() })
      .nullable()
      .optional(),
    /**
     * The prebuild the box started from and the commit it holds (the box's
     * repo.commit is where the node brought the checkout after it): an old
     * prebuild shows here, it is never silent. Null: made without one.
     */
    prebuild: z.object({ id: z.string(), commit: z.string().nullable() }).nullable().optional(),
  })
  .meta({ id: "Box" });

export const Operation = z
  .object({
    id: Id,
    box: Id,
    kind: z.enum(["create", "start", "stop", "pause", "resume", "delete"]),
    status: z.enum(["pending", "succeeded", "failed"]),
    targetGeneration: z.int(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    createdAt: Timestamp,
    finishedAt: Timestamp.nullable(),
  })
  .meta({ id: "Operation" });

export const BoxAccepted = z.object({ box: Box, operation: Operation }).meta({ id: "BoxAccepted" });

const OrgParams = z.strictObject({ org: Name });
const BoxParams = z.strictObject({ org: Name, box: Name });
const BOX_ERRORS = ["org_not_found", "box_not_found", "forbidden"] as const;

export const createBox = defineRoute({
  operationId: "createBox",
  method: "POST",
  path: "/api/v1/orgs/:org/boxes",
  summary: "Create a box from a template; it starts asynchronously",
  tags: ["boxes"],
  auth: "token",
  params: OrgParams,
  body: z.strictObject({
    name: Name,
    template: Name,
    templateVersion: z.int().positive().optional(),
    team: Name.optional(),
    persistent: z.boolean().optional(),
    resources: BoxResourcesOverride.optional(),
  }),
  successStatus: 202,
  response: BoxAccepted,
  errors: ["org_not_found", "forbidden", "box_exists", "template_not_found", "idempotency_key_reused"],
});

export const listBoxes = defineRoute({
  operationId: "listBoxes",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes",
  summary: "Boxes of an organisation, oldest first, in pages",
  tags: ["boxes"],
  auth: "token",
  params: OrgParams,
  query: z.strictObject({
    state: ActualState.optional(),
    owner: Name.optional(),
    team: Name.optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  }),
  successStatus: 200,
  response: z.object({ items: z.array(Box), nextCursor: z.string().nullable() }),
  errors: ["org_not_found"],
});

export const getBox = defineRoute({
  operationId: "getBox",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes/:box",
  summary: "One box",
  tags: ["boxes"],
  auth: "token",
  params: BoxParams,
  successStatus: 200,
  response: Box,
  errors: [...BOX_ERRORS],
});

function verbRoute<V extends "start" | "stop" | "pause" | "resume">(verb: V, summary: string) {
  return defineRoute({
    operationId: `${verb}Box`,
    method: "POST",
    path: `/api/v1/orgs/:org/boxes/:box/${verb}`,
    summary,
    tags: ["boxes"],
    auth: "token",
    params: BoxParams,
    successStatus: 202,
    response: BoxAccepted,
    errors: [...BOX_ERRORS, "invalid_transition"],
  });
}

export const startBox = verbRoute("start", "Start a box (cold boot); a running box is a no-op");
export const stopBox = verbRoute("stop", "Stop a box: compute released, disks kept");
export const pauseBox = defineRoute({
  ...verbRoute(
    "pause",
    "Pause a running box, keeping its processes: hot (frozen in RAM, resumes in milliseconds; checkpointed to disk after the node's delay) or cold (checkpointed to disk now, RAM and compute released)",
  ),
  body: z.strictObject({ mode: z.enum(["hot", "cold"]).default("hot") }),
});
export const resumeBox = verbRoute("resume", "Resume a paused box");

export const deleteBox = defineRoute({
  operationId: "deleteBox",
  method: "DELETE",
  path: "/api/v1/orgs/:org/boxes/:box",
  summary: "Delete a box and everything it holds; its name can be reused",
  tags: ["boxes"],
  auth: "token",
  params: BoxParams,
  successStatus: 202,
  response: BoxAccepted,
  errors: [...BOX_ERRORS],
});

export const execInBox = defineRoute({
  operationId: "execInBox",
  method: "POST",
  path: "/api/v1/orgs/:org/boxes/:box/exec",
  summary:
    "Run a command in a running box as the box user, without a tty; with waitSeconds, a box on its way to running (just created, started or resumed) is waited for, and the command runs once the box is up with its secrets",
  tags: ["boxes"],
  auth: "token",
  params: BoxParams,
  body: z.strictObject({
    command: z.array(z.string().max(65_536)).min(1).max(1024),
    timeoutSeconds: z.int().min(1).max(600).optional(),
    /** A box asked to run (a start or resume just accepted) is waited for this long; 0 (the default) fails at once. */
    waitSeconds: z.int().min(0).max(600).optional(),
  }),
  successStatus: 200,
  response: z.object({
    exitCode: z.int(),
    stdout: z.string(),
    stderr: z.string(),
    timedOut: z.boolean(),
    truncated: z.boolean(),
  }),
  errors: [...BOX_ERRORS, "box_not_running", "exec_failed"],
});

export const boxEvents = defineRoute({
  operationId: "boxEvents",
  method: "GET",
  path: "/api/v1/orgs/:org/boxes/:box/events",
  summary:
    "Server-Sent Events: the current state first (event `state`), then every state change with its reason (event `transition`) and every process killed for lack of memory (event `oom_kill`); ends after `deleted`",
  tags: ["boxes"],
  auth: "token",
  params: BoxParams,
  successStatus: 200,
  response: z.string(),
  contentType: "text/event-stream",
  errors: [...BOX_ERRORS],
});

export const getOperation = defineRoute({
  operationId: "getOperation",
  method: "GET",
  path: "/api/v1/operations/:id",
  summary: "An asynchronous operation on a box",
  tags: ["boxes"],
  auth: "token",
  params: z.strictObject({ id: Id }),
  successStatus: 200,
  response: Operation,
  errors: ["operation_not_found"],
});
