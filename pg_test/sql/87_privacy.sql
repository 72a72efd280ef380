-- Privacy-safe exports: keyed pseudonyms (HMAC-SHA-256 under the superuser-only setting
-- pg_segment.pseudonym_key), the export helper, small-group suppression, and where the key and
-- personal data are not.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';
LOAD 'pg_segment';  -- the key is SET only once the library is loaded (see the end of this file)

-- no key: a clear error naming the setting
SELECT sqlstate_of($$SELECT segment.pseudonym('42')$$);
SELECT sqlstate_of($$SET pg_segment.pseudonym_key = 'too short'$$);
SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789';
-- the values of Python's hmac.new(key, message, hashlib.sha256).hexdigest(); with a purpose the
-- message is purpose, NUL, customer key
SELECT k, p, segment.pseudonym(k, p) FROM (VALUES ('42', ''), ('42', 'sms'), ('42', 'ads'), ('顾客-001', ''), ('', '')) v(k, p);
SELECT segment.pseudonym('42') = '59e8df56e9a26dd9b971055b65f939f4644941a609265d9bfbfa090f534812a8' AS python_hmac_42,
       segment.pseudonym('42', 'sms') = '1ca2a8f0675e5b36ba92a6b77d1d7e7ca7223d0362b06bc11d9088d1efc90d9d' AS python_hmac_sms_42,
       segment.pseudonym(NULL) IS NULL AS null_key, segment.pseudonym('42', NULL) IS NULL AS null_purpose;
-- another key, other pseudonyms
SET pg_segment.pseudonym_key = 'another regress key abcdefghijkl';
SELECT segment.pseudonym('42') <> '59e8df56e9a26dd9b971055b65f939f4644941a609265d9bfbfa090f534812a8' AS key_matters;
SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789';

