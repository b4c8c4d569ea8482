-- Gateways running as their own processes (`boxyard server --role gateway`).
-- A gateway registers with a site admin's token and gets a per-gateway token
-- for everything after; the control plane tells clients where to find it
-- (SSH address and host key for `config-ssh`, HTTP URL for browser terminals).

CREATE TABLE gateways (
  id             text PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  http_url       text NOT NULL,
  ssh_host       text NOT NULL,
  ssh_port       integer NOT NULL CHECK (ssh_port BETWEEN 1 AND 65535),
  host_key       text NOT NULL,
  -- sha256 of the gateway's current token; a new registration replaces it.
  token_hash     bytea NOT NULL,
  registered_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz NOT NULL DEFAULT now()
);
