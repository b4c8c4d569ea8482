-- Secrets (issue 7): named values per org, scoped to the whole org, one team
-- or one user, stored only as ciphertext under envelope encryption (the
-- server's master key never enters the database; @boxyard/secrets). A box
-- lists the names its template asks for and gets the values at run time as
-- files on a tmpfs; a box with a repository checkout records the commit it
-- checked out.

CREATE TABLE secrets (
  id           text PRIMARY KEY,
  org_id       text NOT NULL REFERENCES orgs (id),
  -- Also its file name in the box (/run/boxyard/secrets/NAME) and an environment variable's name.
  name         text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
  scope        text NOT NULL CHECK (scope IN ('org', 'team', 'user')),
  team_id      text REFERENCES teams (id),
  user_id      text REFERENCES users (id),
  -- nonce || AES-256-GCM ciphertext || tag, under the data key.
  ciphertext   bytea NOT NULL,
  -- The data key, sealed the same way under the master key `key_id` names.
  wrapped_key  bytea NOT NULL,
  key_id       text NOT NULL,
  created_by   text REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT secrets_team_scope CHECK ((scope = 'team') = (team_id IS NOT NULL)),
  CONSTRAINT secrets_user_scope CHECK ((scope = 'user') = (user_id IS NOT NULL))
);
-- One value per name and scope holder; the most specific scope wins when a box asks for a name.
CREATE UNIQUE INDEX secrets_name_scope ON secrets (org_id, name, scope, COALESCE(team_id, ''), COALESCE(user_id, ''));

-- The secret names the box's template lists (frozen at create, like its image).
ALTER TABLE boxes ADD COLUMN secrets jsonb NOT NULL DEFAULT '[]';
-- The template's repository {url, ref?, secret?}, cloned into /workspace at first start.
ALTER TABLE boxes ADD COLUMN repo jsonb;
-- The commit the node reported checked out in /workspace.
ALTER TABLE boxes ADD COLUMN repo_commit text;
