// devcontainer.json (the containers.dev convention) as a Boxyard template.
// Boxyard runs no Docker engine, so an image is either an uploaded OCI or
// `docker save` archive (by digest), or one of the well-known Debian bookworm
// images, which become Boxyard's own debian-bookworm base; features that are
// Debian packages become the image's packages. Lifecycle commands, forwarded
// ports and environment map onto the template's init, onStart, ports and env.
// Whatever cannot be honoured is listed as a warning naming the key, never
// silently dropped; what cannot work at all (a Dockerfile build, a registry
// image) is an error that says what to do instead. Pure: no I/O.

import { JsoncError, parseJsonc } from "./jsonc.ts";
import type { TemplateSpec } from "./templates.ts";

export interface DevcontainerWarning {
  /** The devcontainer.json key it is about, e.g. `features.ghcr.io/devcontainers/features/docker-in-docker:2`. */
  key: string;
  message: string;
}

/** devcontainer.json cannot become a template; `key` names where (empty: the file as a whole). */
export class DevcontainerError extends Error {
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(key ? `${key}: ${reason}` : reason);
  }
}

export interface DevcontainerTemplate {
  image: { base: "debian-bookworm"; packages?: string[] } | { oci: string };
  init?: string[];
  onStart?: string[];
  env?: Record<string, string>;
  ports?: Array<{ port: number; name?: string }>;
  warnings: DevcontainerWarning[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Image names that are Debian 12 (bookworm): Boxyard builds its own debian-bookworm base for them. */
const DEBIAN_BOOKWORM = [
  /^(?:docker\.io\/)?(?:library\/)?debian:(?:bookworm|12(?:\.\d+)?)(?:-slim)?(?:-\d{8})?$/,
  /^mcr\.microsoft\.com\/(?:vscode\/)?devcontainers\/base:(?:\d+(?:\.\d+){0,2}-)?(?:bookworm|debian-?12)$/,
];

/** A name that reads as a file rather than an image reference. */
export function isArchivePath(image: string): boolean {
  return /^(?:\.{1,2}\/|\/|~)/.test(image) || /\.(?:tar|tar\.gz|tgz)$/i.test(image);
}

/** What `image` becomes, or why it cannot be used. */
export function classifyImage(image: string): "digest" | "debian-bookworm" | "archive-path" | "registry" {
  if (DIGEST.test(image)) return "digest";
  if (DEBIAN_BOOKWORM.some((re) => re.test(image))) return "debian-bookworm";
  if (isArchivePath(image)) return "archive-path";
  return "registry";
}

interface FeaturePackages {
  packages: string[];
  /** The version Debian bookworm has, and the `version` values that mean it. */
  debian?: { version: string; matches: RegExp };
}

/**
 * The features of ghcr.io/devcontainers/features that Debian bookworm's
 * packages provide. Anything else is a warning (it may need a download from
 * outside Debian, a Docker engine, or a version Debian does not have).
 */
export const FEATURE_PACKAGES: Readonly<Record<string, FeaturePackages>> = {
  git: { packages: ["git"] },
  "git-lfs": { packages: ["git-lfs"] },
  "github-cli": { packages: ["gh"] },
  "common-utils": {
    packages: [
      "curl",
      "wget",
      "less",
      "procps",
      "lsof",
      "unzip",
      "zip",
      "jq",
      "nano",
      "vim-tiny",
      "zsh",
      "htop",
    ],
  },
  python: {
    packages: ["python3", "python3-pip", "python3-venv"],
    debian: { version: "3.11", matches: /^3(?:\.11(?:\.\d+)?)?$/ },
  },
  node: { packages: ["nodejs", "npm"], debian: { version: "18", matches: /^18(?:\.\d+){0,2}$/ } },
  go: { packages: ["golang"], debian: { version: "1.19", matches: /^1\.19(?:\.\d+)?$/ } },
  rust: { packages: ["rustc", "cargo"], debian: { version: "1.63", matches: /^1\.63(?:\.\d+)?$/ } },
  java: { packages: ["default-jdk-headless"], debian: { version: "17", matches: /^17(?:\.\d+){0,2}$/ } },
  ruby: { packages: ["ruby-full"], debian: { version: "3.1", matches: /^3\.1(?:\.\d+)?$/ } },
  php: { packages: ["php-cli"], debian: { version: "8.2", matches: /^8\.2(?:\.\d+)?$/ } },
};

/** `version` values that ask for whatever the distribution has. */
const ANY_VERSION = new Set(["latest", "lts", "os-provided", "system", "current", "stable"]);
const FEATURE_ID = /^ghcr\.io\/devcontainers\/features\/([a-z0-9-]+)(?::[\w.-]+|@sha256:[0-9a-f]{64})?$/;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** The substitutions whose value is known without the machine that opens the box. */
const SUBSTITUTIONS: Readonly<Record<string, string>> = {
  containerWorkspaceFolder: "/workspace",
  containerWorkspaceFolderBasename: "workspace",
};

/** Keys that are understood but not applied, with why. Every other unknown key gets a generic warning. */
const IGNORED: Readonly<Record<string, string>> = {
  name: "not used: a template is named when it is pushed",
  customizations: "editor settings and extensions are not applied (connect your editor over SSH)",
  workspaceFolder: "the workspace is always /workspace",
  workspaceMount: "the workspace is always /workspace (the box's persistent volume)",
  mounts: "not supported: a box's persistent storage is /home/dev and /workspace",
  runArgs: "Docker run options do not apply to a gVisor box",
  capAdd: "capabilities cannot be added to a box",
  privileged: "boxes are never privileged",
  securityOpt: "Docker security options do not apply to a gVisor box",
  init: "every box has its own init process",
  overrideCommand: "a box always runs Boxyard's init",
  shutdownAction: "boxes are stopped and paused through Boxyard",
  appPort: "use forwardPorts",
  postAttachCommand: "nothing attaches to a box; use postStartCommand",
  initializeCommand: "it runs on the machine that opens the container; Boxyard runs nothing outside the box",
  hostRequirements: "set the template's resources instead",
  otherPortsAttributes: "ports are not detected automatically; list them in forwardPorts",
  waitFor: "not supported",
  userEnvProbe: "not supported: a session's environment is the template's env",
  updateRemoteUserUID: "the box user dev is always uid 1000",
};

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A POSIX shell word for one argument of an exec-form command. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_/.:=@%+,-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** A lifecycle command (string, exec-form array, or an object of either) as shell command lines. */
function commands(key: string, v: Json): string[] {
  if (typeof v === "string") return v.trim() === "" ? [] : [v];
  if (Array.isArray(v)) {
    if (!v.every((a) => typeof a === "string"))
      throw new DevcontainerError(key, "an exec-form command must be a list of strings");
    return v.length === 0 ? [] : [v.map(shellQuote).join(" ")];
  }
  if (isObject(v)) return Object.entries(v).flatMap(([name, c]) => commands(`${key}.${name}`, c));
  throw new DevcontainerError(key, "must be a command string, a list of strings, or an object of them");
}

function slug(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
}

/** devcontainer.json text (JSONC) -> the template fields it maps to, and a warning for everything it cannot honour. */
export function convertDevcontainer(text: string): DevcontainerTemplate {
  let doc: Json;
  try {
    doc = parseJsonc(text).value;
  } catch (err) {
    if (err instanceof JsoncError) throw new DevcontainerError("", `not valid JSON (${err.message})`);
    throw err;
  }
  if (!isObject(doc)) throw new DevcontainerError("", "must be a JSON object");
  const warnings: DevcontainerWarning[] = [];
  const warn = (key: string, message: string) => warnings.push({ key, message });

  for (const key of ["build", "dockerFile", "dockerComposeFile"])
    if (doc[key] !== undefined)
      throw new DevcontainerError(
        key,
        key === "dockerComposeFile"
          ? "Docker Compose needs a Docker engine, which Boxyard does not use; name one image (an archive, or debian:bookworm) in image instead"
          : "building a Dockerfile needs a Docker engine, which Boxyard does not use; build the image elsewhere, `docker save` it to an archive and name that file in image, or use image debian:bookworm with features",
      );

  // image
  const image = doc.image;
  if (image === undefined)
    throw new DevcontainerError(
      "image",
      "is required: an image archive (a path next to devcontainer.json, or the sha256:... digest of one uploaded with `boxyard images push`), or debian:bookworm",
    );
  if (typeof image !== "string") throw new DevcontainerError("image", "must be a string");
  const kind = classifyImage(image);
  if (kind === "archive-path")
    throw new DevcontainerError(
      "image",
      `${JSON.stringify(image)} is a path to an archive, which the server cannot read; \`boxyard templates push\` uploads it for you, or upload it with \`boxyard images push FILE\` and put its sha256:... digest here`,
    );
  if (kind === "registry")
    throw new DevcontainerError(
      "image",
      `${JSON.stringify(image)} is a registry image, which Boxyard cannot pull (it uses no Docker engine); save it to an archive (\`docker save ${image} -o image.tar\`) and name that file here, or use debian:bookworm with features`,
    );
  const features = isObject(doc.features) ? Object.keys(doc.features) : [];
  if (
    image.startsWith("mcr.microsoft.com/") &&
    !features.some((id) => FEATURE_ID.exec(id)?.[1] === "common-utils")
  )
    warn(
      "image",
      `built as Boxyard's debian-bookworm base (dev user, sudo, bash, git, ca-certificates, locales); the extras of ${image} (zsh, Oh My Zsh, curl ...) come with the feature ghcr.io/devcontainers/features/common-utils`,
    );

  // features
  const packages: string[] = [];
  if (doc.features !== undefined) {
    if (!isObject(doc.features)) throw new DevcontainerError("features", "must be an object of feature ids");
    for (const [id, options] of Object.entries(doc.features)) {
      const key = `features.${id}`;
      if (kind === "digest") {
        warn(
          key,
          "not installed: packages are added only to Boxyard's debian-bookworm base, not to an imported image",
        );
        continue;
      }
      const short = FEATURE_ID.exec(id)?.[1];
      const feature = short && Object.hasOwn(FEATURE_PACKAGES, short) ? FEATURE_PACKAGES[short] : undefined;
      if (!feature) {
        warn(
          key,
          `not installed: only these features are (as Debian packages): ${Object.keys(FEATURE_PACKAGES).join(", ")}`,
        );
        continue;
      }
      const opts: Record<string, Json> =
        typeof options === "string" ? { version: options } : isObject(options) ? options : {};
      const version = opts.version;
      if (version === "none") continue;
      if (version !== undefined && !(typeof version === "string" && ANY_VERSION.has(version))) {
        const wanted = String(version);
        if (!feature.debian?.matches.test(wanted))
          warn(
            `${key}.version`,
            feature.debian
              ? `${wanted} is not available; Debian bookworm's ${feature.debian.version} is installed`
              : `${wanted} is not available; Debian bookworm's version is installed`,
          );
      }
      const ignored = Object.keys(opts).filter((k) => k !== "version");
      if (ignored.length > 0)
        warn(key, `installed from Debian's packages; option(s) not applied: ${ignored.join(", ")}`);
      for (const p of feature.packages) if (!packages.includes(p)) packages.push(p);
    }
  }

  // lifecycle commands: onCreate, updateContent and postCreate run at prebuild time, in that order
  const init = ["onCreateCommand", "updateContentCommand", "postCreateCommand"].flatMap((k) =>
    doc[k] === undefined ? [] : commands(k, doc[k]),
  );
  const onStart =
    doc.postStartCommand === undefined ? [] : commands("postStartCommand", doc.postStartCommand);

  // ports
  const ports: Array<{ port: number; name?: string }> = [];
  if (doc.forwardPorts !== undefined) {
    if (!Array.isArray(doc.forwardPorts))
      throw new DevcontainerError("forwardPorts", "must be a list of ports");
    doc.forwardPorts.forEach((p, n) => {
      const key = `forwardPorts.${n}`;
      const port = typeof p === "string" && /^\d{1,5}$/.test(p) ? Number(p) : p;
      if (typeof port === "number") {
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          throw new DevcontainerError(key, "must be a port number from 1 to 65535");
        if (!ports.some((x) => x.port === port)) ports.push({ port });
      } else if (typeof p === "string" && /^[^:\s]+:\d{1,5}$/.test(p))
        warn(
          key,
          `${p} is a port of another host (a Compose service); only the box's own ports are forwarded`,
        );
      else throw new DevcontainerError(key, 'must be a port number, or "host:port"');
    });
  }
  if (doc.portsAttributes !== undefined) {
    if (!isObject(doc.portsAttributes))
      throw new DevcontainerError("portsAttributes", "must be an object keyed by port");
    const names = new Set<string>();
    for (const [which, attrs] of Object.entries(doc.portsAttributes)) {
      const key = `portsAttributes.${which}`;
      const declared = ports.find((p) => String(p.port) === which);
      if (!declared) {
        warn(key, "applies only to a port listed in forwardPorts (ports are not detected automatically)");
        continue;
      }
      if (!isObject(attrs)) throw new DevcontainerError(key, "must be an object");
      if (typeof attrs.label === "string") {
        let name = slug(attrs.label);
        if (names.has(name)) name = `${name.slice(0, 57)}-${declared.port}`;
        if (name !== "") {
          declared.name = name;
          names.add(name);
        }
      }
      const ignored = Object.keys(attrs).filter((k) => k !== "label");
      if (ignored.length > 0)
        warn(key, `not applied: ${ignored.join(", ")} (only label, as the port's name)`);
    }
  }

  // environment: containerEnv, then remoteEnv over it (null unsets)
  const env = new Map<string, string>();
  for (const group of ["containerEnv", "remoteEnv"] as const) {
    const vars = doc[group];
    if (vars === undefined) continue;
    if (!isObject(vars)) throw new DevcontainerError(group, "must be an object of variables");
    for (const [name, raw] of Object.entries(vars)) {
      const key = `${group}.${name}`;
      if (!ENV_NAME.test(name)) throw new DevcontainerError(key, "must be an environment variable name");
      if (raw === null && group === "remoteEnv") {
        env.delete(name);
        continue;
      }
      if (typeof raw !== "string") throw new DevcontainerError(key, "must be a string");
      const unknown = [...raw.matchAll(/\$\{([^}]*)\}/g)]
        .map((m) => m[1]!)
        .filter((s) => !Object.hasOwn(SUBSTITUTIONS, s));
      if (unknown.length > 0) {
        warn(
          key,
          `left out: \${${unknown[0]}} cannot be honoured (it names the machine that opens the container or the container's own environment)`,
        );
        env.delete(name);
        continue;
      }
      env.set(
        name,
        raw.replace(/\$\{([^}]*)\}/g, (_, s: string) => SUBSTITUTIONS[s]!),
      );
    }
  }

