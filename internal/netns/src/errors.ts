// Typed errors for the box network. Every class carries a stable `code` that
// the agent can report upwards and the API edge can map to problem+json.

export type NetworkErrorCode =
  | "network_invalid_box_id"
  | "network_invalid_config"
  | "network_invalid_egress"
  | "network_pool_exhausted"
  | "network_not_attached"
  | "network_state_mismatch"
  | "network_name_collision"
  | "network_command_failed";

export class NetworkError extends Error {
  readonly code: NetworkErrorCode;

  constructor(code: NetworkErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidBoxIdError extends NetworkError {
  constructor(boxId: string) {
    super("network_invalid_box_id", `box id ${JSON.stringify(boxId)} must match ^[a-z0-9_]{1,32}$`);
  }
}

export class InvalidNetworkConfigError extends NetworkError {
  constructor(message: string) {
    super("network_invalid_config", message);
  }
}

export class InvalidEgressError extends NetworkError {
  constructor(message: string, options?: ErrorOptions) {
    super("network_invalid_egress", message, options);
  }
}

export class PoolExhaustedError extends NetworkError {
  constructor(subnet: string) {
    super("network_pool_exhausted", `no free box address left in ${subnet}`);
  }
}

export class NotAttachedError extends NetworkError {
  constructor(boxId: string) {
    super("network_not_attached", `box ${boxId} has no network on this node`);
  }
}

/** The state directory was written with another prefix or subnet than this node network uses. */
export class StateMismatchError extends NetworkError {
  constructor(message: string) {
    super("network_state_mismatch", message);
  }
}

/** Two box ids hash to the same interface or netns name (astronomically rare, but never silent). */
export class NameCollisionError extends NetworkError {
  constructor(boxId: string, otherBoxId: string) {
    super("network_name_collision", `box ${boxId} derives the same names as box ${otherBoxId}`);
  }
}

export class CommandFailedError extends NetworkError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(argv: readonly string[], exitCode: number, stderr: string) {
    super("network_command_failed", `${argv.join(" ")} exited ${exitCode}: ${stderr.trim()}`);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}
