-- SSH keys, external (OIDC) identities and browser sessions.

-- SSH public keys for the gateway. A key identifies one user (the fingerprint
-- is unique across all users), so a login needs no user name.

CREATE TABLE ssh_keys (
  id            text PRIMARY KEY,
  user_id       text NOT NULL REFERENCES users (id),
  name          text NOT NULL,
  type          text NOT NULL,
  public_key    text NOT NULL,
  fingerprint   text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  UNIQUE (user_id, name)
);
CREATE INDEX ssh_keys_user ON ssh_keys (user_id);

-- External identities (OIDC): a user is found by (issuer, subject), never by
-- email alone.
CREATE TABLE user_identities (
  issuer      text NOT NULL,
  subject     text NOT NULL,
  user_id     text NOT NULL REFERENCES users (id),
  email       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz,
  PRIMARY KEY (issuer, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
CREATE INDEX users_email_lower ON users (lower(email)) WHERE deleted_at IS NULL;

-- Browser sessions: the cookie carries the id and a secret; only a hash of
-- the secret is stored. The CSRF token is checked on state-changing requests
-- that a cookie authenticates.
CREATE TABLE sessions (
  id           text PRIMARY KEY,
  user_id      text NOT NULL REFERENCES users (id),
  secret_hash  bytea NOT NULL,
  csrf_token   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);
