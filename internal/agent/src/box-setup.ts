// What a running box gets from its node beyond the runtime's steps: its
// secrets, written as files each time its sandbox (re)starts and again when
// a value changes (the desired entry's secrets revision), its repository,
// cloned into /workspace at its first start, and then its onStart commands,
// once per boot of its sandbox (on-start.ts). All are level-triggered: the
// agent asks `ensure` whenever a box is running as wanted, and whatever is
// already done costs nothing (secrets: once per sandbox and revision;
// checkout: once per agent process, then the commit is only reported;
// onStart: read back until the run ends). A box seen not running (stopped,
// paused, checkpointed) loses its delivered secrets with its tmpfs or its
// checkpoint scrub, so it gets them again when it runs.

import { createHmac, randomBytes } from "node:crypto";
import { BOX_SECRETS_DIR, type ControlPlaneLink, type DesiredBox } from "@boxyard/agent-protocol";
import { type BackoffOptions, backoffMs } from "@boxyard/lifecycle/backoff";
import type { Runtime } from "@boxyard/runtime";
import type { Logger } from "pino";
import { checkOnStart, type OnStartRun } from "./on-start.ts";
import { CHECKOUT } from "./repo-checkout.ts";

export interface BoxSetupOptions {
  runtime: Runtime;
  link: ControlPlaneLink;
  logger: Logger;
  retry: BackoffOptions;
  /** How long one clone may take. */
  cloneTimeoutMs?: number;
  /** Called once a box's secrets are in its current sandbox (before its checkout). */
  onSecrets?: (boxId: string) => void;
}

/** What the box's report carries about its setup. */
export interface SetupOutcome {
  repoCommit?: string;
  /** Something the owner should know (a missing secret, a failed clone), for the report's reason. */
  problem?: string;
  /** When to look again after a failure (epoch ms). */
  retryAt?: number;
}

interface Failure {
  attempts: number;
  nextAt: number;
  message: string;
}

export class BoxSetup {
  /** Secrets revision delivered into each box's current sandbox. */
  private readonly delivered = new Map<string, string>();
  /**
   * A digest of the names and values in each box's current sandbox: a new
   * revision with the same content (a box claimed from a warm pool whose
   * owner has no secret of their own by those names) is not written again.
   */
  private readonly deliveredDigest = new Map<string, string>();
  /** The digests' key: random per process, so a digest in memory (a core dump) cannot be checked against guesses. */
  private readonly digestKey = randomBytes(32);
  private readonly secretProblems = new Map<string, string>();
  private readonly commits = new Map<string, string>();
  private readonly failures = new Map<string, Failure>();
  /** The onStart run in each box's current sandbox, as last read. */
  private readonly onStart = new Map<string, OnStartRun>();

  constructor(private readonly o: BoxSetupOptions) {}

  /** The box is not running: what was in its sandbox's memory is gone (or was scrubbed). */
  notRunning(boxId: string): void {
    this.delivered.delete(boxId);
    this.deliveredDigest.delete(boxId);
    // A resumed sandbox still knows its run; a new one starts it again.
    this.onStart.delete(boxId);
  }

  forget(boxId: string): void {
    this.delivered.delete(boxId);
    this.deliveredDigest.delete(boxId);
    this.onStart.delete(boxId);
    this.secretProblems.delete(boxId);
    this.commits.delete(boxId);
    this.failures.delete(boxId);
  }

  /**
   * Whether a command may run in the box with what its desired entry says it
   * holds: its secrets are in its current sandbox (or it wants none), or
   * their delivery failed and is being retried (the box runs without them
   * and its report says so).
   */
  secretsSettled(want: DesiredBox): boolean {
    if (!want.spec.secrets) return true;
    if (this.failures.has(want.boxId)) return true;
    return this.delivered.get(want.boxId) === secretsKey(want);
  }

  /** Brings a running box's secrets and checkout up to its desired entry. */
  async ensure(nodeId: string, want: DesiredBox): Promise<SetupOutcome> {
    const boxId = want.boxId;
    const failure = this.failures.get(boxId);
    if (failure && Date.now() < failure.nextAt) return { problem: failure.message, retryAt: failure.nextAt };
    try {
      await this.ensureSecrets(nodeId, want);
      const repoCommit = await this.ensureCheckout(want);
      const run = await this.ensureOnStart(want);
      this.failures.delete(boxId);
      const problem = [this.secretProblems.get(boxId), run?.problem].filter(Boolean).join("; ");
      return {
        ...(repoCommit ? { repoCommit } : {}),
        ...(problem ? { problem } : {}),
        ...(run?.status === "running" ? { retryAt: run.nextCheck } : {}),
      };
    } catch (err) {
      const attempts = (failure?.attempts ?? 0) + 1;
      const message = String((err as Error).message ?? err).slice(0, 500);
      const f = { attempts, nextAt: Date.now() + backoffMs(attempts, this.o.retry), message };
      this.failures.set(boxId, f);
      this.o.logger.warn({ boxId, attempts, problem: message }, "box setup failed; retrying");
      return { problem: message, retryAt: f.nextAt };
    }
  }

