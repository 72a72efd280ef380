-- Browsing activity: summaries, windows, months, the active flag, browsing-aware lifecycle
-- stages, segmentation views with an events source, parallel plan, text form, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- as_of 2025-12-31 12:00 UTC; the 30 days up to it start on 2025-12-02
CREATE TABLE br_events (customer_id bigint, visited_at timestamptz);
INSERT INTO br_events
SELECT 1, '2025-12-31 11:00+00'::timestamptz - i * interval '11 hours' FROM generate_series(0, 59) i   -- 60 visits from 3 December
UNION ALL SELECT 2, t FROM unnest(ARRAY['2025-12-10 08:00+00', '2025-12-20 08:00+00', '2025-12-30 08:00+00', '2025-10-01 00:00+00']::timestamptz[]) t
UNION ALL SELECT 4, t FROM unnest(ARRAY['2025-12-25 10:00+00', '2025-12-25 10:00+00']::timestamptz[]) t
UNION ALL SELECT 5, '2025-01-15 10:00+00'
UNION ALL SELECT 6, '2026-01-05 10:00+00'                           -- after as_of only
UNION ALL SELECT 1, NULL;                                           -- skipped
CREATE TABLE br_orders (customer_id bigint, ordered_at timestamptz, amount numeric);
INSERT INTO br_orders VALUES (1, '2025-12-01', 100), (1, '2025-06-01', 50), (2, '2024-06-01', 80), (3, '2024-01-01', 20);
CREATE TABLE br_summaries AS
SELECT customer_id, segment.browsing_agg(visited_at) AS b FROM br_events GROUP BY customer_id;

SELECT customer_id, segment.visits(b) AS all_visits, segment.visits(b, '2025-12-31 12:00+00') AS by_as_of,
       segment.visits(b, '2025-12-31 12:00+00', 30) AS last_30_days, segment.visits(b, '2025-12-31 12:00+00', 30, 'Asia/Shanghai') AS shanghai,
       segment.browsing_active(b, '2025-12-31 12:00+00') AS active, segment.browsing_active(b, '2025-12-31 12:00+00', '{"min_visits": 3}') AS active_3,
       segment.last_visit(b, '2025-12-31 12:00+00') AS last_visit
FROM br_summaries ORDER BY 1;
-- visits per calendar month, months without a visit included (in Shanghai the 08:00 UTC visits stay on their day)
SELECT * FROM segment.visits_per_month((SELECT b FROM br_summaries WHERE customer_id = 2), '2025-12-31 12:00+00', 4);
SELECT * FROM segment.visits_per_month((SELECT b FROM br_summaries WHERE customer_id = 1), '2025-12-31 12:00+00', 2, 'Asia/Shanghai');

-- lifecycle stages with browsing: no order in 365 days and browsing in the last 30 days is told
-- apart (lapsed_browsing from churned, prospect from no_activity); others keep their stage
SELECT c AS customer_id, segment.lifecycle_stage(s, '2025-12-31 12:00+00', '{}', 'code') AS without_browsing,
       segment.browsing_lifecycle_stage(s, b, '2025-12-31 12:00+00', '{}', 'code') AS with_browsing,
       segment.browsing_lifecycle_stage(s, b, '2025-12-31 12:00+00', '{}', 'zh', 'UTC') AS zh,
       segment.browsing_lifecycle_stage(s, b, '2025-12-31 12:00+00', '{"visit_days": 365, "min_visits": 1}', 'en') AS visits_in_a_year
FROM generate_series(1, 6) c
LEFT JOIN (SELECT customer_id, segment.rfm_agg(ordered_at, amount) AS s FROM br_orders GROUP BY 1) o ON o.customer_id = c
LEFT JOIN br_summaries bs ON bs.customer_id = c
ORDER BY 1;

-- text form: what the output writes, the input reads; rollup merges summaries
SELECT b::text AS text_form, b::text::segment.browsing_summary::text = b::text AS round_trip FROM br_summaries WHERE customer_id = 4;
SELECT segment.visits(segment.rollup(b)) AS rolled_up FROM br_summaries;
SELECT 'b1:'::segment.browsing_summary AS empty, segment.visits('b1:'::segment.browsing_summary) AS none,
       segment.last_visit('b1:') AS no_last_visit;

