import { describe, expect, it } from "vitest";
import { buildPath } from "./client.ts";
import { readSse } from "./sse.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(enc.encode(ch));
      c.close();
    },
  });
}

describe("sse reader", () => {
  it("splits events across chunk boundaries and skips comments", async () => {
    const out = [];
    for await (const e of readSse(
      streamOf(": hi\n\nevent: state\nda", 'ta: {"a":1}\nid: 7\n\ndata: x\ndata: y\n\n'),
    )) {
      out.push(e);
    }
    expect(out).toEqual([
      { event: "state", data: '{"a":1}', id: "7" },
      { event: "message", data: "x\ny" },
    ]);
  });
});

describe("paths", () => {
  it("encodes parameters and refuses missing ones", () => {
    expect(buildPath("/api/v1/orgs/:org/boxes/:box", { org: "acme", box: "a/b" })).toBe(
      "/api/v1/orgs/acme/boxes/a%2Fb",
    );
    expect(() => buildPath("/api/v1/orgs/:org", {})).toThrow("org");
  });
});
