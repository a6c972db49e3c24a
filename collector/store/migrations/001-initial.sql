-- qos-probe collector store, migration 1: results, rejects, site status.
-- One dialect for PostgreSQL and PGlite. Column names are the message keys flattened with "_"
-- (agent.site -> agent_site, rtt_ms.p95 -> rtt_p95_ms); the whole message is kept in `payload`.

CREATE TABLE results (
  id                       uuid PRIMARY KEY,
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
  payload                  jsonb NOT NULL
);

-- Reports select one operator's pairs over a period; rollups walk one pair in time order.
CREATE INDEX results_pair_interval_idx ON results (operator, agent_site, peer_site, interval_start);
-- Period queries across all operators (the regulator's view).
CREATE INDEX results_interval_start_idx ON results (interval_start);

-- Messages that failed validation, kept with the reason so an operator can see what their agent sent.
CREATE TABLE rejects (
  id           bigserial PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now(),
  topic        text NOT NULL,
  reason       text NOT NULL,
  -- The payload as received, cut to a bound (raw_size keeps the original length).
  raw          bytea NOT NULL,
  raw_size     integer NOT NULL
);

CREATE INDEX rejects_received_at_idx ON rejects (received_at);

-- The last known state of each site, from its retained status topic (heartbeat or Last Will).
CREATE TABLE site_status (
  operator        text NOT NULL,
  province        text NOT NULL,
  site            text NOT NULL,
  state           text NOT NULL CHECK (state IN ('online', 'offline')),
  last_heartbeat  timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  outbox_depth    integer,
  dropped         bigint,
  version         text,
  config_version  text,
  payload         jsonb,
  PRIMARY KEY (operator, province, site)
);
