-- qos-probe collector store, migration 3 (issue 9): results partitioned by month, one result per
-- (operator, agent site, test id, interval start), the 5-minute window table the report reads, and the
-- faults table. One dialect for PostgreSQL and PGlite (PGlite 0.5 is PostgreSQL 18 and has declarative
-- partitioning and PL/pgSQL, so both take exactly this script).

-- 1. The old table steps aside; its rows move into the partitioned one below.
ALTER TABLE results RENAME TO results_v1;
ALTER INDEX results_pkey RENAME TO results_v1_pkey;
-- The report no longer reads results, so the two period indexes only slowed ingest.
DROP INDEX results_pair_interval_idx;
DROP INDEX results_interval_start_idx;

-- 2. Results, partitioned by UTC calendar month of interval_start (a storage unit: drop or detach a
-- month as a whole; the report's months are cut in report.timezone from the window table instead).
-- A partitioned table's unique keys must hold the partition key, so the id key is (id, interval_start):
-- a redelivery repeats both. The claim key refuses a second result for a stored interval.
CREATE TABLE results (
  id                       uuid NOT NULL,
  received_at              timestamptz NOT NULL DEFAULT now(),
  seq                      bigint NOT NULL,
  status                   text NOT NULL,
  operator                 text NOT NULL,
  agent_site               text NOT NULL,
  agent_province           text NOT NULL,
  agent_version            text NOT NULL,
  test_id                  text NOT NULL,
  method                   text NOT NULL,
  target                   text NOT NULL,
  peer_site                text,
  peer_province            text,
  distance_km              double precision,
  packet_size_bytes        integer NOT NULL,
  diagnostic               boolean NOT NULL,
  interval_start           timestamptz NOT NULL,
  interval_end             timestamptz NOT NULL,
  sent                     integer NOT NULL,
  received                 integer NOT NULL,
  lost                     integer NOT NULL,
  duplicates               integer NOT NULL,
  reordered                integer NOT NULL,
  late                     integer NOT NULL,
  loss_ratio               double precision,
  rtt_mean_ms              double precision,
  rtt_min_ms               double precision,
  rtt_max_ms               double precision,
  rtt_median_ms            double precision,
  rtt_p95_ms               double precision,
  rtt_p99_ms               double precision,
  dv_max_minus_min_ms      double precision,
  dv_basis                 text NOT NULL,
  profile                  text NOT NULL,
  delay_basis              text NOT NULL,
  verdict_rtt              text NOT NULL,
  verdict_delay_variation  text NOT NULL,
  verdict_loss             text NOT NULL,
  payload                  jsonb NOT NULL,
  error_code               text,
  error_message            text,
  flags                    text[] NOT NULL DEFAULT '{}',
  ow_forward_mean_ms       double precision,
  ow_clock_synced          boolean,
  PRIMARY KEY (id, interval_start),
  CONSTRAINT results_interval_claim UNIQUE (operator, agent_site, test_id, interval_start)
) PARTITION BY RANGE (interval_start);

-- Partitions are made on demand, before a batch that needs one is inserted (no DEFAULT partition: a
-- default holding rows would block creating the month it overlaps). The advisory lock serialises
-- collectors racing to create the same month.
CREATE FUNCTION qosprobe_results_partition(t timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo timestamp := date_trunc('month', t AT TIME ZONE 'UTC');
  name text := 'results_' || to_char(lo, 'YYYY"m"MM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    PERFORM pg_advisory_xact_lock(7240602);
    IF to_regclass(name) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF results FOR VALUES FROM (%L) TO (%L)',
        name, (lo AT TIME ZONE 'UTC')::text, ((lo + interval '1 month') AT TIME ZONE 'UTC')::text);
    END IF;
  END IF;
  RETURN name;
END
$$;

DO $$
DECLARE m timestamptz;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', interval_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM results_v1 LOOP
    PERFORM qosprobe_results_partition(m);
  END LOOP;
END
$$;

INSERT INTO results
SELECT v.*, v.payload->'error'->>'code', v.payload->'error'->>'message',
       ARRAY(SELECT jsonb_array_elements_text(v.payload->'quality'->'flags')),
       (v.payload->'one_way_ms'->'forward'->>'mean')::double precision,
       (v.payload->'one_way_ms'->>'clock_synced')::boolean
FROM results_v1 v ORDER BY v.received_at, v.id
ON CONFLICT DO NOTHING;

-- Second claims already stored by an older collector become rejects, with the reason, not silence.
INSERT INTO rejects (received_at, topic, reason, raw, raw_size)
SELECT v.received_at,
       'qosprobe/v1/' || v.operator || '/' || v.agent_province || '/' || v.agent_site || '/result/' || v.test_id,
       'interval ' || to_char(v.interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ||
         ' of test ' || v.test_id || ' is already claimed by result ' || r.id || ' (found when migrating to 3)',
       convert_to(v.payload::text, 'UTF8'), octet_length(v.payload::text)
FROM results_v1 v
JOIN results r ON r.operator = v.operator AND r.agent_site = v.agent_site AND r.test_id = v.test_id
              AND r.interval_start = v.interval_start AND r.id <> v.id;

DROP TABLE results_v1;

-- Migration 2's index for store receipts and gap listings went with the old table: again, on the new one.
CREATE INDEX results_agent_seq_idx ON results (operator, agent_site, seq);

-- 3. The 5-minute window table (collector/windows.ts explains every column). One row per rollup key
-- (operator, from, to, test id, method, packet size) and aligned window, maintained at ingest in the
-- same statement that inserts the results, from the rows really inserted: a redelivery adds nothing.
-- The collector fills it from existing results right after this migration (sql-store.ts).
CREATE TABLE windows (
  operator           text NOT NULL,
  agent_site         text NOT NULL,
  peer               text NOT NULL,
  test_id            text NOT NULL,
  method             text NOT NULL,
  packet_size_bytes  integer NOT NULL,
  window_start       timestamptz NOT NULL,
  agent_province     text NOT NULL,
  to_kind            text NOT NULL,
  peer_province      text,
  profile            text NOT NULL,
  distance_km        double precision,
  results            integer NOT NULL DEFAULT 0,
  errors             integer NOT NULL DEFAULT 0,
  faults             integer NOT NULL DEFAULT 0,
  diagnostic         integer NOT NULL DEFAULT 0,
  flagged_integrity  integer NOT NULL DEFAULT 0,
  flagged_timing     integer NOT NULL DEFAULT 0,
  flagged_unsynced   integer NOT NULL DEFAULT 0,
  dv_few             integer NOT NULL DEFAULT 0,
  rtt_n              integer NOT NULL DEFAULT 0,
  rtt_sum            double precision NOT NULL DEFAULT 0,
  dv_rt_n            integer NOT NULL DEFAULT 0,
  dv_rt_sum          double precision NOT NULL DEFAULT 0,
  dv_fwd_n           integer NOT NULL DEFAULT 0,
  dv_fwd_sum         double precision NOT NULL DEFAULT 0,
  dv_rev_n           integer NOT NULL DEFAULT 0,
  dv_rev_sum         double precision NOT NULL DEFAULT 0,
  loss_n             integer NOT NULL DEFAULT 0,
  loss_sum           double precision NOT NULL DEFAULT 0,
  sent               bigint NOT NULL DEFAULT 0,
  lost               bigint NOT NULL DEFAULT 0,
  ow_n               integer NOT NULL DEFAULT 0,
  ow_sum             double precision NOT NULL DEFAULT 0,
  probed_ms          bigint NOT NULL DEFAULT 0,
  w_sent             bigint NOT NULL DEFAULT 0,
  w_lost             bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (operator, agent_site, peer, test_id, method, packet_size_bytes, window_start)
);

-- The report reads a period across every key.
CREATE INDEX windows_start_idx ON windows (window_start);

-- 4. Faults and errors per key, window and code: the report's table an operator fixes things from.
CREATE TABLE fault_windows (
  operator           text NOT NULL,
  agent_site         text NOT NULL,
  peer               text NOT NULL,
  test_id            text NOT NULL,
  method             text NOT NULL,
  packet_size_bytes  integer NOT NULL,
  window_start       timestamptz NOT NULL,
  status             text NOT NULL,
  code               text NOT NULL,
  n                  integer NOT NULL,
  last_at            timestamptz NOT NULL,
  last_message       text NOT NULL,
  PRIMARY KEY (operator, agent_site, peer, test_id, method, packet_size_bytes, window_start, status, code)
);

CREATE INDEX fault_windows_start_idx ON fault_windows (window_start);
