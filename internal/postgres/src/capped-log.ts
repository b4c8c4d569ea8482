// PostgreSQL's stderr goes through the supervisor into postgres.log, so the
// file stays owned by the server user and its size stays bounded: when it
// passes maxBytes it is renamed to postgres.log.1 (replacing the previous one).

import { closeSync, fstatSync, openSync, readSync, renameSync, statSync, writeSync } from "node:fs";

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;

export class CappedLog {
  readonly path: string;
  readonly #maxBytes: number;
  #fd: number;
  #size: number;
  #closed = false;

  constructor(options: { path: string; maxBytes?: number }) {
    this.path = options.path;
    this.#maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.#fd = openSync(this.path, "a", 0o600);
    this.#size = fstatSync(this.#fd).size;
  }

  write(chunk: Buffer | string): void {
    // Leftover backends can still write to the pipe after stop(); their lines are dropped.
    if (this.#closed) return;
    const bytes = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (this.#size + bytes.length > this.#maxBytes && this.#size > 0) this.#rotate();
    writeSync(this.#fd, bytes);
    this.#size += bytes.length;
  }

  /** Marks supervisor events in the log, so a reader sees restarts in order with postgres' own lines. */
  note(line: string): void {
    this.write(`${new Date().toISOString()} [boxyard] ${line}\n`);
  }

  /** The last `lines` lines of the current file. */
  tail(lines = 20): string {
    const size = statSync(this.path).size;
    const length = Math.min(size, 16 * 1024);
    const buffer = Buffer.alloc(length);
    const fd = openSync(this.path, "r");
    try {
      readSync(fd, buffer, 0, length, size - length);
    } finally {
      closeSync(fd);
    }
    return buffer.toString("utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#fd);
  }

  #rotate(): void {
    closeSync(this.#fd);
    renameSync(this.path, `${this.path}.1`);
    this.#fd = openSync(this.path, "a", 0o600);
    this.#size = 0;
  }
}
