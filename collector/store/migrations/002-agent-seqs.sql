-- qos-probe collector store, migration 2: what each agent's seqs look like in the store (issue 7).
-- Store receipts and gap listings read one agent's seqs in order: index them.
CREATE INDEX results_agent_seq_idx ON results (operator, agent_site, seq);

-- Per agent, the highest seq such that every seq 1..contiguous_through is stored. Only ever raised
-- (GREATEST), so collectors sharing the database may update it in any order; a receipt then reads only
-- the seqs above it.
CREATE TABLE agent_seqs (
  operator            text NOT NULL,
  site                text NOT NULL,
  contiguous_through  bigint NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (operator, site)
);
