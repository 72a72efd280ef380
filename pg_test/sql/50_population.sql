-- population_agg / population_rows: the whole-population path. Hand-checked fixture, equality
-- with the composable functions (ties, refunds, orders after as_of, DST zones, windows, fixed
-- breaks, refund flags), parallel plans, errors.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

-- customer 1: two orders on one day, one refund by sign; customer 2: one order and a flagged
-- refund, plus an order after as_of; customer 3: only an order after as_of; customer 4: only a
-- refund; customers 5 and 6: tied on everything; NULL rows are skipped.
CREATE TABLE pop_orders (customer_id bigint, ordered_at timestamptz, amount numeric, is_refund boolean DEFAULT false);
INSERT INTO pop_orders VALUES
  (1, '2024-12-01 09:00+00', 100, false), (1, '2024-12-01 18:00+00', 50.5, false), (1, '2024-12-05 10:00+00', -20, false),
  (1, '2024-06-01 10:00+00', 30, false),
  (2, '2024-03-01 10:00+00', 300, false), (2, '2024-03-03 10:00+00', 100, true), (2, '2025-01-10 10:00+00', 999, false),
  (3, '2025-02-01 10:00+00', 10, false),
  (4, '2024-11-11 10:00+00', -15, false),
  (5, '2024-10-01 10:00+00', 80, false), (6, '2024-10-01 10:00+00', 80, false),
  (NULL, '2024-10-01 10:00+00', 80, false), (7, NULL, 80, false), (8, '2024-10-01 10:00+00', NULL, false);

