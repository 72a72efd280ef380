-- pg_segment: segmentation views that stay fresh (materialized views over population_agg),
-- scheduled refresh with pg_cron, snapshots, tier migration and segment KPIs.
--
-- Every statement built here from user-supplied names uses format('%I') / %L or regclass:
-- never string concatenation. The functions run with the caller's rights (no SECURITY
-- DEFINER): a view reads its source as its owner sees it, row-level security included.

------------------------------------------------------------------------------------------------
-- Registry and history tables (extension configuration: pg_dump keeps their rows)
------------------------------------------------------------------------------------------------
CREATE TABLE segment.segment_views (
    view_schema name NOT NULL,
    view_name name NOT NULL,
    source regclass NOT NULL,
    customer_column name NOT NULL,
    ordered_at_column name NOT NULL,
    amount_column name NOT NULL,
    options jsonb NOT NULL DEFAULT '{}',
    definition text NOT NULL,
    owner name NOT NULL DEFAULT current_user,
    created_at timestamptz NOT NULL DEFAULT now(),
    refreshed_at timestamptz,
    cron_job bigint,
    PRIMARY KEY (view_schema, view_name)
);
COMMENT ON TABLE segment.segment_views IS
    'Registry of segmentation views made by create_segment_view: source, columns, options and the SQL they run';

CREATE SEQUENCE segment.segment_snapshots_id_seq;
CREATE TABLE segment.segment_snapshots (
    snapshot_id bigint PRIMARY KEY DEFAULT nextval('segment.segment_snapshots_id_seq'),
    view_schema name NOT NULL,
    view_name name NOT NULL,
    taken_at timestamptz NOT NULL,
    as_of timestamptz,
    customers bigint NOT NULL,
    owner name NOT NULL DEFAULT current_user
);
ALTER SEQUENCE segment.segment_snapshots_id_seq OWNED BY segment.segment_snapshots.snapshot_id;
CREATE INDEX ON segment.segment_snapshots (view_schema, view_name, taken_at);
COMMENT ON TABLE segment.segment_snapshots IS
    'One row per take_snapshot call: which view, when (taken_at), the as_of of its contents';

-- one row per customer per snapshot (simple to query and to prune; see the README for sizes)
CREATE TABLE segment.segment_snapshot_rows (
    snapshot_id bigint NOT NULL REFERENCES segment.segment_snapshots ON DELETE CASCADE,
    customer_id text NOT NULL,  -- the view's key as text: integer ids and text or uuid keys alike
    tier text,
    segment text,
    lifecycle_stage text,
    orders bigint NOT NULL,
    monetary numeric NOT NULL,
    PRIMARY KEY (snapshot_id, customer_id)
);
COMMENT ON TABLE segment.segment_snapshot_rows IS
    'Each customer''s tier, segment, lifecycle stage, orders and net spend at a snapshot';

-- Everyone may keep views and snapshots here; each role sees and changes only its own rows.
ALTER TABLE segment.segment_views ENABLE ROW LEVEL SECURITY;
ALTER TABLE segment.segment_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE segment.segment_snapshot_rows ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION segment._is_mine(owner name) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN owner = current_user OR (owner IN (SELECT rolname FROM pg_catalog.pg_roles) AND pg_catalog.pg_has_role(owner, 'MEMBER'));
COMMENT ON FUNCTION segment._is_mine(name) IS 'Row-level security of the registry: rows of roles the current user is a member of';
CREATE POLICY own_views ON segment.segment_views USING (segment._is_mine(owner)) WITH CHECK (segment._is_mine(owner));
CREATE POLICY own_snapshots ON segment.segment_snapshots USING (segment._is_mine(owner)) WITH CHECK (segment._is_mine(owner));
CREATE POLICY own_snapshot_rows ON segment.segment_snapshot_rows
    USING (snapshot_id IN (SELECT snapshot_id FROM segment.segment_snapshots))
    WITH CHECK (snapshot_id IN (SELECT snapshot_id FROM segment.segment_snapshots));
GRANT SELECT, INSERT, UPDATE, DELETE ON segment.segment_views, segment.segment_snapshots, segment.segment_snapshot_rows TO PUBLIC;
GRANT USAGE ON SEQUENCE segment.segment_snapshots_id_seq TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('segment.segment_views', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshot_rows', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshots_id_seq', '');

