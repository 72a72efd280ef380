-- The demo report: a sample store segmented with plain SQL.
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP SCHEMA IF EXISTS segment_demo CASCADE;
CREATE SCHEMA segment_demo;
SET search_path = segment_demo, segment, public;
SET TimeZone = 'Asia/Shanghai';

CREATE TABLE orders AS SELECT * FROM sample_orders(:customers, 42);
CREATE TABLE customers AS SELECT * FROM sample_customers(:customers, 42);

-- 1. one summary per customer
CREATE TABLE summary AS
SELECT customer_id, rfm_agg(ordered_at, amount) AS s FROM orders GROUP BY customer_id;
-- 2. population breakpoints, stored
CREATE TABLE breaks AS SELECT rfm_breaks(s, '2025-12-31 23:59:59+08') AS b FROM summary;
-- 3. labels
CREATE TABLE segmented AS
SELECT customer_id, monetary(s, as_of) AS spend, frequency(s, as_of) AS orders,
       recency_days(s, as_of) AS recency, sc, rfm_segment(sc, 'rfm11', 'zh') AS rfm11, rfm_segment(sc, 'cn8') AS cn8,
       customer_tier(cume_dist() OVER (ORDER BY monetary(s, as_of) DESC)) AS tier,
       lifecycle_stage(s, as_of) AS stage, purchase_cadence(s, as_of) AS cadence
FROM summary, breaks, (SELECT timestamptz '2025-12-31 23:59:59+08' AS as_of) a,
     LATERAL (SELECT rfm_score(s, b, as_of) AS sc) x;

\echo
\echo '== Sample store'
SELECT count(*) AS order_rows, count(*) FILTER (WHERE is_refund) AS refund_rows,
       count(DISTINCT customer_id) AS customers, sum(amount) AS net_revenue,
       min(ordered_at)::date AS first_day, max(ordered_at)::date AS last_day
FROM orders;
\echo '== Breakpoints used (rfm_breaks, 5 quantile bins)'
SELECT b->'recency' AS recency_days, b->'frequency' AS orders, b->'monetary' AS spend FROM breaks;
\echo '== Membership tiers (top 10% / next 15% / next 25% / rest by spend)'
SELECT tier, count(*) AS customers, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS pct_customers,
       round(100.0 * sum(spend) / sum(sum(spend)) OVER (), 1) AS pct_revenue
FROM segmented GROUP BY tier ORDER BY min(spend) DESC;
\echo '== RFM segments (rfm11)'
SELECT rfm11, count(*) AS customers, round(avg(spend), 2) AS avg_spend, round(avg(recency)) AS avg_recency_days
FROM segmented WHERE rfm11 IS NOT NULL GROUP BY rfm11 ORDER BY customers DESC;
\echo '== 8-class model (cn8)'
SELECT cn8, count(*) AS customers, round(100.0 * sum(spend) / sum(sum(spend)) OVER (), 1) AS pct_revenue
FROM segmented GROUP BY cn8 ORDER BY customers DESC;
\echo '== Lifecycle stages and purchase cadence'
SELECT stage, cadence, count(*) AS customers FROM segmented GROUP BY 1, 2 ORDER BY 1, 3 DESC;
