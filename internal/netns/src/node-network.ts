// The node's box network: one bridge, one netns and veth pair per box, an
// address pool persisted in the agent's state directory, and the nftables
// policy in ruleset.ts. Implements BoxNetworks for the runtime drivers.
import { access, readFile, writeFile } from "node:fs/promises";
import type { EgressPolicy } from "@boxyard/runtime";
import { CleanupStack } from "./cleanup-stack.ts";
import { type CommandRunner, runChecked, spawnRunner } from "./commands.ts";
import { dnsResolver, type HostResolver, type ResolvedEgress, resolveEgress } from "./egress.ts";
import {
  CommandFailedError,
  InvalidNetworkConfigError,
  NameCollisionError,
  NotAttachedError,
  PoolExhaustedError,
  StateMismatchError,
} from "./errors.ts";
import { bridgeScript, hostAttachScript, hostDetachScript, netnsScript, type Present } from "./ip-scripts.ts";
import { type Cidr, formatCidr, formatIpv4, gatewayOf, parseCidr, parseIpv4 } from "./ipv4.ts";
import { KeyedMutex } from "./keyed-mutex.ts";
import {
  BOX_INTERFACE,
  type BoxNames,
  boxNames,
  macForAddress,
  type NodeNames,
  nodeNames,
  validateBoxId,
  validateInterfaceName,
} from "./names.ts";
import { allocateAddress } from "./pool.ts";
import {
  addBoxElements,
  type BoxRuleEntry,
  DEFAULT_PRIVATE_RANGES,
  deleteRuleset,
  fullRuleset,
  type RulesetConfig,
  removeBoxElements,
  setHostPorts,
} from "./ruleset.ts";
import { type Allocation, loadState, type NetworkState, saveState } from "./state-store.ts";
import type { BoxNetwork, BoxNetworks } from "./types.ts";

export interface NodeNetworkOptions {
  /** Where allocations are persisted (network.json); the agent's own directory. */
  stateDir: string;
  /** Name prefix for bridge, netns, veths and nft tables: `^[a-z][a-z0-9]{0,5}$`. Default "by". */
  prefix?: string;
  /** Box subnet; the bridge takes the first host address as gateway. Default 10.213.0.0/16. */
  subnet?: string;
  /** Host TCP ports on the gateway address that boxes may reach. Default none. */
  hostPorts?: number[];
  /** Interface that egress is forwarded (and masqueraded) to. Absent: no box has egress. */
  uplink?: string;
  /** Destinations allow-all boxes may not reach. Default DEFAULT_PRIVATE_RANGES. */
  privateRanges?: string[];
  runner?: CommandRunner;
  /** Resolves host names in allow-lists. Default: the system resolver (IPv4). */
  resolver?: HostResolver;
  /** Defaults: /var/run/netns, /sys/class/net, /proc/sys; overridable for unit tests. */
  paths?: { netnsDir?: string; sysClassNet?: string; procSys?: string };
}

export interface CloseOptions {
  /** Detach every box, delete the nft tables and the bridge. For tests and node decommissioning. */
  removeBridge?: boolean;
}

