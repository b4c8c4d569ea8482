export { freePort } from "./free-port.ts";
export { alivePids, findProcesses, type ProcessFilter } from "./process-census.ts";
export {
  createTestDatabase,
  TEST_DATABASE_URL_ENV,
  type TestDatabase,
  TestDatabaseUnconfiguredError,
} from "./test-database.ts";
export { startTestPostgres, type TestPostgres } from "./test-postgres.ts";
export { WaitTimeoutError, type WaitForOptions, waitFor } from "./wait-for.ts";
