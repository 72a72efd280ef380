-- Behaviour tags: each tag at its threshold, new arrivals, refunds, high-end second step,
-- preferred category, labels, parallel plan, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';
CREATE TABLE tag_orders (customer text, ordered_at timestamptz, amount numeric, discount numeric, promotion boolean,
                         category text, launched_at timestamptz);
INSERT INTO tag_orders VALUES
    -- price-sensitive: 2 of 4 orders at least 10% off
    ('discount', '2025-01-01', 100, 0.10, false, 'food', NULL), ('discount', '2025-03-01', 100, 0, false, 'home', NULL),
    ('discount', '2025-05-01', 100, 0.30, false, 'beauty', NULL), ('discount', '2025-07-01', 100, 0.05, false, 'books', NULL),
    -- one discounted order of 4: not price-sensitive
    ('full_price', '2025-01-01', 100, 0.09, false, 'food', NULL), ('full_price', '2025-03-01', 100, 0, false, 'home', NULL),
    ('full_price', '2025-05-01', 100, 0.50, false, 'beauty', NULL), ('full_price', '2025-07-01', 100, NULL, false, 'books', NULL),
    -- promotion buyer, with a high unit price
    ('promo', '2024-11-11', 900, 0, true, 'electronics', NULL), ('promo', '2025-06-18', 800, 0, true, 'home', NULL),
    ('promo', '2025-09-01', 700, 0, false, 'food', NULL),
    -- new arrivals: bought 3 days after launch; and a refund row that changes nothing
    ('new', '2025-03-04', 50, 0, false, 'apparel', '2025-03-01'), ('new', '2025-08-01', 50, 0, false, 'apparel', '2025-01-01'),
    ('new', '2025-08-05', -50, 0, false, 'apparel', '2025-01-01'),
    -- weekly: purchases 7 days apart, one category
    ('weekly', '2025-01-01', 20, 0, false, 'food', NULL), ('weekly', '2025-01-08', 20, 0, false, 'food', NULL),
    ('weekly', '2025-01-15', 20, 0, false, 'food', NULL), ('weekly', '2025-01-15 08:00', 20, 0, false, 'food', NULL),
    -- monthly: 30 days apart
    ('monthly', '2025-01-01', 20, 0, false, 'food', NULL), ('monthly', '2025-01-31', 20, 0, false, 'home', NULL),
    ('monthly', '2025-03-02', 20, 0, false, 'baby', NULL),
    -- a single order: no share-based tag
    ('once', '2025-01-01', 20, 0.5, true, 'food', NULL);

SELECT customer, segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) AS tags
FROM tag_orders GROUP BY 1 ORDER BY 1;
-- without launch dates there is no new-arrival evidence; rules change the thresholds
SELECT customer, segment.behaviour_tags(ordered_at, amount, discount, promotion, category) AS no_launch,
       segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at,
                              '{"discount_threshold": 0.05, "price_sensitive_share": 0.75, "min_orders": 1, "promotion_min_orders": 1}') AS looser
FROM tag_orders GROUP BY 1 ORDER BY 1;
SELECT segment.behaviour_tags(ordered_at, amount, discount, promotion, category) IS NULL AS no_rows_is_null
FROM tag_orders WHERE false;

-- labels
SELECT code, segment.tag_label(code) AS zh, segment.tag_label(code, 'en') AS en
FROM unnest(ARRAY['price_sensitive', 'promotion_buyer', 'new_arrival_buyer', 'high_end', 'category_focused', 'weekly_buyer', 'monthly_buyer', 'vip']) code;

-- preferred category: top category by net spend and its share
SELECT customer, (segment.preferred_category(category, amount)).*
FROM tag_orders GROUP BY 1 ORDER BY 1;

-- high-end, the second step: promotion buyers whose average unit price is in the top quartile
WITH per_customer AS (
    SELECT customer, segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) AS tags,
           avg(amount) FILTER (WHERE amount > 0) AS avg_unit_price
    FROM tag_orders GROUP BY 1),
threshold AS (SELECT percentile_cont(0.75) WITHIN GROUP (ORDER BY avg_unit_price) AS p75 FROM per_customer)
SELECT customer, avg_unit_price::numeric(10,2), p75::numeric(10,2),
       segment.with_high_end(tags, avg_unit_price, p75) AS tags,
       segment.with_high_end(tags, avg_unit_price, p75, false) AS without_promotion_rule
FROM per_customer, threshold ORDER BY 1;

-- a parallel plan gives the same tags as the serial plan
CREATE TABLE tag_big AS
SELECT o.customer_id, o.ordered_at, o.amount, o.discount, o.promotion, o.category,
       CASE WHEN o.order_id % 3 = 0 THEN o.ordered_at - interval '10 days' END AS launched_at
FROM segment.sample_orders(3000, 7) o;
ANALYZE tag_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE tag_serial AS
SELECT segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) AS t,
       segment.preferred_category(category, amount) AS p
FROM tag_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) FROM tag_big;
SELECT s.t = p.t AS same_tags, s.p = p.p AS same_category, s.t AS tags_of_whole_store
FROM tag_serial s,
     (SELECT segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) AS t,
             segment.preferred_category(category, amount) AS p FROM tag_big) p;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- per customer on the sample store: how common each tag is
SELECT tag, count(*) FROM (SELECT customer_id, segment.behaviour_tags(ordered_at, amount, discount, promotion, category, launched_at) t
                           FROM tag_big GROUP BY 1) x, unnest(t) tag GROUP BY 1 ORDER BY 1;

-- errors
SELECT sqlstate_of($$SELECT segment.behaviour_tags(now(), 10, 1.5, false, 'a')$$);
SELECT sqlstate_of($$SELECT segment.behaviour_tags(now(), 10, 0.1, false, 'a', NULL, '{"discount": 0.2}')$$);
SELECT sqlstate_of($$SELECT segment.behaviour_tags(now(), 10, 0.1, false, 'a', NULL, '{"weekly_max_days": 60}')$$);
SELECT sqlstate_of($$SELECT segment.behaviour_tags(now(), 'NaN', 0.1, false, 'a')$$);
SELECT sqlstate_of($$SELECT segment.behaviour_tags('infinity', 10, 0.1, false, 'a')$$);
SELECT sqlstate_of($$SELECT segment.tag_label('price_sensitive', 'fr')$$);
DROP TABLE tag_orders, tag_big, tag_serial;
DROP EXTENSION pg_segment CASCADE;
