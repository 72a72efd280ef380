-- population_agg beyond order rows (issue 18): one rfm_summary per customer gives what the order
-- rows give; repeated order ids count once; the time zone days were counted in is recorded;
-- hash partitions by customer merge under partitionwise aggregation; version 1 values read.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'Asia/Shanghai';
CREATE TABLE scale_orders AS SELECT * FROM sample_orders(3000, 7);
CREATE TABLE scale_summaries AS SELECT customer_id, rfm_agg(ordered_at, amount, is_refund) AS s FROM scale_orders GROUP BY 1;
-- rows of a that b lacks plus rows of b that a lacks (duplicates counted)
CREATE FUNCTION rows_differing(a rfm_population, b rfm_population) RETURNS bigint LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM (SELECT * FROM population_rows(a) EXCEPT ALL SELECT * FROM population_rows(b)) x)
       + (SELECT count(*) FROM (SELECT * FROM population_rows(b) EXCEPT ALL SELECT * FROM population_rows(a)) x) $$;

-- one row per customer: the same population as the order rows, row for row, with and without options
CREATE TABLE scale_by_orders AS
  SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') AS p,
         population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{"window_days": 90, "lang": "en", "bins": 4}') AS q
  FROM scale_orders;
CREATE TABLE scale_by_summaries AS
  SELECT population_agg(customer_id, s, '2025-06-30') AS p,
         population_agg(customer_id, s, '2025-06-30', '{"window_days": 90, "lang": "en", "bins": 4}') AS q
  FROM scale_summaries;
SELECT rows_differing(a.p, b.p) AS default_rows_differing, rows_differing(a.q, b.q) AS option_rows_differing,
       (SELECT count(*) FROM population_rows(b.q)) AS customers,
       population_breaks(a.q) = population_breaks(b.q) AS same_breaks,
       population_info(a.q) - 'state_bytes' - 'value_bytes' = population_info(b.q) - 'state_bytes' - 'value_bytes' AS same_info
FROM scale_by_orders a, scale_by_summaries b;
-- summaries per customer and month (a customer met several times) add up to the same population
SELECT rows_differing(a.q, (SELECT population_agg(customer_id, s, '2025-06-30', '{"window_days": 90, "lang": "en", "bins": 4}')
                            FROM (SELECT customer_id, rfm_agg(ordered_at, amount, is_refund) s FROM scale_orders
                                  GROUP BY customer_id, date_trunc('month', ordered_at)) m)) AS monthly_rows_differing
FROM scale_by_orders a;
-- NULL ids and summaries are skipped, as NULL order rows are
SELECT rows_differing(a.p, (SELECT population_agg(customer_id, s, '2025-06-30') FROM
                              (SELECT * FROM scale_summaries UNION ALL VALUES (NULL::bigint, NULL::rfm_summary), (42424242, NULL)) x)) AS with_nulls_differing
FROM scale_by_summaries a;
SELECT sqlstate_of($$SELECT population_agg(customer_id, s, NULL) FROM scale_summaries$$) AS null_as_of;

-- the time zone days were counted in: the session's when no tz is given, else the option's
SELECT population_info(p)->>'tz' AS session_zone, population_info(q)->>'tz' AS session_zone_too,
       population_info(p)->>'version' AS version FROM scale_by_orders;
SELECT population_info(population_agg(customer_id, s, '2025-06-30', '{"tz": "Europe/Berlin"}'))->>'tz' AS option_zone FROM scale_summaries;
SET TimeZone = 'America/New_York';
SELECT population_info(population_agg(customer_id, s, '2025-06-30'))->>'tz' AS other_session_zone,
       rows_differing(population_agg(customer_id, s, '2025-06-30 00:00+08', '{"tz": "Asia/Shanghai"}'), (SELECT p FROM scale_by_summaries)) AS pinned_zone_differing
FROM scale_summaries;
SET TimeZone = 'Asia/Shanghai';

-- order ids: every row twice (an ERP export joined twice) counts once; rows without an order id always count
CREATE TABLE scale_twice AS SELECT * FROM scale_orders UNION ALL SELECT * FROM scale_orders;
CREATE TABLE scale_dedup AS
  SELECT population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}') AS p,
         population_agg(customer_id, NULL::bigint, ordered_at, amount, is_refund, '2025-06-30', '{}') AS without_ids,
         population_agg(customer_id, order_id, ordered_at, amount::float8, is_refund, '2025-06-30', '{}') AS float8,
         population_agg(customer_id, 1::bigint, ordered_at, amount, is_refund, '2025-06-30', '{}') AS one_id
  FROM scale_twice;
