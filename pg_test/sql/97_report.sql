-- The segment report: segment.lorenz (curve, Gini, top-20% share) exactly on small inputs, its
-- errors, and segment.report's page and option errors on a small store. The page against the
-- SQL it shows, hostile labels, suppression and the screenshot are tests/report.rs.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';
SET extra_float_digits = 0;

-- everyone the same: the diagonal, Gini 0, the top 20% hold 20%
SELECT * FROM lorenz(ARRAY[5, 5, 5, 5, 5]::float8[]);
-- one customer with everything: Gini (n - 1) / n
SELECT * FROM lorenz(ARRAY[0, 0, 0, 100, 0]::float8[]);
-- 1..10 in any order, every 2 customers; NULL elements are not customers
SELECT * FROM lorenz(ARRAY[10, 3, NULL, 1, 7, 2, 9, 4, 8, 6, 5]::float8[], 5);
-- min_group_size: points at least that many customers apart, the last gap widened
SELECT customers, revenue_share FROM lorenz(ARRAY(SELECT g::float8 FROM generate_series(1, 10) g), 10, 4);
-- no spend at all: shares and Gini undefined; no customers: no rows
SELECT * FROM lorenz(ARRAY[0, 0]::float8[]);
SELECT count(*) AS points_of_nobody FROM lorenz('{}'::float8[]);
-- errors name the argument
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[1, 'NaN']::float8[])$$) AS nan_spend;
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[1, 'Infinity']::float8[])$$) AS infinite_spend;
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[[1, 2], [3, 4]]::float8[])$$) AS two_dimensions;
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[1]::float8[], 0)$$) AS no_points;
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[1]::float8[], 10001)$$) AS too_many_points;
SELECT sqlstate_of($$SELECT * FROM lorenz(ARRAY[1]::float8[], 10, -1)$$) AS negative_group_size;

-- the report of a small store: one page, every chart, no script
CREATE TABLE report_orders AS SELECT * FROM sample_orders(400, 17);
SELECT create_segment_view('report_store', 'report_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+00", "tz": "UTC", "lang": "en"}') IS NOT NULL AS created;
SELECT take_snapshot('report_store', '2025-12-31 23:59:59+00') IS NOT NULL AS snapshot;
CREATE TEMP TABLE page AS SELECT report('report_store') AS html;
SELECT left(html, 15) AS starts, right(html, 8) AS ends, html LIKE '%<html lang="en">%' AS english,
       html NOT LIKE '%<script%' AND html NOT LIKE '%http:%' AND html NOT LIKE '%https:%' AS self_contained FROM page;
SELECT (regexp_matches(html, 'data-chart="([a-z_]+)"', 'g'))[1] AS chart FROM page;
SELECT report('report_store', '{"lang": "zh"}') LIKE '%<html lang="zh-CN">%客户分群报告%' AS chinese;
-- option errors
SELECT sqlstate_of($$SELECT report('report_store', '{"colour": "red"}')$$) AS unknown_key;
SELECT sqlstate_of($$SELECT report('report_store', '{"lang": "fr"}')$$) AS bad_lang;
SELECT sqlstate_of($$SELECT report('report_store', '{"min_group_size": -1}')$$) AS negative_group_size;
SELECT sqlstate_of($$SELECT report('report_store', '{"from": "2025-01-01"}')$$) AS from_without_to;
SELECT sqlstate_of($$SELECT report('report_store', '"en"')$$) AS not_an_object;
SELECT sqlstate_of($$SELECT report('no_such_view')$$) AS no_such_view;

DROP TABLE page;
SELECT drop_segment_view('report_store');
DROP TABLE report_orders;
DROP EXTENSION pg_segment;
