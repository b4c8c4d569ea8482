import { expect } from "vitest";
import { describeRuntimeConformance } from "../conformance.ts";
import { createTestNode } from "./test-node.ts";

describeRuntimeConformance(
  "gvisor (busybox layer)",
  async () => {
    const node = await createTestNode();
    return {
      newRuntime: () => node.runtime(),
      spec: (id) => node.spec(id),
      async assertNoLeaks() {
        expect(await node.leaks()).toEqual([]);
      },
      close: () => node.close(),
    };
  },
  { timeoutMs: 120_000 },
);
