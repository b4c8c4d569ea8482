-- A box's created_at is kept to the millisecond (issue 9, the API with 10,000
-- boxes). The box list is ordered by (created_at, id) and its cursor carries
-- created_at as JSON does, to the millisecond; until now the list ordered by
-- created_at cut to the millisecond, which the (org_id, created_at, id) index
-- cannot serve, so every page sorted all of the org's boxes. With the column
-- itself to the millisecond, a page is an index range scan.
UPDATE boxes SET created_at = date_trunc('milliseconds', created_at)
  WHERE created_at <> date_trunc('milliseconds', created_at);

CREATE FUNCTION boxes_created_at_ms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.created_at := date_trunc('milliseconds', NEW.created_at);
  RETURN NEW;
END
$$;

-- Every writer: the insert of a create, the claim of a pooled box (which
-- sets created_at to the claim's time), anything later.
CREATE TRIGGER boxes_created_at_ms BEFORE INSERT OR UPDATE OF created_at ON boxes
  FOR EACH ROW EXECUTE FUNCTION boxes_created_at_ms();