SELECT p.* FROM (SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2024-12-31 23:00+00', '{"lang": "en", "bins": 3}') p FROM pop_orders) x,
     LATERAL population_rows(x.p) p;
SELECT population_breaks(p) - 'as_of' AS breaks, population_info(p) - 'state_bytes' - 'value_bytes' AS info
FROM (SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2024-12-31 23:00+00', '{"lang": "en", "bins": 3}') p FROM pop_orders) x;
-- no rows: NULL, and population_rows(NULL) is empty
SELECT population_agg(customer_id, ordered_at, amount, '2024-12-31') IS NULL AS empty_is_null FROM pop_orders WHERE false;
SELECT count(*) AS rows_of_null FROM population_rows(NULL);
-- the text form round-trips
SELECT (p::text::rfm_population)::text = p::text AS text_round_trip
FROM (SELECT population_agg(customer_id, ordered_at, amount, '2024-12-31') p FROM pop_orders) x;

-- The composable path for the same options, as an analyst would write it.
CREATE TABLE pop_sample AS SELECT * FROM sample_orders(3000, 7);
CREATE FUNCTION composable(as_of timestamptz, tz text, scheme text, lang text, window_days int, fixed jsonb)
RETURNS TABLE (customer_id bigint, orders bigint, monetary numeric, first_order timestamptz, last_order timestamptz,
               recency_days bigint, tenure_days bigint, refunds bigint, refunded numeric, future_orders bigint,
               window_orders bigint, window_monetary numeric, r int, f int, m int, rfm_code text, rfm_total int,
               segment text, tier text, lifecycle_stage text, cadence text)
LANGUAGE sql AS $$
  WITH s AS (SELECT o.customer_id, rfm_agg(o.ordered_at, o.amount, o.is_refund) s FROM pop_sample o GROUP BY 1),
  b AS (SELECT coalesce(fixed, rfm_breaks(s.s, as_of, 5, jsonb_strip_nulls(jsonb_build_object('tz', tz, 'window_days', window_days)))) b FROM s),
  x AS (SELECT s.customer_id, s.s, sc FROM s, b, LATERAL rfm_score(s.s, b.b, as_of, tz) sc)
  SELECT x.customer_id, frequency(s, as_of), monetary(s, as_of), first_order(s, as_of), last_order(s, as_of),
         recency_days(s, as_of, tz), tenure_days(s, as_of, tz), refunds(s, as_of), refunded_amount(s, as_of), future_orders(s, as_of),
         CASE WHEN window_days IS NOT NULL OR fixed IS NOT NULL THEN frequency(s, as_of, coalesce(window_days, (fixed->>'window_days')::int), tz) END,
         CASE WHEN window_days IS NOT NULL OR fixed IS NOT NULL THEN monetary(s, as_of, coalesce(window_days, (fixed->>'window_days')::int), tz) END,
         (sc).r, (sc).f, (sc).m, (sc).code, (sc).total, rfm_segment(sc, scheme, lang),
         CASE WHEN sc IS NOT NULL THEN customer_tier(cume_dist() OVER (PARTITION BY sc IS NULL ORDER BY
              CASE WHEN window_days IS NOT NULL OR fixed IS NOT NULL THEN monetary(s, as_of, coalesce(window_days, (fixed->>'window_days')::int), tz) ELSE monetary(s, as_of) END DESC), '{}', lang) END,
         lifecycle_stage(s, as_of, '{}', lang, tz), purchase_cadence(s, as_of, '{}', lang, tz)
  FROM x $$;
CREATE FUNCTION differing(as_of timestamptz, tz text, scheme text, lang text, window_days int, fixed jsonb) RETURNS bigint
LANGUAGE sql AS $$
  WITH c AS (SELECT * FROM composable(as_of, tz, scheme, lang, window_days, fixed)),
  p AS (SELECT * FROM population_rows((SELECT population_agg(o.customer_id, o.ordered_at, o.amount, o.is_refund, as_of,
            jsonb_strip_nulls(jsonb_build_object('tz', tz, 'scheme', scheme, 'lang', lang, 'window_days', window_days, 'breaks', fixed))) FROM pop_sample o)))
  SELECT (SELECT count(*) FROM (SELECT * FROM c EXCEPT SELECT * FROM p) a) + (SELECT count(*) FROM (SELECT * FROM p EXCEPT SELECT * FROM c) b)
       + abs((SELECT count(*) FROM c) - (SELECT count(*) FROM p)) $$;

-- as_of inside the window, so some customers only have orders after it
SELECT differing('2025-06-30 23:59:59+08', 'Asia/Shanghai', 'rfm11', 'zh', NULL, NULL) AS rfm11_zh_shanghai,
       differing('2025-03-09 12:00-05', 'America/New_York', 'cn8', 'en', NULL, NULL) AS cn8_en_new_york_dst,
       differing('2025-10-26 03:00+01', 'Europe/London', 'rfm11', 'code', 365, NULL) AS window_365_london,
       differing('2025-06-30 23:59:59+08', 'Asia/Shanghai', 'rfm11', 'en', NULL, rfm_thresholds('{"monetary": [500, 2000]}')) AS fixed_thresholds;
SELECT count(*) AS customers, count(*) FILTER (WHERE orders = 0) AS without_orders_by_as_of,
       count(*) FILTER (WHERE future_orders > 0) AS with_orders_after_as_of, count(*) FILTER (WHERE refunds > 0) AS with_refunds
FROM population_rows((SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30 23:59:59+08', '{"tz": "Asia/Shanghai"}') FROM pop_sample));

-- parallel plans: Partial Aggregate per worker, merged by combine; same value as serial
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM pop_sample;
SELECT workers_launched($$SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM pop_sample$$) AS workers_launched;
CREATE TABLE pop_parallel AS SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{"window_days": 90}') p FROM pop_sample;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE pop_serial AS SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{"window_days": 90}') p FROM pop_sample;
-- equal rows, breaks and counts (only the peak state size, which depends on the plan, differs)
SELECT (SELECT count(*) FROM (SELECT * FROM population_rows((SELECT p FROM pop_parallel)) EXCEPT SELECT * FROM population_rows((SELECT p FROM pop_serial))) d) AS rows_differing,
       (SELECT population_breaks(p) FROM pop_parallel) = (SELECT population_breaks(p) FROM pop_serial) AS same_breaks,
       (SELECT population_info(p) - 'state_bytes' FROM pop_parallel) = (SELECT population_info(p) - 'state_bytes' FROM pop_serial) AS same_info;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

-- float8 amounts give the same population as numeric ones
SELECT (SELECT population_agg(customer_id, ordered_at, amount::float8, '2025-06-30')::text FROM pop_sample)
     = (SELECT population_agg(customer_id, ordered_at, amount, '2025-06-30')::text FROM pop_sample) AS float8_equals_numeric;

-- errors name the argument or key
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, NULL::timestamptz) FROM pop_orders$$) AS null_as_of;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, ordered_at) FROM pop_orders$$) AS varying_as_of;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, 'infinity') FROM pop_orders$$) AS infinite_as_of;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', '{"bins": 12}') FROM pop_orders$$) AS bad_bins;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', '{"sheme": "cn8"}') FROM pop_orders$$) AS unknown_key;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', '{"tz": "Mars/Olympus"}') FROM pop_orders$$) AS bad_tz;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', jsonb_build_object('lang', CASE WHEN customer_id = 1 THEN 'en' ELSE 'zh' END)) FROM pop_orders$$) AS varying_options;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, 'NaN'::numeric, '2025-01-01') FROM pop_orders$$) AS nan_amount;
SELECT sqlstate_of($$SELECT 'p1:00'::rfm_population$$) AS bad_text, sqlstate_of($$SELECT 'hello'::rfm_population$$) AS not_hex;
-- the memory limit is an ERROR with SQLSTATE 53200, and the session goes on
SET pg_segment.population_memory_limit = '1MB';
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-06-30') FROM sample_orders(20000, 1)$$) AS over_memory_limit;
RESET pg_segment.population_memory_limit;
SELECT population_info(population_agg(customer_id, ordered_at, amount, '2025-06-30'))->'customers' AS customers_after_reset FROM pop_sample;

DROP EXTENSION pg_segment CASCADE;
