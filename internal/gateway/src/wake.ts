import type { BoxRoute, GatewayUser } from "./directory.ts";

export interface WakeOptions {
  /** Asks the control plane to resume the box as this user (quota admission and audit as for `boxyard resume`). */
  requestResume(user: GatewayUser, route: BoxRoute): Promise<void>;
  /** The box as the control plane sees it now (never a cached answer). */
  current(user: GatewayUser, route: BoxRoute): Promise<BoxRoute | null>;
  /** Called once the box runs, e.g. to drop cached routes. */
  onAwake?(route: BoxRoute): void;
  timeoutMs?: number;
  pollMs?: number;
}

/**
 * Wake on connect: a login to a paused box resumes it and waits for it,
 * telling the client what is happening. A stopped box is not started: that
 * is a cold boot the owner should ask for.
 */
export function wakeOnConnect(o: WakeOptions) {
  return async (user: GatewayUser, route: BoxRoute, say: (msg: string) => void): Promise<BoxRoute> => {
    if (route.desiredState !== "paused" && route.actualState !== "paused" && route.actualState !== "resuming")
      throw new Error(
        `box ${route.boxName} is ${route.actualState}; start it first (boxyard start ${route.boxName})`,
      );
    say(`Resuming ${route.boxName}…`);
    const started = Date.now();
    if (route.desiredState !== "running") await o.requestResume(user, route);
    for (;;) {
      const box = await o.current(user, route);
      if (!box) throw new Error(`box ${route.boxName} is gone`);
      if (box.actualState === "running" && box.desiredState === "running") {
        o.onAwake?.(box);
        say(`${route.boxName} is running (${((Date.now() - started) / 1000).toFixed(1)}s).`);
        return box;
      }
      if (box.actualState === "failed")
        throw new Error(`box ${route.boxName} failed to resume: ${box.lastError ?? "unknown error"}`);
      if (Date.now() - started > (o.timeoutMs ?? 120_000))
        throw new Error(
          `box ${route.boxName} did not resume within ${Math.round((o.timeoutMs ?? 120_000) / 1000)} s`,
        );
      await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
    }
  };
}
