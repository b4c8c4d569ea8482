// Templates of the organisation; a template's page has its prebuilds and its
// immutable versions with each one's image build.
import { listTemplates, listTemplateVersions } from "@boxyard/contract";
import type { BoxyardClient } from "@boxyard/sdk";
import type { Auth, TemplateT } from "./api.ts";
import { Link } from "./router.tsx";
import { BuildPanel, BuildSummary } from "./template-builds.tsx";
import { PrebuildSummary, PrebuildsPanel } from "./template-prebuilds.tsx";
import { ErrorMessage, formatTime, PageTitle, useLoad } from "./ui.tsx";

function imageOf(t: TemplateT): string {
  const img = t.spec.image as Record<string, unknown>;
  if (typeof img.base === "string") {
    const pkgs = Array.isArray(img.packages) ? img.packages.length : 0;
    return pkgs ? `${img.base} + ${pkgs} package${pkgs === 1 ? "" : "s"}` : img.base;
  }
  return Object.keys(img)[0] ?? "–";
}

function resourcesOf(t: TemplateT): string {
  const r = t.spec.resources ?? {};
  const parts = [
    r.cpu !== undefined ? `${r.cpu} CPU` : null,
    r.memoryMiB !== undefined ? `${r.memoryMiB} MiB` : null,
    r.diskGiB !== undefined ? `${r.diskGiB} GiB disk` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(", ") : "server defaults";
}

/** Where a converted version came from, and what its devcontainer.json asked for that the template does not do. */
function DevcontainerSource(props: { version: number; source: NonNullable<TemplateT["source"]> }) {
  const { devcontainer, warnings } = props.source;
  return (
    <div className="devcontainer-source" data-source-of={props.version}>
      <p>
        Made from {devcontainer.file ? <code>{devcontainer.file}</code> : "a devcontainer.json"}
        {warnings.length === 0 ? "; every key was honoured." : `; ${warnings.length} key(s) not honoured:`}
      </p>
      {warnings.length > 0 ? (
        <ul aria-label={`What version ${props.version}'s devcontainer.json asked for that is not done`}>
          {warnings.map((w) => (
            <li key={`${w.key}: ${w.message}`}>
              <code>{w.key}</code>: {w.message}
            </li>
          ))}
        </ul>
      ) : null}
      <details>
        <summary>devcontainer.json</summary>
        <pre>{devcontainer.text}</pre>
      </details>
    </div>
  );
}

export function TemplatesPage(props: { api: BoxyardClient; org: string }) {
  const { api, org } = props;
  const { data, error } = useLoad(() => api.call(listTemplates, { params: { org } }), [api, org]);
  return (
    <>
      <PageTitle>Templates</PageTitle>
      <p className="hint">
        New templates and versions are pushed with <code>boxyard templates push NAME FILE</code>; versions
        never change once pushed, and each box keeps the version it was made from. Each pushed version's image
        is built on a node; a template's page has each version's build log, and its prebuilds with theirs.
      </p>
      <ErrorMessage error={error} />
      {!data ? (
        error ? null : (
          <p className="muted">Loading…</p>
        )
      ) : (
        <table className="cards">
          <caption className="visually-hidden">Templates in {org}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Latest version</th>
              <th scope="col">Image</th>
              <th scope="col">Resources</th>
              <th scope="col">Build</th>
              <th scope="col">Newest prebuild</th>
              <th scope="col">Pushed</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((t) => (
              <tr key={t.name}>
                <th scope="row" data-label="Name">
                  <Link to={`/templates/${t.name}`}>{t.name}</Link>
                  {t.builtIn ? <span className="muted"> · built in</span> : null}
                </th>
                <td data-label="Latest version">v{t.version}</td>
                <td data-label="Image">{imageOf(t)}</td>
                <td data-label="Resources">{resourcesOf(t)}</td>
                <td data-label="Build" data-build-of={t.name}>
                  {t.builtIn || !t.buildStatus ? (
                    <span className="muted">comes with the server</span>
                  ) : (
                    <BuildSummary api={api} org={org} name={t.name} version={t.version} />
                  )}
                </td>
                <td data-label="Newest prebuild" data-prebuild-summary-of={t.name}>
                  {t.builtIn ? (
                    <span className="muted">–</span>
                  ) : (
                    <PrebuildSummary api={api} org={org} name={t.name} />
                  )}
                </td>
                <td data-label="Pushed">
                  {formatTime(t.createdAt)}
                  {t.createdBy ? ` by ${t.createdBy}` : ""}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function TemplateVersionsPage(props: {
  api: BoxyardClient;
  auth: Auth;
  org: string;
  name: string;
  /** Owners and admins may retry a failed build and queue a prebuild (the server checks again). */
  canWrite: boolean;
  /** Why others may not, in one sentence. */
  writeNote: string;
  /** A prebuild to show with its log open (?prebuild=ID, from a box's page). */
  prebuild: string | null;
}) {
  const { api, auth, org, name, canWrite } = props;
  const { data, error } = useLoad(
    () => api.call(listTemplateVersions, { params: { org, name } }),
    [api, org, name],
  );
  const versions = [...(data?.items ?? [])].sort((a, b) => b.version - a.version);
  return (
    <>
      <p className="crumbs">
        <Link to="/templates">Templates</Link> / {name}
      </p>
      <PageTitle>{name}: versions</PageTitle>
      <ErrorMessage error={error} />
      {data?.items.length === 0 ? (
        <p className="muted">Built-in template: it has one version, shipped with the server.</p>
      ) : null}
      {data && data.items.length > 0 ? (
        <PrebuildsPanel
          api={api}
          auth={auth}
          org={org}
          name={name}
          versions={versions.map((v) => v.version)}
          canWrite={canWrite}
          writeNote={props.writeNote}
          selected={props.prebuild}
        />
      ) : null}
      {versions.map((v) => (
        <section key={v.version} className="panel" aria-labelledby={`v${v.version}`}>
          <h2 id={`v${v.version}`}>
            Version {v.version}{" "}
            <span className="muted">
              {formatTime(v.createdAt)}
              {v.createdBy ? ` by ${v.createdBy}` : ""}
            </span>
          </h2>
          <p>
            {imageOf(v)} · {resourcesOf(v)}
          </p>
          <BuildPanel api={api} auth={auth} org={org} name={name} version={v.version} canWrite={canWrite} />
          {v.source ? <DevcontainerSource version={v.version} source={v.source} /> : null}
          <details>
            <summary>Spec</summary>
            <pre>{JSON.stringify(v.spec, null, 2)}</pre>
          </details>
        </section>
      ))}
    </>
  );
}
