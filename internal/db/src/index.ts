export { MigrationError, type MigrationStatus, migrate, migrationStatus } from "./migrate.ts";
export { type Migration, migrations } from "./migrations.ts";
export { createPool, inTx, isUnavailable, mapDbError, type PoolOptions, type Queryable } from "./pool.ts";
export * from "./queries/orgs.ts";
export * from "./queries/tokens.ts";
export * from "./queries/users.ts";
