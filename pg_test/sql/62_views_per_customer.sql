-- Segmentation views in the per-customer form (option per_customer; the default over a Citus
-- distributed table or a partitioned table with foreign partitions): population_agg over one
-- rfm_agg summary per customer, so that the GROUP BY runs where the rows are. Row for row
-- (to_jsonb) what the order-row form gives, for every option it combines with.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET search_path = public, segment;
SET TimeZone = 'Asia/Shanghai';

CREATE TABLE pc_orders AS
SELECT order_id, customer_id, ordered_at, amount, is_refund, CASE WHEN order_id % 7 = 0 THEN 'cancelled' ELSE 'paid' END AS status
FROM sample_orders(1500, 5);
-- some customers' rows twice (same order ids: the order id form counts them once), a row without key
INSERT INTO pc_orders SELECT * FROM pc_orders WHERE customer_id % 5 = 0;
INSERT INTO pc_orders VALUES (NULL, NULL, '2025-01-01 10:00+08', 5, false, 'paid');
CREATE TABLE pc_coded AS SELECT 'K-' || customer_id AS code, order_id, ordered_at, amount, is_refund, status FROM pc_orders;
CREATE TABLE pc_events AS
SELECT customer_id, ordered_at - interval '1 hour' AS visited_at FROM pc_orders WHERE customer_id % 3 = 0
UNION ALL SELECT 99999, timestamptz '2025-06-01 10:00+08';

