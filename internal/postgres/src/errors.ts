// Typed errors of the private PostgreSQL. Each has a stable `code` the server
// maps to an exit message, and a one-line message that says what to do.

export type PostgresErrorCode =
  | "postgres_missing"
  | "data_dir_unwritable"
  | "data_dir_untraversable"
  | "data_dir_invalid"
  | "postgres_version_mismatch"
  | "password_missing"
  | "pg_user_missing"
  | "postgres_start_failed";

export class PostgresError extends Error {
  readonly code: PostgresErrorCode;

  constructor(code: PostgresErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PostgresError";
    this.code = code;
  }
}

export class PostgresMissingError extends PostgresError {
  constructor(where: string) {
    super(
      "postgres_missing",
      `PostgreSQL binaries (postgres, initdb) not found in ${where}: install postgresql (make up does this)`,
    );
  }
}

export class DataDirUnwritableError extends PostgresError {
  constructor(dir: string, cause: unknown) {
    super(
      "data_dir_unwritable",
      `data directory ${dir} is not writable (${errorText(cause)}): choose a writable --data-dir or fix its permissions`,
      { cause },
    );
  }
}

export class DataDirUntraversableError extends PostgresError {
  constructor(dir: string, user: string) {
    super(
      "data_dir_untraversable",
      `user ${user} cannot traverse ${dir}: allow search on it (chmod o+x) or put the data dir elsewhere`,
    );
  }
}

export class DataDirInvalidError extends PostgresError {
  constructor(dir: string, why: string) {
    super(
      "data_dir_invalid",
      `${dir} exists but is not a PostgreSQL cluster (${why}): move it away to let Boxyard initialise a new one`,
    );
  }
}

export class PostgresVersionMismatchError extends PostgresError {
  constructor(dir: string, dataVersion: string, binVersion: string) {
    super(
      "postgres_version_mismatch",
      `${dir} was created by PostgreSQL ${dataVersion} but the binaries are ${binVersion}: install PostgreSQL ${dataVersion} or pass its bin dir`,
    );
  }
}

export class PasswordMissingError extends PostgresError {
  constructor(file: string) {
    super(
      "password_missing",
      `the cluster exists but its password file ${file} is missing: restore it from a backup`,
    );
  }
}

export class PgUserMissingError extends PostgresError {
  constructor(user: string) {
    super(
      "pg_user_missing",
      `system user ${user} for PostgreSQL does not exist: create it (scripts/setup.sh does this)`,
    );
  }
}

export class PostgresStartFailedError extends PostgresError {
  readonly logTail: string;

  constructor(reason: string, logFile: string, logTail: string) {
    super(
      "postgres_start_failed",
      `PostgreSQL did not start (${reason}); see ${logFile}. Last log lines:\n${logTail}`,
    );
    this.logTail = logTail;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
