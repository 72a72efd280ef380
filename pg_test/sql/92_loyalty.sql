-- Brand loyalty: each level at its threshold, refunds, ties, rules, labels, parallel plan, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
CREATE TABLE bl_orders (customer text, brand text, amount numeric);
INSERT INTO bl_orders
-- absolute: every order one brand
SELECT 'absolute', 'Anta', 100 FROM generate_series(1, 3)
-- strong: 7 of 10 orders (one big order of another brand: by spend that brand leads)
UNION ALL SELECT 'strong', 'Li-Ning', 10 FROM generate_series(1, 7)
UNION ALL SELECT 'strong', b, a FROM (VALUES ('Nike', 10), ('Puma', 10), ('Adidas', 500)) v(b, a)
-- moderate: 4 of 10
UNION ALL SELECT 'moderate', 'Anta', 10 FROM generate_series(1, 4)
UNION ALL SELECT 'moderate', b, 10 FROM unnest(ARRAY['Nike', 'Nike', 'Puma', 'Puma', 'Adidas', 'Fila']) b
-- none: 3 of 10
UNION ALL SELECT 'none', b, 10 FROM unnest(ARRAY['Anta', 'Anta', 'Anta', 'Nike', 'Nike', 'Puma', 'Puma', 'Adidas', 'Adidas', 'Fila']) b
-- two orders only: brand and shares, no level (min_orders 3)
UNION ALL SELECT 'few', 'Anta', 10 FROM generate_series(1, 2)
-- a refund lowers its brand's spend and is no order; orders tie 2:2, spend decides (Nike 20, Anta 10)
UNION ALL SELECT 'refund', b, a FROM (VALUES ('Anta', 10), ('Anta', 10), ('Anta', -10), ('Nike', 10), ('Nike', 10)) v(b, a)
-- NULL brands or amounts are skipped
UNION ALL SELECT 'nulls', b, a FROM (VALUES ('Anta', 10), (NULL, 10), ('Anta', NULL)) v(b, a);

SELECT customer, (l).brand, (l).orders, round((l).order_share::numeric, 4) AS order_share, round((l).spend_share::numeric, 4) AS spend_share,
       (l).brands, (l).level, segment.loyalty_label((l).level) AS 级别, segment.loyalty_label((l).level, 'en') AS level_en
FROM (SELECT customer, segment.brand_loyalty(brand, amount) AS l FROM bl_orders GROUP BY 1) x ORDER BY 1;
-- by spend, and other thresholds
SELECT customer, (l).brand, (l).level
FROM (SELECT customer, segment.brand_loyalty(brand, amount, '{"by": "spend", "strong": 0.9, "absolute": 0.95, "min_orders": 2}') AS l
      FROM bl_orders GROUP BY 1) x ORDER BY 1;
SELECT segment.brand_loyalty(brand, amount) IS NULL AS no_rows_is_null FROM bl_orders WHERE false;
SELECT segment.brand_loyalty(brand, amount) IS NULL AS only_refunds_is_null FROM (VALUES ('Anta', -5::numeric)) v(brand, amount);
SELECT segment.loyalty_label('loyal', 'en') IS NULL AS unknown_code_is_null;

-- a parallel plan gives the same result as the serial plan
CREATE TABLE bl_big AS SELECT o.customer_id, o.category AS brand, o.amount FROM segment.sample_orders(3000, 7) o;
ANALYZE bl_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE bl_serial AS SELECT segment.brand_loyalty(brand, amount) AS l FROM bl_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment.brand_loyalty(brand, amount) FROM bl_big;
SELECT (SELECT segment.brand_loyalty(brand, amount) FROM bl_big) = l AS parallel_equals_serial, (l).brands FROM bl_serial;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- per customer on the sample store (categories as brands)
SELECT coalesce((l).level, '(too few orders)') AS level, count(*)
FROM (SELECT customer_id, segment.brand_loyalty(brand, amount) AS l FROM bl_big GROUP BY 1) x GROUP BY 1 ORDER BY 1;

-- errors: 22023 naming the key
SELECT sqlstate_of($$SELECT segment.brand_loyalty(brand, amount, '{"by": "value"}') FROM bl_orders$$);
SELECT sqlstate_of($$SELECT segment.brand_loyalty(brand, amount, '{"moderate": 0.8}') FROM bl_orders$$);
SELECT sqlstate_of($$SELECT segment.brand_loyalty(brand, amount, '{"min_orders": 0}') FROM bl_orders$$);
SELECT sqlstate_of($$SELECT segment.brand_loyalty(brand, amount, '{"level": 1}') FROM bl_orders$$);
SELECT sqlstate_of($$SELECT segment.brand_loyalty(brand, amount, jsonb_build_object('min_orders', i)) FROM bl_orders, generate_series(1, 2) i$$);
SELECT sqlstate_of($$SELECT segment.loyalty_label('none', 'fr')$$);
DROP TABLE bl_orders, bl_big, bl_serial;
DROP EXTENSION pg_segment CASCADE;
