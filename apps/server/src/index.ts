export { type RawServerFlags, resolveServerConfig, type ServerConfig, StartupError } from "./config.ts";
export { runMigrateCommand } from "./migrate-command.ts";
export { type RunningServer, type RunServerOptions, runServer } from "./server.ts";
export { type DataPlaneProcess, runDataPlane } from "./data-plane.ts";
