// Public surface of @boxyard/runtime. The conformance suite imports vitest, so
// it has its own entry point (`@boxyard/runtime/conformance`) and is not
// re-exported here: the node agent must not load a test framework.

export type * from "./runtime.ts";
export * from "./errors.ts";
export { conformanceCommands, backgroundCommandLine } from "./conformance-commands.ts";
export { FakeNodeState, FakeRuntime } from "./fake/fake-runtime.ts";
export type { FakeMethod, FakeRuntimeOptions } from "./fake/fake-runtime.ts";
export { TextCollector, waitFor } from "./wait-for.ts";
export type { WaitForOptions } from "./wait-for.ts";
export { GvisorRuntime } from "./gvisor/gvisor-runtime.ts";
export { layersOfBoxes } from "./gvisor/box-layers.ts";
export type { GvisorRuntimeOptions } from "./gvisor/gvisor-runtime.ts";
export { defaultMaxProcesses } from "./gvisor/oci-spec.ts";
