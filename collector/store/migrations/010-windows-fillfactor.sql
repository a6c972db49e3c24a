-- qos-probe collector store, migration 10: room on each page of the rollup tables for the new version
-- of a row the catch-up pass updates. A live collector's pass runs every second, so a window row is
-- inserted by one pass and updated by every later pass that brings a result for it (five 1-minute
-- results in a 5-minute window: an insert and four updates; its hour row, up to 59 updates). With full
-- pages (fillfactor 100) each new version goes to another page with a new entry in every index, and the
-- tables bloat until vacuum. At 50 the new version fits on its page (a heap-only tuple, no index entry)
-- and the dead one is pruned there on a later visit. `npm run bench:rollup-live` (300 pairs, one pass
-- per minute for 120 minutes, alternated, fresh databases): 50.4 / 53.2 µs per result at 100, 36.6 /
-- 37.2 at 50; afterwards `windows` 10,376 → 4,480 KiB and `window_hours` 6,736 → 352 KiB. Pages written
-- once and never updated (a bulk load, a backlog rolled up in one pass) stay half empty: the rollup
-- tables are a few percent of `results`. Applies to pages written from now on.
ALTER TABLE windows SET (fillfactor = 50);
ALTER TABLE window_hours SET (fillfactor = 50);
