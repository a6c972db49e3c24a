import { MEASURED_MIN_MS } from "../windows.js";

/**
 * The window table's rules in SQL: the same as collector/windows.ts (intervalSums, classify,
 * windowRowsFromResults), which is the reference a test holds this against on both backends.
 * `source` is any relation with the `results` columns: the rows the catch-up pass takes from
 * `rollup_queue` (ROLLUP_PASS_SQL), or `results` itself over a range (rebuild after migration 3, the benchmark's bulk load).
 */

const WINDOW_ORIGIN = "'2000-01-01T00:00:00Z'::timestamptz";

const KEY = "operator, agent_site, peer, test_id, method, packet_size_bytes";

/** Additive columns, in windows.ts's order; `win` makes each one's per-result value. */
const SUMS: ReadonlyArray<[column: string, value: string]> = [
  ["results", "nd::int"],
  ["errors", "(nd AND status = 'error')::int"],
  ["faults", "(nd AND c_fault)::int"],
  ["diagnostic", "(NOT nd)::int"],
  ["flagged_integrity", "(j0 AND c_integrity)::int"],
  ["flagged_timing", "(j0 AND c_timing)::int"],
  ["flagged_unsynced", "(j0 AND c_unsynced)::int"],
  ["dv_few", "(t0 AND received = 1)::int"],
  ["rtt_n", "(t0 AND rtt_mean_ms IS NOT NULL)::int"],
  ["rtt_sum", "CASE WHEN t0 AND rtt_mean_ms IS NOT NULL THEN rtt_mean_ms ELSE 0 END"],
  ["dv_rt_n", "(dv0 AND dv_basis = 'round-trip')::int"],
  ["dv_rt_sum", "CASE WHEN dv0 AND dv_basis = 'round-trip' THEN dv_max_minus_min_ms ELSE 0 END"],
  ["dv_fwd_n", "(dv0 AND dv_basis = 'one-way-forward' AND NOT c_unsynced)::int"],
  [
    "dv_fwd_sum",
    "CASE WHEN dv0 AND dv_basis = 'one-way-forward' AND NOT c_unsynced THEN dv_max_minus_min_ms ELSE 0 END",
  ],
  ["dv_rev_n", "(dv0 AND dv_basis = 'one-way-reverse' AND NOT c_unsynced)::int"],
  [
    "dv_rev_sum",
    "CASE WHEN dv0 AND dv_basis = 'one-way-reverse' AND NOT c_unsynced THEN dv_max_minus_min_ms ELSE 0 END",
  ],
  ["loss_n", "l0::int"],
  ["loss_sum", "CASE WHEN l0 THEN lost::double precision / sent ELSE 0 END"],
  ["sent", "CASE WHEN l0 THEN sent ELSE 0 END"],
  ["lost", "CASE WHEN l0 THEN lost ELSE 0 END"],
  ["ow_n", "ow0::int"],
  ["ow_sum", "CASE WHEN ow0 THEN ow_forward_mean_ms ELSE 0 END"],
];

export const WINDOW_SUM_COLUMNS = SUMS.map(([c]) => c);

/** The columns of `results` the window rules read: only these are carried through the CTEs. */
const SOURCE_COLUMNS = [
  "operator",
  "agent_site",
  "agent_province",
  "test_id",
  "method",
  "packet_size_bytes",
  "peer_province",
  "profile",
  "distance_km",
  "interval_start",
  "interval_end",
  "status",
  "sent",
  "received",
  "lost",
  "rtt_mean_ms",
  "dv_max_minus_min_ms",
  "dv_basis",
  "ow_forward_mean_ms",
  "ow_clock_synced",
];

/**
 * Every column of `results` the window, hour and fault SQL read from `source`: what ingest's INSERT
 * RETURNs into `rollup_queue` (not `*`, which would copy each ~1.5 kB payload for nothing).
 */
