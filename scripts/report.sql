-- `make report`: the sample store segmented as a segmentation view, with a snapshot at the
-- middle and at the end of the year, and its report (segment.report) written to :'out'.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
DROP SCHEMA IF EXISTS segment_report CASCADE;
SELECT segment.drop_segment_view(view_schema || '.' || view_name) FROM segment.segment_views WHERE view_schema = 'segment_report';
CREATE SCHEMA segment_report;
SET search_path = segment_report, public;
SET TimeZone = 'Asia/Shanghai';
CREATE TABLE orders AS SELECT * FROM segment.sample_orders(:customers, 42);
SELECT segment.create_segment_view('store', 'orders', 'customer_id', 'ordered_at', 'amount',
    '{"tz": "Asia/Shanghai", "refund_column": "is_refund", "as_of": "2025-06-30 23:59:59+08"}') IS NOT NULL AS created;
SELECT segment.take_snapshot('store', '2025-06-30 23:59:59+08') IS NOT NULL AS mid_year;
SELECT segment.alter_segment_view('store', '{"as_of": "2025-12-31 23:59:59+08"}') IS NOT NULL AS altered;
SELECT segment.take_snapshot('store', '2025-12-31 23:59:59+08') IS NOT NULL AS year_end;
\pset format unaligned
\pset tuples_only on
\o :out
SELECT segment.report('store', jsonb_build_object('lang', :'lang'));
\o
