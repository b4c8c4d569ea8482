// The org's teams: who is in each and the team's quota, and for org owners
// and admins, creating teams, adding or removing members and setting the
// team's quota (the server's reason shown when it refuses, e.g. a user who is
// not in the org).
import {
  createTeam,
  getTeamQuota,
  listTeamMembers,
  listTeams,
  removeTeamMember,
  setTeamMember,
  setTeamQuota,
} from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useState } from "react";
import { type Access, canManageOrg, roleNote } from "./access.ts";
import { QuotaBars, QuotaForm } from "./admin-quota.tsx";
import { ErrorMessage, formatTime, useLoad } from "./ui.tsx";

export function Teams(props: { api: BoxyardClient; access: Access; org: string }) {
  const { api, org } = props;
  const manage = canManageOrg(props.access);
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
      setOpen(name);
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
          <li key={t.id} className="panel" data-team={t.name}>
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
            {open === t.name ? (
              <TeamMembers
                api={api}
                org={org}
                team={t.name}
                manage={manage}
                onChanged={() => void teams.reload()}
              />
            ) : null}
          </li>
        ))}
      </ul>
      {manage ? (
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
      ) : (
        <p className="hint">
          {roleNote(props.access, "create teams or change who is in them", "org owners and admins")}
        </p>
      )}
    </>
  );
}

function TeamMembers(props: {
  api: BoxyardClient;
  org: string;
  team: string;
  manage: boolean;
  onChanged: () => void;
}) {
  const { api, org, team, manage } = props;
  const members = useLoad(() => api.call(listTeamMembers, { params: { org, team } }), [api, org, team]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");

  const change = async (username: string, add: boolean) => {
    setError(null);
    setSaved("");
    try {
      if (add) await api.call(setTeamMember, { params: { org, team, username }, body: {} });
      else await api.call(removeTeamMember, { params: { org, team, username } });
      setSaved(add ? `${username} added to ${team}.` : `${username} removed from ${team}.`);
      await members.reload();
      props.onChanged();
      return true;
    } catch (err) {
      setError(err);
      return false;
    }
  };

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const username = String(new FormData(form).get("username") ?? "").trim();
    if (await change(username, true)) form.reset();
  };

  const items = members.data?.items ?? [];
  return (
    <>
      <ErrorMessage error={members.error} />
      {members.data && items.length === 0 ? <p className="muted">No members.</p> : null}
      <ul className="team-members" aria-label={`Members of ${team}`}>
        {items.map((m) => (
          <li key={m.username} data-member={m.username}>
            <span>{m.username}</span> <span className="muted">since {formatTime(m.addedAt)}</span>
            {manage ? (
              <button
                type="button"
                className="link"
                aria-label={`Remove ${m.username} from ${team}`}
                onClick={() => void change(m.username, false)}
              >
                Remove
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      {manage ? (
        <form className="inline-form" onSubmit={submit} aria-label={`Add a member to ${team}`}>
          <label>
            Username to add to {team}
            <input name="username" required autoComplete="off" pattern="[a-z0-9][a-z0-9\-]{0,62}" />
          </label>
          <button type="submit">Add to {team}</button>
        </form>
      ) : null}
      <ErrorMessage error={error} onDismiss={() => setError(null)} />
      <p role="status">{saved}</p>
      <TeamQuota api={api} org={org} team={team} manage={manage} />
    </>
  );
}

/** The team's share of the org's quota: what its boxes use, and (owners, admins) its limits. */
function TeamQuota(props: { api: BoxyardClient; org: string; team: string; manage: boolean }) {
  const { api, org, team } = props;
  const quota = useLoad(() => api.call(getTeamQuota, { params: { org, team } }), [api, org, team]);
  return (
    <div className="team-quota">
      <h3>Quota of {team}</h3>
      <ErrorMessage error={quota.error} />
      {quota.data ? <QuotaBars quota={quota.data} /> : null}
      {quota.data && props.manage ? (
        <QuotaForm
          title={`Change the limits of ${team}`}
          limits={quota.data.limits}
          save={async (body) => {
            await api.call(setTeamQuota, { params: { org, team }, body });
            return `The quota of ${team} is saved.`;
          }}
          onSaved={() => void quota.reload()}
        />
      ) : (
        <p className="hint">
          A team's boxes count against its quota and the org's; org owners and admins set it.
        </p>
      )}
    </div>
  );
}
