export { type Clock, ManualClock, systemClock } from "./clock.ts";
export { ID_PATTERN, type IdGen, type IdPrefix, newId, randomBase32, randomIds } from "./ids.ts";
export { RateLimiter } from "./rate-limit.ts";
export {
  type OffThreadCommand,
  type OffThreadRawResult,
  type OffThreadResult,
  runOffThread,
  runOffThreadRaw,
} from "./off-thread-spawn.ts";
