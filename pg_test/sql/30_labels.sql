-- customer_tier, spend_tier, lifecycle_stage, purchase_cadence
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

-- 20 customers with values 20..1; two tied at 15
WITH v(id, value) AS (SELECT g, CASE WHEN g = 6 THEN 15 ELSE 21 - g END FROM generate_series(1, 20) g)
SELECT id, value, customer_tier(cume_dist() OVER (ORDER BY value DESC)) AS zh,
       customer_tier(cume_dist() OVER (ORDER BY value DESC), '{}', 'en') AS en
FROM v ORDER BY id;
SELECT customer_tier(0.5, '{"tiers": [{"label": {"zh": "金", "en": "Gold"}, "code": "gold", "share": 20}, {"label": "Rest", "share": 80}]}', 'code');

SELECT x, spend_tier(x) AS zh, spend_tier(x, '{}', 'en') AS en
FROM unnest(ARRAY[9999.99, 10000, 50000, 50000.01]::numeric[]) x;

CREATE TEMP TABLE life AS
SELECT id, rfm_agg(t, 10::numeric) s FROM (VALUES
  (1, '2024-12-20 10:00+00'::timestamptz),                 -- new (first order 11 days ago)
  (2, '2024-01-01 10:00+00'), (2, '2024-12-01 10:00+00'),  -- active (30 days)
  (3, '2024-01-01 10:00+00'), (3, '2024-10-02 10:00+00'),  -- sleeping (90 days)
  (4, '2023-01-01 10:00+00'), (4, '2024-01-01 10:00+00'),  -- at risk (365 days)
  (5, '2023-01-01 10:00+00'), (5, '2023-12-31 10:00+00'),  -- churned (366 days)
  (6, '2025-06-01 10:00+00')                               -- prospect at as_of
) v(id, t) GROUP BY id;
SELECT id, recency_days(s, '2024-12-31 12:00+00') AS recency,
       lifecycle_stage(s, '2024-12-31 12:00+00') AS zh,
       lifecycle_stage(s, '2024-12-31 12:00+00', '{}', 'en') AS en,
       lifecycle_stage(s, '2024-12-31 12:00+00', '{"active_days": 31}', 'code', 'Asia/Shanghai') AS custom
FROM life ORDER BY id;

CREATE TEMP TABLE cad AS
SELECT id, rfm_agg(t, 10::numeric) s FROM (
  SELECT 1, '2024-01-01 10:00+00'::timestamptz                                          -- one-time
  UNION ALL SELECT 2, '2024-01-01 10:00+00'::timestamptz + make_interval(days => 30 * g) FROM generate_series(0, 5) g  -- monthly
  UNION ALL SELECT 3, '2024-01-01 10:00+00'::timestamptz + make_interval(days => 91 * g) FROM generate_series(0, 3) g  -- quarterly
  UNION ALL SELECT 4, '2023-01-01 10:00+00'::timestamptz + make_interval(days => 365 * g) FROM generate_series(0, 1) g -- yearly
  UNION ALL SELECT 5, t FROM unnest(ARRAY['2024-01-01', '2024-01-02', '2024-01-03', '2024-11-01']::timestamptz[]) t   -- irregular
) v(id, t) GROUP BY id;
SELECT id, purchase_cadence(s, '2024-12-31') AS zh, purchase_cadence(s, '2024-12-31', '{}', 'en') AS en FROM cad ORDER BY id;
SELECT purchase_cadence(s, '2000-01-01') IS NULL AS no_purchase_is_null FROM cad WHERE id = 1;

SELECT sqlstate_of($$SELECT customer_tier(0)$$);
SELECT sqlstate_of($$SELECT customer_tier(0.5, '{"tiers": [{"label": "A", "share": 30}, {"label": "B", "share": 60}]}')$$);
SELECT sqlstate_of($$SELECT customer_tier(0.5, '{"tier": []}')$$);
SELECT sqlstate_of($$SELECT spend_tier(1, '{"high": 100, "middle": 200}')$$);
SELECT sqlstate_of($$SELECT lifecycle_stage(s, now(), '{"active_days": 200}') FROM life LIMIT 1$$);
SELECT sqlstate_of($$SELECT purchase_cadence(s, now(), '{"monthly": 30}') FROM cad LIMIT 1$$);

DROP EXTENSION pg_segment CASCADE;
