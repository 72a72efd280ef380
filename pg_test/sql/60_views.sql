-- Segmentation views: create (with filter, refund flag, fixed as_of), registry, refresh, KPIs,
-- snapshots and tier migration, hostile names, errors with their SQLSTATEs.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';
CREATE SCHEMA shop;
CREATE TABLE shop.orders AS
SELECT order_id, customer_id, ordered_at, amount, is_refund,
       CASE WHEN order_id % 10 = 0 THEN 'cancelled' ELSE 'paid' END AS status
FROM sample_orders(2000, 3);

SELECT create_segment_view('shop.segments', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "lang": "en", "refund_column": "is_refund",
      "filter": {"column": "status", "in": ["paid"]}}') AS created;
SELECT view_schema, view_name, source, customer_column, ordered_at_column, amount_column, options, owner = current_user AS mine
FROM segment_views;
SELECT definition FROM segment_views;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'shop.segments'::regclass AND attnum > 0 ORDER BY attnum;
SELECT indexdef FROM pg_indexes WHERE schemaname = 'shop' AND tablename = 'segments';
-- the view is exactly the population of the filtered rows
SELECT count(*) AS customers,
       (SELECT count(*) FROM (SELECT * FROM shop.segments
         EXCEPT SELECT p.*, timestamptz '2025-12-31 23:59:59+08' FROM population_rows((SELECT population_agg(customer_id, ordered_at, amount, is_refund,
                '2025-12-31 23:59:59+08', '{"tz": "Asia/Shanghai", "lang": "en"}') FROM shop.orders WHERE status = 'paid')) p) x) AS differing
FROM shop.segments;

SELECT * FROM segment_kpis('shop.segments');
SELECT * FROM segment_kpis('shop.segments', 'lifecycle_stage');

-- a new customer's order shows after a refresh (concurrent by default)
INSERT INTO shop.orders VALUES (900001, 5000, '2025-12-30 10:00+08', 88.00, false, 'paid'), (900002, 5000, '2025-12-30 11:00+08', 12.00, false, 'cancelled');
SELECT count(*) AS before_refresh FROM shop.segments WHERE customer_id = 5000;
SELECT refresh_segment_view('shop.segments') IS NOT NULL AS refreshed;
SELECT customer_id, orders, monetary, lifecycle_stage, cadence, as_of FROM shop.segments WHERE customer_id = 5000;

-- snapshots, then a change of spend, then the migration matrix and the changed customers
SELECT take_snapshot('shop.segments', '2026-01-01') > 0 AS first_snapshot;
INSERT INTO shop.orders SELECT 910000 + customer_id, customer_id, '2025-12-20 12:00+08', 5000, false, 'paid'
FROM generate_series(1, 40) customer_id;
SELECT refresh_segment_view('shop.segments', false) IS NOT NULL AS refreshed;
SELECT take_snapshot('shop.segments', '2026-02-01') > 0 AS second_snapshot;
SELECT view_name, taken_at, as_of, customers FROM segment_snapshots ORDER BY taken_at;
SELECT * FROM tier_migration('shop.segments', '2026-01-15', '2026-02-15');
SELECT count(*) AS changed, count(*) FILTER (WHERE customer_id::bigint <= 40) AS changed_among_big_spenders,
       sum(revenue) AS revenue_between FROM segment_changes('shop.segments', '2026-01-15', '2026-02-15');
SELECT customer_id, from_tier, to_tier, revenue FROM segment_changes('shop.segments', '2026-01-15', '2026-02-15') LIMIT 3;