  for (const key of ["remoteUser", "containerUser"])
    if (doc[key] !== undefined && doc[key] !== "dev")
      warn(
        key,
        `the box user is always dev (uid 1000, home /home/dev, passwordless sudo); ${JSON.stringify(doc[key])} is not used`,
      );

  const mapped = new Set([
    "image",
    "features",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "forwardPorts",
    "portsAttributes",
    "containerEnv",
    "remoteEnv",
    "remoteUser",
    "containerUser",
  ]);
  for (const key of Object.keys(doc))
    if (!mapped.has(key))
      warn(key, Object.hasOwn(IGNORED, key) ? IGNORED[key]! : "not supported by Boxyard; ignored");

  return {
    image:
      kind === "digest"
        ? { oci: image }
        : { base: "debian-bookworm", ...(packages.length > 0 ? { packages } : {}) },
    ...(init.length > 0 ? { init } : {}),
    ...(onStart.length > 0 ? { onStart } : {}),
    ...(env.size > 0 ? { env: Object.fromEntries(env) } : {}),
    ...(ports.length > 0 ? { ports } : {}),
    warnings,
  };
}

/**
 * The template a devcontainer.json makes, with the template's own fields
 * beside it: its env and ports win over the file's on the same name or port,
 * its init and onStart commands run after the file's.
 */
export function withDevcontainer(spec: Omit<TemplateSpec, "image">, d: DevcontainerTemplate): TemplateSpec {
  const init = [...(d.init ?? []), ...(spec.init ?? [])];
  const onStart = [...(d.onStart ?? []), ...(spec.onStart ?? [])];
  const env = { ...d.env, ...spec.env };
  const own = spec.ports ?? [];
  const ports = [...(d.ports ?? []).filter((p) => !own.some((o) => o.port === p.port)), ...own];
  return {
    ...spec,
    image: d.image,
    ...(init.length > 0 ? { init } : {}),
    ...(onStart.length > 0 ? { onStart } : {}),
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(ports.length > 0 ? { ports: ports.sort((a, b) => a.port - b.port) } : {}),
  };
}
