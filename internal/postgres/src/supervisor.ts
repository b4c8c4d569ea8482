// Runs one postmaster as a child and keeps it running: an unexpected exit is
// logged and followed by a restart after a capped exponential backoff. stop()
// asks for a fast shutdown and escalates to SIGKILL after a deadline.

import { type ChildProcess, spawn } from "node:child_process";
import type { PostgresBinaries } from "./binaries.ts";
import type { CappedLog } from "./capped-log.ts";
import { PostgresStartFailedError } from "./errors.ts";
import type { PgLayout } from "./layout.ts";
import type { Logger } from "./logger.ts";
import { type PgUser, pgUserSpawnOptions } from "./pg-user.ts";
import { postgresArgs } from "./postgres-args.ts";
import { signalProcess } from "./process-state.ts";
import { waitForPostgres } from "./wait-for-postgres.ts";

export type PostgresEvent =
  | { type: "exited"; pid: number; code: number | null; signal: NodeJS.Signals | null }
  | { type: "restarted"; pid: number; downMs: number; attempt: number }
  | { type: "restart_failed"; attempt: number; reason: string };

export interface SupervisorOptions {
  binaries: PostgresBinaries;
  layout: PgLayout;
  user: PgUser;
  log: CappedLog;
  logger: Logger;
  /** A superuser URL over the socket, used to tell when the server is ready. */
  readinessUrl: string;
  startTimeoutMs: number;
  stopTimeoutMs: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  onEvent?: (event: PostgresEvent) => void;
}

/** A run this long counts as healthy, so the next crash restarts without backoff build-up. */
const STABLE_RUN_MS = 30_000;

export class PostgresSupervisor {
  readonly #options: SupervisorOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  #attempt = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #downSince = 0;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Starts the first postmaster and waits until it serves queries. */
  async start(): Promise<void> {
    const child = this.#spawn();
    try {
      await this.#waitReady(child);
    } catch (error) {
      this.#stopping = true;
      clearTimeout(this.#restartTimer);
      await this.#terminate();
      const { log } = this.#options;
      throw new PostgresStartFailedError((error as Error).message, log.path, log.tail());
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#restartTimer);
    await this.#terminate();
  }

  #spawn(): ChildProcess {
    const { binaries, layout, user, log } = this.#options;
    const child = spawn(binaries.postgres, postgresArgs(layout, { kind: "socket-only" }), {
      ...pgUserSpawnOptions(user),
      cwd: layout.clusterDir,
      // Its own process group: a Ctrl-C meant for the server must not reach
      // PostgreSQL before the server asks it to stop, and the group lets us
      // clear a dead postmaster's leftover backends.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (chunk: Buffer) => log.write(chunk));
    child.stderr?.on("data", (chunk: Buffer) => log.write(chunk));
    const startedAt = Date.now();
    this.#exited = new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        this.#onExit(child, { code, signal, ranMs: Date.now() - startedAt });
        resolve();
      });
      child.on("error", (error) => {
        log.note(`spawn failed: ${error.message}`);
        resolve();
      });
    });
    this.#child = child;
    log.note(`started postgres pid ${child.pid ?? "?"}`);
    return child;
  }

  async #waitReady(child: ChildProcess): Promise<void> {
    await waitForPostgres(this.#options.readinessUrl, {
      timeoutMs: this.#options.startTimeoutMs,
      giveUp: () =>
        child.exitCode !== null || child.signalCode !== null || child.pid === undefined
          ? `postgres exited (${child.exitCode ?? child.signalCode ?? "spawn failed"})`
          : undefined,
    });
  }

  #onExit(
    child: ChildProcess,
    exit: { code: number | null; signal: NodeJS.Signals | null; ranMs: number },
  ): void {
    const { logger, log, onEvent } = this.#options;
    const pid = child.pid ?? -1;
    log.note(`postgres pid ${pid} exited (code ${exit.code}, signal ${exit.signal})`);
    onEvent?.({ type: "exited", pid, code: exit.code, signal: exit.signal });
    if (this.#stopping || child !== this.#child) return;
    // Backends of a killed postmaster hold its shared memory and keep a new
    // one from starting; they are useless now, so they go at once.
    if (pid > 0) signalProcess(-pid, "SIGKILL");
    if (exit.ranMs >= STABLE_RUN_MS) this.#attempt = 0;
    if (this.#downSince === 0) this.#downSince = Date.now();
    this.#attempt += 1;
    const { minBackoffMs, maxBackoffMs } = this.#options;
    const delayMs = Math.min(maxBackoffMs, minBackoffMs * 2 ** (this.#attempt - 1));
    logger.warn(
      { pid, code: exit.code, signal: exit.signal, attempt: this.#attempt, delayMs },
      "PostgreSQL exited unexpectedly; restarting",
    );
    this.#restartTimer = setTimeout(() => void this.#restart(), delayMs);
  }

  async #restart(): Promise<void> {
    if (this.#stopping) return;
    const { logger, onEvent } = this.#options;
    const attempt = this.#attempt;
    const child = this.#spawn();
    try {
      await this.#waitReady(child);
    } catch (error) {
      // An early exit schedules the next attempt from the exit handler. A
      // server still running after the deadline is probably replaying WAL, so
      // it is left to finish rather than killed half-way through recovery.
      const reason = (error as Error).message;
      logger.error({ attempt, reason }, "PostgreSQL restart did not become ready");
      onEvent?.({ type: "restart_failed", attempt, reason });
      return;
    }
    if (this.#stopping || child !== this.#child) return;
    const downMs = Date.now() - this.#downSince;
    this.#downSince = 0;
    logger.info({ pid: child.pid, attempt, downMs }, "PostgreSQL restarted");
    onEvent?.({ type: "restarted", pid: child.pid ?? -1, downMs, attempt });
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    const pid = this.pid();
    if (child === undefined || pid === undefined) return;
    const { stopTimeoutMs, log, logger } = this.#options;
    log.note(`stopping postgres pid ${pid} (fast shutdown)`);
    signalProcess(pid, "SIGINT");
    const timedOut = await Promise.race([
      this.#exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, stopTimeoutMs, true).unref()),
    ]);
    if (timedOut) {
      logger.error({ pid, stopTimeoutMs }, "PostgreSQL did not stop in time; killing it");
      signalProcess(-pid, "SIGKILL");
      await this.#exited;
    }
  }
}
