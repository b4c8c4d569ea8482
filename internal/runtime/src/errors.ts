// Typed errors every runtime driver throws. The node agent maps the stable
// `code` onto its own error surface (and the control plane onto
// problem+json); the message is for people.

export type RuntimeErrorCode =
  | "box_not_found"
  | "invalid_box_id"
  | "invalid_box_state"
  | "runtime_unavailable"
  | "image_layer_missing"
  | "node_disk_full"
  | "resources_exceed_limits"
  | "sandbox_failed"
  | "checkpoint_refused"
  | "injected_failure";

export class RuntimeError extends Error {
  readonly code: RuntimeErrorCode;

  constructor(code: RuntimeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RuntimeError";
    this.code = code;
  }
}

export class BoxNotFoundError extends RuntimeError {
  constructor(id: string) {
    super("box_not_found", `box ${id} does not exist on this node`);
    this.name = "BoxNotFoundError";
  }
}

export class InvalidBoxIdError extends RuntimeError {
  constructor(id: string) {
    super("invalid_box_id", `invalid box id ${JSON.stringify(id)}: expected ^[a-z0-9_]{1,32}$`);
    this.name = "InvalidBoxIdError";
  }
}

export class InvalidBoxStateError extends RuntimeError {
  constructor(id: string, phase: string, action: string) {
    super("invalid_box_state", `box ${id} is ${phase}; cannot ${action}`);
    this.name = "InvalidBoxStateError";
  }
}

export class RuntimeUnavailableError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("runtime_unavailable", message, options);
    this.name = "RuntimeUnavailableError";
  }
}

export class ImageLayerMissingError extends RuntimeError {
  constructor(digest: string) {
    super("image_layer_missing", `image layer ${digest} is not on this node`);
    this.name = "ImageLayerMissingError";
  }
}

export class NodeDiskFullError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("node_disk_full", message, options);
    this.name = "NodeDiskFullError";
  }
}

export class ResourcesExceedLimitsError extends RuntimeError {
  constructor(message: string) {
    super("resources_exceed_limits", message);
    this.name = "ResourcesExceedLimitsError";
  }
}

export class SandboxError extends RuntimeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("sandbox_failed", message, options);
    this.name = "SandboxError";
  }
}

/**
 * A cold pause could not save the box, which is left exactly as it was
 * (running, or hot-paused) with all its processes. Trying again later may
 * work; `phase` is what the box is now.
 */
export class CheckpointRefusedError extends RuntimeError {
  readonly phase: "running" | "paused";

  constructor(id: string, phase: "running" | "paused", why: string, options?: { cause?: unknown }) {
    super("checkpoint_refused", `box ${id} cannot be saved to disk now (${why}); it stays ${phase}`, options);
    this.name = "CheckpointRefusedError";
    this.phase = phase;
  }
}

const boxIdPattern = /^[a-z0-9_]{1,32}$/;

/** Throws InvalidBoxIdError unless `id` is a server-generated box id; host paths derive only from these. */
export function assertBoxId(id: string): void {
  if (typeof id !== "string" || !boxIdPattern.test(id)) throw new InvalidBoxIdError(String(id));
}
