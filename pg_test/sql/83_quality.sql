-- Data-quality report: every issue hand-counted on a small order table, per customer and in
-- total, options, hostile names, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';
CREATE TABLE "Order Rows" ("Customer" text, ordered_at timestamptz, amount numeric, refund boolean, order_no bigint, note text);
INSERT INTO "Order Rows" VALUES
    -- alice: an exact duplicate row, and the same order id again with another note (2 repeats)
    ('alice', '2025-03-01', 100, false, 1, 'web'), ('alice', '2025-03-01', 100, false, 1, 'web'), ('alice', '2025-03-01', 100, false, 1, 'erp'),
    ('alice', '2025-04-01', 120, false, 2, 'web'),
    -- bob: NULL instant, NULL amount, an order after as_of, a zero amount
    ('bob', NULL, 80, false, 3, NULL), ('bob', '2025-05-01', NULL, false, 4, NULL), ('bob', '2026-03-01', 90, false, 5, NULL),
    ('bob', '2025-05-02', 0, false, 6, NULL), ('bob', '2025-05-03', 110, false, 7, NULL),
    -- carol: refunds above purchases (a flagged refund of 150 and one by sign of 20 against 100)
    ('carol', '2025-06-01', 100, false, 8, NULL), ('carol', '2025-06-05', 150, true, 9, NULL), ('carol', '2025-06-06', -20, false, 10, NULL),
    -- dave: an amount far outside the population (and order id 2 of alice's)
    ('dave', '2025-07-01', 99000, false, 2, NULL), ('dave', '2025-07-02', 95, false, 11, NULL),
    -- erin: nothing wrong
    ('erin', '2025-08-01', 105, false, 12, NULL), ('erin', '2025-08-09', 115, false, 13, NULL),
    -- no customer key
    (NULL, '2025-08-10', 100, false, 14, NULL), (NULL, '2025-08-11', 100, false, 15, NULL);
SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 00:00+00", "refund_column": "refund", "order_id_column": "order_no", "lang": "en"}');
SELECT * FROM segment.order_quality_customers('"Order Rows"', 'Customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 00:00+00", "refund_column": "refund", "order_id_column": "order_no"}');
-- without an order id column the order-id checks are not made; the refund flag is not known, so
-- carol's flagged refund counts as a purchase (150, an outlier too); zh labels; a linear band
-- (median 100, MAD 5) with k = 50 reaches 470.65 and flags only dave's 99000
SELECT issue, label, rows, customers, amount FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 00:00+00"}');
SELECT issue, rows, segmentation FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 00:00+00", "outlier_scale": "linear", "outlier_k": 50, "lang": "code"}') WHERE issue = 'amount_outlier';
-- what the report says is what segmentation does: the future order and the NULL rows are not counted
SELECT customer_id, orders, future_orders FROM segment.population_rows(
    (SELECT segment.population_agg(hashtext("Customer")::bigint, ordered_at, amount, refund, '2025-12-31 00:00+00', '{}') FROM "Order Rows" WHERE "Customer" = 'bob')) p;
CREATE TABLE qa_sample AS SELECT * FROM segment.sample_orders(500, 3);
SELECT issue, rows, customers FROM segment.order_quality('qa_sample', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2026-01-01 00:00+08", "refund_column": "is_refund", "order_id_column": "order_id"}');

-- errors: missing columns 42703, wrong types 42804, bad options 22023 naming the key
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'customer', 'ordered_at', 'amount')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'note', 'amount')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'note')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"refund_column": "note"}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"order_id_column": "nope"}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"outlier_k": 0}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"outlier_scale": "cubic"}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"as_of": "soon"}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"lang": "fr"}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '{"threshold": 1}')$$);
SELECT sqlstate_of($$SELECT * FROM segment.order_quality('"Order Rows"', 'Customer', 'ordered_at', 'amount', '[]')$$);
DROP TABLE "Order Rows", qa_sample;
DROP EXTENSION pg_segment CASCADE;