export const WINDOW_SOURCE_COLUMNS: readonly string[] = [
  ...SOURCE_COLUMNS,
  "peer_site",
  "target",
  "diagnostic",
  "flags",
  "error_code",
  "error_message",
];

/**
 * Classify each source row once (windows.ts `classify`): nd = not diagnostic; j0 = judged at all (not a
 * fault); l0 = counts for loss; t0 = counts for delay; dv0 = has a max − min over ≥ 2 packets; ow0 =
 * synced one-way forward mean; p0 = probes for availability.
 */
function classified(source: string): string {
  return `
  c AS (
    SELECT ${SOURCE_COLUMNS.map((c) => `s.${c}`).join(", ")},
      coalesce(s.peer_site, s.target) AS peer,
      CASE WHEN s.peer_site IS NULL THEN 'target' ELSE 'site' END AS to_kind,
      date_bin('5 minutes', s.interval_start, ${WINDOW_ORIGIN}) AS first_window,
      NOT (s.diagnostic OR 'diagnostic' = ANY(s.flags)) AS nd,
      s.status = 'fault' AS c_fault,
      s.flags && ARRAY['aborted', 'rtt-below-light-bound']::text[] AS c_integrity,
      s.flags && ARRAY['host-timing', 'clock-step']::text[] AS c_timing,
      'clock-unsynced' = ANY(s.flags) AS c_unsynced
    FROM (${source}) s
  ),
  c1 AS (SELECT c.*, nd AND NOT c_fault AS j0 FROM c),
  c2 AS (SELECT c1.*, j0 AND NOT c_integrity AND sent > 0 AS l0, j0 AND NOT c_integrity AND NOT c_timing AS t0 FROM c1),
  c3 AS (
    SELECT c2.*,
      t0 AND received >= 2 AND dv_max_minus_min_ms IS NOT NULL AS dv0,
      t0 AND NOT c_unsynced AND coalesce(ow_clock_synced, false) AND ow_forward_mean_ms IS NOT NULL
         AND rtt_mean_ms IS NOT NULL AS ow0,
      j0 AND NOT c_integrity AND sent > 0 AS p0
    FROM c2
  )`;
}

/**
 * A probing result whose interval lies inside its first window (the usual case: 1-minute intervals in
 * 5-minute windows): its probed time and packets go on the row of its sums, instead of a second row
 * from generate_series (half the rows to aggregate). Intervals running past their first window take
 * the generate_series branch for every window they overlap, the first included.
 */
const FITS = "p0 AND interval_end <= first_window + interval '5 minutes' AND interval_end > interval_start";

/** CTEs `parts` and `wsel`: per-window rows (key, window_start, attributes, sums, probed time) from `source`. */
function windowSelectCtes(source: string): string {
  const zeros = SUMS.map(([c]) => `0 AS ${c}`).join(", ");
  return `${classified(source)},
  parts AS (
    SELECT ${KEY}, first_window AS window_start, agent_province, to_kind, peer_province, profile, distance_km,
      ${SUMS.map(([c, v]) => `${v} AS ${c}`).join(", ")},
      CASE WHEN ${FITS} THEN (extract(epoch FROM interval_end - interval_start) * 1000)::bigint ELSE 0 END AS probed_ms,
      CASE WHEN ${FITS} THEN sent ELSE 0 END::bigint AS w_sent,
      CASE WHEN ${FITS} THEN lost ELSE 0 END::bigint AS w_lost
    FROM c3
    UNION ALL
    SELECT ${KEY}, w.ws, agent_province, to_kind, peer_province, profile, distance_km, ${zeros},
      (extract(epoch FROM least(interval_end, w.ws + interval '5 minutes') - greatest(interval_start, w.ws)) * 1000)::bigint,
      sent, lost
    FROM c3 CROSS JOIN LATERAL generate_series(first_window, interval_end - interval '1 microsecond', interval '5 minutes') AS w(ws)
    WHERE p0 AND interval_end > first_window + interval '5 minutes'
      AND least(interval_end, w.ws + interval '5 minutes') > greatest(interval_start, w.ws)
  ),
  wsel AS (
    SELECT ${KEY}, window_start,
      max(agent_province) AS agent_province, max(to_kind) AS to_kind, max(peer_province) AS peer_province,
      max(profile) AS profile, max(distance_km) AS distance_km,
      ${SUMS.map(([c]) => `sum(${c}) AS ${c}`).join(", ")},
      sum(probed_ms) AS probed_ms, sum(w_sent) AS w_sent, sum(w_lost) AS w_lost
    FROM parts
    GROUP BY ${KEY}, window_start
  )`;
}

