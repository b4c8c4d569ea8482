import { isAbsolute, resolve } from "node:path";
import { z } from "zod";

export const ROLES = ["all", "control", "agent", "gateway"] as const;
export const RUNTIMES = ["gvisor", "microvm", "container", "fake"] as const;

const HostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/, "must be HOST:PORT, e.g. 127.0.0.1:7080")
  .transform((s) => {
    const i = s.lastIndexOf(":");
    return { host: s.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(s.slice(i + 1)) };
  })
  .refine((hp) => hp.port >= 0 && hp.port <= 65535, "port must be 0-65535");

export const ServerConfigSchema = z.strictObject({
  dataDir: z.string().min(1),
  listen: HostPort,
  sshListen: HostPort,
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
    .optional(),
  runtime: z.enum(RUNTIMES),
  role: z.enum(ROLES),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
  /** Where `postgres` and `initdb` live, when not in the usual Debian place (env only). */
  postgresBinDir: z.string().optional(),
  /** The URL people reach this server at (for OIDC redirects and secure cookies). Default: http://LISTEN. */
  publicUrl: z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, "")),
  oidc: z
    .strictObject({
      issuer: z.url(),
      clientId: z.string().min(1),
      clientSecret: z.string().optional(),
      allowedDomains: z.array(z.string().min(1)),
    })
    .optional(),
  /** Prefix of this node's bridge, netns, veth and nft table names (2-6 characters). */
  networkPrefix: z
    .string()
    .regex(/^[a-z][a-z0-9]{1,5}$/, "must be 2-6 letters and digits, starting with a letter"),
  /** The node's image layer store (env BOXYARD_LAYER_DIR; default DATA_DIR/node/images). Shareable between nodes on one machine. */
  layerDir: z.string().optional(),
  /** Largest image archive an upload may be (--image-max-bytes, env BOXYARD_IMAGE_MAX_BYTES; default 2 GiB). */
  imageMaxBytes: z.coerce.number().int().min(1024),
  /** Largest content an image may unpack to (env BOXYARD_IMAGE_MAX_UNPACKED_BYTES; default 8 GiB). */
  imageMaxUnpackedBytes: z.coerce.number().int().min(1024),
  /**
   * The node's layer cache may hold this much before unused layers go, least
   * recently used first (env BOXYARD_LAYER_CACHE_BUDGET): a share of the
   * filesystem holding it ("25%", the default), a size ("40GiB"), or "off".
   */
  layerCacheBudget: z
    .string()
    .regex(
      /^(off|\d+(\.\d+)?%|\d+(\.\d+)?([KMGT]i?B?)?)$/i,
      'must be a share of the disk ("25%"), a size ("40GiB", bytes) or "off"',
    )
    .transform((v, ctx) => {
      if (v.toLowerCase() === "off") return null;
      if (v.endsWith("%")) {
        const fraction = Number(v.slice(0, -1)) / 100;
        if (!(fraction > 0 && fraction <= 1)) {
          ctx.addIssue({ code: "custom", message: "a share of the disk must be over 0% and at most 100%" });
          return z.NEVER;
        }
        return { fraction };
      }
      const m = /^(\d+(?:\.\d+)?)([KMGT])?/i.exec(v)!;
      const unit =
        { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[(m[2] ?? "").toUpperCase()] ?? 1;
      return { bytes: Math.floor(Number(m[1]) * unit) };
    }),
  /** An unused layer the node's desired boxes do not want goes after this many seconds (env BOXYARD_LAYER_CACHE_TTL; default 7 days; 0: never for age alone). */
  layerCacheTtlSeconds: z.coerce.number().int().min(0),
  /** Seconds between garbage-collection passes of the layer cache (env BOXYARD_LAYER_GC_INTERVAL; default 600; 0 turns the collection off). */
  layerGcIntervalSeconds: z.coerce.number().int().min(0),
  /** A box hot-paused this long is checkpointed to disk (cold pause); 0 keeps boxes hot. */
  coldPauseAfterSeconds: z.coerce.number().int().min(0),
  /**
   * CPUs a gVisor box may use while its sandbox starts or is restored, when
   * more than its own; its limit applies once the sandbox is up and its grace
   * has passed (bootCpuGraceSeconds) (env
   * BOXYARD_BOOT_CPU; default 2; 0: the box's own limit from the start).
   */
  bootCpu: z.coerce.number().min(0, "must be 0 (off) or a number of CPUs").max(1024),
  /**
   * Seconds a gVisor box keeps its boot CPU after its sandbox is up, for its
   * first commands (env BOXYARD_BOOT_CPU_GRACE; default 5; 0: its own limit
   * as soon as the sandbox is up).
   */
  bootCpuGraceSeconds: z.coerce.number().min(0, "must be 0 (off) or a number of seconds").max(3600),
  /**
   * Hot-paused boxes are demoted to cold pauses at once while the node's
   * available memory is below this: a percentage of its memory ("10%") or
   * MiB ("2048"); "0" turns it off (env BOXYARD_COLD_PAUSE_MEMORY_LOW).
   */
  coldPauseMemoryLow: z
    .string()
    .regex(
      /^(\d+(\.\d+)?%|\d+)$/,
      "must be a percentage of the node's memory (10%) or a size in MiB (2048); 0 turns it off",
    )
    .refine(
      (v) => !v.endsWith("%") || Number(v.slice(0, -1)) <= 90,
      "must be at most 90% of the node's memory",
    ),
  /**
   * The host interface box egress leaves through (masqueraded), for templates
   * whose network policy allows it. Unset: no box reaches anything outside the node.
   */
  boxUplink: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,15}$/, "must be a network interface name")
    .optional(),
  /** API requests per second and burst per token: "RATE/BURST" (env BOXYARD_RATE_LIMIT), 0 disables. */
  rateLimit: z
    .string()
    .regex(/^\d+(\.\d+)?\/\d+$|^0$/, "must be RATE/BURST, e.g. 20/100, or 0")
    .transform((v) =>
      v === "0" ? null : { perSecond: Number(v.split("/")[0]), burst: Number(v.split("/")[1]) },
    ),
  /** The control plane an agent or gateway process talks to (roles agent and gateway). */
  controlUrl: z
    .url({ protocol: /^https?$/ })
    .transform((u) => u.replace(/\/+$/, ""))
    .optional(),
  /** A site admin's API token an agent or gateway registers with (env BOXYARD_CONTROL_TOKEN or --control-token-file). */
  controlToken: z.string().min(1).optional(),
  controlTokenFile: z.string().min(1).optional(),
  /** This node's (or gateway's) name; default: the host name. */
  nodeName: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]{0,62})$/, "must be 1-63 characters of a-z, 0-9, '.' and '-'")
    .optional(),
  /** Rates for usage and cost (env BOXYARD_PRICES "cpuHour=0.018,memoryGiBHour=0.0025,diskGiBMonth=0.08", USD). */
  prices: z
    .string()
    .regex(
      /^((cpuHour|memoryGiBHour|diskGiBMonth)=\d+(\.\d+)?)(,(cpuHour|memoryGiBHour|diskGiBMonth)=\d+(\.\d+)?)*$/,
      "must be like cpuHour=0.018,memoryGiBHour=0.0025,diskGiBMonth=0.08",
    )
    .transform((v) => {
      const out = { cpuHour: 0.018, memoryGiBHour: 0.0025, diskGiBMonth: 0.08 };
      for (const kv of v.split(",")) {
        const [k, n] = kv.split("=") as [keyof typeof out, string];
        out[k] = Number(n);
      }
      return out;
    }),
  /** The node's box subnet. */
  boxSubnet: z
    .string()
    .regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "must be an IPv4 CIDR such as 10.213.0.0/16"),
});
export type ServerConfig = z.output<typeof ServerConfigSchema>;