------------------------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------------------------
-- 'name', 'schema.name', '"Odd Name"': the schema (current_schema() when not given) and name.
CREATE FUNCTION segment._view_ident(qualified text, OUT view_schema name, OUT view_name name)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    parts text[];
BEGIN
    IF $1 IS NULL THEN
        RAISE EXCEPTION 'view_name must not be NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        parts := pg_catalog.parse_ident($1);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'view_name "%" is not a valid name', $1 USING ERRCODE = '42602',
            HINT = 'Write name, schema.name, or a quoted identifier such as "Customer Segments".';
    END;
    IF cardinality(parts) = 1 THEN
        view_schema := current_schema();
        IF view_schema IS NULL THEN
            RAISE EXCEPTION 'no schema has been selected to create view "%" in', $1 USING ERRCODE = '3F000';
        END IF;
        view_name := parts[1];
    ELSIF cardinality(parts) = 2 THEN
        view_schema := parts[1];
        view_name := parts[2];
    ELSE
        RAISE EXCEPTION 'view_name "%" has too many dotted parts (write name or schema.name)', $1 USING ERRCODE = '42602';
    END IF;
END $$;
COMMENT ON FUNCTION segment._view_ident(text) IS 'Splits a view name (name, schema.name, quoted identifiers) into schema and name';

-- the registry row of a view; ERROR 42P01 when it is not a segmentation view of the caller
CREATE FUNCTION segment._view_row(view_name text) RETURNS segment.segment_views
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    id record;
    r segment.segment_views;
BEGIN
    id := segment._view_ident(view_name);
    SELECT * INTO r FROM segment.segment_views v WHERE v.view_schema = id.view_schema AND v.view_name = id.view_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segmentation view %.% does not exist', quote_ident(id.view_schema), quote_ident(id.view_name)
            USING ERRCODE = '42P01', HINT = 'segment.segment_views lists the segmentation views you own.';
    END IF;
    RETURN r;
END $$;
COMMENT ON FUNCTION segment._view_row(text) IS 'The registry row of a segmentation view (42P01 when there is none)';

------------------------------------------------------------------------------------------------
-- The view's query
------------------------------------------------------------------------------------------------
-- the type of a column of a relation, or ERROR 42703 naming it
CREATE FUNCTION segment._column_type(source regclass, col name, what text) RETURNS regtype
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    t regtype;
BEGIN
    IF col IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', what USING ERRCODE = '22004';
    END IF;
    SELECT a.atttypid::regtype INTO t FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = source AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% "%" does not exist in %', what, col, source USING ERRCODE = '42703';
    END IF;
    RETURN t;
END $$;
COMMENT ON FUNCTION segment._column_type(regclass, name, text) IS 'Type of a source column; 42703 naming it when it is missing';

