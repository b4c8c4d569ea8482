import {
  createUser,
  deleteUser,
  getQuota,
  getUsage,
  listAudit,
  listNodes,
  suspendUser,
  unsuspendUser,
  verifyAudit,
} from "@boxyard/contract";
import type { Command } from "commander";
import { connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { age, formatTable, printJson } from "../output.ts";

export function registerAdminCommands(program: Command): void {
  program
    .command("usage")
    .description("Metered usage and cost of the organisation's boxes (this month unless --from/--to)")
    .option("--org <org>", "organisation")
    .option("--from <time>", "start of the window (ISO 8601, e.g. 2026-11-01T00:00:00Z)")
    .option("--to <time>", "end of the window (default: now)")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard usage --org acme\n")
    .action(async (opts: { org?: string; from?: string; to?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const u = await conn.client.call(getUsage, {
        params: { org },
        query: { ...(opts.from ? { from: opts.from } : {}), ...(opts.to ? { to: opts.to } : {}) },
      });
      if (opts.json) return printJson(u);
      const money = (n: number) => `$${n.toFixed(2)}`;
      process.stdout.write(
        `Usage of ${org} from ${u.from} to ${u.to} (${u.currency}; CPU-hour ${u.prices.cpuHour}, GiB-hour ${u.prices.memoryGiBHour}, disk GiB-month ${u.prices.diskGiBMonth})\n\n`,
      );
      process.stdout.write(
        `${formatTable(
          [...u.boxes, { box: "TOTAL", owner: "", team: null, deleted: false, ...u.total }],
          [
            { header: "box", value: (b) => (b.deleted ? `${b.box} (deleted)` : b.box) },
            { header: "team", value: (b) => b.team ?? "-" },
            { header: "hours", value: (b) => b.computeHours.toFixed(2) },
            { header: "cpu-h", value: (b) => b.cpuHours.toFixed(2) },
            { header: "GiB-h", value: (b) => b.memoryGiBHours.toFixed(2) },
            { header: "cost", value: (b) => money(b.cost) },
          ],
        )}\n`,
      );
    });

  const users = program.command("users").description("(site admin) Manage users");
  users
    .command("create")
    .description("Create a user (people normally arrive through single sign-on)")
    .argument("<username>")
    .option("--email <email>", "their email")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard users create alice --email alice@example.com\n")
    .action(async (username: string, opts: { email?: string; json?: boolean }) => {
      const conn = await connect();
      const u = await conn.client.call(createUser, {
        body: { username, ...(opts.email ? { email: opts.email } : {}) },
      });
      if (opts.json) return printJson(u);
      process.stdout.write(`Created user ${u.username} (${u.id}).\n`);
    });
  users
    .command("suspend")
    .description("Suspend a user: their tokens and sessions are revoked and open SSH/terminal sessions close")
    .argument("<username>")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard users suspend mallory\n")
    .action(async (username: string, opts: { json?: boolean }) => {
      const conn = await connect();
      const u = await conn.client.call(suspendUser, { params: { username } });
      if (opts.json) return printJson(u);
      process.stdout.write(
        `Suspended ${username}: tokens and browser sessions revoked; open SSH and terminal sessions close within a minute.\n`,
      );
    });
  users
    .command("unsuspend")
    .description("Lift a suspension (revoked tokens stay revoked)")
    .argument("<username>")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard users unsuspend mallory\n")
    .action(async (username: string, opts: { json?: boolean }) => {
      const conn = await connect();
      const u = await conn.client.call(unsuspendUser, { params: { username } });
      if (opts.json) return printJson(u);
      process.stdout.write(`${username} can sign in again; mint them a new token if they use the CLI.\n`);
    });
  users
    .command("rm")
    .description("Delete a user: tokens, sessions and SSH keys go; their boxes stay for their orgs' admins")
    .argument("<username>")
    .addHelpText("after", "\nExample:\n  boxyard users rm mallory\n")
    .action(async (username: string) => {
      const conn = await connect();
      await conn.client.call(deleteUser, { params: { username } });
      process.stdout.write(`Deleted user ${username}.\n`);
    });

  const audit = program
    .command("audit")
    .description("Show the organisation's audit log (newest first)")
    .option("--org <org>", "organisation")
    .option("--action <action>", "only this action, e.g. box.create")
    .option("--limit <n>", "how many events", (v) => Number.parseInt(v, 10), 50)
    .option("--json", "machine-readable output (JSON lines with --jsonl)")
    .option("--jsonl", "one JSON event per line, for export")
    .addHelpText("after", "\nExamples:\n  boxyard audit --action box.delete\n  boxyard audit verify\n")
    .action(
      async (opts: { org?: string; action?: string; limit: number; json?: boolean; jsonl?: boolean }) => {
        const conn = await connect();
        const org = await resolveOrg(conn, opts.org);
        const page = await conn.client.call(listAudit, {
          params: { org },
          query: { limit: opts.limit, ...(opts.action ? { action: opts.action } : {}) },
        });
        if (opts.jsonl) {
          for (const e of page.items) process.stdout.write(`${JSON.stringify(e)}\n`);
          return;
        }
        if (opts.json) return printJson(page.items);
        process.stdout.write(
          `${formatTable(page.items, [
            { header: "when", value: (e) => `${age(e.at)} ago` },
            { header: "who", value: (e) => e.actor.name ?? e.actor.kind },
            { header: "action", value: (e) => e.action },
            { header: "target", value: (e) => e.target.name ?? e.target.id ?? "-" },
            { header: "result", value: (e) => e.result },
          ])}\n`,
        );
      },
    );
  audit
    .command("verify")
    .description("Recompute the audit hash chain and say whether it is intact (exit 1 if not)")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .action(async (opts: { org?: string; json?: boolean }, cmd: Command) => {
      const conn = await connect();
      const parentOrg = (cmd.parent?.opts() as { org?: string } | undefined)?.org;
      const org = await resolveOrg(conn, opts.org ?? parentOrg);
      const r = await conn.client.call(verifyAudit, { params: { org } });
      if (opts.json) printJson(r);
      else if (r.ok)
        process.stdout.write(`The audit chain of ${org} is intact (${r.checked} events checked).\n`);
      else
        process.stdout.write(
          `The audit chain of ${org} is BROKEN: ${r.problem}${r.firstBadEventId ? ` at event id ${r.firstBadEventId}` : ""}: ${r.detail ?? ""}\n`,
        );
      if (!r.ok) process.exitCode = 1;
    });

  program
    .command("quota")
    .description("Show the organisation's quota and what its boxes use")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard quota --org acme\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const q = await conn.client.call(getQuota, { params: { org } });
      if (opts.json) return printJson(q);
      const rows = [
        ["boxes", q.usage.boxes, q.limits.maxBoxes],
        ["running boxes", q.usage.runningBoxes, q.limits.maxRunningBoxes],
        ["cpu", q.usage.cpu, q.limits.cpu],
        ["memory (MiB)", q.usage.memoryMiB, q.limits.memoryMiB],
        ["disk (GiB)", q.usage.diskGiB, q.limits.diskGiB],
        ["gpus", q.usage.gpus, q.limits.gpus],
      ] as const;
      process.stdout.write(
        `${formatTable(rows, [
          { header: "resource", value: (r) => r[0] },
          { header: "used", value: (r) => String(r[1]) },
          { header: "limit", value: (r) => (r[2] === null ? "none" : String(r[2])) },
        ])}\n`,
      );
    });

  program
    .command("nodes")
    .description("List nodes with capacity, allocation and health (site admins)")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard nodes --json\n")
    .action(async (opts: { json?: boolean }) => {
      const { client } = await connect();
      const { items } = await client.call(listNodes);
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (n) => n.name },
          { header: "status", value: (n) => (n.healthy ? n.status : `${n.status} (unhealthy)`) },
          { header: "runtime", value: (n) => n.runtime },
          { header: "boxes", value: (n) => String(n.boxes) },
          { header: "cpu", value: (n) => `${n.allocated.cpu}/${n.capacity.cpu}` },
          { header: "memory", value: (n) => `${n.allocated.memoryMiB}/${n.capacity.memoryMiB} MiB` },
          {
            header: "heartbeat",
            value: (n) => (n.lastHeartbeatAt ? `${age(n.lastHeartbeatAt)} ago` : "never"),
          },
        ])}\n`,
      );
    });
}
