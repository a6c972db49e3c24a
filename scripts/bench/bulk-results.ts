/**
 * Results minutes [$1, $2) of every pair, generated in SQL with the columns (and names) of `results`:
 * pair p loses its route for an hour on day p % 30 (sent 60, received 0: an outage), pairs ≡ 7 mod 50
 * have a key mismatch (status fault) for 2 hours on day 3, every 97th minute loses 3 packets. Pair p
 * runs from site p % sites; minute 0 is monthFrom (ms since the epoch).
 */
export function bulkResultsSelect(pairs: number, sites: number, monthFrom: number): string {
  return `
SELECT gen_random_uuid() AS id, now() AS received_at, (m + 1)::bigint AS seq, st AS status,
  'op-bench'::text AS operator, 's' || (p % ${sites}) AS agent_site, '110000'::text AS agent_province,
  '0.1.0'::text AS agent_version, 't' || p || '-stamp' AS test_id, 'stamp'::text AS method,
  'stamp://198.51.100.7:862'::text AS target, 's' || ((p % ${sites} + 1 + p / ${sites}) % ${sites}) AS peer_site,
  '440000'::text AS peer_province, 1890.4::double precision AS distance_km, 128 AS packet_size_bytes,
  false AS diagnostic, t AS interval_start, t + interval '1 minute' AS interval_end, 60 AS sent,
  rcv AS received, 60 - rcv AS lost, 0 AS duplicates, 0 AS reordered, 0 AS late,
  (60 - rcv) / 60.0::double precision AS loss_ratio, rtt AS rtt_mean_ms, rtt - 2.5 AS rtt_min_ms,
  rtt + 9.5 AS rtt_max_ms, rtt AS rtt_median_ms, rtt + 3 AS rtt_p95_ms, rtt + 6 AS rtt_p99_ms,
  CASE WHEN rcv >= 2 THEN 12.0::double precision END AS dv_max_minus_min_ms, 'round-trip'::text AS dv_basis,
  'internet-3.2.2'::text AS profile, 'round-trip'::text AS delay_basis, 'pass'::text AS verdict_rtt,
  'pass'::text AS verdict_delay_variation, CASE WHEN rcv = 60 THEN 'pass' ELSE 'fail' END AS verdict_loss,
  jsonb_build_object('schema', 'qosprobe.result/1', 'bulk', true, 'test', 't' || p || '-stamp') AS payload,
  CASE WHEN st = 'fault' THEN 'STAMP_HMAC' END AS error_code,
  CASE WHEN st = 'fault' THEN 'HMAC mismatch' END AS error_message, '{}'::text[] AS flags,
  NULL::double precision AS ow_forward_mean_ms, NULL::boolean AS ow_clock_synced
FROM generate_series(0, ${pairs - 1}) AS p,
  generate_series($1::int, $2::int - 1) AS m,
  LATERAL (SELECT to_timestamp(${monthFrom / 1000} + m * 60) AS t,
    CASE WHEN m / 1440 = p % 30 AND m % 1440 BETWEEN 600 AND 659 THEN 0
         WHEN m % 97 = p % 97 THEN 57 ELSE 60 END AS rcv0,
    CASE WHEN p % 50 = 7 AND m / 1440 = 3 AND m % 1440 < 120 THEN 'fault' ELSE 'ok' END AS st) x,
  LATERAL (SELECT CASE WHEN st = 'fault' THEN 0 ELSE rcv0 END AS rcv,
    CASE WHEN st = 'fault' OR rcv0 = 0 THEN NULL ELSE 30 + p % 50 + random() * 4 END AS rtt) y`;
}