-- a segmentation view with an events source: browsing columns, stages, customers who only browse
SELECT segment.create_segment_view('br_view', 'br_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 12:00+00", "tz": "UTC", "lang": "code",
      "events": {"source": "public.br_events", "customer_column": "customer_id", "visited_at_column": "visited_at"}}');
SELECT customer_id, orders, monetary, recency_days, tier, lifecycle_stage, visits, browsing_active, last_visit FROM br_view ORDER BY 1;
SELECT * FROM segment.segment_kpis('br_view', 'lifecycle_stage');
-- text customer keys: the events key must have the orders' key type
CREATE VIEW br_orders_text AS SELECT 'C' || customer_id AS code, ordered_at, amount FROM br_orders;
CREATE VIEW br_events_text AS SELECT 'C' || customer_id AS code, visited_at FROM br_events;
SELECT segment.create_segment_view('br_view_text', 'br_orders_text', 'code', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 12:00+00", "tz": "UTC", "lang": "en",
      "events": {"source": "public.br_events_text", "customer_column": "code", "activity": {"min_visits": 2}}}');
SELECT customer_id, orders, lifecycle_stage, visits, browsing_active FROM br_view_text ORDER BY 1;
SELECT segment.alter_segment_view('br_view_text', '{"events": null}');
SELECT customer_id, lifecycle_stage FROM br_view_text ORDER BY 1;
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "br_events"}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "public.br_events", "table": 1}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "public.br_events", "visited_at_column": "customer_id"}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "public.br_events_text", "customer_column": "code"}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "public.br_events", "activity": {"min_visits": 0}}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('br_bad', 'br_orders', 'customer_id', 'ordered_at', 'amount', '{"events": {"source": "public.br_events", "stages": {"visit_days": "x"}}}')$$);
SELECT segment.drop_segment_view('br_view');
SELECT segment.drop_segment_view('br_view_text');

-- a parallel plan gives the same summaries as the serial plan
CREATE TABLE br_big AS SELECT (i % 500) AS customer_id, '2025-01-01 00:00+00'::timestamptz + (i * 7919 % 525600) * interval '1 minute' AS visited_at
FROM generate_series(1, 100000) i;
ANALYZE br_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE br_serial AS SELECT segment.browsing_agg(visited_at) AS b FROM br_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment.browsing_agg(visited_at) FROM br_big;
SELECT (SELECT segment.browsing_agg(visited_at) FROM br_big)::text = b::text AS parallel_equals_serial, segment.visits(b) AS visits FROM br_serial;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- errors: 22023 naming the argument or key, 22P02/22008 for bad text
SELECT sqlstate_of($$SELECT segment.visits(b, now(), 0) FROM br_summaries$$);
SELECT sqlstate_of($$SELECT segment.browsing_active(b, now(), '{"window_days": 0}') FROM br_summaries$$);
SELECT sqlstate_of($$SELECT segment.browsing_active(b, now(), '{"visits": 5}') FROM br_summaries$$);
SELECT sqlstate_of($$SELECT * FROM segment.visits_per_month('b1:', now(), 0)$$);
SELECT sqlstate_of($$SELECT segment.browsing_lifecycle_stage(NULL, NULL, NULL)$$);
SELECT sqlstate_of($$SELECT segment.browsing_lifecycle_stage(NULL, NULL, now(), '{"min_visits": 0}')$$);
SELECT sqlstate_of($$SELECT segment.browsing_lifecycle_stage(NULL, NULL, now(), '{}', 'fr')$$);
SELECT sqlstate_of($$SELECT 'b1:2025-02-01T00:00:00Z|2025-01-01T00:00:00Z'::segment.browsing_summary$$);
SELECT sqlstate_of($$SELECT 'x1:'::segment.browsing_summary$$);
SELECT sqlstate_of($$SELECT 'b2:'::segment.browsing_summary$$);
SELECT sqlstate_of($$SELECT 'b1:294277-01-01T00:00:00Z'::segment.browsing_summary$$);
SELECT sqlstate_of($$SELECT segment.visits(b, 'infinity') FROM br_summaries$$);
DROP TABLE br_events, br_orders, br_summaries, br_big, br_serial CASCADE;
DROP EXTENSION pg_segment CASCADE;