CREATE FUNCTION segment._segment_view_query(source regclass, customer_column name, ordered_at_column name,
                                            amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    kind "char";
    t regtype;
    customer_expr text;
    at_expr text;
    amount_expr text;
    refund_expr text := '';
    as_of_expr text;
    conds text[] := '{}';
    f jsonb;
    fcol name;
    vals text[];
    pop jsonb;
    mapped boolean;
    cust text;
    rest text;
    filter_sql text;
    view_keys constant text[] := ARRAY['as_of', 'filter', 'refund_column'];
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object, got %', options USING ERRCODE = '22023';
    END IF;
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = source;
    IF kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION 'source % is not a table or view', source USING ERRCODE = '42809',
            HINT = 'Pass a table, partitioned table, view, materialized view or foreign table of order rows.';
    END IF;

    -- Source columns are read through the alias s. Integer customer ids go to population_agg as
    -- they are; other keys (text, varchar, uuid, numeric, ...) are numbered first (see below).
    t := segment._column_type(source, customer_column, 'customer_column');
    cust := format('s.%I', customer_column);
    mapped := t NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype);
    IF mapped THEN
        BEGIN
            -- the numbering groups and joins on the key, and the unique index orders it
            EXECUTE format('SELECT 1 FROM %s s WHERE false GROUP BY %s ORDER BY %s', source, cust, cust);
        EXCEPTION WHEN undefined_function THEN
            RAISE EXCEPTION 'customer_column "%" of % has type %, which has no equality and ordering operators', customer_column, source, t
                USING ERRCODE = '42804', HINT = 'Use an integer, text, uuid or other comparable customer key.';
        END;
        customer_expr := 'keys.n';
    ELSE
        customer_expr := cust || '::bigint';
    END IF;

    t := segment._column_type(source, ordered_at_column, 'ordered_at_column');
    IF t NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION 'ordered_at_column "%" of % must be timestamptz, timestamp or date, it is %', ordered_at_column, source, t
            USING ERRCODE = '42804';
    END IF;
    at_expr := format('s.%I::timestamptz', ordered_at_column);

    t := segment._column_type(source, amount_column, 'amount_column');
    IF t IN ('numeric'::regtype, 'bigint'::regtype, 'integer'::regtype, 'smallint'::regtype) THEN
        amount_expr := format('s.%I::numeric', amount_column);
    ELSIF t IN ('double precision'::regtype, 'real'::regtype) THEN
        amount_expr := format('s.%I::float8', amount_column);
    ELSE
        RAISE EXCEPTION 'amount_column "%" of % must be numeric, an integer or a float type, it is %', amount_column, source, t
            USING ERRCODE = '42804';
    END IF;

    IF options ? 'refund_column' THEN
        fcol := options->>'refund_column';
        t := segment._column_type(source, fcol, 'options.refund_column');
        IF t <> 'boolean'::regtype THEN
            RAISE EXCEPTION 'options.refund_column "%" of % must be boolean, it is %', fcol, source, t USING ERRCODE = '42804';
        END IF;
        refund_expr := format('coalesce(s.%I, false), ', fcol);
    END IF;

    -- as_of: "now" (default: now() at each refresh) or a fixed instant
    IF coalesce(options->>'as_of', 'now') = 'now' THEN
        as_of_expr := 'now()';
    ELSE
        BEGIN
            -- an ISO 8601 UTC literal reads back the same under any DateStyle and TimeZone
            as_of_expr := format('%L::timestamptz', to_char((options->>'as_of')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'options.as_of must be "now" or a timestamptz, got %', options->'as_of' USING ERRCODE = '22023';
        END;
    END IF;

    -- filter: {"column": c, "in": [..]} or {"column": c, "not_in": [..]}, or an array of them (all must hold)
    IF options ? 'filter' THEN
        FOR f IN SELECT CASE jsonb_typeof(options->'filter') WHEN 'array' THEN e ELSE options->'filter' END
                 FROM jsonb_array_elements(CASE jsonb_typeof(options->'filter') WHEN 'array' THEN options->'filter' ELSE '[null]' END) e
        LOOP
            IF jsonb_typeof(f) IS DISTINCT FROM 'object' OR NOT f ? 'column' OR (f ? 'in') = (f ? 'not_in')
               OR EXISTS (SELECT 1 FROM jsonb_object_keys(f) k WHERE k NOT IN ('column', 'in', 'not_in'))
               OR jsonb_typeof(coalesce(f->'in', f->'not_in')) IS DISTINCT FROM 'array' THEN
                RAISE EXCEPTION 'options.filter must be {"column": name, "in": [values]} or {"column": name, "not_in": [values]}, or an array of them; got %', f
                    USING ERRCODE = '22023';
            END IF;
            fcol := f->>'column';
            PERFORM segment._column_type(source, fcol, 'options.filter column');
            SELECT array_agg(v) INTO vals FROM jsonb_array_elements_text(coalesce(f->'in', f->'not_in')) v;
            conds := conds || CASE WHEN f ? 'in' THEN format('s.%I::text = ANY (%L::text[])', fcol, coalesce(vals, '{}'))
                                   ELSE format('s.%I::text <> ALL (%L::text[])', fcol, coalesce(vals, '{}')) END;
        END LOOP;
    END IF;

    -- the rest are population_agg options; checked now so that a typo fails here, not at refresh
    pop := options - view_keys;
    PERFORM segment.population_agg(1, now(), 0::numeric, now(), pop);

    filter_sql := array_to_string(conds, ' AND ');  -- '' without conditions
    IF NOT mapped THEN
        RETURN format('SELECT p.*, %s AS as_of FROM segment.population_rows((SELECT segment.population_agg(%s, %s, %s, %s%s, %L::jsonb) FROM %s s%s)) p',
                      as_of_expr, customer_expr, at_expr, amount_expr, refund_expr, as_of_expr, pop, source,
                      CASE WHEN filter_sql <> '' THEN ' WHERE ' || filter_sql ELSE '' END);
    END IF;
    -- Other keys: each distinct key of the (filtered) rows gets a number n, computed once (a
    -- materialized CTE); population_agg groups by n and the rows get their key back by n.
    -- The DISTINCT and the two joins make such a view about 5 times slower (make bench).
    SELECT string_agg(format('p.%I', a.name), ', ' ORDER BY a.ord) INTO rest
    FROM pg_catalog.pg_proc pr,
         unnest(pr.proargnames, pr.proargmodes) WITH ORDINALITY AS a(name, mode, ord)
    WHERE pr.oid = 'segment.population_rows(segment.rfm_population)'::regprocedure
      AND a.mode = 'o' AND a.name <> 'customer_id';
    RETURN format('WITH keys AS MATERIALIZED (SELECT d.key, row_number() OVER () AS n FROM (SELECT DISTINCT %1$s AS key FROM %2$s s WHERE %1$s IS NOT NULL%3$s) d) '
                  'SELECT keys.key AS customer_id, %4$s, %5$s AS as_of '
                  'FROM segment.population_rows((SELECT segment.population_agg(%6$s, %7$s, %8$s, %9$s%5$s, %10$L::jsonb) '
                  'FROM %2$s s JOIN keys ON keys.key = %1$s%11$s)) p JOIN keys ON keys.n = p.customer_id',
                  cust, source, CASE WHEN filter_sql <> '' THEN ' AND ' || filter_sql ELSE '' END,
                  rest, as_of_expr, customer_expr, at_expr, amount_expr, refund_expr, pop,
                  CASE WHEN filter_sql <> '' THEN ' WHERE ' || filter_sql ELSE '' END);
END $$;
COMMENT ON FUNCTION segment._segment_view_query(regclass, name, name, name, jsonb) IS
    'The SELECT of a segmentation view, checked: source kind, column existence and types, options';

------------------------------------------------------------------------------------------------
-- Create, inspect, alter, refresh, drop
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.create_segment_view(view_name text, source regclass, customer_column name, ordered_at_column name,
                                            amount_column name, options jsonb DEFAULT '{}')
    RETURNS regclass LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    id record;
    q text;
    rel regclass;
BEGIN
    id := segment._view_ident(view_name);
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = id.view_schema) THEN
        RAISE EXCEPTION 'schema "%" does not exist', id.view_schema USING ERRCODE = '3F000';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = id.view_schema AND c.relname = id.view_name) THEN
        RAISE EXCEPTION 'relation %.% already exists', quote_ident(id.view_schema), quote_ident(id.view_name)
            USING ERRCODE = '42P07', HINT = 'Choose another view_name, or drop the existing relation first (segment.drop_segment_view for a segmentation view).';
    END IF;
    q := segment._segment_view_query(source, customer_column, ordered_at_column, amount_column, options);
    EXECUTE format('CREATE MATERIALIZED VIEW %I.%I AS %s', id.view_schema, id.view_name, q);
    -- REFRESH ... CONCURRENTLY needs a unique index over all rows
    EXECUTE format('CREATE UNIQUE INDEX ON %I.%I (customer_id)', id.view_schema, id.view_name);
    rel := format('%I.%I', id.view_schema, id.view_name)::regclass;
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %I.%I IS %L', id.view_schema, id.view_name,
                   format('pg_segment segmentation of %s (segment.segment_views has the definition)', source));
    DELETE FROM segment.segment_views v WHERE v.view_schema = id.view_schema AND v.view_name = id.view_name;
    INSERT INTO segment.segment_views (view_schema, view_name, source, customer_column, ordered_at_column, amount_column, options, definition, refreshed_at)
    VALUES (id.view_schema, id.view_name, source, customer_column, ordered_at_column, amount_column, coalesce(options, '{}'), q, now());
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment.create_segment_view(text, regclass, name, name, name, jsonb) IS
    'Creates a materialized view with one segmented row per customer of an orders source (plus its unique index) and registers it';

