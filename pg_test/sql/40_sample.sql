-- sample store generator
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

SELECT sample_model();
-- deterministic for a seed; customer k's orders do not depend on how many customers are made
SELECT (SELECT md5(string_agg(o::text, ',' ORDER BY order_id)) FROM sample_orders(200, 1) o)
     = (SELECT md5(string_agg(o::text, ',' ORDER BY order_id)) FROM sample_orders(200, 1) o) AS same_seed_same_rows;
SELECT (SELECT string_agg(concat_ws(' ', ordered_at, amount, is_refund), ',' ORDER BY order_id) FROM sample_orders(10, 3) WHERE customer_id = 7)
     = (SELECT string_agg(concat_ws(' ', ordered_at, amount, is_refund), ',' ORDER BY order_id) FROM sample_orders(300, 3) WHERE customer_id = 7) AS customer_independent;
-- shape: refunds negative and flagged, purchases positive, every customer has a first purchase that equals signup
SELECT bool_and((amount < 0) = is_refund) AS sign_matches_flag,
       bool_and(discount BETWEEN 0 AND 0.9) AS discount_in_range,
       count(DISTINCT customer_id) AS customers
FROM sample_orders(500, 42);
SELECT bool_and(c.signup_at = f.first) AS signup_is_first_order, count(*) AS customers
FROM sample_customers(500, 42) c
JOIN (SELECT customer_id, min(ordered_at) first FROM sample_orders(500, 42) GROUP BY 1) f USING (customer_id);
SELECT count(DISTINCT category) AS categories, count(DISTINCT province) > 20 AS many_provinces
FROM sample_orders(2000, 5) o JOIN sample_customers(2000, 5) c USING (customer_id);

SELECT sqlstate_of($$SELECT * FROM sample_orders(0)$$);
SELECT sqlstate_of($$SELECT * FROM sample_orders(-5)$$);
SELECT sqlstate_of($$SELECT * FROM sample_orders(10, 1, '{"alpha": -2}')$$);
SELECT sqlstate_of($$SELECT * FROM sample_orders(10, 1, '{"refund_rate": 1.5}')$$);
SELECT sqlstate_of($$SELECT * FROM sample_orders(10, 1, '{"start": "2025-01-01", "end": "2024-01-01"}')$$);
SELECT sqlstate_of($$SELECT * FROM sample_orders(10, 1, '{"lambda": 1}')$$);

DROP EXTENSION pg_segment CASCADE;
