-- Users, API tokens, orgs and memberships: the identity every later table hangs on.

CREATE TABLE users (
  id            text PRIMARY KEY,
  username      text NOT NULL,
  email         text,
  site_admin    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  suspended_at  timestamptz,
  deleted_at    timestamptz,
  CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9]([a-z0-9-]{0,62})$')
);
-- A deleted user's name may be reused; a live one's may not.
CREATE UNIQUE INDEX users_username_live ON users (username) WHERE deleted_at IS NULL;

CREATE TABLE api_tokens (
  id            text PRIMARY KEY,
  user_id       text NOT NULL REFERENCES users (id),
  name          text NOT NULL,
  -- sha256 of the secret part; the secret itself is never stored.
  secret_hash   bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  last_used_at  timestamptz,
  revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE orgs (
  id          text PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orgs_name_format CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,62})$')
);

CREATE TABLE org_members (
  org_id      text NOT NULL REFERENCES orgs (id),
  user_id     text NOT NULL REFERENCES users (id),
  role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer', 'auditor')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);
