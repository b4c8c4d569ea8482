export {
  ApiError,
  BoxyardClient,
  buildPath,
  type CallInput,
  type ClientOptions,
  ConnectionError,
} from "./client.ts";
export { readSse, type SseEvent } from "./sse.ts";
export { type BoxExplanation, boxErrorLine, boxIsSettling, boxStateLabel, explainBox } from "./describe.ts";
export { type BoxHistoryEntryT, type HistoryLine, historyLine } from "./history.ts";
