-- k-means: fit, assign, silhouette, elbow; reproducibility across row orders and plans; errors.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
-- three separated blobs in two features, deterministic (no random())
CREATE TABLE km_points AS
SELECT i AS id, ARRAY[(i % 3) * 10 + ((i * 37) % 100) / 100.0, (i % 3) * 5 * (1 - (i % 3)) + ((i * 53) % 100) / 100.0]::float8[] AS f
FROM generate_series(1, 3000) i;
CREATE TABLE km_model AS SELECT segment.kmeans_fit(f, 3, 7) AS m FROM km_points;

SELECT m->>'k' AS k, m->>'dims' AS dims, m->>'standardize' AS standardize, m->>'converged' AS converged,
       m->>'points' AS points, m->>'state_bytes' AS state_bytes, (m->>'iterations')::int < 20 AS few_iterations,
       round((m->>'inertia')::numeric, 3) AS inertia
FROM km_model;
-- centroids in original units, cluster 1 the largest
SELECT c->>'id' AS id, c->>'size' AS size, round((c->'centroid'->>0)::numeric, 2) AS x, round((c->'centroid'->>1)::numeric, 2) AS y
FROM km_model, jsonb_array_elements(m->'clusters') c ORDER BY 1;
-- every point is assigned to the cluster of its blob
SELECT id % 3 AS blob, segment.kmeans_assign(m, f) AS cluster, count(*)
FROM km_points, km_model GROUP BY 1, 2 ORDER BY 1, 2;

-- the same model whatever the row order, and another seed still finds the blobs
SELECT (SELECT segment.kmeans_fit(f, 3, 7 ORDER BY id DESC) FROM km_points) = m AS reversed_same,
       (SELECT segment.kmeans_fit(f, 3, 7 ORDER BY md5(id::text)) FROM km_points) = m AS shuffled_same,
       (SELECT segment.kmeans_fit(f, 3, 8) FROM km_points) -> 'clusters' -> 0 -> 'size' AS other_seed_size
FROM km_model;

-- a parallel plan (partial aggregates in 2 workers) gives the same model as the serial plan
CREATE TABLE km_big AS SELECT i AS id, ARRAY[ln(1 + (i * 7919) % 1000), (i::bigint * 104729) % 97, (i % 5) * 1.5]::float8[] AS f
FROM generate_series(1, 60000) i;
ANALYZE km_big;
SET max_parallel_workers_per_gather = 0;
CREATE TABLE km_serial AS SELECT segment.kmeans_fit(f, 5, 42, '{"standardize": "log_zscore"}') AS m FROM km_big;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT segment.kmeans_fit(f, 5, 42, '{"standardize": "log_zscore"}') FROM km_big;
SELECT (SELECT segment.kmeans_fit(f, 5, 42, '{"standardize": "log_zscore"}') FROM km_big) = m AS parallel_equals_serial,
       m->>'points' AS points
FROM km_serial;
SELECT (SELECT segment.kmeans_silhouette(m, f, 500) FROM km_big) =
       (SELECT segment.kmeans_silhouette(m, f, 500 ORDER BY id DESC) FROM km_big) AS silhouette_reproducible
FROM km_serial;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- silhouette: high for separated blobs, lower for k = 2, NULL for one cluster
SELECT round(segment.kmeans_silhouette(m, f)::numeric, 3) AS k3,
       round((SELECT segment.kmeans_silhouette(m2, f) FROM km_points, (SELECT segment.kmeans_fit(f, 2) m2 FROM km_points) x)::numeric, 3) AS k2,
       (SELECT segment.kmeans_silhouette(m1, f) FROM km_points, (SELECT segment.kmeans_fit(f, 1) m1 FROM km_points) x) AS k1
FROM km_points, km_model GROUP BY m;
-- elbow table: inertia falls with k, the silhouette peaks at the true k = 3
SELECT e->>'k' AS k, round((e->>'inertia')::numeric, 1) AS inertia, e->>'converged' AS converged,
       round((e->>'silhouette')::numeric, 3) AS silhouette
FROM (SELECT segment.kmeans_elbow(f, 1, 5) AS t FROM km_points) x, jsonb_array_elements(t) e;

-- options: no standardization, log_zscore; centroids back in original units
SELECT m->>'standardize' AS standardize, m->'scale' AS scale, m->'clusters'->0->'centroid' AS centroid
FROM (SELECT segment.kmeans_fit(ARRAY[x]::float8[], 1, 1, '{"standardize": "none"}') m FROM generate_series(1, 4) x) a;
SELECT round((m->'clusters'->0->'centroid'->>0)::numeric, 6) AS geometric_like_centre
FROM (SELECT segment.kmeans_fit(ARRAY[x]::float8[], 1, 1, '{"standardize": "log_zscore"}') m FROM unnest(ARRAY[0, 3, 15, 63]) x) a;

-- NULL feature arrays are skipped like NULLs in any aggregate
SELECT m->>'points' AS points FROM (SELECT segment.kmeans_fit(f, 1) m FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (NULL), (ARRAY[3.0, 4.0])) v(f)) a;
-- k = number of distinct points is allowed: every distinct point its own cluster
SELECT (m->>'inertia')::float8 < 1e-20 AS inertia_zero, jsonb_array_length(m->'clusters') AS clusters
FROM (SELECT segment.kmeans_fit(ARRAY[x % 3]::float8[], 3) m FROM generate_series(1, 30) x) a;

-- errors: SQLSTATE 22023 naming the argument (53200 for the memory limit)
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 0) FROM km_points$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(ARRAY[x % 3]::float8[], 4) FROM generate_series(1, 30) x$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 2) FROM km_points WHERE false$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(ARRAY[1, NULL]::float8[], 1)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(ARRAY[1, 'NaN']::float8[], 1)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(ARRAY['Infinity']::float8[], 1)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 1) FROM (VALUES (ARRAY[1.0, 2.0]::float8[]), (ARRAY[3.0])) v(f)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit('{}'::float8[], 1)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit('{{1,2},{3,4}}'::float8[], 1)$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 3, NULL) FROM km_points$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 3, 1, '{"standardize": "minmax"}') FROM km_points$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 3, 1, '{"iterations": 3}') FROM km_points$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(ARRAY[-1]::float8[], 1, 1, '{"standardize": "log_zscore"}')$$);
SELECT sqlstate_of($$SELECT segment.kmeans_fit(f, 3, 1, '{"memory_limit_mb": 0.5}') FROM generate_series(1, 10000) i, LATERAL (SELECT ARRAY[i, i % 7]::float8[] f) x$$);
SELECT sqlstate_of($$SELECT segment.kmeans_assign(m, ARRAY[1.0]) FROM km_model$$);
SELECT sqlstate_of($$SELECT segment.kmeans_assign('{"k": 3}', ARRAY[1.0])$$);
SELECT sqlstate_of($$SELECT segment.kmeans_silhouette(m, f, 1) FROM km_points, km_model GROUP BY m$$);
SELECT sqlstate_of($$SELECT segment.kmeans_elbow(f, 3, 2) FROM km_points$$);
DROP TABLE km_points, km_model, km_big, km_serial;
DROP EXTENSION pg_segment CASCADE;
