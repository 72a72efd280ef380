-- rfm_agg, accessors, rollup, text form, BTYD. Hand-checkable fixtures.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

CREATE TEMP TABLE orders (customer_id int, ordered_at timestamptz, amount numeric, is_refund boolean DEFAULT false);
INSERT INTO orders VALUES
  -- 1: three orders, one refund by sign
  (1, '2024-01-10 10:00+00', 100.00, false), (1, '2024-03-10 10:00+00', 250.50, false),
  (1, '2024-03-12 10:00+00', -50.50, false), (1, '2024-06-01 10:00+00', 80, false),
  -- 2: a single order
  (2, '2024-12-30 08:00+00', 999.99, false),
  -- 3: refunds only (flag variant: positive amount, is_refund true)
  (3, '2024-05-01 10:00+00', 30, true),
  -- 4: every order after as_of
  (4, '2025-02-01 10:00+00', 10, false), (4, '2025-03-01 10:00+00', 10, false),
  -- 5: NULLs skipped
  (5, NULL, 10, false), (5, '2024-07-01 00:00+00', NULL, false), (5, '2024-07-02 00:00+00', 15, false),
  -- 6: order at 23:30 Asia/Shanghai on 2024-12-31 (= 15:30 UTC)
  (6, '2024-12-31 15:30+00', 66, false);

CREATE TEMP TABLE s AS
SELECT customer_id, rfm_agg(ordered_at, amount, is_refund) AS s FROM orders GROUP BY customer_id;

SELECT customer_id,
       frequency(s, '2024-12-31 23:59:59+00') AS f,
       monetary(s, '2024-12-31 23:59:59+00') AS m,
       average_order_value(s, '2024-12-31 23:59:59+00') AS aov,
       refunds(s, '2024-12-31 23:59:59+00') AS refunds,
       refunded_amount(s) AS refunded,
       first_order(s, '2024-12-31 23:59:59+00') AS first,
       last_order(s, '2024-12-31 23:59:59+00') AS last,
       recency_days(s, '2024-12-31 23:59:59+00') AS recency,
       tenure_days(s, '2024-12-31 23:59:59+00') AS tenure,
       future_orders(s, '2024-12-31 23:59:59+00') AS future,
       frequency(s) AS f_all
FROM s ORDER BY customer_id;

-- time zones: the 23:30 Shanghai order is on 2024-12-31 there, on 2024-12-31 in UTC too;
-- as_of 2025-01-01 00:10 Shanghai: 1 day in Shanghai, 0 days in UTC (2024-12-31 16:10 UTC)
SELECT recency_days(s, '2025-01-01 00:10+08', 'Asia/Shanghai') AS shanghai,
       recency_days(s, '2025-01-01 00:10+08', 'UTC') AS utc
FROM s WHERE customer_id = 6;
SET TimeZone = 'Asia/Shanghai';
SELECT recency_days(s, '2025-01-01 00:10+08') AS session_shanghai FROM s WHERE customer_id = 6;
SET TimeZone = 'UTC';

-- windowed figures: the 60 local days ending 2024-06-01 (from 2024-04-03) hold the June order
-- only (1 order, 80.00); 200 days hold everything (3 orders, 380.00 net of the refund)
SELECT frequency(s, '2024-06-01 12:00+00', 60) AS f60, monetary(s, '2024-06-01 12:00+00', 60) AS m60,
       frequency(s, '2024-06-01 12:00+00', 200) AS f200, monetary(s, '2024-06-01 12:00+00', 200, 'Asia/Shanghai') AS m200
FROM s WHERE customer_id = 1;
SELECT sqlstate_of($$SELECT monetary(s, now(), 0) FROM s$$);

-- text form round trip and rollup of partial summaries equals the whole
SELECT s::text FROM s WHERE customer_id = 1;
SELECT (s::text)::rfm_summary::text = s::text AS text_round_trip FROM s WHERE customer_id = 1;
SELECT (SELECT rollup(p) FROM (SELECT rfm_agg(ordered_at, amount, is_refund) p FROM orders WHERE customer_id = 1
                                GROUP BY date_trunc('month', ordered_at)) x)::text
     = (SELECT s::text FROM s WHERE customer_id = 1) AS rollup_equals_whole;

-- float8 overload agrees with numeric
SELECT monetary(rfm_agg(ordered_at, amount::float8, is_refund)) = monetary(rfm_agg(ordered_at, amount, is_refund)) AS float8_agrees
FROM orders WHERE customer_id = 1;

-- empty and all-NULL input give NULL, like sum()
SELECT rfm_agg(ordered_at, amount) IS NULL AS empty_is_null FROM orders WHERE false;
SELECT rfm_agg(NULL::timestamptz, NULL::numeric) IS NULL AS all_null_is_null FROM generate_series(1, 3);

-- BTYD summary, lifetimes convention: periods, repeat purchases, age at last purchase and at as_of
SELECT customer_id, (btyd(s, '2024-12-31 23:59:59+00', 'days')).*, (btyd(s, '2024-12-31 23:59:59+00', 'weeks')).frequency AS weekly_frequency
FROM s WHERE customer_id IN (1, 2) ORDER BY 1;

-- bad input: SQLSTATE and a message naming the argument
SELECT sqlstate_of($$SELECT rfm_agg(now(), 'NaN'::numeric)$$);
SELECT sqlstate_of($$SELECT rfm_agg(now(), 'Infinity'::numeric)$$);
SELECT sqlstate_of($$SELECT rfm_agg(now(), 'NaN'::float8)$$);
SELECT sqlstate_of($$SELECT rfm_agg('infinity'::timestamptz, 1::numeric)$$);
SELECT sqlstate_of($$SELECT rfm_agg(now(), 1e20::numeric)$$);
SELECT sqlstate_of($$SELECT 'v2:'::rfm_summary$$);
SELECT sqlstate_of($$SELECT 'v1:2024-01-01 12'::rfm_summary$$);
SELECT sqlstate_of($$SELECT recency_days(rfm_agg(now(), 1::numeric), now(), 'Mars/Olympus')$$);
SELECT sqlstate_of($$SELECT btyd(rfm_agg(now(), 1::numeric), now(), 'months')$$);

DROP EXTENSION pg_segment CASCADE;
