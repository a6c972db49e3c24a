-- qos-probe collector store, migration 4 (issue 9): the hourly rollup the report reads, maintained at
-- ingest in the statement that inserts results (store/windows-sql.ts windowCtes). A month of 300 pairs
-- is 2.6 M window rows but 216,000 hour rows; a report whose bucket edges are whole UTC hours (every
-- zone with a whole-hour offset, Asia/Shanghai included) sums these instead of the windows.
-- Same sums as `windows`; `measured` / `available` count the hour's windows that are measured /
-- available (a per-window property, kept current as windows fill up).
CREATE TABLE window_hours (
  operator           text NOT NULL,
  agent_site         text NOT NULL,
  peer               text NOT NULL,
  test_id            text NOT NULL,
  method             text NOT NULL,
  packet_size_bytes  integer NOT NULL,
  hour_start         timestamptz NOT NULL,
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
  measured           integer NOT NULL DEFAULT 0,
  available          integer NOT NULL DEFAULT 0,
  PRIMARY KEY (operator, agent_site, peer, test_id, method, packet_size_bytes, hour_start)
);

CREATE INDEX window_hours_start_idx ON window_hours (hour_start);

-- The hours of the windows already stored (the same arithmetic as HOURS_FROM_WINDOWS_SQL).
INSERT INTO window_hours
SELECT operator, agent_site, peer, test_id, method, packet_size_bytes,
  date_bin('1 hour', window_start, '2000-01-01T00:00:00Z'::timestamptz),
  max(agent_province), max(to_kind), max(peer_province), max(profile), max(distance_km),
  sum(results), sum(errors), sum(faults), sum(diagnostic), sum(flagged_integrity), sum(flagged_timing),
  sum(flagged_unsynced), sum(dv_few), sum(rtt_n), sum(rtt_sum), sum(dv_rt_n), sum(dv_rt_sum), sum(dv_fwd_n),
  sum(dv_fwd_sum), sum(dv_rev_n), sum(dv_rev_sum), sum(loss_n), sum(loss_sum), sum(sent), sum(lost),
  sum(ow_n), sum(ow_sum),
  count(*) FILTER (WHERE probed_ms >= 150000),
  count(*) FILTER (WHERE probed_ms >= 150000 AND 4 * w_lost <= 3 * w_sent)
FROM windows
GROUP BY operator, agent_site, peer, test_id, method, packet_size_bytes,
  date_bin('1 hour', window_start, '2000-01-01T00:00:00Z'::timestamptz);

-- Evidence chains at ingest (issue 11; collector/store/chains.ts). Each result keeps its chain link:
-- chain_hash = SHA-256 of its RFC 8785 bytes (base64url) when signed, else NULL; chain_prev = its
-- `prev` field ("" when prev is null, i.e. a chain that starts; NULL when the message has none).
ALTER TABLE results ADD COLUMN chain_hash text, ADD COLUMN chain_prev text;

-- Per agent: how many results are stored, how many signed, the seq range and the head digest (the
-- hash of the result with the highest seq), and the interval starts the chain spans.
CREATE TABLE evidence_chains (
  operator    text NOT NULL,
  site        text NOT NULL,
  results     bigint NOT NULL,
  signed      bigint NOT NULL,
  first_seq   bigint,
  last_seq    bigint,
  head_hash   text,
  first_at    timestamptz NOT NULL,
  last_at     timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operator, site)
);

-- Links that do not hold, keyed by the result after the break: "missing" (seqs missing_from ..
-- missing_to not stored) or "altered" (the stored predecessor is not the one the agent sealed).
-- Recomputed whenever a result lands next to it, so a late arrival closes a "missing" break.
CREATE TABLE evidence_breaks (
  operator        text NOT NULL,
  site            text NOT NULL,
  seq             bigint NOT NULL,
  id              uuid NOT NULL,
  kind            text NOT NULL CHECK (kind IN ('missing', 'altered')),
  missing_from    bigint,
  missing_to      bigint,
  detail          text NOT NULL,
  interval_start  timestamptz NOT NULL,
  detected_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operator, site, seq)
);

CREATE INDEX evidence_breaks_interval_idx ON evidence_breaks (interval_start);

-- Chains of the results already stored: counts and seq ranges (older results carry no digest column,
-- so their links are judged from the next result that lands beside them).
INSERT INTO evidence_chains (operator, site, results, signed, first_seq, last_seq, head_hash, first_at, last_at)
SELECT operator, agent_site, count(*), count(*) FILTER (WHERE payload ? 'sig'), min(seq), max(seq), NULL,
  min(interval_start), max(interval_start)
FROM results GROUP BY operator, agent_site;

-- Seqs the store has decided by rejecting them (issue 7): a result refused as a second claim on an
-- interval is in `rejects` with its reason; a store receipt covers its seq (as "decided"), so the
-- agent stops republishing it. (A bad signature is not decided: what arrived is not what was sealed.) Store receipts and gap listings read these with the
-- seqs of `results` (store/seqs.ts).
CREATE TABLE rejected_seqs (
  operator  text NOT NULL,
  site      text NOT NULL,
  seq       bigint NOT NULL,
  PRIMARY KEY (operator, site, seq)
);
