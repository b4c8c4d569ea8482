// Organisation administration: members and roles, teams, the quota with
// what is used of it, the audit log with filters, and usage and cost.
import {
  getQuota,
  getUsage,
  listAudit,
  listOrgMembers,
  listTeamMembers,
  listTeams,
  OrgRole,
  type Quota,
  setOrgMember,
  createTeam,
  type Usage,
  type AuditEvent,
} from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useState } from "react";
import type { z } from "zod";
import { Link } from "./router.tsx";
import { ErrorMessage, formatTime, PageTitle, useLoad } from "./ui.tsx";

export const ADMIN_TABS = [
  ["members", "Members"],
  ["teams", "Teams"],
  ["quota", "Quota"],
  ["audit", "Audit log"],
  ["usage", "Usage and cost"],
] as const;
export type AdminTab = (typeof ADMIN_TABS)[number][0];

export function AdminPage(props: { api: BoxyardClient; org: string; tab: AdminTab }) {
  const { api, org, tab } = props;
  const label = ADMIN_TABS.find(([t]) => t === tab)?.[1] ?? "";
  return (
    <>
      <PageTitle>
        {org}: {label.toLowerCase()}
      </PageTitle>
      <nav aria-label="Organisation administration" className="tabs">
        <ul>
          {ADMIN_TABS.map(([t, text]) => (
            <li key={t}>
              <Link to={`/org/${t}`} current={t === tab}>
                {text}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {tab === "members" ? <Members api={api} org={org} /> : null}
      {tab === "teams" ? <Teams api={api} org={org} /> : null}
      {tab === "quota" ? <QuotaView api={api} org={org} /> : null}
      {tab === "audit" ? <Audit api={api} org={org} /> : null}
      {tab === "usage" ? <UsageView api={api} org={org} /> : null}
    </>
  );
}

function Members(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const members = useLoad(() => api.call(listOrgMembers, { params: { org } }), [api, org]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const username = String(f.get("username") ?? "").trim();
    const role = String(f.get("role")) as z.output<typeof OrgRole>;
    setError(null);
    try {
      await api.call(setOrgMember, { params: { org, username }, body: { role } });
      setSaved(`${username} is now ${role}.`);
      form.reset();
      await members.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <ErrorMessage error={members.error} />
      <table className="cards">
        <caption className="visually-hidden">Members of {org}</caption>
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Role</th>
            <th scope="col">Member since</th>
          </tr>
        </thead>
        <tbody>
          {(members.data?.items ?? []).map((m) => (
            <tr key={m.username}>
              <th scope="row" data-label="User">
                {m.username}
              </th>
              <td data-label="Role">{m.role}</td>
              <td data-label="Member since">{formatTime(m.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="panel inline-form" onSubmit={submit} aria-labelledby="member-form-title">
        <h2 id="member-form-title">Add a member or change a role</h2>
        <label>
          Username
          <input name="username" required autoComplete="off" pattern="[a-z0-9][a-z0-9\-]{0,62}" />
        </label>
        <label>
          Role
          <select name="role" defaultValue="member">
            {OrgRole.options.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Save
        </button>
        <ErrorMessage error={error} onDismiss={() => setError(null)} />
        <p role="status">{saved}</p>
      </form>
    </>
  );
}

function Teams(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const teams = useLoad(() => api.call(listTeams, { params: { org } }), [api, org]);
  const [open, setOpen] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const name = String(new FormData(form).get("name") ?? "").trim();
    setError(null);
    try {
      await api.call(createTeam, { params: { org }, body: { name } });
      form.reset();
      await teams.reload();
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <ErrorMessage error={teams.error} />
      {teams.data?.items.length === 0 ? <p className="muted">No teams yet.</p> : null}
      <ul className="team-list">
        {(teams.data?.items ?? []).map((t) => (
          <li key={t.id} className="panel">
            <div className="team-head">
              <strong>{t.name}</strong>
              <span className="muted">
                {t.members} member{t.members === 1 ? "" : "s"}, {t.boxes} box{t.boxes === 1 ? "" : "es"}
              </span>
              <button
                type="button"
                className="link"
                aria-expanded={open === t.name}
                onClick={() => setOpen(open === t.name ? null : t.name)}
              >
                {open === t.name ? `Hide members of ${t.name}` : `Show members of ${t.name}`}
              </button>
            </div>
            {open === t.name ? <TeamMembers api={api} org={org} team={t.name} /> : null}
          </li>
        ))}
      </ul>
      <form className="panel inline-form" onSubmit={submit} aria-labelledby="team-form-title">
        <h2 id="team-form-title">New team</h2>
        <label>
          Team name
          <input name="name" required autoComplete="off" pattern="[a-z0-9][a-z0-9\-]{0,62}" />
        </label>
        <button type="submit" className="primary">
          Create team
        </button>
        <ErrorMessage error={error} onDismiss={() => setError(null)} />
      </form>
    </>
  );
}

function TeamMembers(props: { api: BoxyardClient; org: string; team: string }) {
  const { api, org, team } = props;
  const { data, error } = useLoad(
    () => api.call(listTeamMembers, { params: { org, team } }),
    [api, org, team],
  );
  if (error) return <ErrorMessage error={error} />;
  if (!data) return <p className="muted">Loading…</p>;
  if (data.items.length === 0)
    return (
      <p className="muted">
        No members. <code>boxyard teams add {team} USER</code> adds one.
      </p>
    );
  return (
    <ul>
      {data.items.map((m) => (
        <li key={m.username}>
          {m.username} <span className="muted">since {formatTime(m.addedAt)}</span>
        </li>
      ))}
    </ul>
  );
}

type QuotaT = z.output<typeof Quota>;

const QUOTA_ROWS: [string, keyof QuotaT["limits"], keyof QuotaT["usage"], string][] = [
  ["Boxes", "maxBoxes", "boxes", ""],
  ["Running boxes", "maxRunningBoxes", "runningBoxes", ""],
  ["CPU", "cpu", "cpu", " CPU"],
  ["Memory", "memoryMiB", "memoryMiB", " MiB"],
  ["Disk", "diskGiB", "diskGiB", " GiB"],
  ["GPUs", "gpus", "gpus", ""],
];

function QuotaView(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const { data, error } = useLoad(() => api.call(getQuota, { params: { org } }), [api, org]);
  return (
    <>
      <ErrorMessage error={error} />
      {data ? (
        <ul className="quota">
          {QUOTA_ROWS.map(([label, limitKey, usageKey, unit]) => {
            const used = data.usage[usageKey];
            const limit = data.limits[limitKey];
            const id = `quota-${usageKey}`;
            return (
              <li key={usageKey}>
                <span id={id} className="quota-label">
                  {label}
                </span>
                {limit === null ? (
                  <span className="quota-text">
                    {used}
                    {unit} used · no limit
                  </span>
                ) : (
                  <>
                    <meter
                      aria-labelledby={id}
                      min={0}
                      max={Math.max(limit, 0.0001)}
                      value={Math.min(used, limit)}
                      low={limit * 0.7}
                      high={limit * 0.9}
                      optimum={0}
                    />
                    <span className="quota-text">
                      {used}
                      {unit} of {limit}
                      {unit}
                    </span>
                  </>
                )}
              </li>
            );
          })}
        </ul>
      ) : null}
      <p className="hint">
        Limits are set with <code>boxyard quota set</code>; a create or start over a limit is refused.
      </p>
    </>
  );
}

type AuditEventT = z.output<typeof AuditEvent>;

function Audit(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const [filters, setFilters] = useState<{ action?: string; result?: "success" | "denied" | "failed" }>({});
  const [more, setMore] = useState<AuditEventT[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const page = useLoad(async () => {
    const r = await api.call(listAudit, { params: { org }, query: { ...filters, limit: 50 } });
    setMore([]);
    setCursor(r.nextCursor);
    return r;
  }, [api, org, filters]);
  const [error, setError] = useState<unknown>(null);

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const r = await api.call(listAudit, { params: { org }, query: { ...filters, limit: 50, cursor } });
      setMore((m) => [...m, ...r.items]);
      setCursor(r.nextCursor);
    } catch (err) {
      setError(err);
    }
  };

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    const action = String(f.get("action") ?? "").trim();
    const result = String(f.get("result") ?? "");
    setFilters({
      ...(action ? { action } : {}),
      ...(result ? { result: result as "success" | "denied" | "failed" } : {}),
    });
  };

  const rows = [...(page.data?.items ?? []), ...more];
  return (
    <>
      <form className="panel inline-form" onSubmit={submit} aria-label="Audit log filters">
        <label>
          Action
          <input name="action" placeholder="box.create" autoComplete="off" />
        </label>
        <label>
          Result
          <select name="result" defaultValue="">
            <option value="">any</option>
            <option value="success">success</option>
            <option value="denied">denied</option>
            <option value="failed">failed</option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorMessage error={page.error ?? error} />
      <table className="cards audit">
        <caption className="visually-hidden">Audit events</caption>
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Who</th>
            <th scope="col">Action</th>
            <th scope="col">Target</th>
            <th scope="col">Result</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id}>
              <td data-label="When">
                <time dateTime={e.at}>{formatTime(e.at)}</time>
              </td>
              <td data-label="Who">{e.actor.name ?? e.actor.kind}</td>
              <td data-label="Action">
                <code>{e.action}</code>
              </td>
              <td data-label="Target">
                {e.target.kind ? `${e.target.kind} ` : ""}
                {e.target.name ?? e.target.id ?? "–"}
              </td>
              <td data-label="Result" className={e.result === "success" ? "" : "bad"}>
                {e.result}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {page.data && rows.length === 0 ? <p className="muted">No events match.</p> : null}
      {cursor ? (
        <button type="button" onClick={() => void loadMore()}>
          Load older events
        </button>
      ) : null}
    </>
  );
}

type UsageT = z.output<typeof Usage>;

/** Horizontal bars, one per row, scaled to the largest; plain SVG with a text equivalent. */
function BarChart(props: {
  title: string;
  rows: { label: string; value: number }[];
  format: (v: number) => string;
}) {
  const { rows } = props;
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const rowH = 28;
  const labelW = 140;
  const barW = 420;
  const height = rows.length * rowH + 8;
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${labelW + barW + 110} ${height}`}
        role="img"
        aria-label={`${props.title}: ${rows.map((r) => `${r.label} ${props.format(r.value)}`).join(", ")}`}
      >
        {rows.map((r, i) => {
          const w = Math.max(2, (r.value / max) * barW);
          const y = i * rowH + 4;
          return (
            <g key={r.label}>
              <text x={labelW - 8} y={y + 17} textAnchor="end" className="chart-label">
                {r.label.length > 18 ? `${r.label.slice(0, 17)}…` : r.label}
              </text>
              <rect x={labelW} y={y + 3} width={w} height={rowH - 10} rx={3} className="chart-bar" />
              <text x={labelW + w + 6} y={y + 17} className="chart-value">
                {props.format(r.value)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>{props.title}</figcaption>
    </figure>
  );
}

function UsageView(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const { data, error } = useLoad(() => api.call(getUsage, { params: { org }, query: {} }), [api, org]);
  const money = (u: UsageT | undefined) => (v: number) =>
    new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: u?.currency ?? "USD",
      minimumFractionDigits: 2,
      maximumFractionDigits: 4,
    }).format(v);
  const fmt = money(data);
  return (
    <>
      <ErrorMessage error={error} />
      {data ? (
        <>
          <p>
            From {formatTime(data.from)} to {formatTime(data.to)}: <strong>{fmt(data.total.cost)}</strong> for{" "}
            {data.total.computeHours.toFixed(3)} compute hours.
          </p>
          {data.boxes.length === 0 ? (
            <p className="muted">No box has run in this period.</p>
          ) : (
            <BarChart
              title="Cost per box"
              rows={[...data.boxes]
                .sort((a, b) => b.cost - a.cost)
                .map((b) => ({ label: `${b.box}${b.deleted ? " (deleted)" : ""}`, value: b.cost }))}
              format={fmt}
            />
          )}
          {data.teams.length > 0 ? (
            <BarChart
              title="Cost per team"
              rows={data.teams.map((t) => ({ label: t.team ?? "no team", value: t.cost }))}
              format={fmt}
            />
          ) : null}
          <table className="cards">
            <caption>Usage per box</caption>
            <thead>
              <tr>
                <th scope="col">Box</th>
                <th scope="col">Owner</th>
                <th scope="col">Team</th>
                <th scope="col">Compute hours</th>
                <th scope="col">CPU hours</th>
                <th scope="col">Cost</th>
              </tr>
            </thead>
            <tbody>
              {data.boxes.map((b) => (
                <tr key={`${b.box}-${b.owner}-${b.deleted}`}>
                  <th scope="row" data-label="Box">
                    {b.deleted ? `${b.box} (deleted)` : <Link to={`/boxes/${org}/${b.box}`}>{b.box}</Link>}
                  </th>
                  <td data-label="Owner">{b.owner}</td>
                  <td data-label="Team">{b.team ?? "–"}</td>
                  <td data-label="Compute hours">{b.computeHours.toFixed(3)}</td>
                  <td data-label="CPU hours">{b.cpuHours.toFixed(3)}</td>
                  <td data-label="Cost">{fmt(b.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint">
            Prices: {fmt(data.prices.cpuHour)} per CPU hour, {fmt(data.prices.memoryGiBHour)} per GiB of
            memory per hour, {fmt(data.prices.diskGiBMonth)} per GiB of disk per month.
          </p>
        </>
      ) : null}
    </>
  );
}
