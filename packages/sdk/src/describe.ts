import type { Box } from "@boxyard/contract";
import type { z } from "zod";

type BoxT = z.output<typeof Box>;

/** `running`, or `starting -> running` while the box moves towards what was asked. */
export function boxStateLabel(b: Pick<BoxT, "actualState" | "desiredState">): string {
  return b.actualState === b.desiredState ? b.actualState : `${b.actualState} -> ${b.desiredState}`;
}

/** True while the platform is still working towards the state that was asked for. */
export function boxIsSettling(b: Pick<BoxT, "actualState" | "desiredState">): boolean {
  return b.actualState !== b.desiredState && b.actualState !== "failed";
}

/** The last error in one line, with whether the platform is still retrying. */
export function boxErrorLine(b: Pick<BoxT, "lastError">): string | null {
  const e = b.lastError;
  if (!e) return null;
  return `${e.message}${e.permanent ? ", not retrying" : `, retrying (attempt ${e.attempts})`}`;
}

export interface BoxExplanation {
  /** What survives what, one sentence per entry. */
  persists: string[];
  /** When the box auto-pauses or auto-stops, and why. */
  autoStop: string[];
}

/**
 * In plain words, what persists for this box and when it stops by itself:
 * `boxyard show` prints it and the dashboard shows it, from this one place.
 * `resume` names how a person resumes (a CLI command or a button).
 */
export function explainBox(b: Pick<BoxT, "persistent">, opts: { resume?: string } = {}): BoxExplanation {
  const resume = opts.resume ?? "'boxyard resume'";
  return {
    persists: [
      "/home/dev and /workspace are the box's volume; changes elsewhere in the file system (installed packages, /etc) are kept in the box's own layer.",
      "Both survive stop and start. /tmp does not.",
      `Pause keeps running processes too: ${resume} continues them where they were.`,
      b.persistent
        ? "This box is marked persistent, but off-node backups are not implemented yet: if its node is lost, so is its disk."
        : "This box is not persistent: if its node is lost, so is its disk.",
    ],
    autoStop: ["None configured: the box runs until you stop or pause it."],
  };
}
