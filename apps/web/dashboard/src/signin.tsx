// Sign in: through the organisation's identity provider (a browser session),
// or by pasting an API token (the bootstrap admin's, or one from
// `boxyard tokens create`), kept for this tab only.
import { getMe } from "@boxyard/contract";
import { type FormEvent, useState } from "react";
import { makeClient, oidcEnabled, type UserT } from "./api.ts";
import { ErrorMessage, PageTitle } from "./ui.tsx";

export function SignInPage(props: { onToken: (token: string, user: UserT) => void; returnTo: string }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const oidc = oidcEnabled();

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const token = String(new FormData(e.currentTarget).get("token") ?? "").trim();
    setBusy(true);
    setError(null);
    try {
      const user = await makeClient({ kind: "token", token }).call(getMe);
      props.onToken(token, user);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="signin">
      <PageTitle>Sign in to Boxyard</PageTitle>
      {oidc ? (
        <section className="panel" aria-labelledby="oidc-title">
          <h2 id="oidc-title">With your organisation's account</h2>
          <a className="button primary" href={`/auth/login?returnTo=${encodeURIComponent(props.returnTo)}`}>
            Sign in with your identity provider
          </a>
        </section>
      ) : null}
      <section className="panel" aria-labelledby="token-title">
        <h2 id="token-title">With an API token</h2>
        <form onSubmit={submit}>
          <label>
            API token
            <input name="token" type="password" autoComplete="off" required spellCheck={false} />
          </label>
          <p className="hint">
            The first administrator's token is in the server's data directory (<code>admin-token</code>). It
            is kept for this browser tab only.
          </p>
          <ErrorMessage error={error} />
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Signing in…" : "Sign in with token"}
          </button>
        </form>
      </section>
    </main>
  );
}