CREATE FUNCTION segment.alter_segment_view(view_name text, options jsonb) RETURNS regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
    cron text;
    rel regclass;
    old_rel regclass;
    old_acl aclitem[];
    old_owner oid;
    extra_indexes text[];
    idx text;
    g record;
BEGIN
    r := segment._view_row(view_name);
    IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object (keys to change; null removes a key), got %', options USING ERRCODE = '22023';
    END IF;
    IF r.cron_job IS NOT NULL THEN
        EXECUTE 'SELECT schedule FROM cron.job WHERE jobid = $1' INTO cron USING r.cron_job;
    END IF;
    -- what the rebuild would otherwise lose: privileges granted on the view, indexes added to it
    -- (all but the unique index on customer_id that create_segment_view makes) and its owner
    old_rel := format('%I.%I', r.view_schema, r.view_name)::regclass;
    SELECT c.relacl, c.relowner INTO old_acl, old_owner FROM pg_catalog.pg_class c WHERE c.oid = old_rel;
    SELECT array_agg(pg_catalog.pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid) INTO extra_indexes
    FROM pg_catalog.pg_index i
    WHERE i.indrelid = old_rel
      AND NOT (i.indisunique AND i.indnatts = 1 AND i.indexprs IS NULL AND i.indpred IS NULL
               AND i.indkey[0] = (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = old_rel AND a.attname = 'customer_id'));
    PERFORM segment.drop_segment_view(format('%I.%I', r.view_schema, r.view_name), true);
    rel := segment.create_segment_view(format('%I.%I', r.view_schema, r.view_name), r.source, r.customer_column,
                                       r.ordered_at_column, r.amount_column, jsonb_strip_nulls(r.options || options));
    FOREACH idx IN ARRAY coalesce(extra_indexes, '{}') LOOP
        EXECUTE idx;  -- pg_get_indexdef's own text: names quoted by PostgreSQL
    END LOOP;
    FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable FROM pg_catalog.aclexplode(old_acl) a WHERE a.grantee <> old_owner LOOP
        -- privilege_type is one of PostgreSQL's own keywords (SELECT, INSERT, ...)
        EXECUTE format('GRANT %s ON %I.%I TO %s%s', g.privilege_type, r.view_schema, r.view_name,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
    IF pg_catalog.pg_get_userbyid(old_owner) <> current_user THEN
        -- e.g. a superuser altering a user's view: it stays that user's, and refreshes keep
        -- reading the source with that user's rights
        EXECUTE format('ALTER MATERIALIZED VIEW %I.%I OWNER TO %I', r.view_schema, r.view_name, pg_catalog.pg_get_userbyid(old_owner));
        UPDATE segment.segment_views v SET owner = pg_catalog.pg_get_userbyid(old_owner)
        WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
    END IF;
    IF cron IS NOT NULL THEN
        PERFORM segment.schedule_refresh(format('%I.%I', r.view_schema, r.view_name), cron);
    END IF;
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment.alter_segment_view(text, jsonb) IS
    'Rebuilds a segmentation view with changed options (merged over the old ones; null removes a key); keeps its snapshots, schedule, privileges, added indexes and owner';

CREATE FUNCTION segment.refresh_segment_view(view_name text, concurrently boolean DEFAULT true) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
BEGIN
    r := segment._view_row(view_name);
    IF $2 THEN  -- "concurrently": a keyword inside SQL, so referred to by position
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %I.%I', r.view_schema, r.view_name);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW %I.%I', r.view_schema, r.view_name);
    END IF;
    UPDATE segment.segment_views v SET refreshed_at = now() WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
    RETURN now();