-- alter: options merged (null removes a key), snapshots kept; privileges granted on the view,
-- indexes added to it and its owner survive the rebuild
CREATE ROLE pgseg_reader NOLOGIN;
CREATE ROLE pgseg_owner NOLOGIN;
GRANT USAGE ON SCHEMA shop TO pgseg_owner;
GRANT SELECT ON shop.orders TO pgseg_owner;
GRANT SELECT ON shop.segments TO pgseg_reader;
CREATE INDEX segments_by_tier ON shop.segments (tier, monetary DESC);
ALTER MATERIALIZED VIEW shop.segments OWNER TO pgseg_owner;
SELECT alter_segment_view('shop.segments', '{"lang": "zh", "scheme": "cn8", "filter": null}') AS altered;
SELECT options, owner FROM segment_views WHERE view_name = 'segments';
SELECT segment, count(*) FROM shop.segments GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(*) AS snapshots_kept FROM segment_snapshots;
SELECT pg_get_userbyid(relowner) AS view_owner FROM pg_class WHERE oid = 'shop.segments'::regclass;
SELECT has_table_privilege('pgseg_reader', 'shop.segments', 'SELECT') AS reader_keeps_select,
       has_table_privilege('pgseg_reader', 'shop.segments', 'INSERT') AS reader_gets_no_more;
SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'shop' AND tablename = 'segments' ORDER BY indexname;
SELECT refresh_segment_view('shop.segments') IS NOT NULL AS refreshed_as_its_owner;

-- text customer keys: numbered inside the view, the same segmentation as integer ids
CREATE TABLE shop.coded_orders AS
SELECT 'C-' || lpad(customer_id::text, 5, '0') AS customer_code, ordered_at, amount, is_refund, status FROM shop.orders;
INSERT INTO shop.coded_orders VALUES (NULL, '2025-06-01', 10, false, 'paid');  -- no key: skipped
SELECT create_segment_view('shop.coded', 'shop.coded_orders', 'customer_code', 'ordered_at', 'amount', options) AS coded_view
FROM segment_views WHERE view_name = 'segments';
SELECT format_type(atttypid, atttypmod) AS key_type FROM pg_attribute WHERE attrelid = 'shop.coded'::regclass AND attname = 'customer_id';
SELECT (SELECT count(*) FROM shop.coded) AS customers, (SELECT count(*) FROM shop.segments) AS integer_view_customers,
       (SELECT count(*) FROM (SELECT 'C-' || lpad(customer_id::text, 5, '0'), orders, monetary, first_order, last_order, recency_days, tenure_days,
                                     refunds, refunded, future_orders, window_orders, window_monetary, r, f, m, rfm_code, rfm_total,
                                     segment, tier, lifecycle_stage, cadence, as_of FROM shop.segments
                              EXCEPT SELECT * FROM shop.coded) x) AS differing;
SELECT customer_id, orders, tier FROM shop.coded ORDER BY customer_id LIMIT 2;
-- with a filter: the same as population_agg over the filtered integer-keyed rows
SELECT create_segment_view('shop.coded_paid', 'shop.coded_orders', 'customer_code', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "lang": "en", "refund_column": "is_refund",
      "filter": {"column": "status", "in": ["paid"]}}') AS coded_paid;
SELECT (SELECT count(*) FROM shop.coded_paid) AS customers,
       (SELECT count(*) FROM (SELECT 'C-' || lpad(customer_id::text, 5, '0'), orders, monetary, r, f, m, segment, tier, lifecycle_stage, cadence
                              FROM population_rows((SELECT population_agg(customer_id, ordered_at, amount, is_refund, '2025-12-31 23:59:59+08',
                                                                          '{"tz": "Asia/Shanghai", "lang": "en"}') FROM shop.orders WHERE status = 'paid'))
                              EXCEPT SELECT customer_id, orders, monetary, r, f, m, segment, tier, lifecycle_stage, cadence FROM shop.coded_paid) x) AS differing;
