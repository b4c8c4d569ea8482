export { APP_DATABASE, APP_ROLE } from "./app-database.ts";
export { findPostgresBinaries, type PostgresBinaries } from "./binaries.ts";
export { type DatabaseUrlParts, parseDatabaseUrl, socketUrl, tcpUrl, withDatabase } from "./database-url.ts";
export * from "./errors.ts";
export { type PgLayout, pgLayout } from "./layout.ts";
export type { Logger } from "./logger.ts";
export {
  type PrivatePostgres,
  type PrivatePostgresOptions,
  startPrivatePostgres,
} from "./private-postgres.ts";
export type { PostgresEvent } from "./supervisor.ts";
export { PostgresNotReadyError, waitForPostgres } from "./wait-for-postgres.ts";
