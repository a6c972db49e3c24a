-- qos-probe collector store, migration 9 (issue 9, ingest rate): a result's payload is kept as the
-- JSON text the agent sent, in `payload_json` (type json: checked to be JSON, stored verbatim), instead
-- of as jsonb.
--
-- Why: converting ~1.5 kB of JSON to jsonb was the largest single cost of storing a result in
-- PostgreSQL (bench:report, COPY of the same 6,000 results: 52–72 µs of backend CPU per result into
-- jsonb, 27–33 into json). Nothing reads inside a stored payload: the columns beside it hold every
-- field a query or rollup needs, and the payload is only returned whole (queryResults). Verbatim text
-- is also the better evidence: a result a qos-probe agent sealed arrives as the RFC 8785 bytes its
-- signature covers and is kept as such, where jsonb reorders keys and keeps one of duplicated keys.
--
-- Expand only, no rewrite: rows stored before keep their jsonb `payload` (now nullable) and new rows
-- fill `payload_json` alone; readers take COALESCE(payload_json, payload::json). Changing the column's
-- type instead would rewrite every stored month under an exclusive lock at the collector's start.
ALTER TABLE results ADD COLUMN payload_json json;
ALTER TABLE results ALTER COLUMN payload DROP NOT NULL;
