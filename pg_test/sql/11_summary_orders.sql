-- rfm_agg with an order id: rows repeating an order id (and kind, order or refund) inside the
-- group count once; the earliest instant (then the smallest amount) is the one that counts; a
-- NULL order id always counts. Equal, byte for byte, to rfm_agg over the de-duplicated rows,
-- also under parallel plans; agrees with population_agg's order id form; errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET search_path = public, segment;
SET TimeZone = 'UTC';

-- customer 1: orders 10 and 11, a refund of order 10 (same id, other kind), a row without id;
-- customer 2: order 10 (ids are per group), order 20
CREATE TABLE oi_single (customer_id bigint, order_id bigint, ordered_at timestamptz, amount numeric, is_refund boolean);
INSERT INTO oi_single VALUES
    (1, 10, '2025-01-05 10:00+00', 100.00, false),
    (1, 11, '2025-02-01 09:00+00', 40.50, false),
    (1, 10, '2025-02-10 12:00+00', 30.00, true),
    (1, NULL, '2025-03-01 08:00+00', 5.00, false),
    (2, 10, '2025-01-20 00:00+00', 70.00, false),
    (2, 20, '2025-04-01 00:00+00', 12.25, false);
CREATE TABLE oi_double AS SELECT * FROM oi_single UNION ALL SELECT * FROM oi_single;

-- the single copy; the doubled rows with ids give the same summaries (the row without an id
-- counts twice: it has nothing to be merged by)
SELECT customer_id, rfm_agg(order_id, ordered_at, amount, is_refund)::text FROM oi_single GROUP BY 1 ORDER BY 1;
SELECT customer_id, rfm_agg(order_id, ordered_at, amount, is_refund)::text FROM oi_double GROUP BY 1 ORDER BY 1;
SELECT s.customer_id,
       (SELECT rfm_agg(order_id, ordered_at, amount, is_refund) FROM oi_double d WHERE d.customer_id = s.customer_id AND d.order_id IS NOT NULL)::text
           = rfm_agg(ordered_at, amount, is_refund)::text AS doubled_equals_single
FROM oi_single s WHERE s.order_id IS NOT NULL GROUP BY 1 ORDER BY 1;
-- byte for byte: the binary form of rfm_agg over the de-duplicated rows
SELECT rfm_summary_send((SELECT rfm_agg(order_id, ordered_at, amount, is_refund) FROM oi_double WHERE order_id IS NOT NULL AND customer_id = 1))
     = rfm_summary_send((SELECT rfm_agg(ordered_at, amount, is_refund) FROM oi_single WHERE order_id IS NOT NULL AND customer_id = 1)) AS same_bytes;
-- without the refund flag, numeric and float8
SELECT rfm_agg(o, t, a)::text FROM (VALUES (1::bigint, '2025-01-01 00:00+00'::timestamptz, 2.5), (1, '2025-01-01 00:00+00', 2.5), (2, '2025-01-02 00:00+00', 1)) v(o, t, a);
SELECT rfm_agg(o, t, a)::text FROM (VALUES (1::bigint, '2025-01-01 00:00+00'::timestamptz, 2.5::float8), (1, '2025-01-01 00:00+00', 2.5), (2, '2025-01-02 00:00+00', -1)) v(o, t, a);
SELECT rfm_agg(o, t, a, r)::text FROM (VALUES (1::bigint, '2025-01-01 00:00+00'::timestamptz, 2.5::float8, false), (1, '2025-01-01 00:00+00', 2.5, false), (1, '2025-01-03 00:00+00', 1, true)) v(o, t, a, r);
-- as a window aggregate the state is finished after every row and must stay whole: the order
-- id form counts as the plain form does (a repeat of order 1 on day 3 does not count)
SELECT i, frequency(rfm_agg(o, '2025-01-01 00:00+00'::timestamptz + i * interval '1 day', 10.0) OVER (ORDER BY i)) AS with_ids,
       frequency(rfm_agg('2025-01-01 00:00+00'::timestamptz + i * interval '1 day', 10.0) OVER (ORDER BY i)) AS plain
