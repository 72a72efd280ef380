-- Extension hygiene: markings pinned, every object commented, clean drop, non-superuser use.
CREATE EXTENSION pg_segment;

-- Volatility (i/s/v), parallel safety (s/r/u), strictness and kind of every extension function.
-- A change of marking shows up as a diff here.
SELECT p.oid::regprocedure AS function, p.provolatile AS vol, p.proparallel AS par,
       p.proisstrict AS strict, p.prokind AS kind
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_segment'
ORDER BY p.oid::regprocedure::text;

-- every function, aggregate, type and table has a comment (a table's row type is covered by
-- the table's comment)
SELECT p.oid::regprocedure AS uncommented_function
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'segment' AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT t.oid::regtype AS uncommented_type
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = 'segment' AND t.typtype IN ('b', 'c') AND t.typcategory <> 'A'
  AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND obj_description(t.oid, 'pg_type') IS NULL;
SELECT c.oid::regclass AS uncommented_table
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'segment' AND c.relkind = 'r' AND obj_description(c.oid, 'pg_class') IS NULL;

-- Every SQL and PL/pgSQL function either pins search_path = pg_catalog, pg_temp (it resolves
-- names when it runs, and must not find a caller's objects) or has a SQL-standard body, which
-- PostgreSQL binds once, when the extension is installed (README, "Security"): the public entry
-- points that pass the caller's current_schema() on, and per-row wrappers that pinning would
-- stop from being inlined.
SELECT l.lanname AS language, p.prosqlbody IS NOT NULL AS sql_standard_body, p.proconfig, count(*) AS functions
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_segment'
WHERE l.lanname IN ('sql', 'plpgsql')
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT p.oid::regprocedure AS neither_pinned_nor_bound
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'segment'::regnamespace AND l.lanname IN ('sql', 'plpgsql') AND p.prosqlbody IS NULL
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);
-- what the SQL-standard bodies are bound to: PostgreSQL's own objects (most are pinned, so
-- pg_depend does not list them) and ours; anything of another schema would show here
SELECT p.oid::regprocedure AS body, pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) AS bound_elsewhere
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'n'
WHERE p.pronamespace = 'segment'::regnamespace AND p.prosqlbody IS NOT NULL
  AND coalesce((pg_identify_object(d.refclassid, d.refobjid, 0)).schema, '') NOT IN ('segment', 'pg_catalog')
  AND NOT (d.refclassid = 'pg_namespace'::regclass AND d.refobjid = 'segment'::regnamespace);

-- users read the registry (row security) and write it only through the extension's functions
SELECT t AS registry_table, has_table_privilege('public', t, 'SELECT') AS public_select,
       has_table_privilege('public', t, 'INSERT') OR has_table_privilege('public', t, 'UPDATE')
       OR has_table_privilege('public', t, 'DELETE') AS public_writes
FROM unnest(ARRAY['segment.segment_views', 'segment.segment_snapshots', 'segment.segment_snapshot_rows']) t;
SELECT has_sequence_privilege('public', 'segment.segment_snapshots_id_seq', 'USAGE') AS public_draws_snapshot_ids;
SELECT polrelid::regclass AS registry_table, polname, polcmd FROM pg_policy WHERE polrelid::regclass::text LIKE 'segment.%' ORDER BY 1, 2;
SELECT evtname, evtevent, evttags FROM pg_event_trigger;

-- a role with only USAGE on the schema (EXECUTE is PUBLIC) can use the functions; USAGE comes
-- from PUBLIC by default, and a DBA can take it back
SELECT has_schema_privilege('public', 'segment', 'USAGE') AS public_usage, has_schema_privilege('public', 'segment', 'CREATE') AS public_create;
REVOKE USAGE ON SCHEMA segment FROM PUBLIC;
CREATE ROLE pgseg_analyst NOLOGIN;
SET ROLE pgseg_analyst;
SELECT sqlstate_of($$SELECT segment.frequency('v1:'::segment.rfm_summary)$$) AS without_usage;
RESET ROLE;
GRANT USAGE ON SCHEMA segment TO pgseg_analyst;
SET ROLE pgseg_analyst;
SELECT segment.frequency(s), segment.monetary(s), segment.rfm_segment(segment.rfm_score(s, segment.rfm_thresholds(), '2025-01-01', 'UTC'), 'cn8', 'en')
FROM (SELECT segment.rfm_agg(t, a) AS s
      FROM (VALUES ('2024-12-01 10:00+00'::timestamptz, 20000::numeric), ('2024-12-20 10:00+00', 1.5)) v(t, a)) x;
SELECT count(*) FROM segment.sample_orders(5);
RESET ROLE;
REVOKE USAGE ON SCHEMA segment FROM pgseg_analyst;
DROP ROLE pgseg_analyst;

-- DROP EXTENSION leaves nothing behind
DROP EXTENSION pg_segment;
SELECT count(*) AS schemas_left FROM pg_namespace WHERE nspname = 'segment';
SELECT count(*) AS functions_left FROM pg_proc WHERE probin LIKE '%pg_segment%';
SELECT count(*) AS types_left FROM pg_type WHERE typname IN ('rfm_summary', 'rfm_score', 'btyd_summary', 'rfm_population');
SELECT count(*) AS tables_left FROM pg_class WHERE relname IN ('segment_views', 'segment_snapshots', 'segment_snapshot_rows');