SELECT drop_segment_view('shop.coded_paid');
SELECT take_snapshot('shop.coded', '2026-01-01') > 0 AS coded_snapshot;
-- the first 普通会员 customer spends a fortune
CREATE TABLE shop.riser AS SELECT customer_id FROM shop.coded WHERE tier = '普通会员' ORDER BY customer_id LIMIT 1;
UPDATE shop.coded_orders SET amount = amount + 100000 WHERE customer_code = (SELECT customer_id FROM shop.riser) AND NOT is_refund;
SELECT refresh_segment_view('shop.coded') IS NOT NULL AS refreshed;
SELECT take_snapshot('shop.coded', '2026-02-01') > 0 AS coded_snapshot;
SELECT customer_id, from_tier, to_tier, revenue FROM segment_changes('shop.coded', '2026-01-15', '2026-02-15') WHERE customer_id = (SELECT customer_id FROM shop.riser);
SELECT drop_segment_view('shop.coded');

-- hostile and odd names: quoted, mixed case, unicode, semicolons; nothing is injected
CREATE TABLE shop."Odd ""Orders""; DROP TABLE shop.orders; --" AS
SELECT customer_id AS "Customer ID; --", ordered_at AS "下单时间", amount AS "Amount""" FROM shop.orders;
SELECT create_segment_view('shop."客户 ""分群""; DROP TABLE shop.orders; --"', 'shop."Odd ""Orders""; DROP TABLE shop.orders; --"',
                           'Customer ID; --', '下单时间', 'Amount"', '{"as_of": "2026-01-01"}') AS odd_view;
