/// <reference lib="dom" />
// The Boxyard dashboard: sign-in, the organisation switcher and the pages.
import { getMe, listOrgs } from "@boxyard/contract";
import { StrictMode, useCallback, useEffect, useMemo, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  type Auth,
  currentSession,
  errorText,
  makeClient,
  type OrgT,
  savedToken,
  signOutSession,
  TOKEN_KEY,
  type UserT,
} from "./api.ts";
import { type Access, effectiveRole, roleNote } from "./access.ts";
import { ADMIN_TABS, type AdminTab, AdminPage } from "./admin.tsx";
import { BoxDetailPage } from "./box-detail.tsx";
import { BoxesPage } from "./boxes.tsx";
import { Link, navigate, useLocation } from "./router.tsx";
import { SignInPage } from "./signin.tsx";
import { TemplatesPage, TemplateVersionsPage } from "./templates.tsx";
import { PageTitle } from "./ui.tsx";
import "./styles.css";

const ORG_KEY = "boxyard.org";

type Signed = { auth: Auth; user: UserT };

function App() {
  const [signed, setSigned] = useState<Signed | null | undefined>(undefined);
  const [fatal, setFatal] = useState<string | null>(null);

  // Who is this? A token kept in this tab, else the browser session, else nobody.
  useEffect(() => {
    (async () => {
      const token = savedToken();
      if (token) {
        try {
          const user = await makeClient({ kind: "token", token }).call(getMe);
          return setSigned({ auth: { kind: "token", token }, user });
        } catch {
          sessionStorage.removeItem(TOKEN_KEY);
        }
      }
      const session = await currentSession();
      setSigned(session ? { auth: { kind: "session", csrf: session.csrfToken }, user: session.user } : null);
    })().catch((err) => setFatal(errorText(err)));
  }, []);

  if (fatal) return <p role="alert">Cannot reach the server: {fatal}</p>;
  if (signed === undefined) return <p className="muted loading">Loading…</p>;
  if (signed === null)
    return (
      <SignInPage
        returnTo={window.location.pathname === "/signin" ? "/" : window.location.pathname}
        onToken={(token, user) => {
          sessionStorage.setItem(TOKEN_KEY, token);
          setSigned({ auth: { kind: "token", token }, user });
          if (window.location.pathname === "/signin") navigate("/boxes", { replace: true });
        }}
      />
    );
  return (
    <Shell
      signed={signed}
      onSignOut={async () => {
        if (signed.auth.kind === "session") await signOutSession(signed.auth.csrf).catch(() => {});
        sessionStorage.removeItem(TOKEN_KEY);
        setSigned(null);
      }}
    />
  );
}

function Shell(props: { signed: Signed; onSignOut: () => void }) {
  const { auth, user } = props.signed;
  const api = useMemo(() => makeClient(auth), [auth]);
  const { path, search } = useLocation();
  const [orgs, setOrgs] = useState<OrgT[] | null>(null);
  const [orgError, setOrgError] = useState<string | null>(null);
  const [org, setOrgState] = useState<string | null>(search.get("org") ?? localStorage.getItem(ORG_KEY));

  useEffect(() => {
    api.call(listOrgs).then(
      (r) => setOrgs(r.items),
      (err) => setOrgError(errorText(err)),
    );
  }, [api]);

  // A box page names its org, and so may a link (?org=, from a box's page to its prebuild);
  // otherwise the remembered one, if this user still sees it.
  const boxMatch = /^\/boxes\/([a-z0-9-]+)\/([a-z0-9-]+)\/?$/.exec(path);
  const linked = search.get("org");
  const current =
    boxMatch?.[1] ??
    (orgs
      ? (orgs.find((o) => o.name === linked) ?? orgs.find((o) => o.name === org) ?? orgs[0])?.name
      : (linked ?? org ?? undefined)) ??
    null;
  const setOrg = useCallback((name: string) => {
    localStorage.setItem(ORG_KEY, name);
    setOrgState(name);
  }, []);

  useEffect(() => {
    if (path === "/" || path === "/signin") navigate("/boxes", { replace: true });
  }, [path]);

  const access: Access = {
    role: effectiveRole(
      orgs?.find((o) => o.name === current),
      user,
    ),
    username: user.username,
    siteAdmin: user.siteAdmin,
  };
  const section = path.startsWith("/templates") ? "templates" : path.startsWith("/org") ? "org" : "boxes";
  const page = (() => {
    if (!orgs && !orgError) return <p className="muted">Loading…</p>;
    if (!current)
      return (
        <>
          <PageTitle>No organisation yet</PageTitle>
          <p>
            You are not a member of any organisation. Ask an owner to add <strong>{user.username}</strong>, or
            create one with <code>boxyard orgs create NAME</code>.
          </p>
        </>
      );
    if (boxMatch)
      return <BoxDetailPage api={api} auth={auth} access={access} org={boxMatch[1]!} name={boxMatch[2]!} />;
    const tmpl = /^\/templates\/([a-z0-9-]+)\/?$/.exec(path);
    if (tmpl) {
      const role = orgs?.find((o) => o.name === current)?.role;
      const canWrite = role === "owner" || role === "admin" || user.siteAdmin;
      return (
        <TemplateVersionsPage
          api={api}
          auth={auth}
          org={current}
          name={tmpl[1]!}
          canWrite={canWrite}
          writeNote={roleNote(access, "retry builds or queue prebuilds", "org owners and admins")}
          prebuild={search.get("prebuild")}
        />
      );
    }
    if (path.startsWith("/templates")) return <TemplatesPage api={api} org={current} />;
    if (path.startsWith("/org")) {
      const tab = path.split("/")[2] ?? "";
      const known = ADMIN_TABS.some(([t]) => t === tab);
      return (
        <AdminPage api={api} access={access} org={current} tab={(known ? tab : "members") as AdminTab} />
      );
    }
    return <BoxesPage api={api} auth={auth} access={access} org={current} />;
  })();

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/boxes" className="brand" aria-label="Boxyard home">
          Boxyard
        </Link>
        <nav aria-label="Main">
          <ul>
            <li>
              <Link to="/boxes" current={section === "boxes"}>
                Boxes
              </Link>
            </li>
            <li>
              <Link to="/templates" current={section === "templates"}>
                Templates
              </Link>
            </li>
            <li>
              <Link to="/org/members" current={section === "org"}>
                Organisation
              </Link>
            </li>
          </ul>
        </nav>
        <div className="who">
          <label className="org-switch">
            <span>Organisation</span>
            <select
              value={current ?? ""}
              onChange={(e) => {
                setOrg(e.target.value);
                if (boxMatch) navigate("/boxes");
              }}
              disabled={!orgs || orgs.length === 0}
            >
              {(orgs ?? []).map((o) => (
                <option key={o.id} value={o.name}>
                  {o.name}
                  {o.role ? ` (${o.role})` : ""}
                </option>
              ))}
            </select>
          </label>
          <span className="user" title={user.email ?? undefined}>
            {user.username}
          </span>
          <button type="button" className="link" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        {orgError ? <p role="alert">Cannot list your organisations: {orgError}</p> : null}
        {page}
      </main>
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
