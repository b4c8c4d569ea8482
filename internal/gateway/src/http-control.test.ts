import { describe, expect, it } from "vitest";
import { AuditEventOutbox, type GatewayAuditEvent } from "./http-control.ts";

const event = (n: number): GatewayAuditEvent => ({
  action: "box.session.open",
  at: new Date(n * 1000).toISOString(),
  userId: "usr_00000000000000000000",
  orgId: "org_00000000000000000000",
  boxId: "box_00000000000000000000",
  details: { n },
});

describe("AuditEventOutbox", () => {
  it("keeps events while the control plane is away and delivers them in order once it answers", async () => {
    const delivered: number[] = [];
    let up = false;
    const errors: number[] = [];
    const outbox = new AuditEventOutbox({
      send: async (events) => {
        if (!up) throw new Error("connection refused");
        delivered.push(...events.map((e) => e.details.n as number));
      },
      onError: (_err, pending) => errors.push(pending),
    });
    for (let i = 1; i <= 3; i++) outbox.push(event(i));
    await outbox.flush();
    expect(delivered).toEqual([]);
    expect(outbox.pending).toBe(3);
    expect(errors.length).toBeGreaterThan(0);
    up = true;
    outbox.push(event(4));
    await outbox.flush();
    await outbox.flush();
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(outbox.pending).toBe(0);
    await outbox.close();
  });

  it("bounds what it holds, dropping the oldest and counting them", async () => {
    const outbox = new AuditEventOutbox({
      send: async () => {
        throw new Error("down");
      },
      maxEvents: 5,
    });
    for (let i = 1; i <= 8; i++) outbox.push(event(i));
    await outbox.flush();
    expect(outbox.pending).toBe(5);
    expect(outbox.dropped).toBe(3);
    await outbox.close();
  });

  it("sends an empty batch as a heartbeat when nothing else went out lately", async () => {
    const sizes: number[] = [];
    const outbox = new AuditEventOutbox({
      send: async (events) => {
        sizes.push(events.length);
      },
      heartbeatMs: 0,
    });
    await outbox.flush();
    expect(sizes).toEqual([0]);
    await outbox.close();
  });
});
