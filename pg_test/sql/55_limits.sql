-- The memory limits that protect the server: GUCs only a superuser may change; the k-means
-- option memory_limit_mb may only lower pg_segment.memory_limit; every state obeys its limit.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SELECT rfm_thresholds() IS NOT NULL AS library_loaded;
SELECT name, setting, unit, context, min_val, max_val FROM pg_settings WHERE name LIKE 'pg_segment.%' ORDER BY name;

CREATE ROLE pgseg_plain NOLOGIN;
SET ROLE pgseg_plain;
-- a plain role can neither raise nor lift a limit
SELECT sqlstate_of($$SET pg_segment.memory_limit = '1TB'$$) AS raise_memory_limit;
SELECT sqlstate_of($$SET pg_segment.population_memory_limit = '1TB'$$) AS raise_population_limit;
SELECT sqlstate_of($$SELECT set_config('pg_segment.memory_limit', '2GB', true)$$) AS set_config;
-- nor pass one in an option
SELECT sqlstate_of($$SELECT kmeans_fit(ARRAY[i, i % 7]::float8[], 2, 1, '{"memory_limit_mb": 2048}') FROM generate_series(1, 100) i$$) AS option_above_limit;
SELECT sqlstate_of($$SELECT kmeans_elbow(ARRAY[i]::float8[], 1, 2, 1, '{"memory_limit_mb": 1e9}') FROM generate_series(1, 100) i$$) AS elbow_option;
-- below it is fine
SELECT (kmeans_fit(ARRAY[i, i % 7]::float8[], 2, 1, '{"memory_limit_mb": 16}')->'options'->>'memory_limit_mb') AS lowered
FROM generate_series(1, 100) i;
RESET ROLE;

-- a superuser lowers the limit (here for the session; ALTER ROLE ... SET works too): the plain
-- role's calls obey it, each with SQLSTATE 53200
SET pg_segment.memory_limit = '1MB';
SET ROLE pgseg_plain;
SHOW pg_segment.memory_limit;
SELECT (kmeans_fit(ARRAY[i]::float8[], 2)->'options'->>'memory_limit_mb') AS default_is_the_limit FROM generate_series(1, 100) i;
SELECT sqlstate_of($$SELECT kmeans_fit(ARRAY[i, i % 7]::float8[], 2) FROM generate_series(1, 20000) i$$) AS kmeans_fit;
SELECT sqlstate_of($$SELECT kmeans_fit(ARRAY[i]::float8[], 2, 1, '{"memory_limit_mb": 4}') FROM generate_series(1, 10) i$$) AS kmeans_option;
SELECT sqlstate_of($$SELECT bgnbd_fit(1, i, 1e6) FROM generate_series(1, 100000) i$$) AS bgnbd_fit;
SELECT sqlstate_of($$SELECT gamma_gamma_fit(1, i) FROM generate_series(1, 100000) i$$) AS gamma_gamma_fit;
SELECT sqlstate_of($$SELECT rfm_breaks(s, now()) FROM (SELECT rfm_agg(now(), i::numeric) s FROM generate_series(1, 100000) i GROUP BY i % 50000) x$$) AS rfm_breaks;
SELECT sqlstate_of($$SELECT behaviour_tags(timestamptz '2024-01-01' + i * interval '1 minute', 1, 0, false, 'c') FROM generate_series(1, 200000) i$$) AS behaviour_tags;
SELECT sqlstate_of($$SELECT preferred_category('category ' || i, 1) FROM generate_series(1, 50000) i$$) AS preferred_category;
RESET ROLE;
RESET pg_segment.memory_limit;

-- a hand-made model cannot size anything from its own k and dims, not even while planning
SELECT sqlstate_of($$SELECT kmeans_assign('{"kind": "pg_segment.kmeans", "version": 1, "k": 1e12, "dims": 1e12, "standardize": "none", "mean": [0], "scale": [1], "clusters": []}', ARRAY[1.0])$$) AS huge_model;
SELECT sqlstate_of($$EXPLAIN SELECT kmeans_assign('{"kind": "pg_segment.kmeans", "version": 1, "k": 3, "dims": 4000000000, "standardize": "none", "mean": [0], "scale": [1], "clusters": [{}, {}, {}]}', ARRAY[1.0])$$) AS explain_huge_model;
SELECT sqlstate_of($$SELECT kmeans_silhouette('{"kind": "pg_segment.kmeans", "version": 1, "k": 1000000, "dims": 1, "standardize": "none", "mean": [0], "scale": [1], "clusters": [], "options": {"memory_limit_mb": 1e300}}', ARRAY[i]::float8[]) FROM generate_series(1, 10) i$$) AS silhouette_model;
-- feature vectors are bounded before they are copied
SELECT sqlstate_of($$SELECT kmeans_fit(array_fill(1.0::float8, ARRAY[1001]), 1)$$) AS long_vector;
SELECT sqlstate_of($$SELECT kmeans_assign(m, array_fill(1.0::float8, ARRAY[5000000])) FROM (SELECT kmeans_fit(ARRAY[i]::float8[], 1) m FROM generate_series(1, 3) i) x$$) AS long_assign;
-- JSON arguments are bounded before they are parsed
SELECT sqlstate_of($$SELECT kmeans_assign(('{"pad": "' || repeat('x', 70000000) || '"}')::jsonb, ARRAY[1.0])$$) AS huge_json;
SELECT sqlstate_of($$SELECT population_agg(1, now(), 1::numeric, now(), jsonb_build_object('tz', repeat('x', 300)))$$) AS long_tz;
SELECT sqlstate_of($$SELECT count(*) FROM sample_orders(1, 1, jsonb_build_object('pad', repeat('x', 70000000)))$$) AS huge_sample_params;

DROP ROLE pgseg_plain;
DROP EXTENSION pg_segment;
