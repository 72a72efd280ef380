-- rfm_breaks, rfm_score, rfm_thresholds, rfm_segment; parallel plans.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

-- ten customers: customer k has k orders of 10*k each, the last one k*10 days before as_of;
-- customers 9 and 10 are tied on everything.
CREATE TABLE score_orders AS
SELECT k AS customer_id, timestamptz '2024-12-31 12:00+00' - make_interval(days => least(k, 9) * 10 + j) AS ordered_at,
       (least(k, 9) * 10)::numeric AS amount
FROM generate_series(1, 10) k, generate_series(0, least(k, 9) - 1) j;
CREATE TABLE score_s AS SELECT customer_id, rfm_agg(ordered_at, amount) s FROM score_orders GROUP BY 1;

SELECT rfm_breaks(s, '2024-12-31 23:00+00') AS breaks FROM score_s;
-- breakpoints equal percentile_cont over the same values
SELECT bool_and(abs(p - (b->'frequency'->>(i::int - 1))::float8) < 1e-6) AS matches_percentile_cont
FROM (SELECT percentile_cont(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY frequency(s)) ps FROM score_s) y,
     (SELECT rfm_breaks(s, '2024-12-31 23:00+00') b FROM score_s) z,
     unnest(ps) WITH ORDINALITY u(p, i);

CREATE TABLE scored AS
SELECT customer_id, rfm_score(s, b, '2024-12-31 23:00+00') AS sc
FROM score_s, (SELECT rfm_breaks(s, '2024-12-31 23:00+00') b FROM score_s) br;
SELECT customer_id, (sc).r, (sc).f, (sc).m, (sc).code, (sc).total, (sc).r_high, (sc).f_high, (sc).m_high,
       rfm_segment(sc) AS rfm11_zh, rfm_segment(sc, 'rfm11', 'en') AS rfm11_en, rfm_segment(sc, 'cn8') AS cn8
FROM scored ORDER BY customer_id;
-- ties get equal scores
SELECT count(DISTINCT (sc).code) AS codes_of_tied_customers FROM scored WHERE customer_id IN (9, 10);

-- 3 bins, median centre, 60-day window
SELECT rfm_breaks(s, '2024-12-31 23:00+00', 3, '{"center": "median", "window_days": 60}') FROM score_s;

-- fixed thresholds (defaults) and a hand-written rule set
SELECT rfm_thresholds();
SELECT customer_id, (rfm_score(s, rfm_thresholds('{"frequency": [3, 6], "monetary": [100, 500]}'), '2024-12-31 23:00+00')).code
FROM score_s ORDER BY 1;
SELECT customer_id, rfm_segment(rfm_score(s, rfm_thresholds(), '2024-12-31 23:00+00'),
        '[{"label": {"zh": "高频", "en": "Frequent"}, "f": [3, 4]}, {"label": {"zh": "其他", "en": "Other"}}]'::jsonb, 'en') AS custom
FROM score_s ORDER BY 1;

-- no order by as_of: NULL score and NULL segment
SELECT rfm_score(s, rfm_thresholds(), '2000-01-01') IS NULL AS no_score, rfm_segment(rfm_score(s, rfm_thresholds(), '2000-01-01')) IS NULL AS no_segment
FROM score_s WHERE customer_id = 1;

-- parallel plans: Partial Aggregate in EXPLAIN, same result as serial
CREATE TABLE par_orders AS SELECT * FROM sample_orders(3000, 11);
ANALYZE par_orders;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT rfm_agg(ordered_at, amount) FROM par_orders;
CREATE TEMP TABLE par_result AS SELECT rollup(s) FROM (SELECT rfm_agg(ordered_at, amount) s FROM par_orders) x;
CREATE TEMP TABLE par_breaks AS
SELECT rfm_breaks(s, '2026-01-01') b FROM (SELECT customer_id, rfm_agg(ordered_at, amount) s FROM par_orders GROUP BY 1) x;
EXPLAIN (COSTS OFF) SELECT rfm_breaks(s, '2026-01-01') FROM score_s;
SET max_parallel_workers_per_gather = 0;
SELECT (SELECT rfm_agg(ordered_at, amount)::text FROM par_orders) = (SELECT (SELECT * FROM par_result)::text) AS parallel_equals_serial;
SELECT (SELECT rfm_breaks(s, '2026-01-01') FROM (SELECT customer_id, rfm_agg(ordered_at, amount) s FROM par_orders GROUP BY 1) x)
     = (SELECT b FROM par_breaks) AS parallel_breaks_equal_serial;
RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;

-- bad configuration: 22023 naming the key
SELECT sqlstate_of($$SELECT rfm_breaks(s, now(), 1) FROM score_s$$);
SELECT sqlstate_of($$SELECT rfm_breaks(s, now(), 5, '{"centre": "mean"}') FROM score_s$$);
SELECT sqlstate_of($$SELECT rfm_thresholds('{"recency": [365, 90]}')$$);
SELECT sqlstate_of($$SELECT rfm_thresholds('{"frequency": "monthly"}')$$);
SELECT sqlstate_of($$SELECT rfm_segment(sc, 'rfm12') FROM scored LIMIT 1$$);
SELECT sqlstate_of($$SELECT rfm_segment(sc, 'cn8', 'fr') FROM scored LIMIT 1$$);
SELECT sqlstate_of($$SELECT rfm_segment(sc, '[{"label": "A", "r": 5}]'::jsonb) FROM scored LIMIT 1$$);
SELECT sqlstate_of($$SELECT rfm_score(s, '{"version": 2, "recency": [1], "frequency": [1], "monetary": [1]}', now()) FROM score_s LIMIT 1$$);

DROP TABLE score_orders, score_s, scored, par_orders;
DROP EXTENSION pg_segment CASCADE;
