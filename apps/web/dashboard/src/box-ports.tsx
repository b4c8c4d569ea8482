// A box's ports with preview links: those its template declares (private
// until shared, named) and those shared; and (for whoever may share them:
// the box's owner, org owners and admins) sharing a port with the org or
// anyone with the link, or making it private again. Every other port is private.
import { listBoxPorts, PortVisibility, setBoxPort } from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import { type FormEvent, useState } from "react";
import type { z } from "zod";
import type { BoxT, PortT } from "./api.ts";
import { ErrorMessage, useLoad } from "./ui.tsx";

type Visibility = z.output<typeof PortVisibility>;

const SAYS: Record<Visibility, string> = {
  private: "only its owner and org admins",
  org: "members of the org",
  public: "anyone with the link",
};

export function BoxPorts(props: {
  api: BoxyardClient;
  box: BoxT;
  canShare: boolean;
  shareNote: string;
  onShared?: () => void;
}) {
  const { api, box, canShare } = props;
  const params = { org: box.org, box: box.name };
  const ports = useLoad(() => api.call(listBoxPorts, { params }), [api, box.org, box.name]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState("");
  const running = box.actualState === "running";

  const share = async (port: number, visibility: Visibility, label?: string) => {
    setError(null);
    setSaved("");
    try {
      await api.call(setBoxPort, {
        params: { ...params, port },
        body: { visibility, ...(label ? { label } : {}) },
      });
      setSaved(`Port ${port} is now visible to ${SAYS[visibility]}.`);
      props.onShared?.();
      await ports.reload();
    } catch (err) {
      setError(err);
    }
  };

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const f = new FormData(form);
    const port = Number(f.get("port"));
    const label = String(f.get("label") ?? "").trim();
    void share(port, String(f.get("visibility")) as Visibility, label).then(() => form.reset());
  };

  const items = ports.data?.items ?? [];
  return (
    <section className="panel" aria-labelledby="ports-title">
      <h2 id="ports-title">Ports</h2>
      <ErrorMessage error={ports.error} />
      {ports.data && items.length === 0 ? (
        <p className="muted">
          No port is declared or shared: its previews are open only to its owner and the org's admins.
        </p>
      ) : null}
      {items.length > 0 ? (
        <table className="cards">
          <thead>
            <tr>
              <th scope="col">Port</th>
              <th scope="col">Label</th>
              <th scope="col">Visible to</th>
              <th scope="col">Preview</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p: PortT) => (
              <tr key={p.port} data-port={p.port}>
                <td data-label="Port">{p.port}</td>
                <td data-label="Label">
                  {p.label || "–"}
                  {p.declared ? <span className="muted"> (from the template)</span> : null}
                </td>
                <td data-label="Visible to">
                  {canShare ? (
                    <select
                      aria-label={`Who sees port ${p.port}`}
                      value={p.visibility}
                      onChange={(e) => void share(p.port, e.target.value as Visibility, p.label)}
                    >
                      {PortVisibility.options.map((v) => (
                        <option key={v} value={v}>
                          {SAYS[v]}
                        </option>
                      ))}
                    </select>
                  ) : (
                    SAYS[p.visibility]
                  )}
                </td>
                <td data-label="Preview">
                  {running ? (
                    <a href={p.previewPath} target="_blank" rel="noopener noreferrer">
                      Open preview of port {p.port}
                    </a>
                  ) : (
                    <span className="muted">once running</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {canShare ? (
        <form className="inline-form" onSubmit={submit} aria-labelledby="share-title">
          <h3 id="share-title">Share a port</h3>
          <label>
            Port
            <input name="port" type="number" min={1} max={65535} required />
          </label>
          <label>
            Visible to
            <select name="visibility" defaultValue="org">
              {PortVisibility.options.map((v) => (
                <option key={v} value={v}>
                  {SAYS[v]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Label
            <input name="label" maxLength={100} autoComplete="off" placeholder="web" />
          </label>
          <button type="submit" className="primary">
            Share
          </button>
        </form>
      ) : (
        <p className="hint">{props.shareNote}</p>
      )}
      <ErrorMessage error={error} onDismiss={() => setError(null)} />
      <p role="status">{saved}</p>
    </section>
  );
}
