import { RuntimeError } from "@boxyard/runtime";

/** Runtime error codes retrying cannot fix on this node: the box fails and the user sees why. */
const PERMANENT_CODES = new Set(["image_layer_missing", "resources_exceed_limits", "invalid_box_id"]);

export interface StepFailure {
  generation: number;
  attempts: number;
  /** Epoch ms of the next try; permanent failures wait for a new generation. */
  nextAt: number;
  permanent: boolean;
  code: string;
  message: string;
}

export function classify(err: unknown): { code: string; message: string; permanent: boolean } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof RuntimeError)
    return { code: err.code, message, permanent: PERMANENT_CODES.has(err.code) };
  const e = err as { code?: unknown; permanent?: unknown };
  return {
    code: typeof e?.code === "string" ? e.code : "agent_step_failed",
    message,
    permanent: e?.permanent === true,
  };
}
