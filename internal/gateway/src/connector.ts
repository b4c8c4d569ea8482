import { Duplex } from "node:stream";
import type { Runtime, Session, SessionOptions } from "@boxyard/runtime";
import type { BoxRoute } from "./directory.ts";

/** How the gateway reaches into a box: sessions (shell/exec/sftp) and TCP to a box port. */
export interface BoxConnector {
  session(route: BoxRoute, opts: SessionOptions): Promise<Session>;
  /** A byte stream to 127.0.0.1:port as seen from inside the box. */
  connectTcp(route: BoxRoute, port: number): Promise<Duplex>;
}

export class BoxUnavailableError extends Error {
  readonly code = "box_not_running";
}

/** Path of the in-box init inside every box; its `relay` mode bridges stdio to a TCP port. */
export const BOX_INIT_PATH = "/.boxyard/init";

/**
 * All-in-one mode: the gateway and the node agent share a process, so
 * sessions go straight to the node's runtime. TCP forwarding runs a relay
 * inside the box (the in-box init's `relay` mode) rather than connecting to
 * the box's address from the host: servers such as VS Code's bind to the
 * box's own loopback, which only a process inside the box can reach.
 */
export class LocalRuntimeConnector implements BoxConnector {
  constructor(private readonly runtime: Runtime) {}

  session(route: BoxRoute, opts: SessionOptions): Promise<Session> {
    return this.runtime.session(route.boxId, opts);
  }

  async connectTcp(route: BoxRoute, port: number): Promise<Duplex> {
    const s = await this.runtime.session(route.boxId, {
      command: [BOX_INIT_PATH, "relay", String(port)],
      user: "dev",
    });
    const duplex = Duplex.from({ readable: s.stdout, writable: s.stdin });
    duplex.on("close", () => s.signal("SIGTERM"));
    return duplex;
  }
}
