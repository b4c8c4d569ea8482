-- The audit log: append-only and hash-chained per org ('site' for events
-- outside any org). Each row stores the previous row's hash and its own hash
-- over a canonical encoding, so an edited, deleted or reordered row is found
-- by recomputing the chain; truncation of the tail is found against chain
-- heads exported outside the database.

CREATE TABLE audit_events (
  id           bigserial PRIMARY KEY,
  chain        text NOT NULL,
  seq          bigint NOT NULL,
  org_id       text REFERENCES orgs (id),
  at           timestamptz NOT NULL,
  actor_kind   text NOT NULL,
  actor_id     text,
  actor_name   text,
  action       text NOT NULL,
  target_kind  text,
  target_id    text,
  target_name  text,
  result       text NOT NULL CHECK (result IN ('success', 'denied', 'failed')),
  request_id   text,
  source_ip    text,
  details      jsonb NOT NULL DEFAULT '{}',
  prev_hash    text NOT NULL,
  hash         text NOT NULL,
  UNIQUE (chain, seq)
);
CREATE INDEX audit_events_org_id ON audit_events (org_id, id);

-- The application may only append. (A superuser can still edit rows; the
-- hash chain is what detects that.)
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