const ATTRIBUTES = ["agent_province", "to_kind", "peer_province", "profile", "distance_km"];

const WINDOW_COLUMNS = [
  ...KEY.split(", "),
  "window_start",
  ...ATTRIBUTES,
  ...SUMS.map(([c]) => c),
  "probed_ms",
  "w_sent",
  "w_lost",
];

/** A window row is measured / available (windows.ts windowMeasured / windowAvailable) as a 0/1 int. */
function measuredSql(probed: string): string {
  return `(${probed} >= ${MEASURED_MIN_MS})::int`;
}
function availableSql(probed: string, sent: string, lost: string): string {
  return `(${probed} >= ${MEASURED_MIN_MS} AND 4 * (${lost}) <= 3 * (${sent}))::int`;
}

/** The hour a window belongs to: UTC hours, the same origin as the windows. */
const HOUR_OF = (col: string) => `date_bin('1 hour', ${col}, ${WINDOW_ORIGIN})`;

/**
 * CTEs, to splice after a top-level WITH (PostgreSQL wants data-modifying CTEs there), that add
 * `source`'s contribution to the window table (`win`) and, unless `hours` is false, to the hourly
 * rollup (`hrs`, migration 004). A window is measured / available only as a whole, so an hour's
 * counts move when one of its windows crosses a threshold: the upsert RETURNs each window's new probed
 * time and packet counts, the values before are those minus this statement's contribution (exact, all
 * integers; the row lock of ON CONFLICT orders concurrent collectors), and the hour gets the difference.
 * Every upsert here takes its rows in key order (ORDER BY): concurrent statements (two collectors, or
 * one collector's concurrent batches, ingest.ts writeConcurrency) that share rows lock them in the same
 * order, so one waits for the other instead of deadlocking.
 */
export function windowCtes(source: string, options: { hours?: boolean } = {}): string {
  const add = [...SUMS.map(([c]) => c), "probed_ms", "w_sent", "w_lost"]
    .map((c) => `${c} = windows.${c} + EXCLUDED.${c}`)
    .join(", ");
  const win = `${windowSelectCtes(source)},
  win AS (
    INSERT INTO windows (${WINDOW_COLUMNS.join(", ")})
    SELECT ${WINDOW_COLUMNS.join(", ")} FROM wsel
    ORDER BY ${KEY}, window_start
    ON CONFLICT (${KEY}, window_start) DO UPDATE SET
      agent_province = EXCLUDED.agent_province, to_kind = EXCLUDED.to_kind, peer_province = EXCLUDED.peer_province,
      profile = EXCLUDED.profile, distance_km = coalesce(EXCLUDED.distance_km, windows.distance_km),
      ${add}
    RETURNING ${KEY}, window_start, probed_ms, w_sent, w_lost
  )`;
  if (options.hours === false) return win;
  const keyCols = KEY.split(", ");
  const hourAdd = [...SUMS.map(([c]) => c), "measured", "available"]
    .map((c) => `${c} = window_hours.${c} + EXCLUDED.${c}`)
    .join(", ");
  return `${win},
  hrs AS (
    INSERT INTO window_hours (${KEY}, hour_start, ${ATTRIBUTES.join(", ")}, ${SUMS.map(([c]) => c).join(", ")}, measured, available)
    SELECT ${keyCols.map((c) => `s.${c}`).join(", ")}, ${HOUR_OF("s.window_start")},
      ${ATTRIBUTES.map((c) => `max(s.${c})`).join(", ")},
      ${SUMS.map(([c]) => `sum(s.${c})`).join(", ")},
      sum(${measuredSql("w.probed_ms")} - ${measuredSql("(w.probed_ms - s.probed_ms)")}),
      sum(${availableSql("w.probed_ms", "w.w_sent", "w.w_lost")} - ${availableSql("(w.probed_ms - s.probed_ms)", "(w.w_sent - s.w_sent)", "(w.w_lost - s.w_lost)")})
    FROM wsel s JOIN win w USING (${KEY}, window_start)
    GROUP BY ${keyCols.map((c) => `s.${c}`).join(", ")}, ${HOUR_OF("s.window_start")}
    ORDER BY ${keyCols.map((c) => `s.${c}`).join(", ")}, ${HOUR_OF("s.window_start")}
    ON CONFLICT (${KEY}, hour_start) DO UPDATE SET
      agent_province = EXCLUDED.agent_province, to_kind = EXCLUDED.to_kind, peer_province = EXCLUDED.peer_province,
      profile = EXCLUDED.profile, distance_km = coalesce(EXCLUDED.distance_km, window_hours.distance_km),
      ${hourAdd}
  )`;
}

