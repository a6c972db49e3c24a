-- qos-probe collector store, migration 7 (issue 9, ingest rate): the window, hour and fault rollups
-- leave the ingest statement. Ingest appends each result it really inserts to `rollup_queue` (the
-- columns the rollup SQL reads, ~200 bytes, no index); a catch-up pass (sql-store.ts rollup(): on a
-- timer, and before every report read) deletes the queued rows it can see and adds them to `windows`,
-- `window_hours` and `fault_windows` with one INSERT … SELECT … GROUP BY … ON CONFLICT per table, in
-- one transaction: a crash between passes loses nothing and counts nothing twice.
--
-- Why a queue and not a high-water mark on an id: ingest writes two batches at once (writeConcurrency)
-- and collectors may share the database, so ids (or any sequence) commit out of order; a mark can pass
-- over a row whose transaction commits later with a lower id. A queue row becomes visible exactly when
-- its result does (same transaction) and a pass deletes only what its snapshot sees, so each result is
-- rolled up exactly once. A per-row flag on `results` would rewrite every ~1.5 kB result row.
--
-- Backfill: none is needed. Up to migration 6 ingest added every result to the rollups in the statement
-- that inserted it, so every stored result is already rolled up and the queue starts empty. A collector
-- of an older version still writing beside a newer one stays correct too: it rolls up in its own
-- statement and queues nothing.
CREATE TABLE rollup_queue (
  id                   uuid NOT NULL,
  operator             text NOT NULL,
  agent_site           text NOT NULL,
  agent_province       text NOT NULL,
  test_id              text NOT NULL,
  method               text NOT NULL,
  packet_size_bytes    integer NOT NULL,
  peer_site            text,
  peer_province        text,
  target               text NOT NULL,
  profile              text NOT NULL,
  distance_km          double precision,
  diagnostic           boolean NOT NULL,
  interval_start       timestamptz NOT NULL,
  interval_end         timestamptz NOT NULL,
  status               text NOT NULL,
  sent                 integer NOT NULL,
  received             integer NOT NULL,
  lost                 integer NOT NULL,
  rtt_mean_ms          double precision,
  dv_max_minus_min_ms  double precision,
  dv_basis             text NOT NULL,
  ow_forward_mean_ms   double precision,
  ow_clock_synced      boolean,
  flags                text[] NOT NULL,
  error_code           text,
  error_message        text
);
