import type { BoxRoute, GatewayUser } from "./directory.ts";

export interface WakeOptions {
  /**
   * Asks the control plane to wake the box for this user: it resumes a paused
   * box, boots a stopped one if the template allows, and otherwise refuses
   * with a message for the user (quota admission and audit as for resume).
   */
  requestWake(user: GatewayUser, route: BoxRoute): Promise<void>;
  /** The box as the control plane sees it now (never a cached answer). */
  current(user: GatewayUser, route: BoxRoute): Promise<BoxRoute | null>;
  /** Called once the box runs, e.g. to drop cached routes. */
  onAwake?(route: BoxRoute): void;
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Wake on connect: a login to a box that is not running asks the control
 * plane to wake it (resume a paused box; boot a stopped one where the
 * template says so) and waits for it, telling the client what is happening.
 */
export function wakeOnConnect(o: WakeOptions) {
  return async (user: GatewayUser, route: BoxRoute, say: (msg: string) => void): Promise<BoxRoute> => {
    const paused =
      route.desiredState === "paused" || route.actualState === "paused" || route.actualState === "resuming";
    const started = Date.now();
    if (route.desiredState !== "running") {
      try {
        await o.requestWake(user, route);
      } catch (err) {
        // The control plane's reason (a problem's detail) is what the user needs to read.
        const detail = (err as { detail?: unknown }).detail;
        throw new Error(
          typeof detail === "string" ? detail : err instanceof Error ? err.message : String(err),
        );
      }
    }
    say(paused ? `Resuming ${route.boxName}…` : `Starting ${route.boxName}…`);
    for (;;) {
      const box = await o.current(user, route);
      if (!box) throw new Error(`box ${route.boxName} is gone`);
      if (box.actualState === "running" && box.desiredState === "running") {
        o.onAwake?.(box);
        say(`${route.boxName} is running (${((Date.now() - started) / 1000).toFixed(1)}s).`);
        return box;
      }
      if (box.actualState === "failed")
        throw new Error(`box ${route.boxName} failed to wake: ${box.lastError ?? "unknown error"}`);
      if (Date.now() - started > (o.timeoutMs ?? 120_000))
        throw new Error(
          `box ${route.boxName} did not wake within ${Math.round((o.timeoutMs ?? 120_000) / 1000)} s`,
        );
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
    }
  };
}
