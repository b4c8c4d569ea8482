export { classify, type StepFailure } from "./box-failures.ts";
export { BuildRunner, type BuildRunnerOptions } from "./build-runner.ts";
export {
  type ImageBuildOptions,
  type ImageBuildResult,
  type ImageResolver,
  ImageUnavailableError,
  StaticImageResolver,
} from "./image-resolver.ts";
export { AGENT_VERSION, NodeAgent, type NodeAgentOptions } from "./node-agent.ts";
export { nextStep, type Step, satisfies } from "./step.ts";
export {
  type MemoryPressureOptions,
  memoryPressureFromSetting,
  parseMemoryLow,
} from "./memory-pressure.ts";