/** One statement adding `source`'s contribution to the window table and the hourly rollup. */
export function windowUpsert(source: string, options: { hours?: boolean } = {}): string {
  return `WITH ${windowCtes(source, options)} SELECT count(*)::int AS windows FROM win`;
}

/**
 * The hourly rollup of UTC hours [from, to) ($1, $2: hour-aligned) recomputed from the window table
 * (after a rebuild of those windows). Measured / available are counted per window, as the report does.
 */
export const HOURS_FROM_WINDOWS_SQL = `
INSERT INTO window_hours (${KEY}, hour_start, ${ATTRIBUTES.join(", ")}, ${SUMS.map(([c]) => c).join(", ")}, measured, available)
SELECT ${KEY}, ${HOUR_OF("window_start")}, ${ATTRIBUTES.map((c) => `max(${c})`).join(", ")},
  ${SUMS.map(([c]) => `sum(${c})`).join(", ")},
  sum(${measuredSql("probed_ms")}), sum(${availableSql("probed_ms", "w_sent", "w_lost")})
FROM windows
WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz
GROUP BY ${KEY}, ${HOUR_OF("window_start")}`;

/** INSERT … ON CONFLICT that counts `source`'s faults and errors per key, window and code. */
export function faultUpsert(source: string): string {
  return `
INSERT INTO fault_windows (${KEY}, window_start, status, code, n, last_at, last_message)
SELECT ${KEY}, window_start, status, code, count(*)::int,
  max(interval_start), (array_agg(message ORDER BY interval_start DESC))[1]
FROM (
  SELECT operator, agent_site, coalesce(peer_site, target) AS peer, test_id, method, packet_size_bytes,
    date_bin('5 minutes', interval_start, ${WINDOW_ORIGIN}) AS window_start, status,
    coalesce(error_code, 'UNKNOWN') AS code, coalesce(error_message, '') AS message, interval_start
  FROM (${source}) s
  WHERE status <> 'ok' AND NOT (diagnostic OR 'diagnostic' = ANY(flags))
) f
GROUP BY ${KEY}, window_start, status, code
ORDER BY ${KEY}, window_start, status, code
ON CONFLICT (${KEY}, window_start, status, code) DO UPDATE SET
  n = fault_windows.n + EXCLUDED.n,
  last_message = CASE WHEN EXCLUDED.last_at >= fault_windows.last_at THEN EXCLUDED.last_message ELSE fault_windows.last_message END,
  last_at = greatest(EXCLUDED.last_at, fault_windows.last_at)`;
}