-- rows of one relation missing from the other, both ways (to_jsonb: every column, NULLs equal)
CREATE FUNCTION pc_differing(a regclass, b regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT (SELECT count(*) FROM (SELECT to_jsonb(x) FROM %1$s x EXCEPT ALL SELECT to_jsonb(y) FROM %2$s y) d)
                         + (SELECT count(*) FROM (SELECT to_jsonb(y) FROM %2$s y EXCEPT ALL SELECT to_jsonb(x) FROM %1$s x) d)', a, b) INTO n;
    RETURN n;
END $$;
-- a view with and without per_customer over the same source and options: rows, rows differing,
-- and whether each definition reads summaries (rfm_agg) or order rows
CREATE FUNCTION pc_compare(case_label text, source regclass, key name, options jsonb,
                           OUT label text, OUT customers bigint, OUT differing bigint, OUT per_customer_reads_summaries boolean,
                           OUT order_rows_reads_rows boolean) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segment.create_segment_view('pc_rows', source::text, key, 'ordered_at', 'amount', options);
    PERFORM segment.create_segment_view('pc_summaries', source::text, key, 'ordered_at', 'amount', options || '{"per_customer": true}');
    customers := (SELECT count(*) FROM pc_summaries);
    differing := pc_differing('pc_rows', 'pc_summaries');
    per_customer_reads_summaries := (SELECT v.definition LIKE '% AS r FROM %' FROM segment.segment_views v WHERE v.view_name = 'pc_summaries');
    order_rows_reads_rows := (SELECT v.definition NOT LIKE '% AS r FROM %' FROM segment.segment_views v WHERE v.view_name = 'pc_rows');
    PERFORM segment.drop_segment_view('pc_rows');
    PERFORM segment.drop_segment_view('pc_summaries');
    label := case_label;
END $$;

SELECT * FROM pc_compare('plain', 'pc_orders', 'customer_id', '{"as_of": "2025-12-31 23:59:59+08", "lang": "en"}');
SELECT * FROM pc_compare('filter, refunds, tz', 'pc_orders', 'customer_id',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "America/New_York", "refund_column": "is_refund", "filter": {"column": "status", "in": ["paid"]}}');
SELECT * FROM pc_compare('order ids', 'pc_orders', 'customer_id', '{"as_of": "2025-12-31 23:59:59+08", "order_id_column": "order_id"}');
SELECT * FROM pc_compare('order ids and refunds', 'pc_orders', 'customer_id',
    '{"as_of": "2025-12-31 23:59:59+08", "order_id_column": "order_id", "refund_column": "is_refund", "filter": [{"column": "status", "not_in": ["cancelled"]}]}');
SELECT * FROM pc_compare('text keys', 'pc_coded', 'code', '{"as_of": "2025-12-31 23:59:59+08", "refund_column": "is_refund", "lang": "en"}');
SELECT * FROM pc_compare('text keys, order ids, filter', 'pc_coded', 'code',
    '{"as_of": "2025-12-31 23:59:59+08", "order_id_column": "order_id", "filter": {"column": "status", "in": ["paid"]}}');
SELECT * FROM pc_compare('events', 'pc_orders', 'customer_id',
    '{"as_of": "2025-12-31 23:59:59+08", "events": {"source": "public.pc_events", "customer_column": "customer_id", "visited_at_column": "visited_at"}}');
SELECT * FROM pc_compare('predict', 'pc_orders', 'customer_id', '{"as_of": "2025-12-31 23:59:59+08", "refund_column": "is_refund", "predict": true}');
SELECT * FROM pc_compare('next_action, service_plan', 'pc_orders', 'customer_id',
    '{"as_of": "2025-12-31 23:59:59+08", "next_action": true, "service_plan": true, "lang": "en"}');
-- as_of "now" and the session's zone pinned: the same in both forms
SELECT * FROM pc_compare('now, session zone', 'pc_orders', 'customer_id', '{"refund_column": "is_refund"}');
-- integer (not bigint) keys, timestamp without time zone, float8 amounts
CREATE TABLE pc_float AS
SELECT order_id, customer_id::int AS customer_id, ordered_at AT TIME ZONE 'Asia/Shanghai' AS ordered_at, amount::float8 * 1.37 AS amount, is_refund
FROM pc_orders;
SELECT * FROM pc_compare('int, timestamp, float8, order ids', 'pc_float', 'customer_id',
    '{"as_of": "2025-12-31 23:59:59+08", "refund_column": "is_refund", "order_id_column": "order_id"}');
-- a timestamp column holds local times: read in the view's zone, whatever the TimeZone of the
-- session that refreshes (a pg_cron job, a Citus worker). pc_local has pc_orders' instants as
-- Shanghai wall-clock times; both views count days in Asia/Shanghai and stay equal when
-- refreshed in New York, in both forms
CREATE TABLE pc_local AS SELECT order_id, customer_id, ordered_at AT TIME ZONE 'Asia/Shanghai' AS ordered_at, amount, is_refund FROM pc_orders;
SELECT create_segment_view('pc_v_instants', 'pc_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund"}');
SELECT create_segment_view('pc_v_local', 'pc_local', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund"}');
SELECT create_segment_view('pc_v_local_pc', 'pc_local', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund", "per_customer": true}');
SET TimeZone = 'America/New_York';
SELECT count(refresh_segment_view(v, false)) AS refreshed_in_new_york FROM unnest(ARRAY['pc_v_instants', 'pc_v_local', 'pc_v_local_pc']) v;
SELECT count(*) AS customers, count(*) FILTER (WHERE to_jsonb(a) = to_jsonb(b)) AS equal_rows,
       count(*) FILTER (WHERE to_jsonb(a) = to_jsonb(c)) AS equal_rows_per_customer
FROM pc_v_instants a FULL JOIN pc_v_local b USING (customer_id) FULL JOIN pc_v_local_pc c USING (customer_id);
RESET TimeZone;
SELECT count(drop_segment_view(v)) AS dropped FROM unnest(ARRAY['pc_v_instants', 'pc_v_local', 'pc_v_local_pc']) v;
DROP TABLE pc_local;

-- the default: order rows for a plain table; per-customer summaries for a partitioned table with
-- a foreign partition (the query is only built: a wrapper without handler is never read)
CREATE FOREIGN DATA WRAPPER pc_wrapper;
CREATE SERVER pc_server FOREIGN DATA WRAPPER pc_wrapper;
CREATE TABLE pc_parted (customer_id bigint, ordered_at timestamptz, amount numeric) PARTITION BY HASH (customer_id);
CREATE TABLE pc_parted_0 PARTITION OF pc_parted FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pc_local_parted (customer_id bigint, ordered_at timestamptz, amount numeric) PARTITION BY HASH (customer_id);
CREATE TABLE pc_local_parted_0 PARTITION OF pc_local_parted FOR VALUES WITH (MODULUS 1, REMAINDER 0);
CREATE FOREIGN TABLE pc_parted_1 PARTITION OF pc_parted FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER pc_server;
SELECT segment._segment_view_query('pc_orders', 'customer_id', 'ordered_at', 'amount', '{}') LIKE '%segment.rfm_agg(%' AS plain_table_summaries,
       segment._segment_view_query('pc_local_parted', 'customer_id', 'ordered_at', 'amount', '{}') LIKE '%segment.rfm_agg(%' AS local_partitions_summaries,
       segment._segment_view_query('pc_parted', 'customer_id', 'ordered_at', 'amount', '{}') LIKE '%segment.rfm_agg(%' AS foreign_partition_summaries,
       segment._segment_view_query('pc_parted', 'customer_id', 'ordered_at', 'amount', '{"per_customer": false}') LIKE '%segment.rfm_agg(%' AS forced_off;
-- the summaries' GROUP BY is on the key column itself (what Citus and postgres_fdw push down)
SELECT segment._segment_view_query('pc_parted', 'customer_id', 'ordered_at', 'amount', '{"as_of": "2025-12-31 00:00+00", "tz": "UTC"}') AS query;

-- bad values of the option, named
SELECT sqlstate_of($$SELECT create_segment_view('pc_bad', 'pc_orders', 'customer_id', 'ordered_at', 'amount', '{"per_customer": "yes"}')$$) AS text_value,
       sqlstate_of($$SELECT create_segment_view('pc_bad', 'pc_orders', 'customer_id', 'ordered_at', 'amount', '{"per_customer": 1}')$$) AS number_value,
       sqlstate_of($$SELECT create_segment_view('pc_bad', 'pc_orders', 'customer_id', 'ordered_at', 'amount', '{"per_customer": null}')$$) AS null_value;
-- alter switches the form (and null removes the key again)
SELECT create_segment_view('pc_switch', 'pc_orders', 'customer_id', 'ordered_at', 'amount', '{"as_of": "2025-12-31 23:59:59+08"}') AS created;
CREATE TABLE pc_before AS SELECT * FROM pc_switch;
SELECT alter_segment_view('pc_switch', '{"per_customer": true}') AS altered;
SELECT definition LIKE '%segment.rfm_agg(%' AS summaries, pc_differing('pc_before', 'pc_switch') AS differing FROM segment_views WHERE view_name = 'pc_switch';
SELECT alter_segment_view('pc_switch', '{"per_customer": null}') AS altered;
SELECT definition LIKE '%segment.rfm_agg(%' AS summaries, options FROM segment_views WHERE view_name = 'pc_switch';
SELECT drop_segment_view('pc_switch');

DROP TABLE pc_orders, pc_coded, pc_events, pc_float, pc_before, pc_parted, pc_local_parted;
DROP SERVER pc_server;
DROP FOREIGN DATA WRAPPER pc_wrapper;
DROP FUNCTION pc_compare, pc_differing;
