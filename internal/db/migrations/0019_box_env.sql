-- A box's environment (issue 7): the variables every command and session in
-- it gets (its image's Env, then its template's `env` over it) and the
-- template's `onStart` commands, run each time its sandbox boots. Both are
-- frozen at create, like its image. An uploaded image archive records its
-- config's Env, the base of that environment for boxes made from it.

ALTER TABLE boxes ADD COLUMN env jsonb NOT NULL DEFAULT '{}';
ALTER TABLE boxes ADD COLUMN on_start jsonb NOT NULL DEFAULT '[]';
-- "NAME=value" entries as the image config lists them; archives uploaded
-- before this column have none recorded until they are uploaded again.
ALTER TABLE oci_images ADD COLUMN env jsonb NOT NULL DEFAULT '[]';
