export {
  ApiError,
  BoxyardClient,
  buildPath,
  type CallInput,
  type ClientOptions,
  ConnectionError,
} from "./client.ts";
export { readSse, type SseEvent } from "./sse.ts";