SELECT rows_differing(a.p, d.p) AS dedup_rows_differing, population_info(d.p)->'duplicate_rows' AS duplicate_rows,
       population_info(d.p)->'rows_read' AS rows_read, population_info(d.without_ids)->'duplicate_rows' AS without_ids,
       rows_differing(a.p, d.without_ids) > 0 AS without_ids_double_counts, rows_differing(a.p, d.float8) AS float8_differing,
       -- the same order id of two customers is two orders; one customer's orders under one id count once
       population_info(d.one_id)->'customers' AS customers_one_id,
       (SELECT max(orders) FROM population_rows(d.one_id) WHERE refunds = 0) AS max_orders_one_id
FROM scale_dedup d, scale_by_orders a;

-- parallel plans for both new forms: same value as serial (repeats across workers still count once)
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT population_agg(customer_id, s, '2025-06-30') FROM scale_summaries;
SELECT workers_launched($$SELECT population_agg(customer_id, s, '2025-06-30') FROM scale_summaries$$) AS summary_workers,
       workers_launched($$SELECT population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_twice$$) AS order_id_workers;
SELECT rows_differing(a.p, (SELECT population_agg(customer_id, s, '2025-06-30') FROM scale_summaries)) AS parallel_summary_differing,
       rows_differing(a.p, (SELECT population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_twice)) AS parallel_order_id_differing,
       (SELECT population_info(population_agg(customer_id, order_id, ordered_at, amount, is_refund, '2025-06-30', '{}'))->'duplicate_rows' FROM scale_twice) AS parallel_duplicate_rows
FROM scale_by_orders a;

