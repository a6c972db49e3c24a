-- qos-probe collector store, migration 8: two collectors (or two ingest lanes) creating the same new
-- month's partition at once. Migration 3's function re-checked to_regclass() after its advisory lock,
-- but an advisory lock does not make PostgreSQL read the catalog again (only relation locks process
-- invalidations), so the second caller still saw no table and its CREATE failed with 42P07
-- duplicate_table: one failed ingest write (retried at the next flush) per new month. Two connections
-- calling it at once for 60 new months failed in 60 of 60. The CREATE now treats "already exists" as
-- done: the partition exists, which is all the caller asked for.
CREATE OR REPLACE FUNCTION qosprobe_results_partition(t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo timestamp := date_trunc('month', t AT TIME ZONE 'UTC');
  name text := 'results_' || to_char(lo, 'YYYY"m"MM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    PERFORM pg_advisory_xact_lock(7240602);
    BEGIN
      EXECUTE format('CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%L) TO (%L)',
        name, (lo AT TIME ZONE 'UTC')::text, ((lo + interval '1 month') AT TIME ZONE 'UTC')::text);
    EXCEPTION WHEN duplicate_table THEN
      NULL; -- another caller made it between our look and our lock: the partition exists, as wanted
    END;
  END IF;
  RETURN name;
END
$$;
