import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { isDomainError } from "@boxyard/errors";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { cancelledWhenClientLeaves } from "./register.ts";

// B2 (iv) on the HTTP side: a GET whose client went away cancels the store's
// remaining queries (the store refuses an aborted signal: authz store tests).
describe("cancelledWhenClientLeaves", () => {
  const app = Fastify();
  afterEach(async () => {
    await app.close();
  });

  it("aborts with request_cancelled when the client closes before the answer, and not after one", async () => {
    const signals: AbortSignal[] = [];
    let seen: () => void = () => {};
    const arrived = new Promise<void>((r) => {
      seen = r;
    });
    app.get("/slow", async (_req, reply) => {
      const signal = cancelledWhenClientLeaves(reply);
      signals.push(signal);
      seen();
      await new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => resolve());
        setTimeout(resolve, 5_000);
      });
      return { ok: true };
    });
    app.get("/fast", async (_req, reply) => {
      signals.push(cancelledWhenClientLeaves(reply));
      return { ok: true };
    });
    await app.listen({ host: "127.0.0.1", port: 0 });
    const port = (app.server.address() as AddressInfo).port;

    const res = await fetch(`http://127.0.0.1:${port}/fast`);
    expect(await res.json()).toEqual({ ok: true });
    await new Promise((r) => setTimeout(r, 50));
    expect(signals[0]!.aborted).toBe(false);

    const req = request({ host: "127.0.0.1", port, path: "/slow" });
    req.on("error", () => {});
    req.end();
    await arrived;
    req.destroy();
    const slow = signals[1]!;
    await new Promise<void>((resolve) =>
      slow.aborted ? resolve() : slow.addEventListener("abort", () => resolve()),
    );
    expect(isDomainError(slow.reason) && slow.reason.code).toBe("request_cancelled");
  });
});