-- hash partitions by customer, aggregated partition by partition (partial states of disjoint
-- customers, merged by concatenation), serially and in parallel: the plain table's population
CREATE TABLE scale_parts (LIKE scale_orders) PARTITION BY HASH (customer_id);
CREATE TABLE scale_parts_0 PARTITION OF scale_parts FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE scale_parts_1 PARTITION OF scale_parts FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE scale_parts_2 PARTITION OF scale_parts FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE scale_parts_3 PARTITION OF scale_parts FOR VALUES WITH (MODULUS 4, REMAINDER 3);
INSERT INTO scale_parts SELECT * FROM scale_orders;
ANALYZE scale_parts;
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 0;
EXPLAIN (COSTS OFF) SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_parts;
SELECT rows_differing(a.p, (SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_parts)) AS partitionwise_differing
FROM scale_by_orders a;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_parts;
SELECT rows_differing(a.p, (SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}') FROM scale_parts)) AS parallel_partitionwise_differing,
       (SELECT population_info(population_agg(customer_id, ordered_at, amount, is_refund, '2025-06-30', '{}')) - 'state_bytes' - 'value_bytes' FROM scale_parts)
         = population_info(a.p) - 'state_bytes' - 'value_bytes' AS same_info
FROM scale_by_orders a;
RESET enable_partitionwise_aggregate;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size; RESET max_parallel_workers_per_gather;

-- segmentation views: order_id_column counts repeated rows once; the zone is always pinned
-- (without tz, the creating session's TimeZone is written into the view's query)
SELECT create_segment_view('scale_once', 'scale_orders', 'customer_id', 'ordered_at', 'amount',
                           '{"as_of": "2025-06-30 00:00+08", "refund_column": "is_refund"}');
SELECT create_segment_view('scale_twice_ids', 'scale_twice', 'customer_id', 'ordered_at', 'amount',
                           '{"as_of": "2025-06-30 00:00+08", "refund_column": "is_refund", "order_id_column": "order_id"}');
SELECT create_segment_view('scale_twice_no_flag', 'scale_twice', 'customer_id', 'ordered_at', 'amount',
                           '{"as_of": "2025-06-30 00:00+08", "order_id_column": "order_id"}');
SELECT definition LIKE '%"tz": "Asia/Shanghai"%' AS zone_pinned, definition LIKE '%s.order_id::bigint%' AS reads_order_ids
FROM segment_views WHERE view_name = 'scale_twice_ids';
SET TimeZone = 'America/New_York';
-- (days counted in this session's zone would differ: a view pinned to it)
SELECT create_segment_view('scale_new_york', 'scale_orders', 'customer_id', 'ordered_at', 'amount',
                           '{"as_of": "2025-06-30 00:00+08", "refund_column": "is_refund"}');
SELECT refresh_segment_view('scale_once') IS NOT NULL AS refreshed, refresh_segment_view('scale_twice_ids') IS NOT NULL AS refreshed_too;
SELECT (SELECT count(*) FROM (SELECT * FROM scale_once EXCEPT ALL SELECT * FROM scale_twice_ids) x)
     + (SELECT count(*) FROM (SELECT * FROM scale_twice_ids EXCEPT ALL SELECT * FROM scale_once) x) AS view_rows_differing,
       (SELECT count(*) FROM (SELECT customer_id, orders, monetary, recency_days, rfm_code, segment, tier, lifecycle_stage, cadence
                              FROM population_rows((SELECT p FROM scale_by_orders))
                              EXCEPT ALL SELECT customer_id, orders, monetary, recency_days, rfm_code, segment, tier, lifecycle_stage, cadence
                              FROM scale_once) x) AS differing_from_shanghai,
       (SELECT count(*) FROM (SELECT * FROM scale_once EXCEPT SELECT * FROM scale_new_york) x) > 0 AS new_york_differs,
       -- without a refund column, every row of one order id once: an order, or a refund by its sign
       (SELECT sum(orders) + sum(refunds) FROM scale_twice_no_flag) = (SELECT count(*) FROM scale_orders WHERE ordered_at <= '2025-06-30 00:00+08') AS no_flag_counts_once;
SET TimeZone = 'Asia/Shanghai';
SELECT sqlstate_of($$SELECT create_segment_view('scale_bad', 'scale_orders', 'customer_id', 'ordered_at', 'amount', '{"order_id_column": "category"}')$$) AS text_order_id,
       sqlstate_of($$SELECT create_segment_view('scale_bad', 'scale_orders', 'customer_id', 'ordered_at', 'amount', '{"order_id_column": "nope"}')$$) AS missing_order_id;
SELECT drop_segment_view('scale_once');
SELECT drop_segment_view('scale_twice_ids');
SELECT drop_segment_view('scale_twice_no_flag');
SELECT drop_segment_view('scale_new_york');

-- a version 1 value (pg_segment 0.1.0's format: info {"breaks": ...}, no zone) still reads:
-- made here from a version 2 value by writing its head as 0.1.0 did
CREATE TABLE scale_v2 AS SELECT decode(substr(p::text, 4), 'hex') AS b FROM scale_by_orders;
CREATE TABLE scale_v1_value AS
  SELECT ('p1:' || encode(substr(b, 1, 4) || '\x01000000'::bytea || substr(b, 9, 32)
                          || set_byte(set_byte('\x00000000'::bytea, 0, length(info1) % 256), 1, length(info1) / 256)
                          || info1 || substr(b, 45 + ilen), 'hex'))::rfm_population AS p
  FROM (SELECT b, ilen, convert_to(split_part(convert_from(substr(b, 45, ilen), 'UTF8'), ',"duplicate_rows"', 1) || '}', 'UTF8') AS info1
        FROM (SELECT b, get_byte(b, 40) + 256 * get_byte(b, 41) AS ilen FROM scale_v2) x) y;
SELECT population_info(v.p) - 'state_bytes' - 'value_bytes' AS v1_info, rows_differing(v.p, a.p) AS v1_rows_differing,
       population_breaks(v.p) = population_breaks(a.p) AS v1_same_breaks, v.p::text::rfm_population::text = v.p::text AS v1_text_round_trip
FROM scale_v1_value v, scale_by_orders a;
-- a version 1 value with version 2's info, a version 2 value with version 1's, and version 0 are refused
SELECT sqlstate_of(format('SELECT %L::rfm_population', 'p1:' || encode(set_byte(b, 4, 1), 'hex'))) AS v1_with_zone,
       sqlstate_of(format('SELECT %L::rfm_population', 'p1:' || encode(set_byte(decode(substr(v.p::text, 4), 'hex'), 4, 2), 'hex'))) AS v2_without_zone,
       sqlstate_of(format('SELECT %L::rfm_population', 'p1:' || encode(set_byte(b, 4, 0), 'hex'))) AS version_0
FROM scale_v2, scale_v1_value v;
-- population_rows keeps its rows in memory up to pg_segment.population_memory_limit, which
-- bounded the value's making, not work_mem: no temporary file at the smallest work_mem (a
-- function of SQL returning the same rows as text writes one)
CREATE FUNCTION temp_blocks_written(q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ' || q INTO j;
    RETURN (j->0->'Plan'->>'Temp Written Blocks')::bigint;
END $$;
-- the same rows as text through a SQL function, whose rows PostgreSQL keeps within work_mem
CREATE FUNCTION rows_as_text(p rfm_population) RETURNS SETOF text LANGUAGE sql AS $$ SELECT x::text FROM population_rows(p) x $$;
SET work_mem = '64kB';
SELECT temp_blocks_written('SELECT count(x) FROM population_rows((SELECT q FROM scale_by_orders)) x') AS population_rows_spilled,
       temp_blocks_written('SELECT count(x) FROM rows_as_text((SELECT q FROM scale_by_orders)) x') > 0 AS as_text_spilled,
       (SELECT count(*) FROM population_rows((SELECT q FROM scale_by_orders))) AS customers;
RESET work_mem;
DROP FUNCTION temp_blocks_written, rows_as_text;
DROP TABLE scale_orders, scale_summaries, scale_by_orders, scale_by_summaries, scale_twice, scale_dedup, scale_parts, scale_v2, scale_v1_value;
DROP FUNCTION rows_differing;
DROP EXTENSION pg_segment;