  private async ensureSecrets(nodeId: string, want: DesiredBox): Promise<void> {
    const wanted = want.spec.secrets;
    const key = secretsKey(want);
    if ((this.delivered.get(want.boxId) ?? "") === key) return;
    if (!this.o.runtime.writeSecrets)
      throw new Error(`the ${this.o.runtime.name} runtime cannot put secrets into boxes`);
    if (!this.o.link.fetchBoxSecrets) throw new Error("this control-plane link cannot fetch secrets");
    const got = wanted ? await this.o.link.fetchBoxSecrets(nodeId, want.boxId) : { secrets: [], missing: [] };
    const values = got.secrets.map((s) => ({ name: s.name, value: Buffer.from(s.value, "base64") }));
    // An HMAC with this process's random key, per box: it never leaves the process and tells nothing without the key.
    const h = createHmac("sha256", this.digestKey).update(want.boxId);
    for (const v of [...values].sort((a, b) => a.name.localeCompare(b.name)))
      h.update(`\0${v.name}\0${v.value.length}\0`).update(v.value);
    const digest = h.digest("hex");
    const unchanged = this.deliveredDigest.get(want.boxId) === digest;
    try {
      // The same names and values are in the sandbox already: nothing to write (one runsc exec fewer).
      if (!unchanged) await this.o.runtime.writeSecrets(want.boxId, values);
    } finally {
      for (const v of values) v.value.fill(0);
    }
    this.delivered.set(want.boxId, key);
    this.deliveredDigest.set(want.boxId, digest);
    this.o.onSecrets?.(want.boxId);
    if (got.missing.length > 0) {
      this.secretProblems.set(
        want.boxId,
        `secrets not set: ${got.missing.join(", ")} (set them with 'boxyard secrets set NAME'; the running box gets them at once)`,
      );
    } else this.secretProblems.delete(want.boxId);
    this.o.logger.info(
      { boxId: want.boxId, secrets: values.length, missing: got.missing, unchanged },
      unchanged ? "secrets in the box already as they are" : "secrets written into the box",
    );
  }

  /** Starts the box's onStart run in this sandbox, or reads how it is going until it ends. */
  private async ensureOnStart(want: DesiredBox): Promise<OnStartRun | undefined> {
    const commands = want.spec.onStart;
    if (!commands?.length) return undefined;
    const known = this.onStart.get(want.boxId);
    if (known && (known.status !== "running" || Date.now() < known.nextCheck)) return known;
    const run = await checkOnStart(this.o.runtime, want.boxId, commands, known);
    this.onStart.set(want.boxId, run);
    if (run.status !== known?.status)
      this.o.logger.info({ boxId: want.boxId, onStart: run.status }, "onStart commands");
    return run;
  }

  private async ensureCheckout(want: DesiredBox): Promise<string | undefined> {
    const repo = want.spec.repo;
    if (!repo) return undefined;
    const known = this.commits.get(want.boxId);
    if (known) return known;
    const started = Date.now();
    const r = await this.o.runtime.exec(want.boxId, {
      command: [
        "/bin/sh",
        "-c",
        CHECKOUT,
        "sh",
        repo.url,
        repo.ref ?? "",
        repo.secret ? `${BOX_SECRETS_DIR}/${repo.secret}` : "",
      ],
      user: "dev",
      cwd: "/workspace",
      // The credential reaches git only through the helper that reads its file, not as a variable.
      noSecretsEnv: true,
      timeoutMs: this.o.cloneTimeoutMs ?? 15 * 60_000,
      maxOutputBytes: 64 * 1024,
    });
    const commit = r.stdout.toString("utf8").trim().split("\n").pop() ?? "";
    if (r.exitCode !== 0 || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) {
      const why =
        r.exitCode === 127
          ? "git is not in the box's image (add it to image.packages)"
          : r.stderr.toString("utf8").trim().split("\n").slice(-3).join(" / ").slice(0, 400);
      throw new Error(`checkout of ${repo.url} failed: ${r.timedOut ? "timed out" : why}`);
    }
    this.commits.set(want.boxId, commit);
    this.o.logger.info({ boxId: want.boxId, commit, ms: Date.now() - started }, "repository checked out");
    return commit;
  }
}

/** The secrets a desired entry asks for, as `delivered` remembers them ("" for none). */
function secretsKey(want: DesiredBox): string {
  const wanted = want.spec.secrets;
  return wanted ? JSON.stringify([wanted.names, wanted.revision]) : "";
}
