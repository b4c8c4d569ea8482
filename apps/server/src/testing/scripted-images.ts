// Test support: an image builder for the fake runtime that behaves like the
// real one where build tests look: it logs, fails on a package Debian does
// not have, remembers what it built (cache hits), and can be held mid-build.

import type { ImageBuildOptions, ImageBuildResult, ImageResolver } from "@boxyard/agent";
import { type ImageSpec, imageKey } from "@boxyard/agent-protocol";

/**
 * A builder that behaves like the real one where it matters here: it logs,
 * fails on a package Debian does not have, remembers what it built (cache
 * hits), and can be held mid-build by a "slow" package.
 */
export class ScriptedImages implements ImageResolver {
  readonly built = new Set<string>();
  /** Images whose first build failed (package "flaky"): the next one succeeds. */
  readonly flaked = new Set<string>();
  builds = 0;
  private gate: (() => void) | undefined;
  private gated: Promise<void> | undefined;

  hold(): void {
    this.gated = new Promise((r) => {
      this.gate = r;
    });
  }
  release(): void {
    this.gate?.();
  }

  async resolve(spec: ImageSpec): Promise<string[]> {
    return (await this.build(spec, { onLog: () => {} })).layers;
  }

  async build(spec: ImageSpec, opts: ImageBuildOptions): Promise<ImageBuildResult> {
    const key = imageKey(spec);
    const layer = `sha256:${key.slice(4).padEnd(64, "a")}`;
    if (this.built.has(key)) {
      opts.onLog(`cache hit: ${layer}`);
      return { layers: [layer], cacheHit: true };
    }
    this.builds++;
    const packages = "base" in spec ? (spec.packages ?? []) : [];
    opts.onLog(`I: installing ${packages.join(" ") || "the base"}`);
    if (packages.includes("slow")) await this.gated;
    if (packages.includes("flaky") && !this.flaked.has(key)) {
      this.flaked.add(key);
      opts.onLog("E: Failed to fetch http://deb.debian.org/debian: Temporary failure resolving");
      throw new Error("mmdebstrap exited with 1: Temporary failure resolving deb.debian.org");
    }
    if (packages.includes("no-such-package")) {
      opts.onLog("E: Unable to locate package no-such-package");
      throw new Error("mmdebstrap exited with 1: E: Unable to locate package no-such-package");
    }
    opts.onLog("I: success");
    this.built.add(key);
    return { layers: [layer], cacheHit: false };
  }
}
