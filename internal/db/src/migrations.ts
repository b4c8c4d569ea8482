import m0001 from "../migrations/0001_identity.sql?raw";

export interface Migration {
  /** Contiguous from 1; the file is migrations/NNNN_name.sql. */
  id: number;
  name: string;
  sql: string;
}

/**
 * Every migration, in order. Forward-only: an applied migration is never
 * edited (its checksum is checked at start) and never rolled back in
 * production; a change is a new migration. A test checks this list against
 * the files in migrations/.
 */
export const migrations: readonly Migration[] = [{ id: 1, name: "identity", sql: m0001 }];
