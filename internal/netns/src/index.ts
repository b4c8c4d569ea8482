export type * from "./types.ts";
export { NodeNetwork, type NodeNetworkOptions, type CloseOptions } from "./node-network.ts";
export { census, isEmptyCensus, type Census, type CensusOptions } from "./census.ts";
export * from "./errors.ts";
export type { CommandRunner, CommandResult } from "./commands.ts";
export type { HostResolver } from "./egress.ts";
export { boxNames, nodeNames, macForAddress, BOX_INTERFACE } from "./names.ts";
export { DEFAULT_PRIVATE_RANGES, NEVER_RANGES } from "./ruleset.ts";
