export { CachedGatewayDirectory, type CachedDirectoryOptions } from "./cached-directory.ts";
export { BOX_INIT_PATH, type BoxConnector, BoxUnavailableError, LocalRuntimeConnector } from "./connector.ts";
export { type BoxRoute, DbGatewayDirectory, type GatewayDirectory, type GatewayUser } from "./directory.ts";
export { loadOrCreateHostKey } from "./host-key.ts";
export { type LoginTarget, parseLogin } from "./login.ts";
export { type NormalizedKey, normalizePublicKey, fingerprintOfBlob, SshKeyError } from "./ssh-keys.ts";
export { type SessionEvent, type SshGateway, type SshGatewayOptions, startSshGateway } from "./ssh-server.ts";
export { TERMINAL_TICKET_AUDIENCE, WebTerminalHub, type WebTerminalOptions } from "./web-terminal.ts";
export {
  AuditEventOutbox,
  ControlPlaneError,
  type GatewayAuditEvent,
  type GatewayRegistration,
  type GatewayRegistrationInfo,
  HttpGatewayControl,
} from "./http-control.ts";
export { type WakeOptions, wakeOnConnect } from "./wake.ts";
export { GatewayRelayConnector, handleRelayUpgrade, RELAY_PATH, splice } from "./relay.ts";
