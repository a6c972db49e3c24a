-- qos-probe collector store, migration 6: per agent, how many signed results had their signature
-- CHECKED at ingest against the site's registered device key (issue 11, collector/evidence.ts
-- DeviceKeys.check). A site with no registered key has its results stored unchecked, so `signed` alone
-- must not read as "verified": signed - checked = stored unchecked (no key registered), results - signed
-- = unsigned. Rows stored before this migration count as unchecked (0): which sites had a key when they
-- arrived is not recorded, and an unknown is reported as not checked, never as checked.
ALTER TABLE evidence_chains ADD COLUMN checked bigint NOT NULL DEFAULT 0;
