-- Warm pools per template (issue 9). A pool keeps `size` ready, ownerless
-- boxes of an org's template (latest version) so that a create can claim one
-- that is already running. Pooled boxes are ordinary box rows with pool_id
-- set and no owner: the reconciler and the node agent run them like any
-- other box (they hold node capacity), while every user-facing view, the
-- org's quota usage and its usage/cost skip them. A claim binds owner, name,
-- team and a fresh identity in the same transaction that admits it against
-- the quota, and clears pool_id.

CREATE TABLE box_pools (
  id          text PRIMARY KEY,
  org_id      text NOT NULL REFERENCES orgs (id),
  -- A template name: the org's own, or a built-in one.
  template    text NOT NULL,
  size        integer NOT NULL CHECK (size >= 0 AND size <= 50),
  -- What the pool controller last decided: how many boxes it keeps (size
  -- capped by the org's quota headroom) and the template version they run.
  target      integer NOT NULL DEFAULT 0,
  template_version integer,
  last_error  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (org_id, template)
);

ALTER TABLE boxes ALTER COLUMN owner_id DROP NOT NULL;
ALTER TABLE boxes ADD COLUMN pool_id text REFERENCES box_pools (id);
-- Set when a pooled box was handed to its owner.
ALTER TABLE boxes ADD COLUMN claimed_at timestamptz;
-- The box's /etc/machine-id, published to its node with the hostname (its name).
ALTER TABLE boxes ADD COLUMN machine_id text;
-- The identity ("hostname machine-id") the node last reported as applied in the box.
ALTER TABLE boxes ADD COLUMN agent_identity text;
-- Exactly one of: an owner, or a pool.
ALTER TABLE boxes ADD CONSTRAINT boxes_owner_or_pool CHECK ((owner_id IS NULL) = (pool_id IS NOT NULL));
CREATE INDEX boxes_pooled ON boxes (pool_id) WHERE pool_id IS NOT NULL AND deleted_at IS NULL;
