// Organisation administration: members and roles, teams, the quota with
// what is used of it, the audit log with filters, and usage and cost.
import {
  getUsage,
  listAudit,
  listOrgMembers,
  OrgRole,
  removeOrgMember,
  setOrgMember,
  type Usage,
  type AuditEvent,
} from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useState } from "react";
import type { z } from "zod";
import { type Access, canManageOrg, roleNote } from "./access.ts";
import { QuotaView } from "./admin-quota.tsx";
import { Teams } from "./admin-teams.tsx";
import { Link } from "./router.tsx";
import { ConfirmDialog, ErrorMessage, formatTime, PageTitle, useLoad } from "./ui.tsx";

export const ADMIN_TABS = [
  ["members", "Members"],
  ["teams", "Teams"],
  ["quota", "Quota"],
  ["audit", "Audit log"],
  ["usage", "Usage and cost"],
] as const;
export type AdminTab = (typeof ADMIN_TABS)[number][0];

export function AdminPage(props: { api: BoxyardClient; access: Access; org: string; tab: AdminTab }) {
  const { api, access, org, tab } = props;
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
      {tab === "members" ? <Members api={api} access={access} org={org} /> : null}
      {tab === "teams" ? <Teams api={api} access={access} org={org} /> : null}
      {tab === "quota" ? <QuotaView api={api} access={access} org={org} /> : null}
      {tab === "audit" ? <Audit api={api} org={org} /> : null}
      {tab === "usage" ? <UsageView api={api} org={org} /> : null}
    </>
  );
}

function Members(props: { api: BoxyardClient; access: Access; org: string }) {
  const { api, org } = props;
  const members = useLoad(() => api.call(listOrgMembers, { params: { org } }), [api, org]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const [removing, setRemoving] = useState<string | null>(null);
  const manage = canManageOrg(props.access);

  const remove = async (username: string) => {
    setRemoving(null);
    setError(null);
    setSaved("");
    try {
      await api.call(removeOrgMember, { params: { org, username } });
      setSaved(`${username} is no longer a member of ${org}.`);
      await members.reload();
    } catch (err) {
      setError(err);
    }
  };

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
            {manage ? (
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            ) : null}
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
              {manage ? (
                <td>
                  <button
                    type="button"
                    className="danger"
                    aria-label={`Remove ${m.username}`}
                    onClick={() => setRemoving(m.username)}
                  >
                    Remove
                  </button>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing ?? ""} from ${org}?`}
        confirmLabel={`Remove ${removing ?? ""}`}
        onCancel={() => setRemoving(null)}
        onConfirm={() => void remove(removing ?? "")}
      >
        <p>
          They leave the organisation and its teams at once; their open sessions to its boxes close within 30
          seconds. Their boxes stay, for an owner or admin to keep or delete.
        </p>
      </ConfirmDialog>
      {manage ? (
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
      ) : (
        <p className="hint">
          {roleNote(props.access, "add members, remove them or change roles", "org owners and admins")}
        </p>
      )}
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
