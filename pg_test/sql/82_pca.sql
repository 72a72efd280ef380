-- Principal components: hand-checked fixtures, options, transform, k-means on components,
-- reproducibility across row orders and plans, errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
-- (t, 2t), t = 1..4: the z-scores of both features are equal, so the first component is
-- (1, 1)/sqrt(2) with all the variance, 2 × 4/3 = 8/3 (sample covariance, divisor n - 1)
CREATE TABLE pc_line AS SELECT t, ARRAY[t, 2 * t]::float8[] AS f FROM generate_series(1, 4) t;
CREATE TABLE pc_line_model AS SELECT segment.pca_fit(f) AS m FROM pc_line;
SELECT m->>'dims' AS dims, m->>'n_components' AS n_components, m->>'standardize' AS standardize, m->>'points' AS points,
       m->'mean' AS mean, (SELECT array_agg(round(x::numeric, 12)) FROM jsonb_array_elements_text(m->'scale') x) AS scale
FROM pc_line_model;
SELECT i, (SELECT array_agg(round(x::numeric, 12)) FROM jsonb_array_elements_text(c) x) AS component,
       round((m->'explained_variance'->>(i - 1)::int)::numeric, 12) AS explained_variance,
       round((m->'explained_variance_ratio'->>(i - 1)::int)::numeric, 12) AS ratio
FROM pc_line_model, jsonb_array_elements(m->'components') WITH ORDINALITY AS x(c, i) ORDER BY i;
-- z-score of t = 1 is -1.5 / sqrt(1.25): on the first component sqrt(2) times that, -1.897367
SELECT t, (SELECT array_agg(round(y::numeric, 6)) FROM unnest(segment.pca_transform(m, f)) y) AS coordinates
FROM pc_line, pc_line_model ORDER BY t;

-- unstandardized (centred only): (±1, 0) and (0, ±2) have variances 2/3 and 8/3 on the axes
CREATE TABLE pc_axes AS SELECT * FROM (VALUES (ARRAY[1, 0]::float8[]), (ARRAY[-1, 0]), (ARRAY[0, 2]), (ARRAY[0, -2])) v(f);
SELECT m->'scale' AS scale, m->'components' AS components,
       (SELECT array_agg(round(x::numeric, 12)) FROM jsonb_array_elements_text(m->'explained_variance') x) AS explained_variance,
       (SELECT array_agg(round(x::numeric, 12)) FROM jsonb_array_elements_text(m->'explained_variance_ratio') x) AS ratio
FROM (SELECT segment.pca_fit(f, '{"standardize": "none"}') AS m FROM pc_axes) x;
SELECT segment.pca_transform(m, ARRAY[3, 1]::float8[]) AS coordinates
FROM (SELECT segment.pca_fit(f, '{"standardize": "none"}') AS m FROM pc_axes) x;

-- number of components: given, or the fewest that explain a share of the variance
CREATE TABLE pc_points AS
SELECT i AS id, ARRAY[x, 2 * x + ((i * 37) % 100) / 100.0, ((i * 53) % 100) / 10.0, ln(1 + i)]::float8[] AS f
FROM generate_series(1, 2000) i, LATERAL (SELECT ((i * 7919) % 1000) / 10.0 AS x) v;
SELECT o AS options, m->>'n_components' AS n_components, jsonb_array_length(m->'components') AS rows,
       (SELECT round(sum(x::numeric), 4) FROM jsonb_array_elements_text(m->'explained_variance_ratio') x) AS explained
FROM unnest(ARRAY['{}', '{"n_components": 2}', '{"variance": 0.5}', '{"variance": 0.9}', '{"variance": 1}']::jsonb[]) o,
     LATERAL (SELECT segment.pca_fit(f, o) AS m FROM pc_points) x;
-- the sign convention: the largest entry of each component is positive; components are unit vectors
SELECT i, (SELECT max(abs(x::float8)) FROM jsonb_array_elements_text(c) x) = (SELECT max(x::float8) FROM jsonb_array_elements_text(c) x) AS largest_positive,
       round((SELECT sum(x::float8 ^ 2) FROM jsonb_array_elements_text(c) x)::numeric, 12) AS norm
FROM (SELECT segment.pca_fit(f) AS m FROM pc_points) x, jsonb_array_elements(m->'components') WITH ORDINALITY AS y(c, i) ORDER BY i;

-- the same model whatever the row order
CREATE TABLE pc_model AS SELECT segment.pca_fit(f, '{"n_components": 2}') AS m FROM pc_points;
SELECT (SELECT segment.pca_fit(f, '{"n_components": 2}' ORDER BY id DESC) FROM pc_points) = m AS reversed_same,
       (SELECT segment.pca_fit(f, '{"n_components": 2}' ORDER BY md5(id::text)) FROM pc_points) = m AS shuffled_same
FROM pc_model;
-- k-means on the first two components finds the same clusters for reversed rows too
SELECT (SELECT segment.kmeans_fit(segment.pca_transform(m, f), 3, 7) FROM pc_points) =
       (SELECT segment.kmeans_fit(segment.pca_transform(m, f), 3, 7 ORDER BY id DESC) FROM pc_points) AS clusters_same
FROM pc_model;

-- a parallel plan (partial states in 2 workers) gives the same model as the serial plan
CREATE TABLE pc_big AS SELECT i AS id, ARRAY[ln(1 + (i * 7919) % 1000), (i::bigint * 104729) % 97, (i % 5) * 1.5 + (i % 7)]::float8[] AS f
FROM generate_series(1, 60000) i;
ANALYZE pc_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE pc_serial AS SELECT segment.pca_fit(f, '{"standardize": "log_zscore"}') AS m FROM pc_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment.pca_fit(f, '{"standardize": "log_zscore"}') FROM pc_big;
SELECT (SELECT segment.pca_fit(f, '{"standardize": "log_zscore"}') FROM pc_big) = m AS parallel_equals_serial, m->>'points' AS points
FROM pc_serial;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- NULL feature arrays are skipped
SELECT m->>'points' AS points FROM (SELECT segment.pca_fit(f) m FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (NULL), (ARRAY[3.0, 5.0])) v(f)) a;

-- errors: SQLSTATE 22023 naming the argument or key (53200 for the memory limit)
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"n_components": 0}') FROM pc_points$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"n_components": 5}') FROM pc_points$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"n_components": 1, "variance": 0.5}') FROM pc_points$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"variance": 1.5}') FROM pc_points$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"components": 2}') FROM pc_points$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(ARRAY[1, 2]::float8[])$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f) FROM pc_points WHERE false$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(ARRAY[1, NULL]::float8[])$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(ARRAY[1, 'NaN']::float8[])$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f) FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (ARRAY[3.0])) v(f)$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(f, '{"memory_limit_mb": 0.01}') FROM pc_big$$);
SELECT sqlstate_of($$SELECT segment.pca_fit(ARRAY[x, 1e300 * x]::float8[], '{"standardize": "none"}') FROM generate_series(-3, 3) x$$);
SELECT sqlstate_of($$SELECT segment.pca_transform(m, ARRAY[1.0]) FROM pc_model$$);
SELECT sqlstate_of($$SELECT segment.pca_transform('{"kind": "pg_segment.kmeans"}', ARRAY[1.0])$$);
SELECT sqlstate_of($$SELECT segment.pca_transform(jsonb_set(m, '{n_components}', '7'), ARRAY[1.0, 2, 3, 4]) FROM pc_model$$);
DROP TABLE pc_line, pc_line_model, pc_axes, pc_points, pc_model, pc_big, pc_serial;
DROP EXTENSION pg_segment CASCADE;