SELECT count(*) > 0 AS odd_view_has_rows FROM shop."客户 ""分群""; DROP TABLE shop.orders; --";
SELECT count(*) > 0 AS orders_still_there FROM shop.orders;
SELECT sqlstate_of($$SELECT create_segment_view('x; DROP TABLE shop.orders; --', 'shop.orders', 'customer_id', 'ordered_at', 'amount')$$) AS unquoted_hostile_name;
SELECT sqlstate_of($$SELECT create_segment_view('shop.s2', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"filter": {"column": "status", "in": ["paid''); DROP TABLE shop.orders; --"]}}')$$) AS hostile_filter_value;
SELECT count(*) AS rows_of_hostile_filter FROM shop.s2;
SELECT refresh_segment_view('shop."客户 ""分群""; DROP TABLE shop.orders; --"') IS NOT NULL AS odd_refreshed;
SELECT drop_segment_view('shop."客户 ""分群""; DROP TABLE shop.orders; --"');
SELECT count(*) > 0 AS orders_still_there FROM shop.orders;

-- errors name the problem
CREATE SEQUENCE shop.seq;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'client_id', 'ordered_at', 'amount')$$) AS missing_column;
CREATE TABLE shop.spots AS SELECT point(customer_id, 0) AS spot, ordered_at, amount FROM shop.orders LIMIT 10;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.spots', 'spot', 'ordered_at', 'amount')$$) AS incomparable_customer;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'amount', 'amount')$$) AS numeric_ordered_at;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'status')$$) AS text_amount;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.seq', 'customer_id', 'ordered_at', 'amount')$$) AS sequence_source;
SELECT sqlstate_of($$SELECT create_segment_view('shop.orders', 'shop.orders', 'customer_id', 'ordered_at', 'amount')$$) AS existing_name;
SELECT sqlstate_of($$SELECT create_segment_view('nope.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount')$$) AS missing_schema;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"sheme": "cn8"}')$$) AS unknown_option;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"as_of": "yesterday-ish"}')$$) AS bad_as_of;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"filter": {"column": "status"}}')$$) AS bad_filter;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"refund_column": "status"}')$$) AS text_refund_column;
SELECT sqlstate_of($$SELECT refresh_segment_view('shop.orders')$$) AS not_a_segment_view;
SELECT sqlstate_of($$SELECT segment_kpis('shop.segments', 'age')$$) AS bad_kpi_dimension;
SELECT sqlstate_of($$SELECT tier_migration('shop.segments', '2020-01-01', '2026-02-15')$$) AS no_snapshot_then;
SELECT sqlstate_of($$SELECT schedule_refresh('shop.segments', '*/5 * * * *')$$) AS without_pg_cron;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"filter": {"column": "status", "not_in": ["cancelled", null]}}')$$) AS null_in_not_in;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"filter": [{"column": "status", "in": [null]}]}')$$) AS null_in_in;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"filter": {"column": "status", "in": [["paid"]]}}')$$) AS list_in_in;
SELECT sqlstate_of($$SELECT create_segment_view('shop.e1', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"as_of": "Today"}')$$) AS relative_as_of;
SELECT to_regclass('shop.e1') IS NULL AS nothing_left_behind;

-- "now" in any case and with spaces is now() at every refresh, like the default
SELECT create_segment_view('shop.moving', 'shop.orders', 'customer_id', 'ordered_at', 'amount', '{"as_of": " NOW "}') AS moving;
SELECT definition LIKE '%, now() AS as_of FROM %' AS as_of_is_now FROM segment_views WHERE view_name = 'moving';
SELECT refresh_segment_view('shop.moving') IS NOT NULL AS refreshed_later;
SELECT (SELECT max(as_of) FROM shop.moving) = refreshed_at AS as_of_is_the_refresh_instant FROM segment_views WHERE view_name = 'moving';

-- Users read the registry and write it only through the extension's functions. Those switch to
-- the registry's owner for their statements: an error there leaves the caller's identity and
-- search_path as they were.
CREATE ROLE pgseg_probe NOLOGIN;
GRANT USAGE, CREATE ON SCHEMA shop TO pgseg_probe;
GRANT SELECT ON shop.orders TO pgseg_probe;
SET ROLE pgseg_probe;
SET search_path = shop, public, segment;
SELECT create_segment_view('probe', 'orders', 'customer_id', 'ordered_at', 'amount') AS probe_view;
SELECT view_schema, view_name, owner FROM segment_views;
SELECT sqlstate_of($$INSERT INTO segment.segment_snapshots (view_schema, view_name, taken_at, customers, owner) VALUES ('shop', 'probe', now(), 0, 'pgseg_probe')$$) AS forged_snapshot;
SELECT sqlstate_of($$UPDATE segment.segment_views SET source = 'shop.coded_orders'$$) AS edited_registry;
SELECT sqlstate_of($$DELETE FROM segment.segment_snapshot_rows$$) AS deleted_history;
SELECT sqlstate_of($$SELECT segment._registry_refreshed('shop.moving')$$) AS not_its_view;
REFRESH MATERIALIZED VIEW probe WITH NO DATA;
DO $$ BEGIN
    PERFORM segment.take_snapshot('probe');  -- fails reading the view, after the switch
EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;
SELECT current_user, current_setting('search_path') AS search_path;
SELECT count(*) AS snapshots_of_probe FROM segment_snapshots WHERE view_name = 'probe';
SELECT refresh_segment_view('probe', false) IS NOT NULL AS refreshed;
SELECT take_snapshot('probe', '2026-01-01') > 0 AS snapshot, take_snapshot('probe', '2026-02-01') > 0 AS snapshot;
SELECT delete_snapshots('probe', '2026-01-15') AS deleted;
SELECT taken_at FROM segment_snapshots WHERE view_name = 'probe';
SELECT drop_segment_view('probe');
RESET ROLE;
SET search_path = public, segment;
SELECT drop_segment_view('shop.moving');
REVOKE ALL ON SCHEMA shop FROM pgseg_probe;
REVOKE ALL ON shop.orders FROM pgseg_probe;
DROP ROLE pgseg_probe;

SELECT drop_segment_view('shop.segments');
SELECT drop_segment_view('shop.s2');
SELECT count(*) AS views_left, (SELECT count(*) FROM segment_snapshots) AS snapshots_left FROM segment_views;
DROP SCHEMA shop CASCADE;
DROP ROLE pgseg_reader;
DROP ROLE pgseg_owner;
DROP EXTENSION pg_segment CASCADE;
