// Built-in templates, available to every org, until the templates issue
// stores versioned templates per org. Resolving a template freezes its image
// and resources onto the box, so later template changes never move a box.

import type { BoxPrebuild, BoxRepo, BoxResources, EgressPolicy, ImageSpec } from "@boxyard/agent-protocol";
import { DomainError } from "@boxyard/errors";

export interface ResolvedTemplate {
  name: string;
  version: number;
  image: ImageSpec;
  resources: BoxResources;
  /**
   * What a connection (SSH, browser terminal) to a box that is not running
   * does: `paused` resumes a paused box; `stopped` also boots a stopped one.
   */
  wakeOnConnect: "paused" | "stopped";
  /** What the box may reach outside its node. */
  network: { egress: EgressPolicy };
  /** Secret names the box gets as files while it runs (including the repository's credential). */
  secrets?: string[];
  /** Cloned into /workspace at the box's first start. */
  repo?: BoxRepo;
  /** Run once per prebuild, as the box user in /workspace. */
  init?: string[];
  /** For a new box: the newest ready prebuild of this version and ref, which the box starts from. */
  prebuild?: BoxPrebuild;
  /** The environment of every command and session in the box: the image's Env, then the template's env. */
  env?: Record<string, string>;
  /** Shell commands run as the box user in /workspace, in the background, each time the box's sandbox boots. */
  onStart?: string[];
}

const BUILT_IN: Readonly<Record<string, ResolvedTemplate>> = {
  busybox: {
    name: "busybox",
    version: 1,
    image: { base: "busybox" },
    resources: { cpu: 1, memoryMiB: 256, diskGiB: 1, gpus: 0 },
    // Boots in about half a second: worth doing for whoever connects.
    wakeOnConnect: "stopped",
    network: { egress: "deny-all" },
  },
  debian: {
    name: "debian",
    version: 1,
    image: { base: "debian-bookworm", packages: [] },
    resources: { cpu: 2, memoryMiB: 1024, diskGiB: 5, gpus: 0 },
    wakeOnConnect: "paused",
    network: { egress: "deny-all" },
  },
};

export function resolveTemplate(name: string, version?: number): ResolvedTemplate {
  const t = Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : undefined;
  if (!t || (version !== undefined && version !== t.version)) {
    throw new DomainError("template_not_found", {
      detail: version === undefined ? name : `${name} version ${version}`,
    });
  }
  return structuredClone(t);
}

/** The built-in templates (name and spec), for listings. */
export function builtInTemplates(): ResolvedTemplate[] {
  return Object.values(BUILT_IN).map((t) => structuredClone(t));
}

/** What a base image gets when a template does not say (the built-in template of that base). */
export function baseDefaults(base: "busybox" | "debian-bookworm"): ResolvedTemplate {
  return structuredClone(base === "busybox" ? BUILT_IN.busybox! : BUILT_IN.debian!);
}
