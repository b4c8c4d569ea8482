// A ControlPlaneLink for an agent in another process: the control plane's
// /api/v1/agent/... routes over HTTP. Registration uses a site admin's API
// token and yields the node token used for everything after it. Calls the
// control plane makes into the agent (exec) need a channel back to the
// node, which this transport does not have yet.

import { BuildClaim, type BuildJob, type BuildUpdate, BuildUpdateAck } from "./builds.ts";
import type { AgentCommands, ControlPlaneLink, FetchDesiredOptions } from "./link.ts";
import { BoxSecretValues } from "./secrets.ts";
import { PrebuildClaim, type PrebuildJob, type PrebuildUpdate } from "./prebuilds.ts";
import {
  type BoxReport,
  DesiredSet,
  type Heartbeat,
  type NodeCommand,
  NodeCommandList,
  type NodeCommandResult,
  type NodeRegistration,
  type Registered,
} from "./schemas.ts";

export class HttpLinkError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "HttpLinkError";
    this.status = status;
    // A control plane that forgot the node (or its token) answers 401: register again.
    this.code = status === 401 ? "node_not_found" : code;
  }
}

export interface HttpLinkOptions {
  /** e.g. http://127.0.0.1:7080 */
  baseUrl: string;
  /** A site admin's API token, for registration. */
  registrationToken: string;
  fetch?: typeof fetch;
}

export class HttpControlPlaneLink implements ControlPlaneLink {
  private nodeToken: string | undefined;
  private nodeId: string | undefined;
  private readonly fetch: typeof fetch;

  constructor(private readonly o: HttpLinkOptions) {
    this.fetch = o.fetch ?? globalThis.fetch;
  }

  async register(reg: NodeRegistration, _commands?: AgentCommands): Promise<Registered> {
    const out = (await this.request("POST", "/api/v1/agent/register", reg, {
      authorization: `Bearer ${this.o.registrationToken}`,
    })) as { nodeId: string; nodeToken: string };
    this.nodeToken = out.nodeToken;
    this.nodeId = out.nodeId;
    return { nodeId: out.nodeId };
  }

  async heartbeat(nodeId: string, hb: Heartbeat): Promise<void> {
    await this.request("POST", `/api/v1/agent/nodes/${nodeId}/heartbeat`, hb, this.auth());
  }

  async fetchDesired(nodeId: string, sinceVersion: number, opts: FetchDesiredOptions) {
    const q = `since=${sinceVersion}&waitMs=${Math.min(60_000, Math.max(0, Math.round(opts.waitMs)))}`;
    const body = await this.request(
      "GET",
      `/api/v1/agent/nodes/${nodeId}/desired?${q}`,
      undefined,
      this.auth(),
      opts.signal,
    );
    return DesiredSet.parse(body);
  }

  async report(nodeId: string, reports: BoxReport[]): Promise<{ accepted: number }> {
    return (await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/reports`,
      { reports },
      this.auth(),
    )) as {
      accepted: number;
    };
  }

  async fetchCommands(nodeId: string, opts: FetchDesiredOptions): Promise<NodeCommand[]> {
    const waitMs = Math.min(60_000, Math.max(0, Math.round(opts.waitMs)));
    const body = await this.request(
      "GET",
      `/api/v1/agent/nodes/${nodeId}/commands?waitMs=${waitMs}`,
      undefined,
      this.auth(),
      opts.signal,
    );
    return NodeCommandList.parse(body).commands;
  }

  async replyCommand(nodeId: string, commandId: string, result: NodeCommandResult): Promise<void> {
    await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/commands/${commandId}/reply`,
      result,
      this.auth(),
    );
  }

  async claimBuild(nodeId: string, opts: FetchDesiredOptions): Promise<BuildJob | null> {
    const waitMs = Math.min(60_000, Math.max(0, Math.round(opts.waitMs)));
    const body = await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/builds/claim?waitMs=${waitMs}`,
      undefined,
      this.auth(),
      opts.signal,
    );
    return BuildClaim.parse(body).build;
  }

  async updateBuild(nodeId: string, buildId: string, update: BuildUpdate): Promise<boolean> {
    const body = await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/builds/${buildId}`,
      update,
      this.auth(),
    );
    return BuildUpdateAck.parse(body).accepted;
  }

  async claimPrebuild(nodeId: string, opts: FetchDesiredOptions): Promise<PrebuildJob | null> {
    const waitMs = Math.min(60_000, Math.max(0, Math.round(opts.waitMs)));
    const body = await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/prebuilds/claim?waitMs=${waitMs}`,
      undefined,
      this.auth(),
      opts.signal,
    );
    return PrebuildClaim.parse(body).prebuild;
  }

  async updatePrebuild(nodeId: string, prebuildId: string, update: PrebuildUpdate): Promise<boolean> {
    const body = await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/prebuilds/${prebuildId}`,
      update,
      this.auth(),
    );
    return BuildUpdateAck.parse(body).accepted;
  }

  async fetchBoxSecrets(nodeId: string, boxId: string): Promise<BoxSecretValues> {
    const body = await this.request(
      "POST",
      `/api/v1/agent/nodes/${nodeId}/boxes/${boxId}/secrets`,
      undefined,
      this.auth(),
    );
    return BoxSecretValues.parse(body);
  }

  /** An uploaded image archive's bytes, and whether it was accepted with setuid files kept. */
  async openImageArchive(
    digest: string,
  ): Promise<{ body: ReadableStream<Uint8Array>; allowSetuid: boolean }> {
    if (!this.nodeId) throw new HttpLinkError(401, "node_not_found", "not registered yet");
    const res = await this.fetch(
      new URL(`/api/v1/agent/nodes/${this.nodeId}/images/${digest}`, this.o.baseUrl),
      {
        headers: this.auth(),
      },
    );
    if (!res.ok || !res.body) {
      const text = await res.text();
      let code = `http_${res.status}`;
      try {
        code = (JSON.parse(text) as { code?: string }).code ?? code;
      } catch {
        // Not a problem document.
      }
      throw new HttpLinkError(res.status, code, `image ${digest}: ${res.status} ${text.slice(0, 200)}`);
    }
    return { body: res.body, allowSetuid: res.headers.get("x-boxyard-allow-setuid") === "true" };
  }

  private auth(): Record<string, string> {
    if (!this.nodeToken) throw new HttpLinkError(401, "node_not_found", "not registered yet");
    return { "x-boxyard-node-token": this.nodeToken };
  }

  private async request(
    method: string,
    path: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const call = (async () => {
      const res = await this.fetch(new URL(path, this.o.baseUrl), {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { res, text: await res.text() };
    })();
    // The signal ends the wait, not the request: an aborted fetch can leave a
    // half-used connection the server only drops after its headers timeout,
    // which holds up the server's shutdown. A long poll ends by itself soon.
    const { res, text } = signal ? await abortable(call, signal) : await call;
    if (!res.ok) {
      let code = `http_${res.status}`;
      try {
        code = (JSON.parse(text) as { code?: string }).code ?? code;
      } catch {
        // Not a problem document.
      }
      throw new HttpLinkError(res.status, code, `${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
    }
    return text ? JSON.parse(text) : undefined;
  }
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => {});
  if (signal.aborted) return Promise.reject(new Error("aborted"));
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