-- only a superuser reads the key: SHOW, current_setting(), pg_settings, pg_file_settings
SHOW pg_segment.pseudonym_key;
SELECT count(*) AS in_pg_settings FROM pg_settings WHERE name LIKE 'pg_segment.pseudonym%' OR setting LIKE '%regress key%';
CREATE ROLE pgseg_privacy_plain;
CREATE ROLE pgseg_privacy_reader IN ROLE pg_read_all_settings;
SET ROLE pgseg_privacy_plain;
SELECT split_part(e, ':', 1) AS sqlstate, e LIKE '%"pg_segment.pseudonym_key"%' AS names_the_setting FROM sqlstate_of($$SHOW pg_segment.pseudonym_key$$) e;
SELECT split_part(e, ':', 1) AS sqlstate, e LIKE '%"pg_segment.pseudonym_key"%' AS names_the_setting FROM sqlstate_of($$SELECT current_setting('pg_segment.pseudonym_key')$$) e;
SELECT split_part(e, ':', 1) AS sqlstate, e LIKE '%"pg_segment.pseudonym_key"%' AS names_the_setting FROM sqlstate_of($$SELECT current_setting('pg_segment.pseudonym_key', true)$$) e;
SELECT count(*) AS in_pg_settings FROM pg_settings WHERE name LIKE 'pg_segment.pseudonym%' OR setting LIKE '%regress key%';
SELECT sqlstate_of($$SELECT * FROM pg_file_settings$$);
-- nor sets it; yet it can compute pseudonyms with the DBA's key
SELECT sqlstate_of($$SET pg_segment.pseudonym_key = 'a key of the plain role'$$);
SELECT sqlstate_of($$SELECT set_config('pg_segment.pseudonym_key', 'a key of the plain role', false)$$);
SELECT segment.pseudonym('42') = '59e8df56e9a26dd9b971055b65f939f4644941a609265d9bfbfa090f534812a8' AS plain_role_uses_the_key;
RESET ROLE;
-- members of pg_read_all_settings see that a key is set, not the key
SET ROLE pgseg_privacy_reader;
SHOW pg_segment.pseudonym_key;
SELECT current_setting('pg_segment.pseudonym_key') AS current_setting;
RESET ROLE;
-- never stored in a catalog every role reads: ALTER ROLE/DATABASE ... SET and SET clauses refused
SELECT sqlstate_of($$ALTER ROLE pgseg_privacy_plain SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789'$$);
SELECT sqlstate_of($$ALTER ROLE ALL SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789'$$);
SELECT sqlstate_of(format('ALTER DATABASE %I SET pg_segment.pseudonym_key = %L', current_database(), 'pg_segment regress key 0123456789'));
SELECT sqlstate_of($$ALTER ROLE pgseg_privacy_plain IN DATABASE postgres SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789'$$);
SELECT sqlstate_of($$CREATE FUNCTION public.keyed() RETURNS int LANGUAGE sql SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789' AS 'SELECT 1'$$);
SELECT count(*) AS stored_settings FROM pg_db_role_setting, unnest(setconfig) c WHERE c LIKE 'pg_segment.pseudonym_key%';
SELECT count(*) AS stored_in_functions FROM pg_proc, unnest(proconfig) c WHERE c LIKE 'pg_segment.pseudonym_key%';

-- small-group suppression: rows under min_group_size, then the next smallest until the
-- suppressed rows hold min_group_size together; equal sizes go together; empty rows stay
SELECT sizes, k AS min_group_size, array_agg(segment.suppress_group(s, sizes, k) ORDER BY o) AS suppressed
FROM (VALUES ('{5,6,100}'::bigint[], 5), ('{100,50,3}', 5), ('{100,50,3,4}', 5), ('{100,50,1,1,1}', 5), ('{10,10,2}', 5),
             ('{3}', 5), ('{0,7,8}', 5), ('{0,2,9,30}', 5), ('{1,2,3}', 1)) v(sizes, k),
     unnest(sizes) WITH ORDINALITY u(s, o)
GROUP BY 1, 2 ORDER BY 1::text, 2;
SELECT sqlstate_of($$SELECT segment.suppress_group(3, '{3,10}', 0)$$);
SELECT sqlstate_of($$SELECT segment.suppress_group(4, '{3,10}', 5)$$);
SELECT sqlstate_of($$SELECT segment.suppress_group(3, '{3,NULL}', 5)$$);
SELECT sqlstate_of($$SELECT segment.suppress_group(3, '{3,-1}', 5)$$);
SELECT segment.suppress_group(3, NULL, 5) IS NULL AS strict;

-- on a segmentation view: a report's own grouping, and segment_kpis with min_group_size
CREATE TABLE prv_orders AS SELECT * FROM segment.sample_orders(300, 7);
SELECT segment.create_segment_view('prv_segments', 'prv_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "lang": "en", "refund_column": "is_refund"}');
SELECT segment, count(*) AS customers, segment.suppress_group(count(*), array_agg(count(*)) OVER (), 15) AS suppressed
FROM prv_segments GROUP BY 1 ORDER BY 2, 1;
SELECT * FROM segment.segment_kpis('prv_segments', 'segment', 15);
-- the rows shown are segment_kpis' own rows; the suppressed ones hold at least 15 customers together
SELECT count(*) FILTER (WHERE NOT s.suppressed) AS shown,
       count(*) FILTER (WHERE NOT s.suppressed AND (s.label, s.customers, s.customer_share, s.revenue, s.revenue_share, s.average_order_value,
                                                    s.repurchase_rate) IS NOT DISTINCT FROM (k.label, k.customers, k.customer_share, k.revenue,
                                                    k.revenue_share, k.average_order_value, k.repurchase_rate)) AS equal_to_unsuppressed,
       sum(k.customers) FILTER (WHERE s.suppressed) AS suppressed_customers
FROM segment.segment_kpis('prv_segments', 'segment', 15) s JOIN segment.segment_kpis('prv_segments', 'segment') k USING (label);
SELECT count(*) AS rows, bool_or(suppressed) AS any_suppressed FROM segment.segment_kpis('prv_segments', 'tier', 1);
SELECT * FROM segment.segment_kpis('prv_segments', 'tier', 1000);
SELECT sqlstate_of($$SELECT * FROM segment.segment_kpis('prv_segments', 'tier', 0)$$);
SELECT sqlstate_of($$SELECT * FROM segment.segment_kpis('prv_segments', 'tier', NULL)$$);
SELECT sqlstate_of($$SELECT * FROM segment.segment_kpis('prv_segments', 'city', 5)$$);

-- the export: pseudonym, segment, tier, next action, nothing else, ordered by pseudonym
SELECT * FROM segment.export_segments('prv_segments') LIMIT 0;
WITH e AS (SELECT * FROM segment.export_segments('prv_segments') WITH ORDINALITY x(pseudonym, segment, tier, next_action, n)),
     v AS (SELECT segment.pseudonym(customer_id::text) AS pseudonym, segment, tier,
                  segment.next_action(lifecycle_stage, cadence, '{}', 'en') AS next_action FROM prv_segments)
SELECT (SELECT count(*) FROM e) AS exported, (SELECT count(*) FROM prv_segments) AS customers,
       (SELECT count(*) FROM (SELECT pseudonym, segment, tier, next_action FROM e EXCEPT SELECT * FROM v) d) AS differing,
       (SELECT bool_and(a.pseudonym < b.pseudonym) FROM e a JOIN e b ON b.n = a.n + 1) AS ordered_by_pseudonym,
       (SELECT count(*) FROM e JOIN prv_segments p ON e.pseudonym = p.customer_id::text) AS raw_keys;
SELECT segment, tier, next_action, count(*) FROM segment.export_segments('prv_segments') GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT 5;
-- stable across refreshes; a purpose gives every customer other pseudonyms
CREATE TABLE prv_export AS SELECT * FROM segment.export_segments('prv_segments');
SELECT segment.refresh_segment_view('prv_segments', false) IS NOT NULL AS refreshed;
SELECT count(*) AS changed_by_refresh FROM (SELECT * FROM segment.export_segments('prv_segments') EXCEPT SELECT * FROM prv_export) d;
SELECT count(*) AS shared_with_sms FROM segment.export_segments('prv_segments', 'sms') s JOIN prv_export USING (pseudonym);
-- a view with the next_action option: its column is exported
SELECT segment.alter_segment_view('prv_segments', '{"next_action": {"rules": [{"label": {"zh": "短信", "en": "SMS"}}]}}');
SELECT next_action, count(*) FROM segment.export_segments('prv_segments') GROUP BY 1;
SELECT sqlstate_of($$SELECT * FROM segment.export_segments('prv_segments', NULL)$$);
SELECT sqlstate_of($$SELECT * FROM segment.export_segments('no_such_view')$$);

-- no table of the extension holds names, phones or addresses (every column, listed), and none
-- holds the key after all of the above
SELECT c.oid::regclass AS extension_table, string_agg(a.attname, ', ' ORDER BY a.attnum) AS columns
FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'pg_segment'
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') GROUP BY 1 ORDER BY 1::text;
SELECT segment.take_snapshot('prv_segments', '2026-01-01') > 0 AS snapshot;
-- rows of a table whose text form matches a pattern (not query_to_xml: servers built without
-- libxml, as the PostgreSQL 18 wheel is, lack it)
CREATE FUNCTION pg_temp.rows_like(rel regclass, pattern text) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s t WHERE t::text LIKE %L', rel, pattern) INTO n;
    RETURN n;
END $f$;
SELECT c.oid::regclass AS extension_table,
       pg_temp.rows_like(c.oid::regclass, '%regress key%') AS rows_with_the_key
FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'pg_segment'
WHERE c.relkind IN ('r', 'p') ORDER BY 1::text;

SELECT segment.drop_segment_view('prv_segments');
DROP TABLE prv_orders, prv_export;
DROP ROLE pgseg_privacy_plain, pgseg_privacy_reader;

-- a key SET before the library is loaded was an ordinary setting any role could read (SHOW
-- works on it then): pseudonyms refuse it for the rest of the session
\c
SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789';
SELECT sqlstate_of($$SELECT segment.pseudonym('42')$$);
SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789';
SELECT sqlstate_of($$SELECT segment.pseudonym('42')$$);
\c
LOAD 'pg_segment';
SET pg_segment.pseudonym_key = 'pg_segment regress key 0123456789';
SELECT segment.pseudonym('42') = '59e8df56e9a26dd9b971055b65f939f4644941a609265d9bfbfa090f534812a8' AS loaded_first;
DROP EXTENSION pg_segment CASCADE;