const STATE_KEY = "\0state";

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export class NodeNetwork implements BoxNetworks {
  readonly prefix: string;
  readonly names: NodeNames;
  readonly subnet: Cidr;
  readonly gateway: string;
  readonly uplink: string | null;
  #hostPorts: number[];
  readonly #opts: NodeNetworkOptions;
  readonly #runner: CommandRunner;
  readonly #resolver: HostResolver;
  readonly #paths: { netnsDir: string; sysClassNet: string; procSys: string };
  readonly #locks = new KeyedMutex();
  #state: NetworkState;
  /** The uplink's forwarding value before open(), restored by close({ removeBridge }). */
  #uplinkForwardingBefore: string | null = null;

  private constructor(opts: NodeNetworkOptions, subnet: Cidr, state: NetworkState) {
    this.#opts = opts;
    this.prefix = opts.prefix ?? "by";
    this.names = nodeNames(this.prefix);
    this.subnet = subnet;
    this.gateway = formatIpv4(gatewayOf(subnet));
    this.uplink = opts.uplink ?? null;
    this.#hostPorts = [...(opts.hostPorts ?? [])];
    this.#runner = opts.runner ?? spawnRunner;
    this.#resolver = opts.resolver ?? dnsResolver;
    this.#paths = {
      netnsDir: opts.paths?.netnsDir ?? "/var/run/netns",
      sysClassNet: opts.paths?.sysClassNet ?? "/sys/class/net",
      procSys: opts.paths?.procSys ?? "/proc/sys",
    };
    this.#state = state;
  }

  /**
   * Reads the persisted allocations and makes the host match them: nft tables
   * (replaced atomically, elements for every allocated box), the bridge, and
   * per-interface forwarding. Idempotent; after an agent restart or a reboot
   * this is what re-adopts the node's boxes. Missing netns/veths come back
   * on the box's next attach() or reset().
   */
  static async open(opts: NodeNetworkOptions): Promise<NodeNetwork> {
    const prefix = opts.prefix ?? "by";
    nodeNames(prefix);
    const subnetText = opts.subnet ?? "10.213.0.0/16";
    const subnet = parseCidr(subnetText);
    if (subnet === null || subnet.prefixLength < 8 || subnet.prefixLength > 30) {
      throw new InvalidNetworkConfigError(`subnet ${JSON.stringify(subnetText)} must be a network /8 to /30`);
    }
    for (const port of opts.hostPorts ?? []) validatePort(port);
    if (opts.uplink !== undefined) validateInterfaceName(opts.uplink, "uplink");
    for (const range of opts.privateRanges ?? []) {
      if (parseCidr(range) === null)
        throw new InvalidNetworkConfigError(`private range ${range} is not a CIDR`);
    }

    const canonicalSubnet = formatCidr(subnet);
    let state = await loadState(opts.stateDir);
    if (state !== null && state.prefix !== prefix) {
      throw new StateMismatchError(`${opts.stateDir} belongs to prefix ${state.prefix}, not ${prefix}`);
    }
    if (state !== null && state.subnet !== canonicalSubnet && Object.keys(state.boxes).length > 0) {
      throw new StateMismatchError(
        `${opts.stateDir} has boxes in ${state.subnet}; detach them before moving to ${canonicalSubnet}`,
      );
    }
    if (state === null || state.subnet !== canonicalSubnet) {
      state = { version: 1, prefix, subnet: canonicalSubnet, boxes: {} };
      await saveState(opts.stateDir, state);
    }

    const network = new NodeNetwork(opts, subnet, state);
    await network.#ensureNode();
    return network;
  }

  get hostPorts(): readonly number[] {
    return this.#hostPorts;
  }

  async #ensureNode(): Promise<void> {
    // Rules first: they name interfaces as strings, and a bridge that comes
    // up before its rules would briefly carry unfiltered traffic.
    const boxes = Object.entries(this.#state.boxes).map(([id, a]) => this.#ruleEntry(id, a));
    await runChecked(this.#runner, ["nft", "-f", "-"], fullRuleset(this.#rulesetConfig(), boxes));

    const bridgePresent = await exists(`${this.#paths.sysClassNet}/${this.names.bridge}`);
    const script = bridgeScript(
      {
        bridge: this.names.bridge,
        mac: macForAddress(gatewayOf(this.subnet)),
        gatewayCidr: `${this.gateway}/${this.subnet.prefixLength}`,
      },
      bridgePresent,
    );
    await runChecked(this.#runner, ["ip", "-batch", "-"], script);

    // Per-interface forwarding, never the global switch. The kernel checks
    // the input interface, so the uplink needs it too for the replies; the
    // forward chain lets only established traffic from the uplink into boxes.
    const bridgeForwarding = this.#forwardingPath(this.names.bridge);
    if (this.uplink === null) {
      await writeFile(bridgeForwarding, "0\n");
      return;
    }
    if (!(await exists(`${this.#paths.sysClassNet}/${this.uplink}`))) {
      throw new InvalidNetworkConfigError(`uplink ${this.uplink} does not exist`);
    }
    await writeFile(bridgeForwarding, "1\n");
    const uplinkForwarding = this.#forwardingPath(this.uplink);
    this.#uplinkForwardingBefore = (await readFile(uplinkForwarding, "utf8")).trim();
    await writeFile(uplinkForwarding, "1\n");
  }

  #forwardingPath(ifname: string): string {
    return `${this.#paths.procSys}/net/ipv4/conf/${ifname}/forwarding`;
  }

  #rulesetConfig(): RulesetConfig {
    return {
      names: this.names,
      subnet: formatCidr(this.subnet),
      gateway: this.gateway,
      hostPorts: this.#hostPorts,
      uplink: this.uplink,
      privateRanges: this.#opts.privateRanges ?? DEFAULT_PRIVATE_RANGES,
    };
  }

  #boxNames(boxId: string): BoxNames {
    return boxNames(this.prefix, boxId, this.#paths.netnsDir);
  }

  #ruleEntry(
    boxId: string,
    allocation: Allocation,
    resolved: ResolvedEgress = allocation.resolved,
  ): BoxRuleEntry {
    const address = parseIpv4(allocation.address) ?? 0;
    return {
      hostVeth: this.#boxNames(boxId).hostVeth,
      address: allocation.address,
      mac: macForAddress(address),
      egress: resolved,
    };
  }

  #describe(boxId: string, allocation: Allocation): BoxNetwork {
    const names = this.#boxNames(boxId);
    return {
      boxId,
      netnsName: names.netnsName,
      netnsPath: names.netnsPath,
      hostVeth: names.hostVeth,
      boxInterface: BOX_INTERFACE,
      address: allocation.address,
      prefixLength: this.subnet.prefixLength,
      gateway: this.gateway,
      mac: macForAddress(parseIpv4(allocation.address) ?? 0),
      egress: allocation.egress,
    };
  }

  async #present(names: BoxNames): Promise<Present> {
    const [netns, hostVeth] = await Promise.all([
      exists(names.netnsPath),
      exists(`${this.#paths.sysClassNet}/${names.hostVeth}`),
    ]);
    return { netns, hostVeth };
  }

  /** Reads, changes and persists the allocation table under one lock. */
  async #mutateState<T>(change: (state: NetworkState) => T): Promise<T> {
    return this.#locks.run(STATE_KEY, async () => {
      const next = structuredClone(this.#state);
      const result = change(next);
      // A re-attach with the same policy changes nothing: skip the fsyncs.
      if (JSON.stringify(next) === JSON.stringify(this.#state)) return result;
      await saveState(this.#opts.stateDir, next);
      this.#state = next;
      return result;
    });
  }

  async attach(boxId: string, opts: { egress: EgressPolicy }): Promise<BoxNetwork> {
    validateBoxId(boxId);
    return this.#locks.run(boxId, async () => {
      const resolved = await resolveEgress(opts.egress, this.#resolver);
      const names = this.#boxNames(boxId);
      const cleanup = new CleanupStack();
      try {
        const previous = this.#state.boxes[boxId];
        const allocation = await this.#mutateState((state) => {
          this.#checkCollision(state, boxId, names);
          const existing = state.boxes[boxId];
          const address = existing?.address ?? this.#allocate(state);
          const next: Allocation = { address, egress: opts.egress, resolved };
          state.boxes[boxId] = next;
          return next;
        });
        if (previous === undefined) {
          cleanup.push(() => this.#mutateState((state) => delete state.boxes[boxId]));
        }

        const present = await this.#present(names);
        if (!present.netns) cleanup.push(() => this.#removeLinks(names));
        else if (!present.hostVeth) cleanup.push(() => this.#removeVeth(names));

        const entry = this.#ruleEntry(boxId, allocation);
        const rules =
          previous === undefined
            ? addBoxElements(this.names, entry)
            : removeBoxElements(this.names, this.#ruleEntry(boxId, previous)) +
              addBoxElements(this.names, entry);
        // Links and rules are independent (rules name interfaces as strings,
        // and a port without elements sends nothing), so they go in parallel.
        await settleAll([
          this.#ensureLinks(names, allocation, present, { configureInside: !present.hostVeth }),
          runChecked(this.#runner, ["nft", "-f", "-"], rules),
        ]);
        cleanup.dismiss();
        const described = this.#describe(boxId, allocation);
        return present.hostVeth ? described : { ...described, configured: true };
      } catch (err) {
        await cleanup.unwind();
        throw err;
      }
    });
  }

  async reset(boxId: string): Promise<BoxNetwork> {
    validateBoxId(boxId);
    return this.#locks.run(boxId, async () => {
      const allocation = this.#state.boxes[boxId];
      if (allocation === undefined) throw new NotAttachedError(boxId);
      const names = this.#boxNames(boxId);
      const present = await this.#present(names);
      if (present.netns && present.hostVeth) {
        // The common case before every sandbox start or restore: one process.
        await runChecked(
          this.#runner,
          ["ip", "-n", names.netnsName, "-batch", "-"],
          this.#netnsScript(allocation),
        );
      } else {
        // After a reboot (netns live in tmpfs) or a manual clean-up: rebuild.
        await settleAll([
          this.#ensureLinks(names, allocation, present, { configureInside: true }),
          runChecked(
            this.#runner,
            ["nft", "-f", "-"],
            addBoxElements(this.names, this.#ruleEntry(boxId, allocation)),
          ),
        ]);
      }
      return this.#describe(boxId, allocation);
    });
  }

  async detach(boxId: string): Promise<void> {
    validateBoxId(boxId);
    await this.#locks.run(boxId, async () => {
      const allocation = this.#state.boxes[boxId];
      const names = this.#boxNames(boxId);
      // Rules and links go in parallel; the allocation goes last, so the
      // address is not handed to another box before both are gone, and a
      // crash half-way leaves enough on disk to finish on the next call.
      const rules =
        allocation === undefined
          ? Promise.resolve()
          : this.#removeElements(this.#ruleEntry(boxId, allocation));
      await settleAll([rules, this.#removeLinks(names)]);
      if (allocation !== undefined) await this.#mutateState((state) => delete state.boxes[boxId]);
    });
  }

  async get(boxId: string): Promise<BoxNetwork | null> {
    validateBoxId(boxId);
    const allocation = this.#state.boxes[boxId];
    return allocation === undefined ? null : this.#describe(boxId, allocation);
  }

  async list(): Promise<BoxNetwork[]> {
    return Object.entries(this.#state.boxes)
      .map(([id, a]) => this.#describe(id, a))
      .sort((a, b) => (parseIpv4(a.address) ?? 0) - (parseIpv4(b.address) ?? 0));
  }

  /** Replaces the gateway ports boxes may reach (a set update, no reload). */
  async setHostPorts(ports: number[]): Promise<void> {
    for (const port of ports) validatePort(port);
    await runChecked(this.#runner, ["nft", "-f", "-"], setHostPorts(this.names, ports));
    this.#hostPorts = [...ports];
  }

  async close(opts: CloseOptions = {}): Promise<void> {
    await this.#locks.drain();
    if (!opts.removeBridge) return;
    for (const box of await this.list()) await this.detach(box.boxId);
    await runChecked(this.#runner, ["nft", "-f", "-"], deleteRuleset(this.names));
    if (await exists(`${this.#paths.sysClassNet}/${this.names.bridge}`)) {
      await runChecked(this.#runner, ["ip", "link", "del", this.names.bridge]);
    }
    if (this.uplink !== null && this.#uplinkForwardingBefore !== null) {
      const path = this.#forwardingPath(this.uplink);
      if (await exists(path)) await writeFile(path, `${this.#uplinkForwardingBefore}\n`);
    }
  }

  /**
   * Removes a box's set elements. A table that no longer exists (deleted by
   * hand, or by close({ removeBridge })) holds no elements, so it is skipped
   * rather than failing the detach.
   */
  async #removeElements(entry: BoxRuleEntry): Promise<void> {
    try {
      await runChecked(this.#runner, ["nft", "-f", "-"], removeBoxElements(this.names, entry));
    } catch (err) {
      if (!(err instanceof CommandFailedError)) throw err;
      const listed = (await runChecked(this.#runner, ["nft", "list", "tables"])).stdout;
      const tables = {
        inet: listed.includes(`table inet ${this.names.inetTable}\n`),
        bridge: listed.includes(`table bridge ${this.names.bridgeTable}\n`),
      };
      if (tables.inet && tables.bridge) throw err;
      const script = removeBoxElements(this.names, entry, tables);
      if (script !== "") await runChecked(this.#runner, ["nft", "-f", "-"], script);
    }
  }

  #allocate(state: NetworkState): string {
    const taken = new Set(Object.values(state.boxes).map((a) => parseIpv4(a.address) ?? 0));
    const address = allocateAddress(this.subnet, taken);
    if (address === null) throw new PoolExhaustedError(formatCidr(this.subnet));
    return formatIpv4(address);
  }

  #checkCollision(state: NetworkState, boxId: string, names: BoxNames): void {
    for (const other of Object.keys(state.boxes)) {
      if (other === boxId) continue;
      const o = this.#boxNames(other);
      if (o.netnsName === names.netnsName || o.hostVeth === names.hostVeth) {
        throw new NameCollisionError(boxId, other);
      }
    }
  }

  #netnsScript(allocation: Allocation): string {
    return netnsScript({
      mac: macForAddress(parseIpv4(allocation.address) ?? 0),
      addressCidr: `${allocation.address}/${this.subnet.prefixLength}`,
      gateway: this.gateway,
    });
  }

  /**
   * Host side always (re-running it is harmless); the inside of the netns
   * only when asked. attach() configures the inside only for a veth it has
   * just created: on an existing one a sandbox may be running, and putting
   * the kernel address back under runsc's netstack would make the host
   * kernel answer the box's traffic too (with resets). reset() owns that.
   */
  async #ensureLinks(
    names: BoxNames,
    allocation: Allocation,
    present: Present,
    opts: { configureInside: boolean },
  ): Promise<void> {
    const host = hostAttachScript(
      {
        netnsName: names.netnsName,
        hostVeth: names.hostVeth,
        mac: macForAddress(parseIpv4(allocation.address) ?? 0),
        bridge: this.names.bridge,
      },
      present,
    );
    await runChecked(this.#runner, ["ip", "-batch", "-"], host);
    if (!opts.configureInside) return;
    await runChecked(
      this.#runner,
      ["ip", "-n", names.netnsName, "-batch", "-"],
      this.#netnsScript(allocation),
    );
  }

  async #removeVeth(names: BoxNames): Promise<void> {
    const script = hostDetachScript(names, { netns: false, hostVeth: true });
    await runChecked(this.#runner, ["ip", "-batch", "-"], script);
  }

  async #removeLinks(names: BoxNames): Promise<void> {
    const script = hostDetachScript(names, await this.#present(names));
    if (script !== "") await runChecked(this.#runner, ["ip", "-batch", "-"], script);
  }
}

/** Like Promise.all, but waits for every promise before rethrowing, so clean-up never races running work. */
async function settleAll(work: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed !== undefined) throw failed.reason;
}

function validatePort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidNetworkConfigError(`host port ${port} is not a TCP port`);
  }
}
