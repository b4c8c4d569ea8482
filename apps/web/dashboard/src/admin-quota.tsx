// Quotas: each limit with what is in use now, and a form to change them.
// The org's quota is the operator's cost control (site admins set it); a
// team's quota divides the org's (org owners and admins set it).
import { getQuota, type Quota, setQuota } from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useId, useState } from "react";
import type { z } from "zod";
import { type Access, canSetQuota } from "./access.ts";
import { ErrorMessage, useLoad } from "./ui.tsx";

export type QuotaT = z.output<typeof Quota>;
export type QuotaLimitsT = QuotaT["limits"];
type LimitKey = keyof QuotaLimitsT;

const QUOTA_ROWS: [string, LimitKey, keyof QuotaT["usage"], string][] = [
  ["Boxes", "maxBoxes", "boxes", ""],
  ["Running boxes", "maxRunningBoxes", "runningBoxes", ""],
  ["CPU", "cpu", "cpu", " CPU"],
  ["Memory", "memoryMiB", "memoryMiB", " MiB"],
  ["Disk", "diskGiB", "diskGiB", " GiB"],
  ["GPUs", "gpus", "gpus", ""],
];

export function QuotaView(props: { api: BoxyardClient; access: Access; org: string }) {
  const { api, org } = props;
  const { data, error, reload } = useLoad(() => api.call(getQuota, { params: { org } }), [api, org]);
  return (
    <>
      <ErrorMessage error={error} />
      {data ? <QuotaBars quota={data} /> : null}
      {data && canSetQuota(props.access) ? (
        <QuotaForm
          title="Change the limits"
          limits={data.limits}
          save={async (body) => {
            await api.call(setQuota, { params: { org }, body });
            return `The quota of ${org} is saved.`;
          }}
          onSaved={() => void reload()}
        />
      ) : (
        <p className="hint">
          Only a site admin may change quotas (they are the operator's cost control); a create or start over a
          limit is refused.
        </p>
      )}
    </>
  );
}

/** Each limit as a bar of what is in use, or the use alone where there is no limit. */
export function QuotaBars(props: { quota: QuotaT }) {
  const { quota } = props;
  const prefix = useId();
  return (
    <ul className="quota">
      {QUOTA_ROWS.map(([label, limitKey, usageKey, unit]) => {
        const used = quota.usage[usageKey];
        const limit = quota.limits[limitKey];
        const id = `${prefix}-${usageKey}`;
        return (
          <li key={usageKey} data-quota={limitKey}>
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
  );
}

/** The limits as fields; `save` sends them and says what was saved, or throws the server's problem. */
export function QuotaForm(props: {
  title: string;
  limits: QuotaLimitsT;
  save: (body: Record<LimitKey, number | null>) => Promise<string>;
  onSaved: () => void;
}) {
  const { limits } = props;
  const titleId = useId();
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    // An empty field is "no limit": sent as null, which is what the API takes for it.
    const body = Object.fromEntries(
      QUOTA_ROWS.map(([, key]) => {
        const v = String(f.get(key) ?? "").trim();
        return [key, v === "" ? null : Number(v)];
      }),
    ) as Record<LimitKey, number | null>;
    setBusy(true);
    setError(null);
    setSaved("");
    try {
      setSaved(await props.save(body));
      props.onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="panel quota-form" onSubmit={submit} aria-labelledby={titleId}>
      <h2 id={titleId}>{props.title}</h2>
      <div className="fields">
        {QUOTA_ROWS.map(([label, key, , unit]) => (
          <label key={key}>
            {label}
            {unit && unit.trim() !== label ? ` (${unit.trim()})` : ""}
            <input
              name={key}
              type="number"
              min={0}
              step={key === "cpu" ? 0.25 : 1}
              defaultValue={limits[key] ?? ""}
              placeholder="no limit"
            />
          </label>
        ))}
      </div>
      <p className="hint">An empty field means no limit. Boxes already over a new limit keep running.</p>
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Saving…" : "Save quota"}
      </button>
      <ErrorMessage error={error} onDismiss={() => setError(null)} />
      <p role="status">{saved}</p>
    </form>
  );
}