/**
 * The report's query: window sums per key and bucket. $1 = bucket starts (ascending, contiguous),
 * $2 / $3 = range [from, to). width_bucket finds each window's bucket by binary search in $1.
 * Over `windows` (any bucket edges) or, when every edge is a whole UTC hour, over `window_hours`
 * (12× fewer rows: a month of 300 pairs is 216,000 hours instead of 2.6 M windows).
 */
function aggregateSql(table: "windows" | "window_hours"): string {
  const at = table === "windows" ? "window_start" : "hour_start";
  const counts =
    table === "windows"
      ? `count(*) FILTER (WHERE probed_ms >= ${MEASURED_MIN_MS})::int AS measured,
  count(*) FILTER (WHERE probed_ms >= ${MEASURED_MIN_MS} AND 4 * w_lost <= 3 * w_sent)::int AS available`
      : "sum(measured)::int AS measured, sum(available)::int AS available";
  return `
SELECT operator, agent_site AS from_site, peer AS "to", test_id, method, packet_size_bytes,
  max(agent_province) AS from_province, max(to_kind) AS to_kind, max(peer_province) AS to_province,
  max(profile) AS profile, max(distance_km) AS distance_km,
  width_bucket(${at}, $1::timestamptz[]) - 1 AS bucket,
  ${SUMS.map(([c]) => (c.endsWith("_sum") ? `sum(${c})::double precision AS ${c}` : `sum(${c})::bigint AS ${c}`)).join(",\n  ")},
  ${counts}
FROM ${table}
WHERE ${at} >= $2::timestamptz AND ${at} < $3::timestamptz
GROUP BY ${KEY}, width_bucket(${at}, $1::timestamptz[])`;
}

export const AGGREGATE_SQL = aggregateSql("windows");
export const AGGREGATE_HOURS_SQL = aggregateSql("window_hours");

/** Faults and errors per key and code over [from, to): count and the latest message. */
export const FAULTS_SQL = `
SELECT operator, agent_site AS from_site, peer AS "to", test_id, method, packet_size_bytes, status, code,
  sum(n)::bigint AS count, max(last_at) AS last_at, (array_agg(last_message ORDER BY last_at DESC))[1] AS last_message
FROM fault_windows
WHERE window_start >= $1::timestamptz AND window_start < $2::timestamptz
GROUP BY ${KEY}, status, code
ORDER BY operator, agent_site, peer, test_id, status, code`;

/** The columns of `rollup_queue` (migration 007): the result's id and what the rollup SQL reads. */
export const ROLLUP_QUEUE_COLUMNS: readonly string[] = ["id", ...WINDOW_SOURCE_COLUMNS];

/**
 * Advisory lock key of the catch-up pass (and of rebuildWindows): one pass at a time across every
 * collector on the database, so a pass never waits on another's window rows and each queued row is
 * taken by one pass only. (Ingest does not take it: it only appends to the queue.)
 */
export const ROLLUP_LOCK = 7240607;

/**
 * The catch-up pass, one statement: take up to $1 queued results (the ones this statement's snapshot
 * sees; rows of transactions still running stay for the next pass), delete them from the queue and add
 * them to the windows, hours and faults, grouped, so one upsert row stands for every result of its key
 * and window (a 500-result batch touched ~300 window rows; a pass of 20,000 touches ~300 per window
 * too). Run inside a transaction holding ROLLUP_LOCK: the delete and the sums commit together.
 * Returns `n`, how many results were rolled up.
 */
export const ROLLUP_PASS_SQL = `
WITH q AS (
  DELETE FROM rollup_queue
  WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_queue LIMIT $1::int))
  RETURNING ${WINDOW_SOURCE_COLUMNS.join(", ")}
),
${windowCtes("SELECT * FROM q")},
flt AS (${faultUpsert("SELECT * FROM q")})
SELECT count(*)::int AS n FROM q`;
