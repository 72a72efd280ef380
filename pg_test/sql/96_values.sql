-- Stored values and their inputs (issue 12, classes 5 and 7): every value the extension produces
-- reads back through its text input equal to itself; every input refuses what no output can
-- produce, with its SQLSTATE; results stay inside their SQL type's range; options and labels
-- are never silently replaced by defaults. The dump/restore round trip of the same edge values
-- is tests/values.rs.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'UTC';

-- ---- rfm_summary: edge instants (4714 BC, 1 BC, 2 BC, the last microsecond) and amounts ----
CREATE TEMP TABLE edge_orders (customer_id int, ordered_at timestamptz, amount numeric);
INSERT INTO edge_orders VALUES
  (1, '4714-11-24 00:00:00+00 BC', 100000000000000),
  (1, '0001-02-29 12:00:00+00 BC', -100000000000000),
  (1, '0002-12-31 23:59:59.999999+00 BC', 0.0001),
  (1, '294276-12-31 23:59:59.999999+00', 0),
  (2, '2024-01-01 00:00:00+00', -5),
  (3, '0001-01-01 00:00:00+00', 1);
CREATE TEMP TABLE edge AS SELECT customer_id, rfm_agg(ordered_at, amount) s FROM edge_orders GROUP BY 1;
-- BC years are written astronomically (1 BC = 0000, 2 BC = -0001) and read back equal
SELECT customer_id, s::text, s::text::rfm_summary::text = s::text AS text_round_trip FROM edge ORDER BY 1;
SELECT customer_id, first_order(s), last_order(s), monetary(s), refunded_amount(s), frequency(s) FROM edge ORDER BY 1;
SELECT recency_days(s, '294276-12-31 23:59:59.999999+00', 'UTC') AS recency, tenure_days(s, '294276-12-31 23:59:59+00', 'UTC') AS tenure
FROM edge WHERE customer_id = 1;

-- text input: exactly the outputs' values
SELECT sqlstate_of($$SELECT 'v1:-4713-11-23T23:59:59.999999Z 1.00'::rfm_summary$$) AS before_4714_bc;
SELECT sqlstate_of($$SELECT 'v1:294277-01-01T00:00:00Z 1.00'::rfm_summary$$) AS after_294276;
SELECT sqlstate_of($$SELECT 'v1:584554-01-01T00:00:00Z 1.00'::rfm_summary$$) AS would_wrap;
SELECT sqlstate_of($$SELECT 'v1:2024-01-01T00:00:00Z 100000000000000.0001'::rfm_summary$$) AS amount_beyond_1e14;
SELECT sqlstate_of($$SELECT 'v1:2024-01-01T00:00:00Z 99999999999999999999999999'::rfm_summary$$) AS amount_far_beyond;
SELECT sqlstate_of($$SELECT 'v1:2024-01-02T00:00:00Z 1.00|2024-01-01T00:00:00Z 1.00'::rfm_summary$$) AS unordered;
SELECT sqlstate_of($$SELECT 'v1:2024-01-01T00:00:00Z 1.00|2024-01-01T00:00:00Z 0.50'::rfm_summary$$) AS unordered_amounts;
SELECT sqlstate_of($$SELECT 'v0:'::rfm_summary$$) AS version_0, sqlstate_of($$SELECT 'v+1:'::rfm_summary$$) AS signed_version;
SELECT sqlstate_of($$SELECT 'v1:2024-01-01T00:00:00Z 1.'::rfm_summary$$) AS trailing_dot;
-- a summary pg_segment 0.1.0 built with orders beyond the total limit (it summed without one)
-- still loads, so that its dumps restore; building one now is refused (below)
SELECT monetary(('v1:' || repeat('2024-01-01T00:00:00Z 100000000000000|', 9) || '2024-01-01T00:00:00Z 100000000000000')::rfm_summary) AS legacy_ten_times_1e14;
SELECT sqlstate_of($$SELECT rollup(('v1:' || repeat('2024-01-01T00:00:00Z 100000000000000|', 9) || '2024-01-01T00:00:00Z 100000000000000')::rfm_summary)$$) AS legacy_rollup;

