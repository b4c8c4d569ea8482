import {
  createOrg,
  createTeam,
  getMe,
  listOrgMembers,
  listOrgs,
  listTeams,
  OrgRole,
  removeOrgMember,
  setOrgMember,
  setTeamMember,
} from "@boxyard/contract";
import { BoxyardClient } from "@boxyard/sdk";
import type { Command } from "commander";
import { writeConfig } from "../config.ts";
import { connect } from "../context.ts";
import { resolveOrg } from "../org.ts";
import { formatTable, printJson } from "../output.ts";
import { VERSION } from "../version.ts";
import { webLogin } from "../web-login.ts";

export function registerAccountCommands(program: Command): void {
  program
    .command("login")
    .description("Sign in to a Boxyard server in your browser (or save an API token) for later commands")
    .argument("<url>", "the Boxyard server, e.g. http://127.0.0.1:7080")
    .option(
      "--token <token>",
      "use this API token instead of signing in (the first admin's is in DATA_DIR/admin-token)",
    )
    .option("--no-browser", "print the sign-in page's address instead of opening a browser")
    .option("--org <org>", "default organisation for later commands")
    .addHelpText(
      "after",
      "\nExamples:\n  boxyard login https://boxyard.corp.example          # sign in in the browser\n  boxyard login http://127.0.0.1:7080 --token $(cat .boxyard/admin-token)\n",
    )
    .action(async (url: string, opts: { token?: string; org?: string; browser: boolean }) => {
      const token =
        opts.token ??
        (
          await webLogin(url, {
            open: opts.browser,
            say: (line) => process.stderr.write(`${line}\n`),
          })
        ).token;
      const client = new BoxyardClient({ baseUrl: url, token, userAgent: `boxyard-cli/${VERSION}` });
      const me = await client.call(getMe);
      const path = await writeConfig({ url, token, ...(opts.org ? { org: opts.org } : {}) });
      process.stdout.write(`Logged in to ${url} as ${me.username}. (saved in ${path})\n`);
    });

  program
    .command("whoami")
    .description("Show who the saved token belongs to")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const { client, url } = await connect();
      const me = await client.call(getMe);
      if (opts.json) printJson(me);
      else process.stdout.write(`${me.username}${me.siteAdmin ? " (site admin)" : ""} on ${url}\n`);
    });

  const orgs = program.command("orgs").description("Organisations");
  orgs
    .command("ls")
    .description("List your organisations")
    .option("--json", "machine-readable output")
    .action(async (opts: { json?: boolean }) => {
      const { client } = await connect();
      const { items } = await client.call(listOrgs);
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (o) => o.name },
          { header: "role", value: (o) => o.role ?? "-" },
        ])}\n`,
      );
    });
  orgs
    .command("create")
    .description("Create an organisation (you become its owner)")
    .argument("<name>")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard orgs create acme\n")
    .action(async (name: string, opts: { json?: boolean }) => {
      const { client } = await connect();
      const org = await client.call(createOrg, { body: { name } });
      if (opts.json) printJson(org);
      else process.stdout.write(`Created organisation ${org.name}.\n`);
    });

  const members = program.command("members").description("Members of an organisation and their roles");
  members
    .command("ls")
    .description("List the organisation's members")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard members ls --org acme\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listOrgMembers, { params: { org } });
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "username", value: (m) => m.username },
          { header: "role", value: (m) => m.role },
          { header: "since", value: (m) => m.createdAt.slice(0, 10) },
        ])}\n`,
      );
    });
  members
    .command("set")
    .description(`Add a member or change their role (${OrgRole.options.join(", ")}; org owners and admins)`)
    .argument("<username>")
    .argument("<role>")
    .option("--org <org>", "organisation")
    .addHelpText("after", "\nExample:\n  boxyard members set alice admin --org acme\n")
    .action(async (username: string, role: string, opts: { org?: string }) => {
      const parsed = OrgRole.safeParse(role);
      if (!parsed.success) {
        process.stderr.write(`boxyard: no role "${role}"; use one of ${OrgRole.options.join(", ")}\n`);
        process.exitCode = 2;
        return;
      }
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      await conn.client.call(setOrgMember, { params: { org, username }, body: { role: parsed.data } });
      process.stdout.write(`${username} is now ${parsed.data} in ${org}.\n`);
    });
  members
    .command("rm")
    .description("Take someone out of the organisation and its teams (their boxes stay)")
    .argument("<username>")
    .option("--org <org>", "organisation")
    .addHelpText("after", "\nExample:\n  boxyard members rm alice --org acme\n")
    .action(async (username: string, opts: { org?: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      await conn.client.call(removeOrgMember, { params: { org, username } });
      process.stdout.write(`${username} is no longer a member of ${org}.\n`);
    });

  const teams = program.command("teams").description("Teams in an organisation");
  teams
    .command("ls")
    .description("List the organisation's teams")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard teams ls --org acme\n")
    .action(async (opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const { items } = await conn.client.call(listTeams, { params: { org } });
      if (opts.json) return printJson(items);
      process.stdout.write(
        `${formatTable(items, [
          { header: "name", value: (t) => t.name },
          { header: "members", value: (t) => String(t.members) },
          { header: "boxes", value: (t) => String(t.boxes) },
        ])}\n`,
      );
    });
  teams
    .command("create")
    .description("Create a team (org owners and admins)")
    .argument("<name>")
    .option("--org <org>", "organisation")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nExample:\n  boxyard teams create web --org acme\n")
    .action(async (name: string, opts: { org?: string; json?: boolean }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      const team = await conn.client.call(createTeam, { params: { org }, body: { name } });
      if (opts.json) return printJson(team);
      process.stdout.write(`Created team ${team.name} in ${org}.\n`);
    });
  teams
    .command("add")
    .description("Add a member of the organisation to a team")
    .argument("<team>")
    .argument("<username>")
    .option("--org <org>", "organisation")
    .addHelpText("after", "\nExample:\n  boxyard teams add web alice\n")
    .action(async (team: string, username: string, opts: { org?: string }) => {
      const conn = await connect();
      const org = await resolveOrg(conn, opts.org);
      await conn.client.call(setTeamMember, { params: { org, team, username }, body: {} });
      process.stdout.write(`Added ${username} to team ${team}.\n`);
    });
}