export interface RawServerFlags {
  dataDir?: string;
  listen?: string;
  sshListen?: string;
  databaseUrl?: string;
  runtime?: string;
  role?: string;
  logLevel?: string;
  publicUrl?: string;
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecret?: string;
  /** Comma-separated. */
  oidcAllowedDomains?: string;
  boxSubnet?: string;
  boxUplink?: string;
  imageMaxBytes?: string;
  controlUrl?: string;
  controlTokenFile?: string;
}

/** Flags win over environment variables, which win over defaults (contract.md "Server"). */
export function resolveServerConfig(
  flags: RawServerFlags,
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const dataDir = flags.dataDir ?? env.BOXYARD_DATA_DIR ?? "./.boxyard";
  const raw = {
    dataDir: isAbsolute(dataDir) ? dataDir : resolve(dataDir),
    listen: flags.listen ?? env.BOXYARD_LISTEN ?? "127.0.0.1:7080",
    sshListen: flags.sshListen ?? env.BOXYARD_SSH_LISTEN ?? "127.0.0.1:2222",
    databaseUrl: flags.databaseUrl ?? (env.BOXYARD_DATABASE_URL || undefined),
    runtime: flags.runtime ?? env.BOXYARD_RUNTIME ?? "gvisor",
    role: flags.role ?? env.BOXYARD_ROLE ?? "all",
    logLevel: flags.logLevel ?? env.BOXYARD_LOG_LEVEL ?? "info",
    postgresBinDir: env.BOXYARD_POSTGRES_BIN_DIR || undefined,
    publicUrl: "",
    oidc: undefined as unknown,
    networkPrefix: env.BOXYARD_NETWORK_PREFIX || "by",
    layerDir: env.BOXYARD_LAYER_DIR || undefined,
    boxUplink: flags.boxUplink ?? (env.BOXYARD_BOX_UPLINK || undefined),
    coldPauseAfterSeconds: env.BOXYARD_COLD_PAUSE_AFTER ?? "600",
    bootCpu: env.BOXYARD_BOOT_CPU ?? "2",
    bootCpuGraceSeconds: env.BOXYARD_BOOT_CPU_GRACE ?? "5",
    coldPauseMemoryLow: env.BOXYARD_COLD_PAUSE_MEMORY_LOW ?? "10%",
    layerCacheBudget: env.BOXYARD_LAYER_CACHE_BUDGET || "25%",
    layerCacheTtlSeconds: env.BOXYARD_LAYER_CACHE_TTL ?? String(7 * 24 * 3600),
    layerGcIntervalSeconds: env.BOXYARD_LAYER_GC_INTERVAL ?? "600",
    imageMaxBytes: flags.imageMaxBytes ?? env.BOXYARD_IMAGE_MAX_BYTES ?? String(2 * 1024 ** 3),
    imageMaxUnpackedBytes: env.BOXYARD_IMAGE_MAX_UNPACKED_BYTES ?? String(8 * 1024 ** 3),
    rateLimit: env.BOXYARD_RATE_LIMIT ?? "20/200",
    boxSubnet: flags.boxSubnet ?? env.BOXYARD_BOX_SUBNET ?? "10.213.0.0/16",
    controlUrl: flags.controlUrl ?? (env.BOXYARD_CONTROL_URL || undefined),
    controlToken: env.BOXYARD_CONTROL_TOKEN || undefined,
    controlTokenFile: flags.controlTokenFile ?? (env.BOXYARD_CONTROL_TOKEN_FILE || undefined),
    nodeName: env.BOXYARD_NODE_NAME || undefined,
    prices: env.BOXYARD_PRICES || "cpuHour=0.018,memoryGiBHour=0.0025,diskGiBMonth=0.08",
  };
  const listen = raw.listen;
  raw.publicUrl =
    flags.publicUrl ?? env.BOXYARD_PUBLIC_URL ?? `http://${listen.replace(/^0\.0\.0\.0:/, "127.0.0.1:")}`;
  const issuer = flags.oidcIssuer ?? env.BOXYARD_OIDC_ISSUER;
  if (issuer) {
    const domains = flags.oidcAllowedDomains ?? env.BOXYARD_OIDC_ALLOWED_DOMAINS ?? "";
    raw.oidc = {
      issuer,
      clientId: flags.oidcClientId ?? env.BOXYARD_OIDC_CLIENT_ID ?? "",
      clientSecret: flags.oidcClientSecret ?? env.BOXYARD_OIDC_CLIENT_SECRET,
      allowedDomains: domains
        .split(",")
        .map((d) => d.trim())
        .filter(Boolean),
    };
  }
  const r = ServerConfigSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new StartupError(`invalid setting ${i.path.join(".")}: ${i.message}`);
  }
  return r.data;
}

/** A start-up failure: the CLI prints the one-line message and exits non-zero. */
export class StartupError extends Error {
  constructor(message: string, opts?: { cause?: unknown }) {
    super(message, opts);
    this.name = "StartupError";
  }
}
