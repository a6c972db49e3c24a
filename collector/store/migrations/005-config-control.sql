-- qos-probe collector store, migration 5: the regulator's view of the signed configuration (issue 11).
-- New tables only (nothing of earlier migrations is altered), one dialect for PostgreSQL and PGlite.

-- Every decision an agent published on {root}/{operator}/{province}/{site}/config/ack (qosprobe.config-ack/1).
-- `digest` is the sha256 of the payload bytes: a QoS 1 redelivery (or a second collector on the same
-- database) is the same bytes and is stored once.
CREATE TABLE config_acks (
  id              bigserial PRIMARY KEY,
  received_at     timestamptz NOT NULL DEFAULT now(),
  digest          text NOT NULL UNIQUE,
  operator        text NOT NULL,
  province        text NOT NULL,
  site            text NOT NULL,
  -- the agent's clock: when it decided
  at              timestamptz NOT NULL,
  decision        text NOT NULL CHECK (decision IN ('accepted', 'rejected')),
  -- null when the signature did not verify (the envelope's claims are then no fact)
  config_version  bigint,
  config_hash     text,
  key_id          text,
  reason          text,
  source          text NOT NULL,
  live_version    bigint,
  payload         jsonb NOT NULL
);

CREATE INDEX config_acks_site_at_idx ON config_acks (operator, province, site, at);

-- Per site, the control-plane facts of its newest heartbeat: which signed configuration is live, since
-- when, and the device key its results are signed with. An older heartbeat (a retained one delivered
-- again) never overwrites a newer one.
CREATE TABLE site_control (
  operator              text NOT NULL,
  province              text NOT NULL,
  site                  text NOT NULL,
  last_heartbeat        timestamptz NOT NULL,
  heartbeat_interval_s  integer,
  config_label          text,
  config_hash           text,
  signed_version        bigint,
  signed_hash           text,
  signed_key_id         text,
  signed_accepted_at    timestamptz,
  signed_issued_at      timestamptz,
  signed_source         text,
  regulator_keys        jsonb,
  device_key            jsonb,
  device_key_id         text,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operator, province, site)
);