-- one customer's orders (and refunds) total at most 922337203685477.5807: rfm_agg and rollup
-- refuse more with 22003 naming monetary, as population_agg does
SELECT sqlstate_of($$SELECT rfm_agg('2024-01-01', 100000000000000::numeric) FROM generate_series(1, 10)$$) AS rfm_agg_orders;
SELECT sqlstate_of($$SELECT rfm_agg('2024-01-01', -100000000000000::numeric) FROM generate_series(1, 10)$$) AS rfm_agg_refunds;
SELECT sqlstate_of($$SELECT population_agg(1, '2024-01-01', 100000000000000::numeric, '2025-01-01') FROM generate_series(1, 10)$$) AS population_orders;
SELECT sqlstate_of($$SELECT rollup(s) FROM (SELECT rfm_agg('2024-01-01', 100000000000000::numeric) s FROM generate_series(1, 10) g GROUP BY g) x$$) AS rollup_orders;
-- refunds do not make room for more orders, whatever the row order
SELECT sqlstate_of($$SELECT population_agg(1, '2024-01-01', a, '2025-01-01' ORDER BY o) FROM (VALUES (1, -500000000000000::numeric / 10), (2, 100000000000000), (3, 100000000000000), (4, 100000000000000), (5, 100000000000000), (6, 100000000000000), (7, 100000000000000), (8, 100000000000000), (9, 100000000000000), (10, 100000000000000), (11, 100000000000000)) v(o, a)$$) AS refund_first;

-- ---- rfm_population: its p1 text form round-trips; crafted forms are refused ----
CREATE TEMP TABLE pop AS
SELECT population_agg(customer_id, ordered_at, amount, '294276-12-31 23:59:59.999999+00', '{"lang": "en", "tz": "UTC"}') p FROM edge_orders;
SELECT p::text::rfm_population::text = p::text AS text_round_trip, population_info(p)->'customers' AS customers FROM pop;
SELECT customer_id, first_order, last_order, monetary, refunded, segment IS NOT NULL AS has_segment, lifecycle_stage FROM pop, population_rows(p) ORDER BY 1;
CREATE TEMP TABLE pop_hex AS SELECT decode(substr(p::text, 4), 'hex') b FROM pop;
-- a function that patches the value's bytes at a position and reads the result back
CREATE FUNCTION pg_temp.patched(b bytea, pos int, patch bytea) RETURNS text LANGUAGE sql AS
$$ SELECT sqlstate_of(format('SELECT %L::segment.rfm_population', 'p1:' || encode(overlay(b placing patch from pos + 1), 'hex'))) $$;
SELECT pg_temp.patched(b, 4, '\x00') AS version_0, pg_temp.patched(b, 4, '\x03') AS version_3, pg_temp.patched(b, 5, '\x01') AS padding,
       pg_temp.patched(b, 8, '\xffffffffffffff7f') AS as_of_infinity FROM pop_hex;
-- the last row's first order (offset 32 into the 92-byte row) set to infinity, then before 4714 BC
SELECT pg_temp.patched(b, length(b) - 92 + 32, '\xffffffffffffff7f') AS first_order_infinity,
       pg_temp.patched(b, length(b) - 92 + 32, '\x0000000000000080') AS first_order_minimum,
       pg_temp.patched(b, length(b) - 92 + 72, '\x09') AS score_beyond_bins,
       pg_temp.patched(b, length(b) - 92 + 84, '\xfe7f') AS segment_label_missing,
       pg_temp.patched(b, length(b) - 92, '\x0000000000000080') AS ids_out_of_order FROM pop_hex;
SELECT sqlstate_of(format('SELECT %L::rfm_population', 'p1:' || encode(substr(b, 1, length(b) - 1), 'hex'))) AS truncated FROM pop_hex;
SELECT sqlstate_of($$SELECT 'p1:5031505301'::rfm_population$$) AS short, sqlstate_of($$SELECT 'p1:zz'::rfm_population$$) AS not_hex;

-- label indices are u16: options naming more labels than a population value can index
SELECT sqlstate_of(format($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', %L) FROM edge_orders$$,
       jsonb_build_object('tiers', (SELECT jsonb_agg(jsonb_build_object('label', 't' || i, 'share', 100.0 / 65530)) FROM generate_series(1, 65530) i))::text)) AS too_many_labels;