FROM (VALUES (1, 1::bigint), (2, 2), (3, 1), (4, 3)) v(i, o) ORDER BY i;
-- conflicting repeats (same id, another amount or instant): the earliest instant counts, then the
-- smallest amount, as in population_agg
SELECT rfm_agg(o, t, a)::text FROM (VALUES (7::bigint, '2025-01-02 00:00+00'::timestamptz, 9.0), (7, '2025-01-01 00:00+00', 50.0), (7, '2025-01-01 00:00+00', 20.0)) v(o, t, a);
-- NULL instants and amounts are skipped; no row gives NULL
SELECT rfm_agg(o, t, a)::text FROM (VALUES (1::bigint, NULL::timestamptz, 1.0), (2, '2025-01-01 00:00+00', NULL)) v(o, t, a);
SELECT rfm_agg(o, t, a) IS NULL AS no_rows FROM (SELECT 1::bigint, now(), 1.0 WHERE false) v(o, t, a);

-- population_agg agrees: its order id form over the doubled rows equals population_agg over the
-- per-customer rfm_agg(order_id, ...) summaries
SELECT count(*) AS rows_differing FROM (
    (SELECT * FROM population_rows((SELECT population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM oi_double))
     EXCEPT
     SELECT * FROM population_rows((SELECT population_agg(customer_id, s, '2025-06-30', '{}')
                                    FROM (SELECT customer_id, rfm_agg(order_id, ordered_at, amount, is_refund) s FROM oi_double GROUP BY 1) g)))
    UNION ALL
    (SELECT * FROM population_rows((SELECT population_agg(customer_id, s, '2025-06-30', '{}')
                                    FROM (SELECT customer_id, rfm_agg(order_id, ordered_at, amount, is_refund) s FROM oi_double GROUP BY 1) g))
     EXCEPT
     SELECT * FROM population_rows((SELECT population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM oi_double)))) d;

-- parallel plans: every row twice, the copies far apart in the table (they land in different
-- partial states), so the repeats must be dropped across them
CREATE TABLE oi_big AS SELECT (g % 50)::bigint AS customer_id, g::bigint AS order_id,
    '2024-01-01 00:00+00'::timestamptz + g * interval '7 minutes' AS ordered_at, (g % 97 + 1)::numeric AS amount, g % 13 = 0 AS is_refund
    FROM generate_series(1, 20000) g;
INSERT INTO oi_big SELECT * FROM oi_big;
ANALYZE oi_big;
CREATE TABLE oi_serial AS SELECT rfm_agg(order_id, ordered_at, amount, is_refund) s FROM oi_big;
CREATE TABLE oi_once AS SELECT rfm_agg(ordered_at, amount, is_refund) s FROM (SELECT DISTINCT * FROM oi_big) d;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT rfm_agg(order_id, ordered_at, amount, is_refund) FROM oi_big;
SELECT workers_launched($$SELECT rfm_agg(order_id, ordered_at, amount, is_refund) FROM oi_big$$) AS workers_launched;
CREATE TABLE oi_parallel AS SELECT rfm_agg(order_id, ordered_at, amount, is_refund) s FROM oi_big;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;
SELECT frequency(s, '2030-01-01'), refunds(s, '2030-01-01'), monetary(s, '2030-01-01') FROM oi_serial;
SELECT (SELECT rfm_summary_send(s) FROM oi_parallel) = (SELECT rfm_summary_send(s) FROM oi_serial) AS parallel_equals_serial,
       (SELECT rfm_summary_send(s) FROM oi_serial) = (SELECT rfm_summary_send(s) FROM oi_once) AS equals_distinct_rows;

-- errors: the memory limit (53200 naming pg_segment.memory_limit), bad instants and amounts
SET pg_segment.memory_limit = 1;
SELECT sqlstate_of($$SELECT rfm_agg(g::bigint, '2025-01-01'::timestamptz, 1.0) FROM generate_series(1, 100000) g$$);
RESET pg_segment.memory_limit;
SELECT sqlstate_of($$SELECT rfm_agg(1::bigint, 'infinity'::timestamptz, 1.0)$$);
SELECT sqlstate_of($$SELECT rfm_agg(1::bigint, now(), 'NaN'::float8)$$);
SELECT sqlstate_of($$SELECT rfm_agg(1::bigint, now(), 1e20::numeric)$$);

DROP TABLE oi_single, oi_double, oi_big, oi_serial, oi_once, oi_parallel;
DROP EXTENSION pg_segment CASCADE;