END $$;
COMMENT ON FUNCTION segment.refresh_segment_view(text, boolean) IS
    'Refreshes a segmentation view; concurrently (default) never blocks its readers';

CREATE FUNCTION segment.drop_segment_view(view_name text, keep_history boolean DEFAULT false) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
BEGIN
    r := segment._view_row(view_name);
    IF r.cron_job IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING r.cron_job;
    END IF;
    EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %I.%I', r.view_schema, r.view_name);
    DELETE FROM segment.segment_views v WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
    IF NOT keep_history THEN
        DELETE FROM segment.segment_snapshots s WHERE s.view_schema = r.view_schema AND s.view_name = r.view_name;
    END IF;
END $$;
COMMENT ON FUNCTION segment.drop_segment_view(text, boolean) IS
    'Drops a segmentation view, its schedule and (unless keep_history) its snapshots';

------------------------------------------------------------------------------------------------
-- Schedule (pg_cron)
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._require_pg_cron() RETURNS void LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'scheduled refresh needs the pg_cron extension, which is not installed in database %', current_database()
            USING ERRCODE = '55000',
                  HINT = 'Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = '''
                         || current_database() || ''' in postgresql.conf, restart, then CREATE EXTENSION pg_cron. Or call segment.refresh_segment_view from your own scheduler.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._require_pg_cron() IS 'ERROR 55000 with a hint when pg_cron is not installed here';

CREATE FUNCTION segment.schedule_refresh(view_name text, cron text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
    job bigint;
BEGIN
    r := segment._view_row(view_name);
    PERFORM segment._require_pg_cron();
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must be a schedule such as ''*/15 * * * *'', got NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
            USING format('pg_segment refresh %I.%I', r.view_schema, r.view_name), cron,
                  format('SELECT segment.refresh_segment_view(%L)', format('%I.%I', r.view_schema, r.view_name));
    EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
        RAISE EXCEPTION 'cron: invalid schedule "%" (%)', cron, SQLERRM USING ERRCODE = '22023',
            HINT = 'Use five cron fields, e.g. ''0 3 * * *'' for 03:00 every day, or ''* * * * *'' for every minute.';
    END;
    UPDATE segment.segment_views v SET cron_job = job WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
    RETURN job;
END $$;
COMMENT ON FUNCTION segment.schedule_refresh(text, text) IS
    'Schedules a concurrent refresh of a segmentation view with pg_cron (cron syntax); returns the pg_cron job id';

CREATE FUNCTION segment.unschedule_refresh(view_name text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
BEGIN
    r := segment._view_row(view_name);
    PERFORM segment._require_pg_cron();
    IF r.cron_job IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT cron.unschedule($1)' USING r.cron_job;
    UPDATE segment.segment_views v SET cron_job = NULL WHERE v.view_schema = r.view_schema AND v.view_name = r.view_name;
    RETURN true;
END $$;
COMMENT ON FUNCTION segment.unschedule_refresh(text) IS 'Removes the pg_cron schedule of a segmentation view; false when it had none';

------------------------------------------------------------------------------------------------
-- History: snapshots, migration, changes
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.take_snapshot(view_name text, taken_at timestamptz DEFAULT now()) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE AS $$
DECLARE
    r segment.segment_views;
    id bigint;
    n bigint;
    contents_as_of timestamptz;
BEGIN
    r := segment._view_row(view_name);
    IF taken_at IS NULL THEN
        RAISE EXCEPTION 'taken_at must not be NULL' USING ERRCODE = '22004';
    END IF;
    INSERT INTO segment.segment_snapshots (view_schema, view_name, taken_at, customers)
    VALUES (r.view_schema, r.view_name, taken_at, 0) RETURNING snapshot_id INTO id;
    EXECUTE format('INSERT INTO segment.segment_snapshot_rows (snapshot_id, customer_id, tier, segment, lifecycle_stage, orders, monetary)
                    SELECT $1, customer_id::text, tier, segment, lifecycle_stage, orders, monetary FROM %I.%I', r.view_schema, r.view_name)
        USING id;
    GET DIAGNOSTICS n = ROW_COUNT;
    EXECUTE format('SELECT max(as_of) FROM %I.%I', r.view_schema, r.view_name) INTO STRICT contents_as_of;
    UPDATE segment.segment_snapshots s SET customers = n, as_of = contents_as_of WHERE s.snapshot_id = id;
    RETURN id;
END $$;
COMMENT ON FUNCTION segment.take_snapshot(text, timestamptz) IS
    'Stores every customer''s tier, segment, lifecycle stage, orders and spend from a segmentation view; returns the snapshot id';

-- the latest snapshot of a view taken at or before an instant
CREATE FUNCTION segment._snapshot_at(r segment.segment_views, at timestamptz, what text) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    id bigint;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', what USING ERRCODE = '22004';
    END IF;
    SELECT s.snapshot_id INTO id FROM segment.segment_snapshots s
    WHERE s.view_schema = r.view_schema AND s.view_name = r.view_name AND s.taken_at <= at
    ORDER BY s.taken_at DESC, s.snapshot_id DESC LIMIT 1;
    IF id IS NULL THEN
        RAISE EXCEPTION 'no snapshot of %.% was taken at or before % (%)', quote_ident(r.view_schema), quote_ident(r.view_name), at, what
            USING ERRCODE = '22023', HINT = 'segment.take_snapshot(view_name) stores one; segment.segment_snapshots lists them.';
    END IF;
    RETURN id;
END $$;
COMMENT ON FUNCTION segment._snapshot_at(segment.segment_views, timestamptz, text) IS 'Latest snapshot at or before an instant (22023 when none)';

-- each customer of either snapshot in force at two instants, side by side
CREATE FUNCTION segment._snapshot_pair(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
#variable_conflict use_column
DECLARE
    r segment.segment_views;
    a bigint;
    b bigint;
BEGIN
    r := segment._view_row(view_name);
    a := segment._snapshot_at(r, "from", 'from');
    b := segment._snapshot_at(r, "to", 'to');
    RETURN QUERY
    SELECT customer_id, x.tier, y.tier, x.segment, y.segment, x.lifecycle_stage, y.lifecycle_stage,
           coalesce(y.monetary, 0) - coalesce(x.monetary, 0)
    FROM (SELECT * FROM segment.segment_snapshot_rows s WHERE s.snapshot_id = a) x
    FULL JOIN (SELECT * FROM segment.segment_snapshot_rows s WHERE s.snapshot_id = b) y USING (customer_id);
END $$;
COMMENT ON FUNCTION segment._snapshot_pair(text, timestamptz, timestamptz) IS
    'Customers of the snapshots in force at two instants, side by side, with their net spend between them';

CREATE FUNCTION segment.tier_migration(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (from_tier text, to_tier text, customers bigint, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.from_tier, p.to_tier, count(*), sum(p.revenue)
    FROM segment._snapshot_pair(view_name, "from", "to") p
    GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST $$;
COMMENT ON FUNCTION segment.tier_migration(text, timestamptz, timestamptz) IS
    'Migration matrix between the snapshots in force at two instants: customers per (from tier, to tier) and their net spend between the snapshots (NULL tier: not a customer then)';

CREATE FUNCTION segment.segment_changes(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT * FROM segment._snapshot_pair(view_name, "from", "to") p
    WHERE p.from_tier IS DISTINCT FROM p.to_tier OR p.from_segment IS DISTINCT FROM p.to_segment
    ORDER BY length(p.customer_id), p.customer_id $$;  -- shorter keys first: non-negative integer ids in numeric order
COMMENT ON FUNCTION segment.segment_changes(text, timestamptz, timestamptz) IS
    'Customers whose tier or segment changed between the snapshots in force at two instants';

------------------------------------------------------------------------------------------------
-- KPIs
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.segment_kpis(view_name text, by text DEFAULT 'tier')
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric)
    LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    r segment.segment_views;
BEGIN
    r := segment._view_row(view_name);
    IF by IS NULL OR by NOT IN ('tier', 'segment', 'lifecycle_stage', 'cadence', 'rfm_code') THEN
        RAISE EXCEPTION 'by must be ''tier'', ''segment'', ''lifecycle_stage'', ''cadence'' or ''rfm_code'', got %', coalesce(quote_literal(by), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT %1$I, count(*), round(count(*) / sum(count(*)) OVER (), 4),
                sum(monetary), round(sum(monetary) / nullif(sum(sum(monetary)) OVER (), 0), 4),
                round(sum(monetary) / nullif(sum(orders), 0), 2),
                round(count(*) FILTER (WHERE orders > 1)::numeric / count(*), 4)
         FROM %2$I.%3$I GROUP BY 1 ORDER BY sum(monetary) DESC NULLS LAST, 1', by, r.view_schema, r.view_name);
END $$;
COMMENT ON FUNCTION segment.segment_kpis(text, text) IS
    'Per tier, segment, lifecycle stage, cadence or R/F/M code: customers and share, revenue and share (the 80/20 check), average order value, repurchase rate';