-- ---- breaks and options: never a silent default ----
CREATE TEMP TABLE few AS SELECT customer_id, rfm_agg(ordered_at, amount) s FROM (VALUES (1, '2024-01-01'::timestamptz, 5), (2, '2024-03-01', 7), (3, '2024-06-01', 9)) v(customer_id, ordered_at, amount) GROUP BY 1;
-- options nested past serde_json's depth limit are an error naming the argument, not the defaults
SELECT sqlstate_of(format($$SELECT rfm_breaks(s, '2025-01-01', 3, %L) FROM few$$, '{"center": ' || repeat('[', 200) || repeat(']', 200) || '}')) AS deep_options;
SELECT sqlstate_of(format($$SELECT rfm_score(s, %L, '2025-01-01') FROM few$$, '{"recency": ' || repeat('[', 200) || repeat(']', 200) || '}')) AS deep_breaks;
-- NULL parameters of rfm_breaks are errors, not a skipped row or 5 bins by default
SELECT sqlstate_of($$SELECT rfm_breaks(s, '2025-01-01', NULL) FROM few$$) AS null_bins,
       sqlstate_of($$SELECT rfm_breaks(s, NULL) FROM few$$) AS null_as_of;
-- a tz that is not a string is an error naming "tz" wherever breaks or options carry it
SELECT sqlstate_of($$SELECT rfm_breaks(s, '2025-01-01', 3, '{"tz": 8}') FROM few$$) AS options_tz;
SELECT sqlstate_of($$SELECT rfm_score(s, rfm_thresholds() || '{"tz": ["UTC"]}', '2025-01-01') FROM few$$) AS breaks_tz;
SELECT sqlstate_of($$SELECT population_agg(customer_id, ordered_at, amount, '2025-01-01', jsonb_build_object('breaks', rfm_thresholds() || '{"tz": 8}')) FROM edge_orders$$) AS population_breaks_tz;
-- the breaks' tz counts days in population_agg as it does in rfm_score: one order at 20:00 UTC
-- on 2024-12-30 is on 2024-12-31 in Shanghai, so recency at 2025-01-01 12:00 Shanghai is 1 day
-- (2 in UTC, the session's zone)
SELECT (SELECT recency_days FROM population_rows((SELECT population_agg(1, '2024-12-30 20:00+00', 5::numeric, '2025-01-01 04:00+00',
            jsonb_build_object('breaks', rfm_thresholds() || '{"tz": "Asia/Shanghai"}'))))) AS population_recency,
       recency_days(rfm_agg('2024-12-30 20:00+00', 5::numeric), '2025-01-01 04:00+00', 'Asia/Shanghai') AS shanghai_days,
       recency_days(rfm_agg('2024-12-30 20:00+00', 5::numeric), '2025-01-01 04:00+00', 'UTC') AS utc_days;
-- a label in a language of the wrong type is an error naming it (it was dropped for the other)
SELECT sqlstate_of($$SELECT customer_tier(0.5, '{"tiers": [{"label": {"zh": 5, "en": "All"}, "share": 100}]}')$$) AS label_type;

-- ---- k-means: huge but finite features give a model kmeans_assign accepts ----
CREATE TEMP TABLE huge AS SELECT i, ARRAY[(CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) * 1e307 * (1 + i / 100.0), i, (i % 3) * 1e300]::float8[] f FROM generate_series(1, 30) i;
CREATE TEMP TABLE huge_model AS SELECT kmeans_fit(f, 3, 1) m FROM huge;
SELECT (SELECT count(DISTINCT kmeans_assign(m, f)) FROM huge) AS clusters_used,
       jsonb_path_exists(m, '$.clusters[*].centroid[*] ? (@ == null)') AS null_centroid FROM huge_model;
SELECT sqlstate_of($$SELECT kmeans_fit(f, 3, 1, '{"standardize": "none"}') FROM huge$$) AS unstandardized_overflow;
-- a hand-made model with wrong types is refused naming the key (never seed 0, never k truncated)
SELECT sqlstate_of($$SELECT kmeans_assign(jsonb_set(m, '{seed}', '"x"'), f) FROM huge_model, huge LIMIT 1$$) AS model_seed;
SELECT sqlstate_of($$SELECT kmeans_assign(jsonb_set(m, '{k}', '2.5'), f) FROM huge_model, huge LIMIT 1$$) AS model_k;
SELECT sqlstate_of($$SELECT kmeans_silhouette(jsonb_set(m, '{options,memory_limit_mb}', '"lots"'), f) FROM huge_model, huge$$) AS model_limit;

-- ---- dates: next_birthday stays inside date's range ----
SELECT next_birthday('2000-06-01', '5874897-05-31'::date) AS last_possible;
SELECT sqlstate_of($$SELECT next_birthday('2000-06-01', '5874897-06-02'::date)$$) AS beyond_date_range;
SELECT next_birthday('4714-11-24 BC', '4714-11-24 BC'::date) AS first_day;

DROP EXTENSION pg_segment CASCADE;
