-- pg_segment 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_segment UPDATE TO '0.2.0').
--
-- Every change to an SQL object since 0.1.0 is here, so that an updated installation equals a
-- fresh 0.2.0 one (the update-chain test compares their pg_dump --schema-only). Once 0.2.0 is
-- released this file is never edited again: later changes go into pg_segment--0.2.0--0.3.0.sql.
\echo Use "ALTER EXTENSION pg_segment UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Security (issue 12): a database owner must not become superuser, a superuser's alter must not
-- run the owner's code as superuser, rights must not drift. See README, "Security".
------------------------------------------------------------------------------------------------
-- Install-time expressions, schema-qualified with typed literals: in 0.1.0 the snapshot id
-- default nextval('...') with an untyped literal bound a public.nextval(text) planted before
-- CREATE EXTENSION. Owners are always given by the registry's writers now.
ALTER TABLE segment.segment_views
    ALTER COLUMN options SET DEFAULT '{}'::pg_catalog.jsonb,
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN created_at SET DEFAULT pg_catalog.now();
ALTER TABLE segment.segment_snapshots
    ALTER COLUMN snapshot_id SET DEFAULT pg_catalog.nextval('segment.segment_snapshots_id_seq'::pg_catalog.regclass),
    ALTER COLUMN owner DROP DEFAULT;

-- The registry is written only by the extension's functions (src/registry.rs): users read it.
REVOKE INSERT, UPDATE, DELETE ON segment.segment_views, segment.segment_snapshots, segment.segment_snapshot_rows FROM PUBLIC;
REVOKE USAGE ON SEQUENCE segment.segment_snapshots_id_seq FROM PUBLIC;
DROP POLICY own_views ON segment.segment_views;
DROP POLICY own_snapshots ON segment.segment_snapshots;
DROP POLICY own_snapshot_rows ON segment.segment_snapshot_rows;
CREATE OR REPLACE FUNCTION segment._is_mine(owner name) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN owner OPERATOR(pg_catalog.=) CURRENT_USER
        OR (owner OPERATOR(pg_catalog.=) ANY (SELECT r.rolname FROM pg_catalog.pg_roles r)
            AND pg_catalog.pg_has_role(owner, 'MEMBER'::pg_catalog.text));
COMMENT ON FUNCTION segment._is_mine(name) IS 'Row-level security of the registry: rows of roles the current user is a member of';
CREATE POLICY own_views ON segment.segment_views FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshots ON segment.segment_snapshots FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshot_rows ON segment.segment_snapshot_rows FOR SELECT
    USING (snapshot_id OPERATOR(pg_catalog.=) ANY (SELECT s.snapshot_id FROM segment.segment_snapshots s));

-- Functions whose argument lists changed: the public functions now pass the caller's
-- current_schema() to pinned workers.
DROP FUNCTION segment._view_ident(text);
DROP FUNCTION segment._view_row(text);
DROP FUNCTION segment._snapshot_pair(text, timestamptz, timestamptz);

------------------------------------------------------------------------------------------------
-- The registry's writers and the other C glue (src/registry.rs). Each checks that the caller
-- may act for the view (its owner's privileges, or a superuser) before it writes anything.
------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION segment._registry_put(view regclass, source regclass, customer_column name, ordered_at_column name,
                                      amount_column name, options jsonb, definition text) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_put' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._registry_refreshed(view regclass) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_registry_refreshed' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._registry_cron(view regclass, job bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_cron' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._registry_drop(view_schema name, view_name name, keep_history boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_drop' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._snapshot_take(view regclass, taken_at timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_snapshot_take' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._snapshots_delete(view_schema name, view_name name, taken_before timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_snapshots_delete' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._grant_as(view regclass, column_name name, grantor oid, grantee oid, privilege text,
                                  grantable boolean, revoke boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_grant_as' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE OR REPLACE FUNCTION segment._key_equality(key_type regtype) RETURNS regoper
    AS 'MODULE_PATHNAME', 'pgseg_key_equality' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._registry_put(regclass, regclass, name, name, name, jsonb, text) IS
    'Writes the registry row of a segmentation view the caller may act for (owner: the view''s owner); replaces a row left by a dropped view of that name';
COMMENT ON FUNCTION segment._registry_refreshed(regclass) IS 'Records a refresh of a segmentation view the caller may act for';
COMMENT ON FUNCTION segment._registry_cron(regclass, bigint) IS 'Records the pg_cron job of a segmentation view the caller may act for (NULL: none)';
COMMENT ON FUNCTION segment._registry_drop(name, name, boolean) IS
    'Removes the registry row of a segmentation view the caller may act for and, unless keep_history, the snapshots of that view the caller may delete';
COMMENT ON FUNCTION segment._snapshot_take(regclass, timestamptz) IS
    'Stores a snapshot of a registered segmentation view the caller may act for, owned by the view''s owner';
COMMENT ON FUNCTION segment._snapshots_delete(name, name, timestamptz) IS
    'Deletes the snapshots of a view name taken before an instant whose owner the caller has the privileges of (superusers: all)';
COMMENT ON FUNCTION segment._grant_as(regclass, name, oid, oid, text, boolean, boolean) IS
    'GRANT (or REVOKE) one privilege on a materialized view or one of its columns with the rights of its grantor, for a caller with the owner''s and the grantor''s privileges';
COMMENT ON FUNCTION segment._key_equality(regtype) IS
    'Equality operator of a type''s default btree operator class; NULL when the type has no equality and ordering';

-- DROP EXTENSION pg_segment (or DROP OWNED BY its owner) by a non-superuser would destroy every
-- role's history, and with CASCADE every object that uses the extension: refused while other
-- roles own segmentation views or snapshots, or (CASCADE) objects that depend on it.
CREATE OR REPLACE FUNCTION segment._drop_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'pgseg_drop_guard' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._drop_guard() IS
    'Event trigger: refuses a non-superuser''s DROP EXTENSION pg_segment while other roles own views, snapshots or (CASCADE) dependent objects';
CREATE EVENT TRIGGER pg_segment_drop_guard ON ddl_command_start WHEN TAG IN ('DROP EXTENSION', 'DROP OWNED')
    EXECUTE FUNCTION segment._drop_guard();
COMMENT ON EVENT TRIGGER pg_segment_drop_guard IS
    'pg_segment: a non-superuser may drop the extension only when no other role''s views, snapshots or objects would go with it';

------------------------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------------------------
-- 'name', 'schema.name', '"Odd Name"': the schema (default_schema, the caller's
-- current_schema(), when not given) and name.
CREATE OR REPLACE FUNCTION segment._view_ident(qualified text, default_schema name, OUT view_schema name, OUT view_name name)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    parts text[];
BEGIN
    IF qualified IS NULL THEN
        RAISE EXCEPTION 'view_name must not be NULL' USING ERRCODE = '22004';
    END IF;
    BEGIN
        parts := parse_ident(qualified);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'view_name "%" is not a valid name', qualified USING ERRCODE = '42602',
            HINT = 'Write name, schema.name, or a quoted identifier such as "Customer Segments".';
    END;
    IF cardinality(parts) = 1 THEN
        view_schema := default_schema;
        IF view_schema IS NULL THEN
            RAISE EXCEPTION 'no schema has been selected to create view "%" in', qualified USING ERRCODE = '3F000';
        END IF;
        view_name := parts[1];
    ELSIF cardinality(parts) = 2 THEN
        view_schema := parts[1];
        view_name := parts[2];
    ELSE
        RAISE EXCEPTION 'view_name "%" has too many dotted parts (write name or schema.name)', qualified USING ERRCODE = '42602';
    END IF;
END $$;
COMMENT ON FUNCTION segment._view_ident(text, name) IS
    'Splits a view name (name, schema.name, quoted identifiers) into schema (default_schema for a bare name) and name';

-- the registry row of a view; ERROR 42P01 when it is not a segmentation view the caller sees
CREATE OR REPLACE FUNCTION segment._view_row(view_name text, default_schema name) RETURNS segment.segment_views
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id record;
    r segment.segment_views;
BEGIN
    id := segment._view_ident(view_name, default_schema);
    SELECT * INTO r FROM segment.segment_views v WHERE v.view_schema = id.view_schema AND v.view_name = id.view_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segmentation view %.% does not exist', quote_ident(id.view_schema), quote_ident(id.view_name)
            USING ERRCODE = '42P01', HINT = 'segment.segment_views lists the segmentation views you own.';
    END IF;
    RETURN r;
END $$;
COMMENT ON FUNCTION segment._view_row(text, name) IS 'The registry row of a segmentation view (42P01 when there is none)';

-- the materialized view of a registry row; 42P01 when it was dropped by other means
CREATE OR REPLACE FUNCTION segment._view_rel(r segment.segment_views) RETURNS regclass
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    SELECT c.oid INTO rel FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = r.view_schema AND c.relname = r.view_name AND c.relkind = 'm';
    IF rel IS NULL THEN
        RAISE EXCEPTION 'materialized view %.% of this segmentation view no longer exists', quote_ident(r.view_schema), quote_ident(r.view_name)
            USING ERRCODE = '42P01', HINT = 'segment.drop_segment_view removes its registry row (and, unless keep_history, its snapshots).';
    END IF;
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment._view_rel(segment.segment_views) IS 'The materialized view of a registry row (42P01 when it is gone)';

------------------------------------------------------------------------------------------------
-- The view's query
------------------------------------------------------------------------------------------------
-- the type of a column of a relation, or ERROR 42703 naming it
CREATE OR REPLACE FUNCTION segment._column_type(source regclass, col name, what text) RETURNS regtype
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
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

-- The view's SELECT, parsed (never run) when the view is created under the pinned search_path:
-- every name it uses binds to pg_catalog or segment then, whoever refreshes it later.
CREATE OR REPLACE FUNCTION segment._events_view_query(q text, key_type regtype, mapped boolean, key_eq_sql text, as_of_expr text,
                                           pop jsonb, events jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src regclass;
    kind "char";
    t regtype;
    bad text;
    cust name;
    at_col name;
    lang text := coalesce(pop->>'lang', 'zh');
    tz_sql text := CASE WHEN pop ? 'tz' THEN format('%L', pop->>'tz') ELSE 'NULL' END;
    activity jsonb;
    stages jsonb;
    cols text;
BEGIN
    IF jsonb_typeof(events) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'options.events must be {"source": table, "customer_column": name, "visited_at_column": name}, got %', events
            USING ERRCODE = '22023';
    END IF;
    SELECT min(k) INTO bad FROM jsonb_object_keys(events) k
    WHERE k NOT IN ('source', 'customer_column', 'visited_at_column', 'activity', 'stages');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'options.events: unknown key "%"', bad USING ERRCODE = '22023',
            HINT = 'Keys: source, customer_column, visited_at_column, activity, stages.';
    END IF;
    IF jsonb_typeof(events->'source') IS DISTINCT FROM 'string' THEN
        RAISE EXCEPTION 'options.events: key "source" must name a table or view, got %', events->'source' USING ERRCODE = '22023';
    END IF;
    -- resolved under the pinned search_path: a name outside pg_catalog and pg_temp is written with its schema
    src := to_regclass(events->>'source');
    IF src IS NULL THEN
        RAISE EXCEPTION 'options.events: source "%" does not exist', events->>'source' USING ERRCODE = '42P01',
            HINT = 'Write the events source with its schema, e.g. "public.page_views".';
    END IF;
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = src;
    IF kind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
        RAISE EXCEPTION 'options.events: source % is not a table or view', src USING ERRCODE = '42809';
    END IF;
    cust := coalesce(events->>'customer_column', 'customer_id');
    at_col := coalesce(events->>'visited_at_column', 'visited_at');
    t := segment._column_type(src, cust, 'options.events.customer_column');
    IF (NOT mapped AND t NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype)) OR (mapped AND t <> key_type) THEN
        RAISE EXCEPTION 'options.events.customer_column "%" of % has type %, the orders'' customer key has type %', cust, src, t, key_type
            USING ERRCODE = '42804';
    END IF;
    t := segment._column_type(src, at_col, 'options.events.visited_at_column');
    IF t NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION 'options.events.visited_at_column "%" of % must be timestamptz, timestamp or date, it is %', at_col, src, t
            USING ERRCODE = '42804';
    END IF;
    activity := coalesce(events->'activity', '{}');
    stages := coalesce(pop->'lifecycle', '{}') || coalesce(events->'stages', '{}');
    -- checked now (22023 naming the key), not at the first refresh
    PERFORM segment.browsing_active('b1:'::segment.browsing_summary, now(), activity);
    PERFORM segment._browsing_lifecycle(NULL, NULL, NULL, now(), stages, lang, pop->>'tz');
    SELECT string_agg(CASE a.name WHEN 'customer_id' THEN 'coalesce(v.customer_id, e.key) AS customer_id'
                                  WHEN 'orders' THEN 'coalesce(v.orders, 0) AS orders'
                                  WHEN 'monetary' THEN 'coalesce(v.monetary, 0) AS monetary'
                                  WHEN 'lifecycle_stage' THEN format('segment._browsing_lifecycle(v.recency_days, v.tenure_days, e.b, %s, %L::jsonb, %L, %s) AS lifecycle_stage',
                                                                     as_of_expr, stages, lang, tz_sql)
                                  ELSE format('v.%I', a.name) END, ', ' ORDER BY a.ord) INTO cols
    FROM pg_catalog.pg_proc pr, unnest(pr.proargnames, pr.proargmodes) WITH ORDINALITY AS a(name, mode, ord)
    WHERE pr.oid = 'segment.population_rows(segment.rfm_population)'::regprocedure AND a.mode = 'o';
    RETURN format('SELECT %s, coalesce(v.as_of, %s) AS as_of, '
                  'coalesce(segment.visits(e.b, %2$s, %3$s, %4$s), 0) AS visits, '
                  'coalesce(segment.browsing_active(e.b, %2$s, %5$L::jsonb, %4$s), false) AS browsing_active, '
                  'segment.last_visit(e.b, %2$s) AS last_visit '
                  'FROM (%6$s) v FULL JOIN (SELECT e.%7$I%8$s AS key, segment.browsing_agg(e.%9$I::timestamptz) AS b FROM %10$s e '
                  'WHERE e.%7$I IS NOT NULL GROUP BY 1) e ON e.key %11$s v.customer_id',
                  cols, as_of_expr, coalesce((activity->>'window_days')::int, 30),
                  CASE WHEN pop ? 'tz' THEN format('%L', pop->>'tz') ELSE 'current_setting(''TimeZone'')' END,
                  activity, q, cust, CASE WHEN mapped THEN '' ELSE '::bigint' END, at_col, src, key_eq_sql);
END $$;
COMMENT ON FUNCTION segment._events_view_query(text, regtype, boolean, text, text, jsonb, jsonb) IS
    'The SELECT of a segmentation view with an events source: browsing columns and stages, customers who only browse included';
CREATE OR REPLACE FUNCTION segment._segment_view_query(source regclass, customer_column name, ordered_at_column name,
                                            amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kind "char";
    t regtype;
    key_eq regoper;
    key_eq_sql text;
    customer_expr text;
    at_expr text;
    amount_expr text;
    refund_expr text := '';
    predict_at text;  -- the instant argument of the predict option's rfm_agg, after the order id if any
    as_of_text text;
    as_of_expr text;
    conds text[] := '{}';
    f jsonb;
    fcol name;
    list_key text;
    vals text[];
    pop jsonb;
    mapped boolean;
    cust text;
    rest text;
    filter_sql text;
    key_type regtype;
    q text;
    view_keys constant text[] := ARRAY['as_of', 'filter', 'refund_column', 'order_id_column', 'events', 'predict', 'per_customer'];
    tz text;
    per_customer boolean;
    dist_catalog regclass;
    rfm_args text;
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
    key_type := t;
    cust := format('s.%I', customer_column);
    mapped := t NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype);
    IF mapped THEN
        -- the numbering groups and joins on the key, and the unique index orders it: the key
        -- type needs a default btree operator class (a catalog check: nothing runs against the
        -- source here, whoever calls)
        key_eq := segment._key_equality(t);
        IF key_eq IS NULL THEN
            RAISE EXCEPTION 'customer_column "%" of % has type %, which has no equality and ordering operators', customer_column, source, t
                USING ERRCODE = '42804', HINT = 'Use an integer, text, uuid or other comparable customer key.';
        END IF;
        -- the join uses that operator by name, so that it is the operator class's own wherever it lives
        SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname) INTO key_eq_sql
        FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace WHERE o.oid = key_eq;
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

    -- order_id_column: rows repeating a customer's order id count once (population_agg's
    -- order id form, which takes the refund flag too; the predict option's summaries are read
    -- by rfm_agg's order id form, which drops the same rows)
    predict_at := at_expr;
    IF options ? 'order_id_column' THEN
        fcol := options->>'order_id_column';
        t := segment._column_type(source, fcol, 'options.order_id_column');
        IF t NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype) THEN
            RAISE EXCEPTION 'options.order_id_column "%" of % must be an integer column, it is %', fcol, source, t USING ERRCODE = '42804';
        END IF;
        customer_expr := customer_expr || format(', s.%I::bigint', fcol);
        predict_at := format('s.%I::bigint, ', fcol) || at_expr;
        IF refund_expr = '' THEN
            refund_expr := 'false, ';
        END IF;
    END IF;

    -- as_of: "now" (the default; any case, surrounding spaces allowed: now() at each refresh)
    -- or a fixed instant. PostgreSQL's other relative words would be frozen at creation: refused.
    as_of_text := lower(regexp_replace(options->>'as_of', '^\s+|\s+$', '', 'g'));
    IF as_of_text IS NULL OR as_of_text = 'now' THEN
        as_of_expr := 'now()';
    ELSIF as_of_text IN ('today', 'tomorrow', 'yesterday') THEN
        RAISE EXCEPTION 'options.as_of "%" would be frozen at the instant the view is created', options->>'as_of' USING ERRCODE = '22023',
            HINT = 'Write "now" (every refresh uses its own now()) or a fixed instant such as "2026-01-01 00:00+08".';
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
            list_key := CASE WHEN f ? 'in' THEN 'in' ELSE 'not_in' END;
            -- a null never equals anything: in a not_in list it would empty the view
            IF EXISTS (SELECT 1 FROM jsonb_array_elements(f->list_key) e WHERE jsonb_typeof(e) NOT IN ('string', 'number', 'boolean')) THEN
                RAISE EXCEPTION 'options.filter "%" of column "%" must list strings, numbers or booleans, got %', list_key, fcol, f->list_key
                    USING ERRCODE = '22023', HINT = 'A null never matches a value; to keep or drop rows whose column is NULL, filter the source in a view.';
            END IF;
            SELECT array_agg(v) INTO vals FROM jsonb_array_elements_text(f->list_key) v;
            conds := conds || CASE WHEN f ? 'in' THEN format('s.%I::text = ANY (%L::text[])', fcol, coalesce(vals, '{}'))
                                   ELSE format('s.%I::text <> ALL (%L::text[])', fcol, coalesce(vals, '{}')) END;
        END LOOP;
    END IF;

    -- the rest are population_agg options; checked now so that a typo fails here, not at refresh
    pop := options - view_keys;
    PERFORM segment.population_agg(1, now(), 0::numeric, now(), pop);
    -- the zone is always pinned: without a tz (of the options or of fixed breaks) the creating
    -- session's TimeZone is written into the query, so that a refresh from a session (or a
    -- pg_cron job, or a Citus worker) of another zone counts the same days
    IF NOT pop ? 'tz' AND NOT coalesce(pop->'breaks' ? 'tz', false) THEN
        BEGIN
            PERFORM segment.population_agg(1, now(), 0::numeric, now(), pop || jsonb_build_object('tz', current_setting('TimeZone')));
            pop := pop || jsonb_build_object('tz', current_setting('TimeZone'));
        EXCEPTION WHEN invalid_parameter_value THEN
            -- a zone population_agg cannot name (a POSIX offset spelling): the session's, as before
            NULL;
        END;
    END IF;

    filter_sql := array_to_string(conds, ' AND ');  -- '' without conditions
    -- predict: checked now (the view's query is wrapped where it is returned below)
    tz := coalesce(pop->>'tz', pop->'breaks'->>'tz', current_setting('TimeZone'));
    IF options ? 'predict' THEN
        PERFORM segment._predict_view_query('', options->'predict', source, cust, '', '=', predict_at, amount_expr, '', '', tz);
    END IF;
    -- per_customer: population_agg over one rfm_agg summary per customer (its per-customer
    -- form, which gives exactly what the order rows give), so that the GROUP BY on the key runs
    -- where the rows are: on the workers of a Citus distributed table, on the servers of
    -- postgres_fdw foreign partitions (with enable_partitionwise_aggregate). The default for
    -- such sources; "per_customer": true or false forces it. The summaries are a MATERIALIZED
    -- CTE, so that Citus runs their GROUP BY as a distributed subplan and as_of and the options
    -- are not shipped with every customer's row.
    IF options ? 'per_customer' THEN
        IF jsonb_typeof(options->'per_customer') IS DISTINCT FROM 'boolean' THEN
            RAISE EXCEPTION 'options.per_customer must be true or false, got %', options->'per_customer' USING ERRCODE = '22023',
                HINT = 'true: the view aggregates one rfm_agg summary per customer (for sharded sources); false: the order rows themselves.';
        END IF;
        per_customer := (options->'per_customer')::boolean;
    ELSE
        -- Citus: pg_dist_partition exists only with the citus extension; reference and local
        -- tables (partmethod n) are not distributed
        dist_catalog := to_regclass('pg_catalog.pg_dist_partition');
        IF dist_catalog IS NOT NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s d WHERE d.logicalrelid OPERATOR(pg_catalog.=) $1 AND d.partmethod OPERATOR(pg_catalog.<>) %L)',
                           dist_catalog, 'n')
                INTO per_customer USING source;
        END IF;
        per_customer := coalesce(per_customer, false)
            OR (kind = 'p' AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(source) pt JOIN pg_catalog.pg_class c ON c.oid = pt.relid
                                       WHERE c.relkind = 'f'));
    END IF;
    -- rfm_agg's arguments: [order id,] instant, amount [, refund flag] (the order id form drops
    -- repeated order ids by population_agg's rule). The flag goes as it is: rfm_agg reads NULL as
    -- false, and postgres_fdw does not push down a COALESCE.
    rfm_args := predict_at || ', ' || amount_expr
        || CASE WHEN options ? 'refund_column' THEN format(', s.%I', options->>'refund_column') WHEN refund_expr <> '' THEN ', false' ELSE '' END;
    IF mapped THEN
        SELECT string_agg(format('p.%I', a.name), ', ' ORDER BY a.ord) INTO rest
        FROM pg_catalog.pg_proc pr,
             unnest(pr.proargnames, pr.proargmodes) WITH ORDINALITY AS a(name, mode, ord)
        WHERE pr.oid = 'segment.population_rows(segment.rfm_population)'::regprocedure
          AND a.mode = 'o' AND a.name <> 'customer_id';
    END IF;
    IF per_customer AND NOT mapped THEN
        q := format('WITH c AS MATERIALIZED (SELECT %1$s::bigint AS key, segment.rfm_agg(%2$s) AS r FROM %3$s s WHERE %1$s IS NOT NULL%4$s GROUP BY %1$s) '
                    'SELECT p.*, %5$s AS as_of FROM segment.population_rows((SELECT segment.population_agg(c.key, c.r, %5$s, %6$L::jsonb) FROM c)) p',
                    cust, rfm_args, source, CASE WHEN filter_sql <> '' THEN ' AND ' || filter_sql ELSE '' END, as_of_expr, pop);
    ELSIF per_customer THEN
        -- other keys: the summaries are numbered after the GROUP BY (one number per key)
        q := format('WITH c AS MATERIALIZED (SELECT %1$s AS key, segment.rfm_agg(%2$s) AS r FROM %3$s s WHERE %1$s IS NOT NULL%4$s GROUP BY %1$s), '
                    'keys AS MATERIALIZED (SELECT c.key, c.r, row_number() OVER () AS n FROM c) '
                    'SELECT keys.key AS customer_id, %5$s, %6$s AS as_of '
                    'FROM segment.population_rows((SELECT segment.population_agg(keys.n, keys.r, %6$s, %7$L::jsonb) FROM keys)) p '
                    'JOIN keys ON keys.n = p.customer_id',
                    cust, rfm_args, source, CASE WHEN filter_sql <> '' THEN ' AND ' || filter_sql ELSE '' END, rest, as_of_expr, pop);
    ELSIF NOT mapped THEN
        q := format('SELECT p.*, %s AS as_of FROM segment.population_rows((SELECT segment.population_agg(%s, %s, %s, %s%s, %L::jsonb) FROM %s s%s)) p',
                    as_of_expr, customer_expr, at_expr, amount_expr, refund_expr, as_of_expr, pop, source,
                    CASE WHEN filter_sql <> '' THEN ' WHERE ' || filter_sql ELSE '' END);
    ELSE
        -- Other keys: each distinct key of the (filtered) rows gets a number n, computed once (a
        -- materialized CTE); population_agg groups by n and the rows get their key back by n.
        -- The DISTINCT and the two joins make such a view about 5 times slower (make bench).
        q := format('WITH keys AS MATERIALIZED (SELECT d.key, row_number() OVER () AS n FROM (SELECT DISTINCT %1$s AS key FROM %2$s s WHERE %1$s IS NOT NULL%3$s) d) '
                      'SELECT keys.key AS customer_id, %4$s, %5$s AS as_of '
                      'FROM segment.population_rows((SELECT segment.population_agg(%6$s, %7$s, %8$s, %9$s%5$s, %10$L::jsonb) '
                      'FROM %2$s s JOIN keys ON keys.key %12$s %1$s%11$s)) p JOIN keys ON keys.n = p.customer_id',
                      cust, source, CASE WHEN filter_sql <> '' THEN ' AND ' || filter_sql ELSE '' END,
                      rest, as_of_expr, customer_expr, at_expr, amount_expr, refund_expr, pop,
                      CASE WHEN filter_sql <> '' THEN ' WHERE ' || filter_sql ELSE '' END, key_eq_sql);
    END IF;
    -- an events source adds browsing columns and stages (sql/browsing.sql's functions)
    IF NOT mapped THEN
        key_eq_sql := '=';
    END IF;
    q := CASE WHEN options ? 'events' THEN segment._events_view_query(q, key_type, mapped, key_eq_sql, as_of_expr, pop, options->'events') ELSE q END;
    RETURN CASE WHEN options ? 'predict' THEN segment._predict_view_query(q, options->'predict', source, cust, CASE WHEN mapped THEN '' ELSE '::bigint' END,
                                                                         key_eq_sql, predict_at, amount_expr,
                                                                         CASE WHEN options ? 'refund_column' THEN format(', coalesce(s.%I, false)', options->>'refund_column') ELSE '' END,
                                                                         filter_sql, tz)
                ELSE q END;
END $$;
COMMENT ON FUNCTION segment._segment_view_query(regclass, name, name, name, jsonb) IS
    'The SELECT of a segmentation view, checked: source kind, column existence and types, options';

------------------------------------------------------------------------------------------------
-- Create, alter, refresh, drop. The public functions are SQL-standard bodies that pass the
-- caller's current_schema() to the pinned workers (see the top of this file).
------------------------------------------------------------------------------------------------
-- 42P07 unless view_schema.view_name is free (3F000 when the schema does not exist)
CREATE OR REPLACE FUNCTION segment._check_new_name(view_schema name, view_name name) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = view_schema) THEN
        RAISE EXCEPTION 'schema "%" does not exist', view_schema USING ERRCODE = '3F000';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = view_schema AND c.relname = view_name) THEN
        RAISE EXCEPTION 'relation %.% already exists', quote_ident(view_schema), quote_ident(view_name)
            USING ERRCODE = '42P07', HINT = 'Choose another view_name, or drop the existing relation first (segment.drop_segment_view for a segmentation view).';
    END IF;
END $$;
COMMENT ON FUNCTION segment._check_new_name(name, name) IS 'ERROR 42P07 unless a relation name is free (3F000 without its schema)';

-- The empty materialized view of a query with its unique index and comment. WITH NO DATA:
-- PostgreSQL parses the query but neither plans nor runs it; REFRESH fills it as its owner.
CREATE OR REPLACE FUNCTION segment._new_matview(view_schema name, view_name name, source regclass, q text) RETURNS regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    BEGIN
        EXECUTE format('CREATE MATERIALIZED VIEW %I.%I AS %s WITH NO DATA', view_schema, view_name, q);
    EXCEPTION WHEN unique_violation THEN
        -- another session created the name after _check_new_name: the catalogs' unique index says so
        RAISE EXCEPTION 'relation %.% already exists', quote_ident(view_schema), quote_ident(view_name)
            USING ERRCODE = '42P07', HINT = 'Another session created it at the same time; choose another view_name or drop that one first.';
    END;
    -- REFRESH ... CONCURRENTLY needs a unique index over all rows
    EXECUTE format('CREATE UNIQUE INDEX ON %I.%I (customer_id)', view_schema, view_name);
    rel := format('%I.%I', view_schema, view_name)::regclass;
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', rel,
                   format('pg_segment segmentation of %s (segment.segment_views has the definition)', source));
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment._new_matview(name, name, regclass, text) IS
    'Creates a segmentation view WITH NO DATA (its query is not run) with its unique index and comment';

CREATE OR REPLACE FUNCTION segment._create_segment_view(view_name text, default_schema name, source regclass, customer_column name,
                                             ordered_at_column name, amount_column name, options jsonb)
    RETURNS regclass LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id record;
    q text;
    rel regclass;
BEGIN
    id := segment._view_ident(view_name, default_schema);
    PERFORM segment._check_new_name(id.view_schema, id.view_name);
    q := segment._segment_view_sql(source, customer_column, ordered_at_column, amount_column, options);
    rel := segment._new_matview(id.view_schema, id.view_name, source, q);
    EXECUTE format('REFRESH MATERIALIZED VIEW %s', rel);  -- the first fill, as the view's owner
    PERFORM segment._registry_put(rel, source, customer_column, ordered_at_column, amount_column, coalesce(options, '{}'), q);
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment._create_segment_view(text, name, regclass, name, name, name, jsonb) IS
    'create_segment_view worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.create_segment_view(view_name text, source regclass, customer_column name, ordered_at_column name,
                                            amount_column name, options jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS regclass LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._create_segment_view(view_name, pg_catalog.current_schema(), source, customer_column, ordered_at_column, amount_column, options);
COMMENT ON FUNCTION segment.create_segment_view(text, regclass, name, name, name, jsonb) IS
    'Creates a materialized view with one segmented row per customer of an orders source (plus its unique index) and registers it';

------------------------------------------------------------------------------------------------
-- Schedule (pg_cron). A view's job runs as the view's owner: the owner schedules it, or a
-- superuser schedules it for her (cron.schedule_in_database with her name); the owner can then
-- remove it herself.
------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION segment._require_pg_cron() RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'scheduled refresh needs the pg_cron extension, which is not installed in database %', current_database()
            USING ERRCODE = '55000',
                  HINT = 'Install pg_cron (Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = '''
                         || current_database() || ''' in postgresql.conf, restart, then CREATE EXTENSION pg_cron. Or call segment.refresh_segment_view from your own scheduler.';
    END IF;
END $$;
COMMENT ON FUNCTION segment._require_pg_cron() IS 'ERROR 55000 with a hint when pg_cron is not installed here';

-- 42501 unless the caller is the view's owner or a superuser: pg_cron runs a job as the role it
-- was scheduled for and lets only that role (or a superuser) remove it
CREATE OR REPLACE FUNCTION segment._require_cron_rights(r segment.segment_views, what text) RETURNS void
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF r.owner <> current_user AND NOT (SELECT a.rolsuper FROM pg_catalog.pg_roles a WHERE a.rolname = current_user) THEN
        RAISE EXCEPTION 'only the owner of segmentation view %.% (role %) or a superuser may % its refresh', quote_ident(r.view_schema),
                        quote_ident(r.view_name), quote_ident(r.owner), what
            USING ERRCODE = '42501', HINT = format('pg_cron jobs run as the view''s owner: SET ROLE %I first.', r.owner);
    END IF;
END $$;
COMMENT ON FUNCTION segment._require_cron_rights(segment.segment_views, text) IS
    'ERROR 42501 unless the caller is the view''s owner or a superuser (pg_cron jobs run as the owner)';

CREATE OR REPLACE FUNCTION segment._schedule(r segment.segment_views, cron text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    job bigint;
    qualified text := format('%I.%I', r.view_schema, r.view_name);
BEGIN
    PERFORM segment._require_pg_cron();
    IF cron IS NULL THEN
        RAISE EXCEPTION 'cron must be a schedule such as ''*/15 * * * *'', got NULL' USING ERRCODE = '22004';
    END IF;
    PERFORM segment._require_cron_rights(r, 'schedule');
    BEGIN
        IF r.owner = current_user THEN
            EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
                USING 'pg_segment refresh ' || qualified, cron, format('SELECT segment.refresh_segment_view(%L)', qualified);
        ELSE
            -- a superuser for the owner: the job runs as the owner, who can remove it
            EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4, $5)' INTO job
                USING 'pg_segment refresh ' || qualified, cron, format('SELECT segment.refresh_segment_view(%L)', qualified),
                      current_database()::text, r.owner::text;
        END IF;
    EXCEPTION WHEN invalid_parameter_value OR data_exception THEN
        RAISE EXCEPTION 'cron: invalid schedule "%" (%)', cron, SQLERRM USING ERRCODE = '22023',
            HINT = 'Use five cron fields, e.g. ''0 3 * * *'' for 03:00 every day, or ''* * * * *'' for every minute.';
    END;
    RETURN job;
END $$;
COMMENT ON FUNCTION segment._schedule(segment.segment_views, text) IS 'Schedules the refresh of a segmentation view with pg_cron as the view''s owner';

-- removes the pg_cron job of a view if there is one the caller can see; false when there was none
CREATE OR REPLACE FUNCTION segment._unschedule(r segment.segment_views) RETURNS boolean
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    visible boolean;
BEGIN
    IF r.cron_job IS NULL THEN
        RETURN false;
    END IF;
    PERFORM segment._require_cron_rights(r, 'unschedule');
    -- cron.job shows a non-superuser only her own jobs
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job WHERE jobid = $1)' INTO visible USING r.cron_job;
    IF visible THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING r.cron_job;
    ELSIF NOT (SELECT a.rolsuper FROM pg_catalog.pg_roles a WHERE a.rolname = current_user) THEN
        RAISE WARNING 'pg_cron job % of segmentation view %.% is not one of role %''s jobs; it was left in place', r.cron_job,
                      quote_ident(r.view_schema), quote_ident(r.view_name), current_user
            USING HINT = format('A superuser can remove it: SELECT cron.unschedule(%s);', r.cron_job);
    END IF;
    RETURN true;
END $$;
COMMENT ON FUNCTION segment._unschedule(segment.segment_views) IS 'Removes the pg_cron job of a segmentation view (false when it had none)';

CREATE OR REPLACE FUNCTION segment._schedule_refresh(view_name text, default_schema name, cron text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
    job bigint;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    job := segment._schedule(r, cron);
    PERFORM segment._registry_cron(rel, job);
    RETURN job;
END $$;
COMMENT ON FUNCTION segment._schedule_refresh(text, name, text) IS 'schedule_refresh worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.schedule_refresh(view_name text, cron text) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._schedule_refresh(view_name, pg_catalog.current_schema(), cron);
COMMENT ON FUNCTION segment.schedule_refresh(text, text) IS
    'Schedules a concurrent refresh of a segmentation view with pg_cron (cron syntax), run as the view''s owner; returns the pg_cron job id';

CREATE OR REPLACE FUNCTION segment._unschedule_refresh(view_name text, default_schema name) RETURNS boolean
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    PERFORM segment._require_pg_cron();
    IF NOT segment._unschedule(r) THEN
        RETURN false;
    END IF;
    PERFORM segment._registry_cron(rel, NULL);
    RETURN true;
END $$;
COMMENT ON FUNCTION segment._unschedule_refresh(text, name) IS 'unschedule_refresh worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.unschedule_refresh(view_name text) RETURNS boolean
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._unschedule_refresh(view_name, pg_catalog.current_schema());
COMMENT ON FUNCTION segment.unschedule_refresh(text) IS 'Removes the pg_cron schedule of a segmentation view; false when it had none';

------------------------------------------------------------------------------------------------
-- Alter, refresh, drop
------------------------------------------------------------------------------------------------
-- every privilege on a relation and on its columns as a sorted jsonb array of
-- {col, grantor, grantee, privilege, grantable} (col null: the relation itself)
CREATE OR REPLACE FUNCTION segment._privileges(rel regclass) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.col NULLS FIRST, x.grantor, x.grantee, x.privilege), '[]') FROM (
        SELECT NULL::name AS col, a.grantor, a.grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
        FROM pg_catalog.pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = rel
        UNION ALL
        SELECT t.attname, a.grantor, a.grantee, a.privilege_type, a.is_grantable
        FROM pg_catalog.pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = rel AND t.attnum > 0 AND NOT t.attisdropped) x $$;
COMMENT ON FUNCTION segment._privileges(regclass) IS
    'Privileges on a relation and its columns (grantor, grantee, privilege, grantable) as a sorted jsonb array';

CREATE OR REPLACE FUNCTION segment._alter_segment_view(view_name text, default_schema name, options jsonb) RETURNS regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    new_options jsonb;
    q text;
    cron text;
    old_rel regclass;
    rel regclass;
    owner_id oid;
    grants jsonb;
    pending jsonb;
    remaining jsonb;
    extra_indexes text[];
    idx text;
    view_comment text;
    column_comments jsonb;
    g record;
BEGIN
    r := segment._view_row(view_name, default_schema);
    IF jsonb_typeof(options) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object (keys to change; null removes a key), got %', options USING ERRCODE = '22023';
    END IF;
    old_rel := segment._view_rel(r);
    SELECT c.relowner INTO owner_id FROM pg_catalog.pg_class c WHERE c.oid = old_rel;
    -- Rights first, before anything changes: the caller acts for the owner (the rebuilt view is
    -- hers, and its query runs with her rights only) and re-issues every privilege granted on
    -- the view as the role that granted it, so that grant chains and later REVOKEs still work.
    IF NOT pg_has_role(owner_id, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of materialized view %', old_rel USING ERRCODE = '42501';
    END IF;
    grants := segment._privileges(old_rel);
    FOR g IN SELECT DISTINCT (e->>'grantor')::oid AS grantor FROM jsonb_array_elements(grants) e WHERE NOT pg_has_role((e->>'grantor')::oid, 'USAGE') LOOP
        RAISE EXCEPTION 'cannot keep the privileges role % granted on %: role % cannot act as role %', pg_get_userbyid(g.grantor), old_rel,
                        current_user, pg_get_userbyid(g.grantor)
            USING ERRCODE = '42501',
                  HINT = format('alter_segment_view re-issues every privilege as the role that granted it. A superuser (or a role with the privileges of %I) can alter this view; or %I revokes those grants first.',
                                pg_get_userbyid(g.grantor), pg_get_userbyid(g.grantor));
    END LOOP;
    -- what else the rebuild would lose: the schedule, indexes added to the view (all but the
    -- unique index on customer_id that it was made with), comments on the view and its columns
    IF r.cron_job IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        EXECUTE 'SELECT schedule FROM cron.job WHERE jobid = $1' INTO cron USING r.cron_job;
    END IF;
    SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid) INTO extra_indexes
    FROM pg_catalog.pg_index i
    WHERE i.indrelid = old_rel
      AND NOT (i.indisunique AND i.indnatts = 1 AND i.indexprs IS NULL AND i.indpred IS NULL
               AND i.indkey[0] = (SELECT a.attnum FROM pg_catalog.pg_attribute a WHERE a.attrelid = old_rel AND a.attname = 'customer_id'));
    view_comment := obj_description(old_rel, 'pg_class');
    SELECT jsonb_object_agg(a.attname, d.description) INTO column_comments
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_description d
      ON d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = old_rel AND d.objsubid = a.attnum
    WHERE a.attrelid = old_rel AND a.attnum > 0;
    -- the new query, checked before the old view goes
    new_options := jsonb_strip_nulls(r.options || options);
    q := segment._segment_view_sql(r.source, r.customer_column, r.ordered_at_column, r.amount_column, new_options);

    -- rebuild: drop (history kept), create empty, hand it to the owner, then fill it as the owner
    PERFORM segment._registry_drop(r.view_schema, r.view_name, true);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM segment._unschedule(r);
    END IF;
    EXECUTE format('DROP MATERIALIZED VIEW %s', old_rel);
    rel := segment._new_matview(r.view_schema, r.view_name, r.source, q);
    IF owner_id <> (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = current_user) THEN
        EXECUTE format('ALTER MATERIALIZED VIEW %s OWNER TO %I', rel, pg_get_userbyid(owner_id));
    END IF;
    FOREACH idx IN ARRAY coalesce(extra_indexes, '{}') LOOP
        EXECUTE idx;  -- pg_get_indexdef's own text; CREATE INDEX evaluates it as the view's owner
    END LOOP;
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', rel, view_comment);
    FOR g IN SELECT e.key, e.value FROM jsonb_each_text(coalesce(column_comments, '{}')) e LOOP
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = g.key AND a.attnum > 0) THEN
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', rel, g.key, g.value);
        END IF;
    END LOOP;
    -- privileges, each by its grantor; a grantor who holds a privilege through a grant option is
    -- served after the grant that gave it (grant chains are re-created in order)
    pending := (SELECT coalesce(jsonb_agg(e), '[]') FROM jsonb_array_elements(grants) e
                WHERE NOT ((e->>'grantor')::oid = owner_id AND (e->>'grantee')::oid = owner_id AND e->>'col' IS NULL));
    WHILE jsonb_array_length(pending) > 0 LOOP
        remaining := '[]';
        FOR g IN SELECT * FROM jsonb_to_recordset(pending) AS x(col name, grantor oid, grantee oid, privilege text, grantable boolean) LOOP
            IF g.grantor = owner_id
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
                          WHERE c.oid = rel AND a.grantee = g.grantor AND a.privilege_type = g.privilege AND a.is_grantable)
               OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute t, aclexplode(t.attacl) a
                          WHERE t.attrelid = rel AND t.attname = g.col AND a.grantee = g.grantor AND a.privilege_type = g.privilege AND a.is_grantable) THEN
                PERFORM segment._grant_as(rel, g.col, g.grantor, g.grantee, g.privilege, g.grantable, false);
            ELSE
                remaining := remaining || jsonb_build_array(to_jsonb(g));
            END IF;
        END LOOP;
        IF jsonb_array_length(remaining) = jsonb_array_length(pending) THEN
            RAISE EXCEPTION 'alter_segment_view cannot re-create the privileges % on %', remaining, old_rel USING ERRCODE = 'XX000';
        END IF;
        pending := remaining;
    END LOOP;
    -- privileges the new view has and the old one had not: the owner's own ones she had taken
    -- from herself, default privileges of the creating role (ALTER DEFAULT PRIVILEGES)
    FOR g IN SELECT n.col, n.grantor, n.grantee, n.privilege
             FROM jsonb_to_recordset(segment._privileges(rel)) AS n(col name, grantor oid, grantee oid, privilege text, grantable boolean)
             WHERE NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(grants) AS o(col name, grantor oid, grantee oid, privilege text, grantable boolean)
                               WHERE o.col IS NOT DISTINCT FROM n.col AND o.grantor = n.grantor AND o.grantee = n.grantee AND o.privilege = n.privilege) LOOP
        PERFORM segment._grant_as(rel, g.col, g.grantor, g.grantee, g.privilege, false, true);
    END LOOP;
    -- the same privileges as before, exactly, or nothing changes
    IF segment._privileges(rel) <> grants THEN
        RAISE EXCEPTION 'alter_segment_view could not re-create the privileges on % exactly (before: %, after: %)', rel, grants, segment._privileges(rel)
            USING ERRCODE = 'XX000';
    END IF;
    EXECUTE format('REFRESH MATERIALIZED VIEW %s', rel);  -- the source query runs as the view's owner
    PERFORM segment._registry_put(rel, r.source, r.customer_column, r.ordered_at_column, r.amount_column, new_options, q);
    IF cron IS NOT NULL THEN
        r := segment._view_row(format('%I.%I', r.view_schema, r.view_name), NULL);
        PERFORM segment._registry_cron(rel, segment._schedule(r, cron));
    END IF;
    RETURN rel;
END $$;
COMMENT ON FUNCTION segment._alter_segment_view(text, name, jsonb) IS 'alter_segment_view worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.alter_segment_view(view_name text, options jsonb) RETURNS regclass
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._alter_segment_view(view_name, pg_catalog.current_schema(), options);
COMMENT ON FUNCTION segment.alter_segment_view(text, jsonb) IS
    'Rebuilds a segmentation view with changed options (merged over the old ones; null removes a key) as its owner; keeps its snapshots, schedule, privileges (table and column, each by its grantor), comments, added indexes and owner';

CREATE OR REPLACE FUNCTION segment._refresh_segment_view(view_name text, default_schema name, concurrently boolean) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    -- REFRESH runs the view's query as the view's owner, whoever calls
    IF $3 THEN  -- "concurrently": a keyword inside SQL, so referred to by position
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', rel);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW %s', rel);
    END IF;
    RETURN segment._registry_refreshed(rel);
END $$;
COMMENT ON FUNCTION segment._refresh_segment_view(text, name, boolean) IS 'refresh_segment_view worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.refresh_segment_view(view_name text, concurrently boolean DEFAULT true) RETURNS timestamptz
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._refresh_segment_view(view_name, pg_catalog.current_schema(), $2);  -- $2: concurrently is a keyword
COMMENT ON FUNCTION segment.refresh_segment_view(text, boolean) IS
    'Refreshes a segmentation view (its query runs as the view''s owner); concurrently (default) never blocks its readers';

CREATE OR REPLACE FUNCTION segment._drop_segment_view(view_name text, default_schema name, keep_history boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    -- rights first: only the view's owner (or a role with her privileges) and superusers
    PERFORM segment._registry_drop(r.view_schema, r.view_name, coalesce(keep_history, false));
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM segment._unschedule(r);
    END IF;
    -- the materialized view, unless it was dropped already (or the name is another role's now)
    SELECT c.oid INTO rel FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = r.view_schema AND c.relname = r.view_name AND c.relkind = 'm' AND pg_has_role(c.relowner, 'USAGE');
    IF rel IS NOT NULL THEN
        EXECUTE format('DROP MATERIALIZED VIEW %s', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._drop_segment_view(text, name, boolean) IS 'drop_segment_view worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.drop_segment_view(view_name text, keep_history boolean DEFAULT false) RETURNS void
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._drop_segment_view(view_name, pg_catalog.current_schema(), keep_history);
COMMENT ON FUNCTION segment.drop_segment_view(text, boolean) IS
    'Drops a segmentation view (its owner or a superuser), its schedule and (unless keep_history) the snapshots of it the caller may delete';

------------------------------------------------------------------------------------------------
-- History: snapshots, migration, changes. A view's history is the snapshots its owner took;
-- reports read only those (superusers bypass row security, so the filter is explicit).
------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION segment._take_snapshot(view_name text, default_schema name, taken_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    IF taken_at IS NULL THEN
        RAISE EXCEPTION 'taken_at must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN segment._snapshot_take(rel, taken_at);
END $$;
COMMENT ON FUNCTION segment._take_snapshot(text, name, timestamptz) IS 'take_snapshot worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.take_snapshot(view_name text, taken_at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._take_snapshot(view_name, pg_catalog.current_schema(), taken_at);
COMMENT ON FUNCTION segment.take_snapshot(text, timestamptz) IS
    'Stores every customer''s tier, segment, lifecycle stage, orders and spend from a segmentation view; returns the snapshot id';

CREATE OR REPLACE FUNCTION segment._delete_snapshots(view_name text, default_schema name, taken_before timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id record;
BEGIN
    id := segment._view_ident(view_name, default_schema);
    IF taken_before IS NULL THEN
        RAISE EXCEPTION 'taken_before must not be NULL' USING ERRCODE = '22004', HINT = 'Pass ''infinity'' to delete every snapshot of the view.';
    END IF;
    RETURN segment._snapshots_delete(id.view_schema, id.view_name, taken_before);
END $$;
COMMENT ON FUNCTION segment._delete_snapshots(text, name, timestamptz) IS 'delete_snapshots worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.delete_snapshots(view_name text, taken_before timestamptz) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._delete_snapshots(view_name, pg_catalog.current_schema(), taken_before);
COMMENT ON FUNCTION segment.delete_snapshots(text, timestamptz) IS
    'Deletes the snapshots of a view taken before an instant (their rows follow); the snapshots'' owner or a superuser; returns how many';

-- the latest snapshot of a view taken at or before an instant by the view's owner
CREATE OR REPLACE FUNCTION segment._snapshot_at(r segment.segment_views, at timestamptz, what text) RETURNS bigint
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    IF at IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', what USING ERRCODE = '22004';
    END IF;
    SELECT s.snapshot_id INTO id FROM segment.segment_snapshots s
    WHERE s.view_schema = r.view_schema AND s.view_name = r.view_name AND s.owner = r.owner AND s.taken_at <= at
    ORDER BY s.taken_at DESC, s.snapshot_id DESC LIMIT 1;
    IF id IS NULL THEN
        RAISE EXCEPTION 'no snapshot of %.% was taken at or before % (%)', quote_ident(r.view_schema), quote_ident(r.view_name), at, what
            USING ERRCODE = '22023', HINT = 'segment.take_snapshot(view_name) stores one; segment.segment_snapshots lists them.';
    END IF;
    RETURN id;
END $$;
COMMENT ON FUNCTION segment._snapshot_at(segment.segment_views, timestamptz, text) IS
    'Latest snapshot by the view''s owner at or before an instant (22023 when none)';

-- each customer of either snapshot in force at two instants, side by side
CREATE OR REPLACE FUNCTION segment._snapshot_pair(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r segment.segment_views;
    a bigint;
    b bigint;
BEGIN
    r := segment._view_row(view_name, default_schema);
    a := segment._snapshot_at(r, "from", 'from');
    b := segment._snapshot_at(r, "to", 'to');
    RETURN QUERY
    SELECT customer_id, x.tier, y.tier, x.segment, y.segment, x.lifecycle_stage, y.lifecycle_stage,
           coalesce(y.monetary, 0) - coalesce(x.monetary, 0)
    FROM (SELECT * FROM segment.segment_snapshot_rows s WHERE s.snapshot_id = a) x
    FULL JOIN (SELECT * FROM segment.segment_snapshot_rows s WHERE s.snapshot_id = b) y USING (customer_id);
END $$;
COMMENT ON FUNCTION segment._snapshot_pair(text, name, timestamptz, timestamptz) IS
    'Customers of the snapshots in force at two instants, side by side, with their net spend between them';

CREATE OR REPLACE FUNCTION segment._tier_migration(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (from_tier text, to_tier text, customers bigint, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.from_tier, p.to_tier, count(*), sum(p.revenue)
    FROM segment._snapshot_pair(view_name, default_schema, "from", "to") p
    GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST $$;
COMMENT ON FUNCTION segment._tier_migration(text, name, timestamptz, timestamptz) IS 'tier_migration worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.tier_migration(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (from_tier text, to_tier text, customers bigint, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT m.from_tier, m.to_tier, m.customers, m.revenue
    FROM segment._tier_migration(view_name, pg_catalog.current_schema(), "from", "to") m;
END;
COMMENT ON FUNCTION segment.tier_migration(text, timestamptz, timestamptz) IS
    'Migration matrix between the snapshots in force at two instants: customers per (from tier, to tier) and their net spend between the snapshots (NULL tier: not a customer then)';

CREATE OR REPLACE FUNCTION segment._segment_changes(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM segment._snapshot_pair(view_name, default_schema, "from", "to") p
    WHERE p.from_tier IS DISTINCT FROM p.to_tier OR p.from_segment IS DISTINCT FROM p.to_segment
    ORDER BY length(p.customer_id), p.customer_id $$;  -- shorter keys first: non-negative integer ids in numeric order
COMMENT ON FUNCTION segment._segment_changes(text, name, timestamptz, timestamptz) IS 'segment_changes worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.segment_changes(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT c.customer_id, c.from_tier, c.to_tier, c.from_segment, c.to_segment, c.from_stage, c.to_stage, c.revenue
    FROM segment._segment_changes(view_name, pg_catalog.current_schema(), "from", "to") c;
END;
COMMENT ON FUNCTION segment.segment_changes(text, timestamptz, timestamptz) IS
    'Customers whose tier or segment changed between the snapshots in force at two instants';

------------------------------------------------------------------------------------------------
-- KPIs
------------------------------------------------------------------------------------------------
-- every output row of customers under min_group_size is suppressed (figures NULL, suppressed
-- true), with the complement segment.suppress_group adds; suppressed rows come last, by label
CREATE FUNCTION segment._segment_kpis(view_name text, default_schema name, by text, min_group_size integer)
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric, suppressed boolean)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    IF by IS NULL OR by NOT IN ('tier', 'segment', 'lifecycle_stage', 'cadence', 'rfm_code') THEN
        RAISE EXCEPTION 'by must be ''tier'', ''segment'', ''lifecycle_stage'', ''cadence'' or ''rfm_code'', got %', coalesce(quote_literal(by), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF min_group_size IS NULL OR min_group_size < 1 THEN
        RAISE EXCEPTION 'min_group_size must be at least 1, got %', coalesce(min_group_size::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    rel := segment._view_rel(r);
    -- shown: 1, or NULL for a suppressed row, which makes each of its figures NULL
    RETURN QUERY EXECUTE format(
        'SELECT k.label, k.customers * k.shown, k.customer_share * k.shown, k.revenue * k.shown, k.revenue_share * k.shown,
                k.average_order_value * k.shown, k.repurchase_rate * k.shown, k.shown IS NULL
         FROM (SELECT %1$I AS label, count(*) AS customers, round(count(*) / sum(count(*)) OVER (), 4) AS customer_share,
                      sum(monetary) AS revenue, round(sum(monetary) / nullif(sum(sum(monetary)) OVER (), 0), 4) AS revenue_share,
                      round(sum(monetary) / nullif(sum(orders), 0), 2) AS average_order_value,
                      round(count(*) FILTER (WHERE orders > 1)::numeric / count(*), 4) AS repurchase_rate,
                      CASE WHEN NOT segment.suppress_group(count(*), array_agg(count(*)) OVER (), $1) THEN 1 END AS shown
               FROM %2$s GROUP BY 1) k
         ORDER BY k.shown IS NULL, k.revenue * k.shown DESC NULLS LAST, k.label', by, rel) USING min_group_size;
END $$;
COMMENT ON FUNCTION segment._segment_kpis(text, name, text, integer) IS 'segment_kpis worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment._segment_kpis(view_name text, default_schema name, by text)
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.label, k.customers, k.customer_share, k.revenue, k.revenue_share, k.average_order_value, k.repurchase_rate
    FROM segment._segment_kpis(view_name, default_schema, by, 1) k
    ORDER BY k.revenue DESC NULLS LAST, k.label $$;
COMMENT ON FUNCTION segment._segment_kpis(text, name, text) IS 'segment_kpis worker (default_schema: the caller''s current schema)';
CREATE OR REPLACE FUNCTION segment.segment_kpis(view_name text, by text DEFAULT 'tier')
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT k.label, k.customers, k.customer_share, k.revenue, k.revenue_share, k.average_order_value, k.repurchase_rate
    FROM segment._segment_kpis(view_name, pg_catalog.current_schema(), by) k;
END;
COMMENT ON FUNCTION segment.segment_kpis(text, text) IS
    'Per tier, segment, lifecycle stage, cadence or R/F/M code: customers and share, revenue and share (the 80/20 check), average order value, repurchase rate';
CREATE FUNCTION segment.segment_kpis(view_name text, by text, min_group_size integer)
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric, suppressed boolean)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT k.label, k.customers, k.customer_share, k.revenue, k.revenue_share, k.average_order_value, k.repurchase_rate, k.suppressed
    FROM segment._segment_kpis(view_name, pg_catalog.current_schema(), by, min_group_size) k;
END;
COMMENT ON FUNCTION segment.segment_kpis(text, text, integer) IS
    'segment_kpis with small-group suppression: rows of fewer than min_group_size customers (and the next smallest, until the suppressed rows hold min_group_size together) have NULL figures and suppressed = true, listed last';

------------------------------------------------------------------------------------------------
-- Profile: checks and defaults of city_tiers bound to pg_catalog, city_tier pinned
------------------------------------------------------------------------------------------------
ALTER TABLE segment.city_tiers
    DROP CONSTRAINT city_tiers_city_check,
    ADD CONSTRAINT city_tiers_city_check
        CHECK (city OPERATOR(pg_catalog.=) pg_catalog.btrim(city) AND city OPERATOR(pg_catalog.<>) ''::pg_catalog.text),
    DROP CONSTRAINT city_tiers_tier_check,
    ADD CONSTRAINT city_tiers_tier_check
        CHECK (tier OPERATOR(pg_catalog.=) ANY ('{tier1,new_tier1,tier2,tier3,tier4,tier5}'::pg_catalog.text[])),
    ALTER COLUMN aliases SET DEFAULT '{}'::pg_catalog.text[],
    ALTER COLUMN list_version SET DEFAULT 'user'::pg_catalog.text;
CREATE OR REPLACE FUNCTION segment.age_band(birthday date, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN segment.age_band(birthday, as_of::pg_catalog.date, config, lang);
CREATE OR REPLACE FUNCTION segment.birthday_within(birthday date, as_of timestamptz, days integer) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN segment.birthday_within(birthday, as_of::pg_catalog.date, days);
CREATE OR REPLACE FUNCTION segment.city_tier(city text, lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT segment.city_tier_label(t.tier, $2)
          FROM segment.city_tiers t, (SELECT btrim($1) AS c) n
          WHERE t.city = n.c OR t.city || '市' = n.c OR lower(t.city_en) = lower(n.c)
             OR EXISTS (SELECT 1 FROM unnest(t.aliases) a WHERE lower(a) = lower(n.c))
          ORDER BY t.builtin, t.city
          LIMIT 1 $$;

------------------------------------------------------------------------------------------------
-- Sample store and CLV helpers: pinned or qualified
------------------------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION segment.sample_orders(customers integer, seed bigint DEFAULT 42, params jsonb DEFAULT '{}')
    RETURNS TABLE (order_id bigint, customer_id bigint, ordered_at timestamptz, amount numeric(12,2),
                   is_refund boolean, promotion boolean, discount numeric(4,2), category text)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT o.order_id, o.customer_id, o.ordered_at, (o.amount_fen * 0.01)::numeric(12,2),
                 o.is_refund, o.promotion, (o.discount_pct * 0.01)::numeric(4,2), o.category
          FROM segment._sample_orders(customers, seed, params) o $$;
CREATE OR REPLACE FUNCTION segment.sample_customers(customers integer, seed bigint DEFAULT 42, params jsonb DEFAULT '{}')
    RETURNS TABLE (customer_id bigint, birthday date, gender text, province text, city text, signup_at timestamptz)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM segment._sample_customers(customers, seed, params) $$;
CREATE OR REPLACE FUNCTION segment.bgnbd_model(j jsonb) RETURNS segment.bgnbd_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.bgnbd_model, j);
CREATE OR REPLACE FUNCTION segment.gamma_gamma_model(j jsonb) RETURNS segment.gamma_gamma_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.gamma_gamma_model, j);

------------------------------------------------------------------------------------------------
-- Population (issue 18): stored values record the time zone (format version 2; version 1 still
-- reads), per-customer summaries and order ids as inputs
------------------------------------------------------------------------------------------------
-- 0.2.0: population_agg over one row per customer (customer_id, rfm_summary), over order rows
-- with an order id (a repeated order id counts once).
CREATE FUNCTION segment._population_trans(internal, bigint, bigint, timestamptz, numeric, boolean, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_numeric_order' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, bigint, timestamptz, double precision, boolean, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_float8_order' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, segment.rfm_summary, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_summary' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, segment.rfm_summary, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_summary' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._population_trans(internal, bigint, bigint, timestamptz, numeric, boolean, timestamptz, jsonb) IS 'population_agg transition (order id, numeric amounts, refund flag, options)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, bigint, timestamptz, double precision, boolean, timestamptz, jsonb) IS 'population_agg transition (order id, float8 amounts, refund flag, options)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, segment.rfm_summary, timestamptz) IS 'population_agg transition (one rfm_summary per customer)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, segment.rfm_summary, timestamptz, jsonb) IS 'population_agg transition (one rfm_summary per customer, options)';

CREATE AGGREGATE segment.population_agg(customer_id bigint, order_id bigint, ordered_at timestamptz, amount numeric, is_refund boolean,
                                        as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, order_id bigint, ordered_at timestamptz, amount double precision, is_refund boolean,
                                        as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, summary segment.rfm_summary, as_of timestamptz) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, summary segment.rfm_summary, as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.population_agg(bigint, bigint, timestamptz, numeric, boolean, timestamptz, jsonb) IS
    'Whole-population segmentation of order rows with an order id: rows repeating a customer''s order id count once (NULL order id: always counts)';
COMMENT ON AGGREGATE segment.population_agg(bigint, bigint, timestamptz, double precision, boolean, timestamptz, jsonb) IS
    'Whole-population segmentation of order rows with an order id, float8 amounts: rows repeating a customer''s order id count once';
COMMENT ON AGGREGATE segment.population_agg(bigint, segment.rfm_summary, timestamptz) IS
    'Whole-population segmentation of one rfm_summary per customer (as rfm_agg ... GROUP BY customer_id gives): what the order rows give';
COMMENT ON AGGREGATE segment.population_agg(bigint, segment.rfm_summary, timestamptz, jsonb) IS
    'Whole-population segmentation of one rfm_summary per customer, with options: what the order rows give';
COMMENT ON FUNCTION segment.population_info(segment.rfm_population) IS
    'Format version, as_of, time zone days were counted in, customers, order rows read, repeated order rows dropped, peak state bytes and value bytes of a population';

------------------------------------------------------------------------------------------------
-- Service plans and next actions (issue 16): the objects of sql/service.sql, new in 0.2.0
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._lang(lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lang' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._lang(text) IS 'A lang argument checked and normalized to zh, en or code (22023 otherwise, NULL too)';
CREATE FUNCTION segment._tier_code(tier text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_tier_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._tier_code(text) IS
    'The code of a built-in membership tier given in any language (至尊VIP, Diamond VIP, diamond_vip); any other tier trimmed';

------------------------------------------------------------------------------------------------
-- Service plans: a user-extensible table (user rows override built-in ones and are dumped)
------------------------------------------------------------------------------------------------
-- (the checks and defaults are bound when the extension is installed: every name qualified)
CREATE TABLE segment.service_benefits (
    tier text NOT NULL CONSTRAINT service_benefits_tier_check
        CHECK (tier OPERATOR(pg_catalog.=) pg_catalog.btrim(tier) AND tier OPERATOR(pg_catalog.<>) ''::pg_catalog.text),
    benefit text NOT NULL CONSTRAINT service_benefits_benefit_check
        CHECK (benefit OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'::pg_catalog.text),
    direction text CONSTRAINT service_benefits_direction_check
        CHECK (direction OPERATOR(pg_catalog.=) ANY ('{customer_service,logistics,discounts,care}'::pg_catalog.text[])),
    label_zh text,
    label_en text,
    position integer NOT NULL DEFAULT 100,
    builtin boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tier, benefit, builtin),
    -- a row with both labels NULL removes a benefit; every other row says where it belongs
    CONSTRAINT service_benefits_check CHECK ((label_zh IS NULL AND label_en IS NULL) OR direction IS NOT NULL),
    CONSTRAINT service_benefits_builtin_check CHECK (NOT builtin OR (label_zh IS NOT NULL AND label_en IS NOT NULL))
);
COMMENT ON TABLE segment.service_benefits IS
    'Service benefits per member tier in four directions (customer_service, logistics, discounts, care), read by service_plan(): built-in rows (builtin = true) are re-created by the extension; your rows (builtin = false) override a built-in benefit of the same tier and code, add benefits or tiers, and with both labels NULL remove a benefit; pg_dump keeps them';
COMMENT ON TYPE segment.service_benefits IS 'Row type of segment.service_benefits';
-- user rows (and only they) are dumped by pg_dump; built-in rows come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('segment.service_benefits', 'WHERE NOT builtin');
GRANT SELECT ON segment.service_benefits TO PUBLIC;

-- Built-in plans for the four tiers of customer_tier() (codes diamond_vip, vip, senior_member,
-- member): one-to-one service and longer return windows, free shipping and SF Express for the
-- higher tiers, new-arrival, member-day and event offers, SMS, birthday and holiday greetings and
-- weather notes. A starting point: replace them with your own rows.
INSERT INTO segment.service_benefits (tier, direction, benefit, position, label_zh, label_en, builtin) VALUES
    ('diamond_vip', 'customer_service', 'one_to_one_service', 10, '专属客服一对一服务', 'Dedicated one-to-one service', true),
    ('diamond_vip', 'customer_service', 'return_window', 20, '30天无忧退换货', '30-day returns and exchanges', true),
    ('diamond_vip', 'logistics', 'sf_express', 10, '顺丰速运包邮', 'Free SF Express delivery', true),
    ('diamond_vip', 'discounts', 'new_arrival_offer', 10, '新品抢先购', 'Early access to new arrivals', true),
    ('diamond_vip', 'discounts', 'member_day_offer', 20, '会员日85折', 'Member day: 15% off', true),
    ('diamond_vip', 'discounts', 'event_offer', 30, '大促专享券', 'Exclusive coupons for major events', true),
    ('diamond_vip', 'care', 'sms_care', 10, '专属短信关怀', 'Personal SMS care', true),
    ('diamond_vip', 'care', 'birthday_greeting', 20, '生日祝福与生日礼', 'Birthday greeting and gift', true),
    ('diamond_vip', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('diamond_vip', 'care', 'weather_note', 40, '天气变化提醒', 'Weather notes', true),
    ('vip', 'customer_service', 'priority_service', 10, '优先客服', 'Priority customer service', true),
    ('vip', 'customer_service', 'return_window', 20, '15天退换货', '15-day returns and exchanges', true),
    ('vip', 'logistics', 'sf_express', 10, '顺丰速运包邮', 'Free SF Express delivery', true),
    ('vip', 'discounts', 'new_arrival_offer', 10, '新品9折', 'New arrivals: 10% off', true),
    ('vip', 'discounts', 'member_day_offer', 20, '会员日9折', 'Member day: 10% off', true),
    ('vip', 'discounts', 'event_offer', 30, '大促专享券', 'Exclusive coupons for major events', true),
    ('vip', 'care', 'sms_care', 10, '短信关怀', 'SMS care', true),
    ('vip', 'care', 'birthday_greeting', 20, '生日祝福与生日券', 'Birthday greeting and coupon', true),
    ('vip', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('vip', 'care', 'weather_note', 40, '天气变化提醒', 'Weather notes', true),
    ('senior_member', 'customer_service', 'return_window', 20, '10天退换货', '10-day returns and exchanges', true),
    ('senior_member', 'logistics', 'free_shipping', 10, '全场包邮', 'Free shipping', true),
    ('senior_member', 'discounts', 'member_day_offer', 20, '会员日95折', 'Member day: 5% off', true),
    ('senior_member', 'discounts', 'event_offer', 30, '活动优惠券', 'Event coupons', true),
    ('senior_member', 'care', 'birthday_greeting', 20, '生日祝福', 'Birthday greeting', true),
    ('senior_member', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('member', 'customer_service', 'return_window', 20, '7天无理由退货', '7-day no-reason returns', true),
    ('member', 'logistics', 'free_shipping', 10, '满99元包邮', 'Free shipping over ¥99', true),
    ('member', 'discounts', 'event_offer', 30, '活动优惠', 'Event offers', true),
    ('member', 'care', 'birthday_greeting', 20, '生日祝福短信', 'Birthday greeting by SMS', true);

-- Every tier's plan, user rows over built-in ones: {"customer_service": [...], "logistics": [...],
-- "discounts": [...], "care": [...]}, labels in lang (benefit codes for 'code'), in position order.
CREATE FUNCTION segment._service_plans(lang text) RETURNS TABLE (tier text, plan jsonb)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    lang := segment._lang(lang);  -- checked before anything is read
    RETURN QUERY
    WITH b AS (  -- per tier and benefit: a user row if there is one, else the built-in one
        SELECT DISTINCT ON (t.code, s.benefit) t.code AS tier, s.benefit, s.direction, s.position,
               CASE lang WHEN 'code' THEN s.benefit WHEN 'en' THEN coalesce(s.label_en, s.label_zh)
                         ELSE coalesce(s.label_zh, s.label_en) END AS label,
               s.label_zh IS NULL AND s.label_en IS NULL AS removed
        FROM segment.service_benefits s, LATERAL (SELECT segment._tier_code(s.tier) AS code) t
        ORDER BY t.code, s.benefit, s.builtin, s.tier),
    d AS (
        SELECT b.tier, b.direction, jsonb_agg(to_jsonb(b.label) ORDER BY b.position, b.benefit) AS items
        FROM b WHERE NOT b.removed GROUP BY 1, 2)
    SELECT t.tier, '{"customer_service": [], "logistics": [], "discounts": [], "care": []}'::jsonb
                   || coalesce((SELECT jsonb_object_agg(d.direction, d.items) FROM d WHERE d.tier = t.tier), '{}'::jsonb)
    FROM (SELECT DISTINCT b.tier FROM b) t;
END $$;
COMMENT ON FUNCTION segment._service_plans(text) IS
    'Every tier''s service plan from segment.service_benefits (user rows over built-in ones): benefit labels per direction';

CREATE FUNCTION segment.service_plan(tier text, lang text DEFAULT 'zh') RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT p.plan FROM segment._service_plans($2) p WHERE p.tier = segment._tier_code($1) $$;
COMMENT ON FUNCTION segment.service_plan(text, text) IS
    'A member tier''s service benefits (至尊VIP, Diamond VIP or diamond_vip; your own tiers as written in segment.service_benefits) as {"customer_service", "logistics", "discounts", "care"} arrays of labels; NULL for a tier without rows';

------------------------------------------------------------------------------------------------
-- Next actions
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.next_action(stage text, cadence text DEFAULT NULL, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_next_action' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.next_action(text, text, jsonb, text) IS
    'Recommended contact for a lifecycle stage and purchase cadence (any language): new, active: new arrivals; sleeping: event notice (monthly buyers: major event); at risk: major event notice (yearly buyers: event); churned: ask why; prospect: first-order offer; config {"rules": [...]} replaces the rules; NULL stage gives NULL';

------------------------------------------------------------------------------------------------
-- Segmentation view options "next_action" (true, or a next_action config) and "service_plan"
-- (true): columns next_action text and service_plan jsonb after the others. Called by
-- _create_segment_view and _alter_segment_view (sql/views.sql) for the view's query.
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._segment_view_sql(source regclass, customer_column name, ordered_at_column name,
                                          amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text;
    lang text;
    config jsonb;
    extra text := '';
    joins text := '';
BEGIN
    options := coalesce(options, '{}');
    -- the other options (and the shape of options itself) are checked by _segment_view_query
    q := segment._segment_view_query(source, customer_column, ordered_at_column, amount_column,
                                     CASE jsonb_typeof(options) WHEN 'object' THEN options - ARRAY['next_action', 'service_plan'] ELSE options END);
    IF NOT (options ? 'next_action' OR options ? 'service_plan') THEN
        RETURN q;
    END IF;
    lang := segment._lang(coalesce(options->>'lang', 'zh'));
    IF options ? 'next_action' THEN
        CASE jsonb_typeof(options->'next_action')
            WHEN 'boolean' THEN config := CASE WHEN (options->>'next_action')::boolean THEN '{}'::jsonb END;
            WHEN 'object' THEN config := options->'next_action';
            ELSE RAISE EXCEPTION 'options.next_action must be true, false or a next_action config such as {"rules": [...]}, got %', options->'next_action'
                USING ERRCODE = '22023';
        END CASE;
        IF config IS NOT NULL THEN
            PERFORM segment.next_action('active', NULL, config, lang);  -- a bad config fails now, not at refresh
            extra := extra || format(', segment.next_action(v.lifecycle_stage, v.cadence, %L::jsonb, %L) AS next_action', config, lang);
        END IF;
    END IF;
    IF options ? 'service_plan' THEN
        IF jsonb_typeof(options->'service_plan') IS DISTINCT FROM 'boolean' THEN
            RAISE EXCEPTION 'options.service_plan must be true or false, got %', options->'service_plan' USING ERRCODE = '22023';
        END IF;
        IF (options->>'service_plan')::boolean THEN
            -- one plan per tier, joined (not one service_plan() call per customer)
            extra := extra || ', sp.plan AS service_plan';
            joins := format(' LEFT JOIN segment._service_plans(%L) sp ON sp.tier = segment._tier_code(v.tier)', lang);
        END IF;
    END IF;
    IF extra = '' THEN
        RETURN q;
    END IF;
    RETURN format('SELECT v.*%s FROM (%s) v%s', extra, q, joins);
END $$;
COMMENT ON FUNCTION segment._segment_view_sql(regclass, name, name, name, jsonb) IS
    'The SELECT of a segmentation view: _segment_view_query with the columns of the options next_action and service_plan';

------------------------------------------------------------------------------------------------
-- Privacy-safe exports (issue 16): the objects of sql/privacy.sql, new in 0.2.0 (segment_kpis
-- with min_group_size is above, with the KPIs)
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.pseudonym(customer_key text, purpose text DEFAULT '') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_pseudonym' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION segment.pseudonym(text, text) IS
    'Keyed pseudonym of a customer key: HMAC-SHA-256 under pg_segment.pseudonym_key (a superuser-only setting) as 64 hex digits; a purpose (e.g. ''sms'') gives each recipient its own pseudonyms; 22023 when no key is set, 55000 when it was set before pg_segment was loaded';

------------------------------------------------------------------------------------------------
-- Small-group suppression
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.suppress_group(customers bigint, group_sizes bigint[], min_group_size integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'pgseg_suppress_group' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.suppress_group(bigint, bigint[], integer) IS
    'Whether an output row of customers customers is suppressed, given the sizes of every row (array_agg(count(*)) OVER ()): rows of 1 to min_group_size - 1 customers, and the next smallest until the suppressed rows hold min_group_size together';

------------------------------------------------------------------------------------------------
-- Export: segment, tier, next action and the pseudonym, nothing else
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._export_segments(view_name text, default_schema name, purpose text)
    RETURNS TABLE (pseudonym text, segment text, tier text, next_action text)
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
    action text;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    IF purpose IS NULL THEN
        RAISE EXCEPTION 'purpose must not be NULL (pass '''' for none)' USING ERRCODE = '22004';
    END IF;
    -- the view's next_action column (option next_action) when it has one, else the built-in
    -- rules in the view's language
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = rel AND a.attname = 'next_action' AND a.attnum > 0 AND NOT a.attisdropped) THEN
        action := 'v.next_action';
    ELSE
        action := format('segment.next_action(v.lifecycle_stage, v.cadence, ''{}''::jsonb, %L)', coalesce(r.options->>'lang', 'zh'));
    END IF;
    -- ordered by pseudonym: the order of the rows says nothing about the customer keys
    RETURN QUERY EXECUTE format('SELECT segment.pseudonym(v.customer_id::text, $1), v.segment, v.tier, %s FROM %s v ORDER BY 1', action, rel)
        USING purpose;
END $$;
COMMENT ON FUNCTION segment._export_segments(text, name, text) IS 'export_segments worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.export_segments(view_name text, purpose text DEFAULT '')
    RETURNS TABLE (pseudonym text, segment text, tier text, next_action text)
    LANGUAGE sql STABLE PARALLEL RESTRICTED  -- as pseudonym()
BEGIN ATOMIC
    SELECT e.pseudonym, e.segment, e.tier, e.next_action FROM segment._export_segments(view_name, pg_catalog.current_schema(), purpose) e;
END;
COMMENT ON FUNCTION segment.export_segments(text, text) IS
    'Rows of a segmentation view for SMS and ad tools: the customer''s pseudonym (pseudonym(customer_id::text, purpose)), segment, tier and next action only, ordered by pseudonym';

------------------------------------------------------------------------------------------------
-- The segment report (issue 17): segment.report() and its workers, as in sql/report.sql
------------------------------------------------------------------------------------------------
-- Each row of a query as a jsonb object of its columns' text (NULL stays null), in the query's order.
CREATE FUNCTION segment._report_rows(query text) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    result jsonb;
BEGIN
    EXECUTE format('SELECT coalesce(jsonb_agg(x.j ORDER BY x.n), ''[]''::jsonb) FROM (SELECT row_number() OVER () AS n, '
                   '(SELECT jsonb_object_agg(e.key, e.value #>> ''{}'') FROM jsonb_each(to_jsonb(_report_row)) e) AS j '
                   'FROM (%s) _report_row) x', query) INTO result;
    RETURN result;
END $$;
COMMENT ON FUNCTION segment._report_rows(text) IS
    'The rows of a report query as jsonb objects of each column''s text, in the query''s order';

-- An instant as an unambiguous literal for the SQL the page shows ('2025-12-31 23:59:59+08:00').
CREATE FUNCTION segment._report_instant(t timestamptz) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE WHEN NOT isfinite(t) THEN t::text
                ELSE to_char(t, 'YYYY-MM-DD HH24:MI:SS') || CASE WHEN date_trunc('second', t) <> t THEN to_char(t, '.US') ELSE '' END
                     || to_char(t, 'TZH:TZM') END $$;
COMMENT ON FUNCTION segment._report_instant(timestamptz) IS
    'An instant as an ISO 8601 literal in the session''s time zone, for the SQL a report shows';

CREATE FUNCTION segment._report_data(view_name text, default_schema name, options jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
    v text;           -- the view for the SQL shown: schema-qualified, quoted where needed
    v_lit text;       -- the same as a literal, for segment_kpis and tier_migration
    opts jsonb := coalesce(options, '{}');
    lang text;
    mgs bigint := 0;
    t_from timestamptz;
    t_to timestamptz;
    cols name[];
    p_alive_expr text;
    clv_expr text;
    bins int;
    sections jsonb := '{}';
    q text;
    k text;
BEGIN
    r := segment._view_row(view_name, default_schema);
    rel := segment._view_rel(r);
    v := format('%I.%I', r.view_schema, r.view_name);
    v_lit := quote_literal(v);

    -- options: lang, title, from and to (both or neither), min_group_size
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object, got %', opts USING ERRCODE = '22023';
    END IF;
    FOR k IN SELECT jsonb_object_keys(opts) LOOP
        IF k NOT IN ('lang', 'title', 'from', 'to', 'min_group_size') THEN
            RAISE EXCEPTION 'report options: unknown key "%"', k USING ERRCODE = '22023',
                HINT = 'The keys are lang (''zh'' or ''en''), title, from and to (instants of the snapshots to compare), min_group_size.';
        END IF;
    END LOOP;
    -- the page's language: the option, else the view's labels' language, else 中文
    IF opts ? 'lang' AND (jsonb_typeof(opts->'lang') <> 'string' OR lower(opts->>'lang') NOT IN ('zh', 'en')) THEN
        RAISE EXCEPTION 'report option "lang" must be ''zh'' or ''en'', got %', opts->'lang' USING ERRCODE = '22023';
    END IF;
    lang := lower(coalesce(opts->>'lang', CASE WHEN r.options->>'lang' IN ('zh', 'en') THEN r.options->>'lang' END, 'zh'));
    IF opts ? 'title' AND jsonb_typeof(opts->'title') <> 'string' THEN
        RAISE EXCEPTION 'report option "title" must be a string, got %', opts->'title' USING ERRCODE = '22023';
    END IF;
    IF opts ? 'min_group_size' THEN
        IF jsonb_typeof(opts->'min_group_size') <> 'number' OR (opts->>'min_group_size')::numeric NOT BETWEEN 0 AND 1000000000
           OR (opts->>'min_group_size')::numeric <> trunc((opts->>'min_group_size')::numeric) THEN
            RAISE EXCEPTION 'report option "min_group_size" must be a whole number from 0 to 1000000000, got %', opts->'min_group_size'
                USING ERRCODE = '22023';
        END IF;
        mgs := (opts->>'min_group_size')::bigint;
    END IF;
    IF (opts ? 'from') <> (opts ? 'to') THEN
        RAISE EXCEPTION 'report options "from" and "to" go together: give both instants or neither' USING ERRCODE = '22023',
            HINT = 'Without them the report compares the last two snapshots of the view.';
    END IF;
    IF opts ? 'from' THEN
        BEGIN
            t_from := (opts->>'from')::timestamptz;
            t_to := (opts->>'to')::timestamptz;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'report options "from" and "to" must be timestamptz, got % and %', opts->'from', opts->'to' USING ERRCODE = '22023';
        END;
        IF t_from IS NULL OR t_to IS NULL THEN
            RAISE EXCEPTION 'report options "from" and "to" must be instants, got % and %', opts->'from', opts->'to' USING ERRCODE = '22023';
        END IF;
    ELSE
        -- the last two distinct instants the view's owner took snapshots at
        SELECT min(x.taken_at), max(x.taken_at) INTO t_from, t_to
        FROM (SELECT DISTINCT s.taken_at FROM segment.segment_snapshots s
              WHERE s.view_schema = r.view_schema AND s.view_name = r.view_name AND s.owner = r.owner
              ORDER BY s.taken_at DESC LIMIT 2) x
        HAVING count(*) = 2;
    END IF;

    -- the charts' queries, in the order of the page
    q := format('SELECT count(*) AS customers, sum(monetary) AS revenue, sum(orders) AS orders,'
                ' round(sum(monetary) / nullif(sum(orders), 0), 2) AS average_order_value,'
                ' round(count(*) FILTER (WHERE orders > 1)::numeric / nullif(count(*), 0), 4) AS repurchase_rate,'
                ' max(as_of) AS as_of FROM %s', v);
    sections := sections || jsonb_build_object('kpis', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    q := format('SELECT r, f, count(*) AS customers, round(avg(monetary), 2) AS average_spend'
                ' FROM %s WHERE r IS NOT NULL AND f IS NOT NULL GROUP BY r, f ORDER BY r DESC, f', v);
    sections := sections || jsonb_build_object('rf_grid', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    -- with min_group_size, segment_kpis suppresses the small groups itself (the other charts
    -- apply its rule, segment.suppress_group's, to the rows they draw)
    q := format('SELECT * FROM segment.segment_kpis(%s, ''segment''%s)', v_lit, CASE WHEN mgs > 1 THEN ', ' || mgs END);
    sections := sections || jsonb_build_object('segments', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    q := format('SELECT * FROM segment.segment_kpis(%s, ''tier''%s)', v_lit, CASE WHEN mgs > 1 THEN ', ' || mgs END);
    sections := sections || jsonb_build_object('tiers', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    -- Lorenz curve: a point every 1% of the customers (or every min_group_size of them,
    -- whichever is more), the Gini coefficient and the share of the top 20% (segment.lorenz)
    q := format('SELECT customers, round(customer_share::numeric, 4) AS customer_share, round(revenue_share::numeric, 4) AS revenue_share,'
                ' round(gini::numeric, 4) AS gini, round(top20_revenue_share::numeric, 4) AS top20_revenue_share'
                ' FROM segment.lorenz((SELECT array_agg(monetary::float8) FROM %s), 100, %s)', v, mgs);
    sections := sections || jsonb_build_object('lorenz', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    q := format('SELECT lifecycle_stage, cadence, count(*) AS customers, sum(monetary) AS revenue,'
                ' round(sum(monetary) / nullif(sum(sum(monetary)) OVER (), 0), 4) AS revenue_share'
                ' FROM %s GROUP BY lifecycle_stage, cadence ORDER BY lifecycle_stage, cadence', v);
    sections := sections || jsonb_build_object('lifecycle', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));

    IF t_from IS NOT NULL THEN
        q := format('SELECT * FROM segment.tier_migration(%s, %L, %L)', v_lit, segment._report_instant(t_from), segment._report_instant(t_to));
        sections := sections || jsonb_build_object('migration', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));
    END IF;

    -- predictions, where the view has them (issue 15's "predict" columns): P(alive) as p_alive
    -- (or 1 - churn_probability), predicted CLV as predicted_clv; numeric columns only
    SELECT array_agg(a.attname) INTO cols FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
    WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped AND ty.typcategory = 'N';
    cols := coalesce(cols, '{}');
    p_alive_expr := CASE WHEN 'p_alive' = ANY (cols) THEN format('%I::float8', 'p_alive'::name)
                         WHEN 'churn_probability' = ANY (cols) THEN format('1 - %I::float8', 'churn_probability'::name) END;
    clv_expr := CASE WHEN 'predicted_clv' = ANY (cols) THEN format('%I::float8', 'predicted_clv'::name) END;
    IF p_alive_expr IS NOT NULL THEN
        q := format('SELECT segment, count(*) AS customers, count(*) FILTER (WHERE p < 0.2) AS p_alive_0_20,'
                    ' count(*) FILTER (WHERE p >= 0.2 AND p < 0.4) AS p_alive_20_40, count(*) FILTER (WHERE p >= 0.4 AND p < 0.6) AS p_alive_40_60,'
                    ' count(*) FILTER (WHERE p >= 0.6 AND p < 0.8) AS p_alive_60_80, count(*) FILTER (WHERE p >= 0.8) AS p_alive_80_100,'
                    ' round(avg(p)::numeric, 4) AS mean_p_alive'
                    ' FROM (SELECT segment, monetary, %s AS p FROM %s) x WHERE p IS NOT NULL'
                    ' GROUP BY segment ORDER BY sum(monetary) DESC NULLS LAST, segment', p_alive_expr, v);
        sections := sections || jsonb_build_object('p_alive', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));
    END IF;
    IF clv_expr IS NOT NULL THEN
        q := format('SELECT segment, count(*) AS customers,'
                    ' round(percentile_cont(0.1) WITHIN GROUP (ORDER BY c)::numeric, 2) AS p10,'
                    ' round(percentile_cont(0.25) WITHIN GROUP (ORDER BY c)::numeric, 2) AS p25,'
                    ' round(percentile_cont(0.5) WITHIN GROUP (ORDER BY c)::numeric, 2) AS median,'
                    ' round(percentile_cont(0.75) WITHIN GROUP (ORDER BY c)::numeric, 2) AS p75,'
                    ' round(percentile_cont(0.9) WITHIN GROUP (ORDER BY c)::numeric, 2) AS p90,'
                    ' round(avg(c)::numeric, 2) AS mean'
                    ' FROM (SELECT segment, monetary, %s AS c FROM %s) x WHERE c IS NOT NULL'
                    ' GROUP BY segment ORDER BY sum(monetary) DESC NULLS LAST, segment', clv_expr, v);
        sections := sections || jsonb_build_object('clv', jsonb_build_object('sql', q, 'rows', segment._report_rows(q)));
    END IF;

    -- the grid's size: the bins the view was scored with (5 unless its options say otherwise)
    bins := CASE WHEN jsonb_typeof(r.options->'bins') = 'number' THEN (r.options->>'bins')::int ELSE 5 END;
    RETURN jsonb_build_object(
        'lang', lang, 'title', opts->'title', 'view', v, 'min_group_size', mgs, 'bins', bins,
        'generated_at', to_jsonb(now()) #>> '{}',
        'version', (SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname = 'pg_segment'),
        'from', segment._report_instant(t_from), 'to', segment._report_instant(t_to),
        'sections', sections);
END $$;
COMMENT ON FUNCTION segment._report_data(text, name, jsonb) IS
    'report worker: runs each chart''s query over a segmentation view and returns their SQL and rows (default_schema: the caller''s current schema)';

CREATE FUNCTION segment.lorenz(spend double precision[], points integer DEFAULT 100, min_group_size bigint DEFAULT 0)
    RETURNS TABLE (customers bigint, customer_share double precision, revenue_share double precision,
                   gini double precision, top20_revenue_share double precision)
    AS 'MODULE_PATHNAME', 'pgseg_lorenz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION segment.lorenz(double precision[], integer, bigint) IS
    'Lorenz curve of spend (customers from the lowest spender up; a point every max(ceil(n / points), min_group_size) customers and at the last), with the Gini coefficient and the top 20% of customers'' share of revenue';

CREATE FUNCTION segment._report_render(doc jsonb) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_report_render' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._report_render(jsonb) IS
    'Draws the report page (HTML with inline SVG and CSS, no script) from the document of _report_data';

CREATE FUNCTION segment.report(view_name text, options jsonb DEFAULT '{}'::pg_catalog.jsonb) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN segment._report_render(segment._report_data(view_name, pg_catalog.current_schema(), options));
COMMENT ON FUNCTION segment.report(text, jsonb) IS
    'One self-contained HTML page (inline SVG and CSS, no script) of a segmentation view: KPIs, R x F grid, segments, tiers, Lorenz curve, lifecycle x cadence, tier migration, predictions; options lang, title, from, to, min_group_size';

------------------------------------------------------------------------------------------------
-- Issue 16 part A: principal components, browsing activity, brand loyalty, data quality
-- (new objects: the text of sql/pca.sql, sql/browsing.sql, sql/loyalty.sql and sql/quality.sql)
------------------------------------------------------------------------------------------------

-- The pca family (src/pca.rs, crates/core/src/pca.rs): principal components of per-customer
-- feature vectors. pca_fit keeps every feature vector in the k-means aggregates' state (kind
-- pca; their combine, serialize and deserialize functions), and the fit sorts them first, so
-- serial and parallel plans give the same model.
CREATE FUNCTION segment._pca_fit_trans(internal, double precision[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pca_fit_trans(internal, double precision[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pca_fit_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._pca_fit_trans(internal, double precision[]) IS 'pca_fit transition';
COMMENT ON FUNCTION segment._pca_fit_trans(internal, double precision[], jsonb) IS 'pca_fit transition';
COMMENT ON FUNCTION segment._pca_fit_final(internal) IS 'pca_fit final: standardizes, decomposes the covariance';

CREATE AGGREGATE segment.pca_fit(features double precision[]) (
    SFUNC = segment._pca_fit_trans, STYPE = internal, FINALFUNC = segment._pca_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.pca_fit(features double precision[], options jsonb) (
    SFUNC = segment._pca_fit_trans, STYPE = internal, FINALFUNC = segment._pca_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.pca_fit(double precision[]) IS
    'Principal components model (jsonb) of the feature vectors: z-score standardization, every component; whatever the row order or plan, the same model';
COMMENT ON AGGREGATE segment.pca_fit(double precision[], jsonb) IS
    'Principal components model; options: standardize (zscore|log_zscore|none), n_components or variance (share to explain), memory_limit_mb';

CREATE FUNCTION segment.pca_transform(model jsonb, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'pgseg_pca_transform' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.pca_transform(jsonb, double precision[]) IS
    'The feature vector''s coordinates on the model''s components (after its standardization), first component first';

-- The browsing family (src/browsing.rs, crates/core/src/browsing.rs): browsing activity from an
-- events table (one row per visit or page view), the active-by-browsing flag and the lifecycle
-- stages that use it.
------------------------------------------------------------------------------------------------
-- The browsing_summary type: every visit of one customer as its instant.
------------------------------------------------------------------------------------------------
CREATE TYPE segment.browsing_summary;
CREATE FUNCTION segment.browsing_summary_in(cstring) RETURNS segment.browsing_summary
    AS 'MODULE_PATHNAME', 'pgseg_browsing_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.browsing_summary_out(segment.browsing_summary) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pgseg_browsing_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.browsing_summary_recv(internal) RETURNS segment.browsing_summary
    AS 'MODULE_PATHNAME', 'pgseg_browsing_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.browsing_summary_send(segment.browsing_summary) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_browsing_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE segment.browsing_summary (
    INPUT = segment.browsing_summary_in,
    OUTPUT = segment.browsing_summary_out,
    RECEIVE = segment.browsing_summary_recv,
    SEND = segment.browsing_summary_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE segment.browsing_summary IS
    'Per-customer browsing history: every visit as its instant; text form b1:<instant>|...';
COMMENT ON FUNCTION segment.browsing_summary_in(cstring) IS 'Text input of browsing_summary (b1:... form)';
COMMENT ON FUNCTION segment.browsing_summary_out(segment.browsing_summary) IS 'Text output of browsing_summary (b1:... form)';
COMMENT ON FUNCTION segment.browsing_summary_recv(internal) IS 'Binary input of browsing_summary (validated)';
COMMENT ON FUNCTION segment.browsing_summary_send(segment.browsing_summary) IS 'Binary output of browsing_summary';

-- browsing_agg and rollup (internal state, parallel: combine + serialize/deserialize)
CREATE FUNCTION segment._browsing_trans(internal, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_browsing_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._browsing_rollup_trans(internal, segment.browsing_summary) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_browsing_rollup_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._browsing_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_browsing_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._browsing_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_browsing_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._browsing_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_browsing_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._browsing_final(internal) RETURNS segment.browsing_summary
    AS 'MODULE_PATHNAME', 'pgseg_browsing_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._browsing_trans(internal, timestamptz) IS 'browsing_agg transition';
COMMENT ON FUNCTION segment._browsing_rollup_trans(internal, segment.browsing_summary) IS 'rollup(browsing_summary) transition';
COMMENT ON FUNCTION segment._browsing_combine(internal, internal) IS 'browsing_agg/rollup combine of partial states';
COMMENT ON FUNCTION segment._browsing_serialize(internal) IS 'browsing_agg/rollup state serialization for parallel workers';
COMMENT ON FUNCTION segment._browsing_deserialize(bytea, internal) IS 'browsing_agg/rollup state deserialization';
COMMENT ON FUNCTION segment._browsing_final(internal) IS 'browsing_agg/rollup final: sorted browsing_summary';
CREATE AGGREGATE segment.browsing_agg(visited_at timestamptz) (
    SFUNC = segment._browsing_trans, STYPE = internal, FINALFUNC = segment._browsing_final,
    COMBINEFUNC = segment._browsing_combine, SERIALFUNC = segment._browsing_serialize,
    DESERIALFUNC = segment._browsing_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rollup(segment.browsing_summary) (
    SFUNC = segment._browsing_rollup_trans, STYPE = internal, FINALFUNC = segment._browsing_final,
    COMBINEFUNC = segment._browsing_combine, SERIALFUNC = segment._browsing_serialize,
    DESERIALFUNC = segment._browsing_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.browsing_agg(timestamptz) IS
    'Per-customer browsing summary of event rows (each row one visit); NULL instants skipped; NULL for no rows';
COMMENT ON AGGREGATE segment.rollup(segment.browsing_summary) IS
    'Merges browsing_summary values (e.g. monthly partials into a year)';

------------------------------------------------------------------------------------------------
-- Accessors, the active flag, lifecycle stages
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.visits(b segment.browsing_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_visits' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.visits(b segment.browsing_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_visits' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.visits(b segment.browsing_summary, as_of timestamptz, window_days integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_window_visits' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.visits(b segment.browsing_summary, as_of timestamptz, window_days integer, tz text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_window_visits' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.last_visit(b segment.browsing_summary) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_last_visit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.last_visit(b segment.browsing_summary, as_of timestamptz) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_last_visit' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.visits_per_month(b segment.browsing_summary, as_of timestamptz, months integer DEFAULT 12)
    RETURNS TABLE (month date, visits bigint)
    AS 'MODULE_PATHNAME', 'pgseg_visits_per_month' LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 12;
CREATE FUNCTION segment.visits_per_month(b segment.browsing_summary, as_of timestamptz, months integer, tz text)
    RETURNS TABLE (month date, visits bigint)
    AS 'MODULE_PATHNAME', 'pgseg_visits_per_month' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 12;
CREATE FUNCTION segment.browsing_active(b segment.browsing_summary, as_of timestamptz, config jsonb DEFAULT '{}') RETURNS boolean
    AS 'MODULE_PATHNAME', 'pgseg_browsing_active' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.browsing_active(b segment.browsing_summary, as_of timestamptz, config jsonb, tz text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'pgseg_browsing_active' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.browsing_lifecycle_stage(s segment.rfm_summary, b segment.browsing_summary, as_of timestamptz,
        config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_browsing_lifecycle_stage' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment.browsing_lifecycle_stage(s segment.rfm_summary, b segment.browsing_summary, as_of timestamptz,
        config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_browsing_lifecycle_stage' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._browsing_lifecycle(recency_days bigint, tenure_days bigint, b segment.browsing_summary, as_of timestamptz,
        config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_browsing_lifecycle_days' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.visits(segment.browsing_summary) IS 'Number of visits';
COMMENT ON FUNCTION segment.visits(segment.browsing_summary, timestamptz) IS 'Number of visits at or before as_of';
COMMENT ON FUNCTION segment.visits(segment.browsing_summary, timestamptz, integer) IS
    'Visits in the window_days calendar days (session TimeZone) ending with as_of';
COMMENT ON FUNCTION segment.visits(segment.browsing_summary, timestamptz, integer, text) IS
    'Visits in the window_days calendar days (time zone tz) ending with as_of';
COMMENT ON FUNCTION segment.last_visit(segment.browsing_summary) IS 'Instant of the last visit';
COMMENT ON FUNCTION segment.last_visit(segment.browsing_summary, timestamptz) IS 'Instant of the last visit at or before as_of (NULL without one)';
COMMENT ON FUNCTION segment.visits_per_month(segment.browsing_summary, timestamptz, integer) IS
    'Visits per calendar month (session TimeZone) of the months months ending with as_of''s month, oldest first, months without a visit included';
COMMENT ON FUNCTION segment.visits_per_month(segment.browsing_summary, timestamptz, integer, text) IS
    'Visits per calendar month (time zone tz) of the months months ending with as_of''s month';
COMMENT ON FUNCTION segment.browsing_active(segment.browsing_summary, timestamptz, jsonb) IS
    'Active by browsing: at least min_visits (50) visits in the window_days (30) calendar days ending with as_of; session TimeZone';
COMMENT ON FUNCTION segment.browsing_active(segment.browsing_summary, timestamptz, jsonb, text) IS
    'Active by browsing, days counted in time zone tz';
COMMENT ON FUNCTION segment.browsing_lifecycle_stage(segment.rfm_summary, segment.browsing_summary, timestamptz, jsonb, text) IS
    'Lifecycle stage with browsing: without an order in at_risk_days, prospect (never bought) or lapsed_browsing while browsing (min_visits in visit_days), else no_activity or churned; NULL summaries: no order, no visit';
COMMENT ON FUNCTION segment.browsing_lifecycle_stage(segment.rfm_summary, segment.browsing_summary, timestamptz, jsonb, text, text) IS
    'Lifecycle stage with browsing, days counted in time zone tz';
COMMENT ON FUNCTION segment._browsing_lifecycle(bigint, bigint, segment.browsing_summary, timestamptz, jsonb, text, text) IS
    'Lifecycle stage with browsing from the recency and tenure days of population_rows (segmentation views with events); tz NULL: session TimeZone';

-- The loyalty family (src/loyalty.rs, crates/core/src/loyalty.rs): brand loyalty of one
-- customer's order rows. Everything here is IMMUTABLE: no day is counted.
CREATE FUNCTION segment._loyalty_trans(internal, text, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_trans(internal, text, numeric, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE segment.loyalty AS (brand text, orders bigint, order_share double precision, spend_share double precision,
                                brands integer, level text);
COMMENT ON TYPE segment.loyalty IS
    'Brand loyalty: the top brand, its orders, its share of the orders and of the spend, the brands bought, the level code (none, moderate, strong, absolute; NULL below min_orders)';
CREATE FUNCTION segment._loyalty_final(internal) RETURNS segment.loyalty
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._loyalty_trans(internal, text, numeric) IS 'brand_loyalty transition';
COMMENT ON FUNCTION segment._loyalty_trans(internal, text, numeric, jsonb) IS 'brand_loyalty transition';
COMMENT ON FUNCTION segment._loyalty_combine(internal, internal) IS 'brand_loyalty combine of partial states';
COMMENT ON FUNCTION segment._loyalty_serialize(internal) IS 'brand_loyalty state serialization for parallel workers';
COMMENT ON FUNCTION segment._loyalty_deserialize(bytea, internal) IS 'brand_loyalty state deserialization';
COMMENT ON FUNCTION segment._loyalty_final(internal) IS 'brand_loyalty final: top brand, shares, level';

CREATE AGGREGATE segment.brand_loyalty(brand text, amount numeric) (
    SFUNC = segment._loyalty_trans, STYPE = internal, FINALFUNC = segment._loyalty_final,
    COMBINEFUNC = segment._loyalty_combine, SERIALFUNC = segment._loyalty_serialize,
    DESERIALFUNC = segment._loyalty_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.brand_loyalty(brand text, amount numeric, rules jsonb) (
    SFUNC = segment._loyalty_trans, STYPE = internal, FINALFUNC = segment._loyalty_final,
    COMBINEFUNC = segment._loyalty_combine, SERIALFUNC = segment._loyalty_serialize,
    DESERIALFUNC = segment._loyalty_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.brand_loyalty(text, numeric) IS
    'Brand loyalty of one customer''s order rows (negative amounts are refunds): top brand by orders; level by its share of the orders: absolute 1, strong >= 0.7, moderate >= 0.4, else none; no level below 3 orders';
COMMENT ON AGGREGATE segment.brand_loyalty(text, numeric, jsonb) IS
    'Brand loyalty with rules: by (orders|spend), moderate, strong, absolute, min_orders';

CREATE FUNCTION segment.loyalty_label(level text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.loyalty_label(text, text) IS
    'Label of a brand loyalty level code in zh (无, 一般, 强烈, 绝对), en or code; NULL for an unknown code';

-- The quality family: a data-quality report over an order table, so that a DBA sees what
-- segmentation will skip or merge before trusting it. PL/pgSQL, run with the caller's rights
-- (it reads the source as any query of the caller does), search_path pinned; the statement is
-- built from the column names with format('%I') and the source as a regclass, never by
-- concatenating user text.
--
-- The robust rule for amounts far outside the population: the positive order amounts are taken
-- on a log scale (ln; "linear" on request), and an amount is an outlier when it lies more than
-- outlier_k (3.5) robust standard deviations from their median, the robust standard deviation
-- being 1.4826 × the median absolute deviation (MAD) (the modified z-score of Iglewicz and
-- Hoaglin). With a MAD of 0 (more than half the amounts equal) nothing is flagged.

-- The per-customer SELECT of the report (one row per customer key, NULL keys as one row), with
-- the band of the robust rule in every row; checked: column existence and types, options.
CREATE FUNCTION segment._order_quality_sql(source regclass, customer_column name, ordered_at_column name,
                                           amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    t regtype;
    refund_expr text;
    oid_expr text := 'NULL::text';
    as_of_expr text;
    scale_fn text;
    k numeric;
    bad text;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object, got %', options USING ERRCODE = '22023';
    END IF;
    SELECT min(key) INTO bad FROM jsonb_object_keys(options) key
    WHERE key NOT IN ('as_of', 'refund_column', 'order_id_column', 'outlier_k', 'outlier_scale', 'lang');
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'options: unknown key "%"', bad USING ERRCODE = '22023',
            HINT = 'Keys: as_of, refund_column, order_id_column, outlier_k, outlier_scale, lang.';
    END IF;
    PERFORM segment._column_type(source, customer_column, 'customer_column');
    t := segment._column_type(source, ordered_at_column, 'ordered_at_column');
    IF t NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
        RAISE EXCEPTION 'ordered_at_column "%" of % must be timestamptz, timestamp or date, it is %', ordered_at_column, source, t
            USING ERRCODE = '42804';
    END IF;
    t := segment._column_type(source, amount_column, 'amount_column');
    IF t NOT IN ('numeric'::regtype, 'bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'double precision'::regtype, 'real'::regtype) THEN
        RAISE EXCEPTION 'amount_column "%" of % must be numeric, an integer or a float type, it is %', amount_column, source, t
            USING ERRCODE = '42804';
    END IF;
    refund_expr := format('s.%I < 0', amount_column);
    IF options ? 'refund_column' THEN
        t := segment._column_type(source, (options->>'refund_column')::name, 'options.refund_column');
        IF t <> 'boolean'::regtype THEN
            RAISE EXCEPTION 'options.refund_column "%" of % must be boolean, it is %', options->>'refund_column', source, t USING ERRCODE = '42804';
        END IF;
        refund_expr := format('(coalesce(s.%I, false) OR s.%I < 0)', options->>'refund_column', amount_column);
    END IF;
    IF options ? 'order_id_column' THEN
        PERFORM segment._column_type(source, (options->>'order_id_column')::name, 'options.order_id_column');
        oid_expr := format('s.%I::text', options->>'order_id_column');
    END IF;
    IF options->>'as_of' IS NULL OR lower(btrim(options->>'as_of')) = 'now' THEN
        as_of_expr := 'now()';
    ELSE
        BEGIN
            as_of_expr := format('%L::timestamptz', to_char((options->>'as_of')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION 'options.as_of must be "now" or a timestamptz, got %', options->'as_of' USING ERRCODE = '22023';
        END;
    END IF;
    scale_fn := CASE coalesce(options->>'outlier_scale', 'log') WHEN 'log' THEN 'ln' WHEN 'linear' THEN '' END;
    IF scale_fn IS NULL OR jsonb_typeof(coalesce(options->'outlier_scale', '"log"')) <> 'string' THEN
        RAISE EXCEPTION 'options.outlier_scale must be ''log'' or ''linear'', got %', options->'outlier_scale' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce(options->'outlier_k', '3.5')) <> 'number' THEN
        RAISE EXCEPTION 'options.outlier_k must be a number above 0, got %', options->'outlier_k' USING ERRCODE = '22023';
    END IF;
    k := coalesce((options->>'outlier_k')::numeric, 3.5);
    IF k <= 0 THEN
        RAISE EXCEPTION 'options.outlier_k must be a number above 0, got %', options->'outlier_k' USING ERRCODE = '22023';
    END IF;
    IF jsonb_typeof(coalesce(options->'lang', '"zh"')) <> 'string' OR coalesce(options->>'lang', 'zh') NOT IN ('zh', 'en', 'code') THEN
        RAISE EXCEPTION 'options.lang must be ''zh'', ''en'' or ''code'', got %', options->'lang' USING ERRCODE = '22023';
    END IF;
    -- r: the rows as segmentation reads them; o: the order amounts the band is taken from
    RETURN format($q$WITH r AS MATERIALIZED (
            SELECT s.%1$I AS k, s.%2$I::timestamptz AS at, s.%3$I::numeric AS amount, coalesce(%4$s, false) AS refund,
                   %5$s AS order_id, to_jsonb(s) AS whole
            FROM %6$s s),
        o AS (SELECT %7$s(r.amount::float8) AS v FROM r
              WHERE r.k IS NOT NULL AND r.at IS NOT NULL AND r.amount > 0 AND NOT r.refund),
        m AS (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY o.v) AS med FROM o),
        band AS (SELECT m.med, (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(o.v - m.med)) FROM o) AS mad,
                        %8$s::float8 AS k, %9$s AS as_of FROM m)
        SELECT r.k,
               count(*) AS rows,
               count(*) FILTER (WHERE r.at IS NULL) AS null_instants,
               count(*) FILTER (WHERE r.amount IS NULL) AS null_amounts,
               count(*) - count(DISTINCT r.whole) AS duplicate_rows,
               count(r.order_id) - count(DISTINCT (r.order_id, r.refund)) FILTER (WHERE r.order_id IS NOT NULL) AS duplicate_order_ids,
               count(*) FILTER (WHERE r.at > band.as_of AND r.amount IS NOT NULL AND NOT r.refund) AS future_orders,
               count(*) FILTER (WHERE r.at IS NOT NULL AND r.amount = 0 AND NOT r.refund) AS zero_amounts,
               count(*) FILTER (WHERE r.at IS NOT NULL AND r.amount > 0 AND NOT r.refund AND band.mad > 0
                                  AND abs(%7$s(r.amount::float8) - band.med) > band.k * 1.4826 * band.mad) AS outliers,
               coalesce(sum(r.amount) FILTER (WHERE NOT r.refund AND r.at <= band.as_of), 0) AS purchases,
               coalesce(sum(abs(r.amount)) FILTER (WHERE r.refund AND r.at <= band.as_of), 0) AS refunds,
               min(band.med) AS med, min(band.mad) AS mad
        FROM r, band GROUP BY r.k$q$,
        customer_column, ordered_at_column, amount_column, refund_expr, oid_expr, source, scale_fn, k, as_of_expr);
END $$;
COMMENT ON FUNCTION segment._order_quality_sql(regclass, name, name, name, jsonb) IS
    'The per-customer SELECT of the order data-quality report, checked: column existence and types, options';

CREATE FUNCTION segment.order_quality_customers(source regclass, customer_column name, ordered_at_column name,
                                                amount_column name, options jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS TABLE (customer_id text, rows bigint, null_instants bigint, null_amounts bigint, duplicate_rows bigint,
                   duplicate_order_ids bigint, future_orders bigint, zero_amounts bigint, outliers bigint,
                   purchases numeric, refunds numeric, refunds_exceed_purchases boolean)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT q.k::text, q.rows, q.null_instants, q.null_amounts, q.duplicate_rows, %s, q.future_orders, q.zero_amounts,
                q.outliers, q.purchases, q.refunds, q.refunds > q.purchases
         FROM (%s) q
         WHERE q.k IS NOT NULL AND (q.null_instants > 0 OR q.null_amounts > 0 OR q.duplicate_rows > 0 OR q.duplicate_order_ids > 0
                OR q.future_orders > 0 OR q.zero_amounts > 0 OR q.outliers > 0 OR q.refunds > q.purchases)
         ORDER BY q.k',
        CASE WHEN options ? 'order_id_column' THEN 'q.duplicate_order_ids' ELSE 'NULL::bigint' END,
        segment._order_quality_sql(source, customer_column, ordered_at_column, amount_column, options));
END $$;
COMMENT ON FUNCTION segment.order_quality_customers(regclass, name, name, name, jsonb) IS
    'Data-quality report per customer: the customers (key as text, in key order) with NULL instants or amounts, duplicate rows or order ids, orders after as_of, zero amounts, outlier amounts or refunds above their purchases';

CREATE FUNCTION segment.order_quality(source regclass, customer_column name, ordered_at_column name,
                                      amount_column name, options jsonb DEFAULT '{}'::pg_catalog.jsonb)
    RETURNS TABLE (issue text, label text, rows bigint, customers bigint, amount numeric, segmentation text)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text;
    lang text := coalesce(options->>'lang', 'zh');
    shared_rows text := 'NULL';
    has_ids boolean := coalesce(options ? 'order_id_column', false);
    k numeric;
    log_scale boolean := coalesce(options->>'outlier_scale', 'log') = 'log';
BEGIN
    q := segment._order_quality_sql(source, customer_column, ordered_at_column, amount_column, options);
    k := coalesce((options->>'outlier_k')::numeric, 3.5);
    -- rows whose order id more than one customer key uses (segmentation keeps them under each)
    IF has_ids THEN
        EXECUTE format('SELECT coalesce(sum(x.n), 0)::text FROM (SELECT count(*) AS n FROM %s s WHERE s.%I IS NOT NULL
                        GROUP BY s.%I HAVING count(DISTINCT s.%I) > 1) x',
                       source, options->>'order_id_column', options->>'order_id_column', customer_column) INTO shared_rows;
    END IF;
    RETURN QUERY EXECUTE format($r$
        WITH c AS (%s),
        t AS (SELECT coalesce(sum(c.rows), 0)::bigint AS rows, count(c.k) AS customers,
                     max(c.med) AS med, max(c.mad) AS mad FROM c)
        SELECT x.issue, CASE %2$L WHEN 'zh' THEN x.zh WHEN 'en' THEN x.en ELSE x.issue END, x.rows, x.customers, x.amount,
               CASE %2$L WHEN 'zh' THEN x.does_zh WHEN 'en' THEN x.does_en ELSE NULL END
        FROM (
            SELECT 1 AS ord, 'rows' AS issue, '行数' AS zh, 'Rows' AS en, t.rows, t.customers, NULL::numeric AS amount,
                   '读取' AS does_zh, 'read' AS does_en FROM t
            UNION ALL SELECT 2, 'null_customer', '客户键为空', 'NULL customer key', coalesce(sum(c.rows) FILTER (WHERE c.k IS NULL), 0)::bigint, NULL, NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 3, 'null_ordered_at', '下单时间为空', 'NULL instant', sum(c.null_instants)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.null_instants > 0), NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 4, 'null_amount', '金额为空', 'NULL amount', sum(c.null_amounts)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.null_amounts > 0), NULL,
                   '跳过', 'skipped' FROM c
            UNION ALL SELECT 5, 'duplicate_row', '完全重复的行', 'Exact duplicate rows', sum(c.duplicate_rows)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.duplicate_rows > 0), NULL,
                   '各算一次（除非共用整数订单号且给出 order_id_column）', 'each counted (unless they share an integer order id and order_id_column is given)' FROM c
            UNION ALL SELECT 6, 'duplicate_order_id', '重复的订单号', 'Repeated order id', CASE WHEN %3$L THEN sum(c.duplicate_order_ids)::bigint END,
                   CASE WHEN %3$L THEN count(*) FILTER (WHERE c.k IS NOT NULL AND c.duplicate_order_ids > 0) END, NULL,
                   '整数订单号列作为 order_id_column 时合并（每客户每订单号与类型一次）', 'merged when order_id_column (an integer column) is given: once per customer, order id and kind' FROM c
            UNION ALL SELECT 7, 'shared_order_id', '多个客户共用的订单号', 'Order id of several customers', %4$s::bigint, NULL, NULL,
                   '各客户分别保留', 'kept under each customer'
            UNION ALL SELECT 8, 'future_order', '晚于 as_of 的订单', 'Order after as_of', sum(c.future_orders)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.future_orders > 0), NULL,
                   '不计入，单独计数 (future_orders)', 'excluded, counted (future_orders)' FROM c
            UNION ALL SELECT 9, 'zero_amount', '金额为零的订单', 'Order of amount 0', sum(c.zero_amounts)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.zero_amounts > 0), NULL,
                   '计为订单，无消费', 'counted as orders without spend' FROM c
            UNION ALL SELECT 10, 'refund_exceeds_purchases', '退款超过购买', 'Refunds above purchases', coalesce(sum(c.rows) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), 0)::bigint,
                   count(*) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), coalesce(sum(c.refunds - c.purchases) FILTER (WHERE c.k IS NOT NULL AND c.refunds > c.purchases), 0),
                   '净消费为负', 'negative net spend' FROM c
            UNION ALL SELECT 11, 'amount_outlier', '金额异常', 'Amount outlier', sum(c.outliers)::bigint, count(*) FILTER (WHERE c.k IS NOT NULL AND c.outliers > 0), NULL,
                   format('保留；正常范围 %%s 至 %%s（%%s 的中位数 %%s ± %%s × 1.4826 × MAD %%s）', b.lo, b.hi, %6$L, b.med, %5$s, b.mad),
                   format('kept; usual range %%s to %%s (%%s: median %%s ± %%s × 1.4826 × MAD %%s)', b.lo, b.hi, %6$L, b.med, %5$s, b.mad)
            FROM c, t, LATERAL (SELECT round(t.med::numeric, 4) AS med, round(t.mad::numeric, 4) AS mad,
                                       round(CASE WHEN %7$L THEN exp(t.med - %5$s * 1.4826 * t.mad) ELSE t.med - %5$s * 1.4826 * t.mad END::numeric, 2) AS lo,
                                       round(CASE WHEN %7$L THEN exp(t.med + %5$s * 1.4826 * t.mad) ELSE t.med + %5$s * 1.4826 * t.mad END::numeric, 2) AS hi) b
            GROUP BY b.lo, b.hi, b.med, b.mad
        ) x ORDER BY x.ord $r$,
        q, lang, has_ids, shared_rows, k, CASE WHEN log_scale THEN 'ln(amount)' ELSE 'amount' END, log_scale);
END $$;
COMMENT ON FUNCTION segment.order_quality(regclass, name, name, name, jsonb) IS
    'Data-quality report over an order table: per issue (NULL keys, instants and amounts, duplicate rows and order ids, orders after as_of, zero amounts, refunds above purchases, outlier amounts) the rows and customers concerned and what segmentation does with them';

-- Customer value you can trust (issue 15): models carry their time unit and standard errors,
-- Pareto/NBD, calibration and holdout, fit checks, intervals, CRM predictions.
------------------------------------------------------------------------------------------------
-- Stored 0.1.0 models (table columns of these types, and their jsonb forms) keep loading: a
-- composite value lacking the new trailing attributes reads them as NULL, so an old model has no
-- time unit (the functions that need one refuse it with a hint) and no covariance.
ALTER TYPE segment.bgnbd_model
    ADD ATTRIBUTE time_unit text, ADD ATTRIBUTE se_r double precision, ADD ATTRIBUTE se_alpha double precision,
    ADD ATTRIBUTE se_a double precision, ADD ATTRIBUTE se_b double precision, ADD ATTRIBUTE covariance double precision[];
ALTER TYPE segment.gamma_gamma_model
    ADD ATTRIBUTE se_p double precision, ADD ATTRIBUTE se_q double precision, ADD ATTRIBUTE se_gamma double precision,
    ADD ATTRIBUTE covariance double precision[];
COMMENT ON TYPE segment.bgnbd_model IS
    'BG/NBD model (Fader, Hardie & Lee 2005): purchase rate ~ Gamma(r, alpha) in time_unit, dropout ~ Beta(a, b); log-likelihood at the estimate, customers fitted, optimiser iterations, converged; standard errors and covariance (r, alpha, a, b) from the observed information';
COMMENT ON TYPE segment.gamma_gamma_model IS
    'Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma); fitted over repeat buyers; standard errors and covariance (p, q, gamma) from the observed information';
CREATE TYPE segment.pareto_nbd_model AS (
    r double precision, alpha double precision, s double precision, beta double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean,
    time_unit text, se_r double precision, se_alpha double precision, se_s double precision, se_beta double precision,
    covariance double precision[]);
COMMENT ON TYPE segment.pareto_nbd_model IS
    'Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta), in time_unit; log-likelihood, customers, iterations, converged; standard errors and covariance (r, alpha, s, beta) from the observed information';
CREATE FUNCTION segment.to_jsonb(m segment.pareto_nbd_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.pareto_nbd_model(j jsonb) RETURNS segment.pareto_nbd_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.pareto_nbd_model, j);
COMMENT ON FUNCTION segment.to_jsonb(segment.pareto_nbd_model) IS 'A Pareto/NBD model as jsonb (also the cast pareto_nbd_model::jsonb)';
COMMENT ON FUNCTION segment.pareto_nbd_model(jsonb) IS 'A Pareto/NBD model from its jsonb form (also the cast jsonb::pareto_nbd_model)';
CREATE CAST (segment.pareto_nbd_model AS jsonb) WITH FUNCTION segment.to_jsonb(segment.pareto_nbd_model);
CREATE CAST (jsonb AS segment.pareto_nbd_model) WITH FUNCTION segment.pareto_nbd_model(jsonb);
CREATE FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision, text) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_trans_unit' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pareto_nbd_final(internal) RETURNS segment.pareto_nbd_model
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision, text) IS
    'bgnbd_fit and pareto_nbd_fit transition: counts distinct (frequency, recency, t), one time_unit for every row';
COMMENT ON FUNCTION segment._bgnbd_combine(internal, internal) IS 'bgnbd_fit and pareto_nbd_fit combine of partial states';
COMMENT ON FUNCTION segment._bgnbd_serialize(internal) IS 'bgnbd_fit and pareto_nbd_fit state serialization for parallel workers';
COMMENT ON FUNCTION segment._bgnbd_deserialize(bytea, internal) IS 'bgnbd_fit and pareto_nbd_fit state deserialization (validated)';
COMMENT ON FUNCTION segment._pareto_nbd_final(internal) IS 'pareto_nbd_fit final: maximum-likelihood fit';
COMMENT ON AGGREGATE segment.bgnbd_fit(double precision, double precision, double precision) IS
    'Maximum-likelihood BG/NBD fit over per-customer (frequency, recency, t) as segment.btyd gives them; records no time unit (use the time_unit form); rows with a NULL skipped; NULL for no rows';
CREATE AGGREGATE segment.bgnbd_fit(frequency double precision, recency double precision, t double precision, time_unit text) (
    SFUNC = segment._bgnbd_trans, STYPE = internal, FINALFUNC = segment._bgnbd_final,
    COMBINEFUNC = segment._bgnbd_combine, SERIALFUNC = segment._bgnbd_serialize,
    DESERIALFUNC = segment._bgnbd_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.bgnbd_fit(double precision, double precision, double precision, text) IS
    'Maximum-likelihood BG/NBD fit over per-customer (frequency, recency, t) in time_unit (days or weeks), recorded in the model; rows with a NULL skipped; NULL for no rows';
CREATE AGGREGATE segment.pareto_nbd_fit(frequency double precision, recency double precision, t double precision, time_unit text) (
    SFUNC = segment._bgnbd_trans, STYPE = internal, FINALFUNC = segment._pareto_nbd_final,
    COMBINEFUNC = segment._bgnbd_combine, SERIALFUNC = segment._bgnbd_serialize,
    DESERIALFUNC = segment._bgnbd_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.pareto_nbd_fit(double precision, double precision, double precision, text) IS
    'Maximum-likelihood Pareto/NBD fit (exact likelihood) over per-customer (frequency, recency, t) in time_unit (days or weeks); rows with a NULL skipped; NULL for no rows';
COMMENT ON FUNCTION segment.clv(segment.bgnbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision, text) IS
    'Discounted expected spend over horizon months: sum over months i of spend x expected purchases in month i / (1 + discount_rate)^i; time_unit (days|weeks) of the summaries, which must be the model''s when it records one; a month = 30 days or 4.345 weeks';
CREATE FUNCTION segment.pareto_nbd_p_alive(model segment.pareto_nbd_model, frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.pareto_nbd_expected_purchases(model segment.pareto_nbd_model, duration double precision,
        frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_expected' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.pareto_nbd_expected_purchases_new(model segment.pareto_nbd_model, duration double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_expected_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.pareto_nbd_log_likelihood(model segment.pareto_nbd_model, frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_log_likelihood' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.clv(bgnbd segment.bgnbd_model, gamma_gamma segment.gamma_gamma_model,
        frequency double precision, recency double precision, t double precision, monetary_value double precision,
        horizon integer, discount_rate double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.clv(pareto_nbd segment.pareto_nbd_model, gamma_gamma segment.gamma_gamma_model,
        frequency double precision, recency double precision, t double precision, monetary_value double precision,
        horizon integer, discount_rate double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_clv_pareto_nbd' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.pareto_nbd_p_alive(segment.pareto_nbd_model, double precision, double precision, double precision) IS
    'Probability that the customer is still active at t';
COMMENT ON FUNCTION segment.pareto_nbd_expected_purchases(segment.pareto_nbd_model, double precision, double precision, double precision, double precision) IS
    'Expected repeat purchases in the next duration time units (the model''s) of a customer with (frequency, recency, t)';
COMMENT ON FUNCTION segment.pareto_nbd_expected_purchases_new(segment.pareto_nbd_model, double precision) IS
    'Expected repeat purchases in the first duration time units of a newly acquired customer';
COMMENT ON FUNCTION segment.pareto_nbd_log_likelihood(segment.pareto_nbd_model, double precision, double precision, double precision) IS
    'Log-likelihood of one customer under the model (exact); sum it to compare models on the same data';
COMMENT ON FUNCTION segment.clv(segment.bgnbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision) IS
    'Discounted expected spend over horizon months in the model''s own time_unit (22023 for a model that records none)';
COMMENT ON FUNCTION segment.clv(segment.pareto_nbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision) IS
    'Discounted expected spend over horizon months under Pareto/NBD purchases and Gamma-Gamma spend, in the model''s time_unit';
CREATE TYPE segment.prediction_interval AS (
    estimate double precision, lower double precision, upper double precision, std_error double precision, level double precision);
COMMENT ON TYPE segment.prediction_interval IS
    'A prediction with its delta-method interval (on the log scale) from the fitted parameters'' covariance: parameter uncertainty only';
CREATE FUNCTION segment.bgnbd_expected_purchases_interval(model segment.bgnbd_model, duration double precision,
        frequency double precision, recency double precision, t double precision, level double precision DEFAULT 0.95)
    RETURNS segment.prediction_interval AS 'MODULE_PATHNAME', 'pgseg_bgnbd_expected_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.pareto_nbd_expected_purchases_interval(model segment.pareto_nbd_model, duration double precision,
        frequency double precision, recency double precision, t double precision, level double precision DEFAULT 0.95)
    RETURNS segment.prediction_interval AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_expected_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.clv_interval(bgnbd segment.bgnbd_model, gamma_gamma segment.gamma_gamma_model,
        frequency double precision, recency double precision, t double precision, monetary_value double precision,
        horizon integer DEFAULT 12, discount_rate double precision DEFAULT 0.01, level double precision DEFAULT 0.95)
    RETURNS segment.prediction_interval AS 'MODULE_PATHNAME', 'pgseg_clv_interval' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.clv_interval(pareto_nbd segment.pareto_nbd_model, gamma_gamma segment.gamma_gamma_model,
        frequency double precision, recency double precision, t double precision, monetary_value double precision,
        horizon integer DEFAULT 12, discount_rate double precision DEFAULT 0.01, level double precision DEFAULT 0.95)
    RETURNS segment.prediction_interval AS 'MODULE_PATHNAME', 'pgseg_clv_interval_pareto_nbd' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.bgnbd_expected_purchases_interval(segment.bgnbd_model, double precision, double precision, double precision, double precision, double precision) IS
    'Expected repeat purchases in the next duration time units with a delta-method interval at level from the model''s covariance';
COMMENT ON FUNCTION segment.pareto_nbd_expected_purchases_interval(segment.pareto_nbd_model, double precision, double precision, double precision, double precision, double precision) IS
    'Expected repeat purchases in the next duration time units with a delta-method interval at level from the model''s covariance';
COMMENT ON FUNCTION segment.clv_interval(segment.bgnbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision, double precision) IS
    'clv with a delta-method interval from both models'' covariances (fitted separately: independent)';
COMMENT ON FUNCTION segment.clv_interval(segment.pareto_nbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision, double precision) IS
    'clv under Pareto/NBD with a delta-method interval from both models'' covariances (fitted separately: independent)';
CREATE TYPE segment.btyd_holdout AS (
    frequency_cal double precision, recency_cal double precision, t_cal double precision, monetary_value_cal double precision,
    frequency_holdout double precision, monetary_value_holdout double precision, duration_holdout double precision);
COMMENT ON TYPE segment.btyd_holdout IS
    'A customer''s BTYD summary at calibration_end and holdout purchases after it (lifetimes'' calibration_and_holdout_data)';
CREATE FUNCTION segment.calibration_holdout(s segment.rfm_summary, calibration_end timestamptz, holdout_end timestamptz, unit text, tz text)
    RETURNS segment.btyd_holdout AS 'MODULE_PATHNAME', 'pgseg_calibration_holdout' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.calibration_holdout(segment.rfm_summary, timestamptz, timestamptz, text, text) IS
    'Calibration summary up to calibration_end and holdout purchase periods and mean order up to holdout_end, in days or weeks counted in tz; NULL without a purchase by calibration_end';
CREATE TYPE segment.holdout_summary AS (
    time_unit text, customers bigint, frequency_cal double precision[], recency_cal double precision[], t_cal double precision[],
    frequency_holdout double precision[], duration_holdout double precision[], weight double precision[]);
COMMENT ON TYPE segment.holdout_summary IS
    'A population''s distinct (frequency_cal, recency_cal, t_cal, frequency_holdout, duration_holdout) with the customers (weight) of each, from holdout_agg';
CREATE FUNCTION segment._holdout_trans(internal, double precision, double precision, double precision, double precision, double precision, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'pgseg_holdout_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._holdout_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_holdout_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._holdout_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_holdout_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._holdout_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_holdout_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._holdout_final(internal) RETURNS segment.holdout_summary
    AS 'MODULE_PATHNAME', 'pgseg_holdout_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._holdout_trans(internal, double precision, double precision, double precision, double precision, double precision, text) IS
    'holdout_agg transition: counts distinct calibration and holdout figures';
COMMENT ON FUNCTION segment._holdout_combine(internal, internal) IS 'holdout_agg combine of partial states';
COMMENT ON FUNCTION segment._holdout_serialize(internal) IS 'holdout_agg state serialization for parallel workers';
COMMENT ON FUNCTION segment._holdout_deserialize(bytea, internal) IS 'holdout_agg state deserialization (validated)';
COMMENT ON FUNCTION segment._holdout_final(internal) IS 'holdout_agg final: the holdout_summary';
CREATE AGGREGATE segment.holdout_agg(frequency_cal double precision, recency_cal double precision, t_cal double precision,
        frequency_holdout double precision, duration_holdout double precision, time_unit text) (
    SFUNC = segment._holdout_trans, STYPE = internal, FINALFUNC = segment._holdout_final,
    COMBINEFUNC = segment._holdout_combine, SERIALFUNC = segment._holdout_serialize,
    DESERIALFUNC = segment._holdout_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.holdout_agg(double precision, double precision, double precision, double precision, double precision, text) IS
    'A population''s calibration and holdout figures (as calibration_holdout gives them) for the fit checks; rows with a NULL skipped; NULL for no rows';
CREATE FUNCTION segment.calibration_histogram(model segment.bgnbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (frequency integer, label text, observed double precision, expected double precision, chi_square double precision)
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_histogram' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
CREATE FUNCTION segment.calibration_histogram(model segment.pareto_nbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (frequency integer, label text, observed double precision, expected double precision, chi_square double precision)
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_histogram' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
CREATE FUNCTION segment.conditional_expectations(model segment.bgnbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (frequency integer, label text, customers bigint, actual double precision, expected double precision)
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_conditional' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
CREATE FUNCTION segment.conditional_expectations(model segment.pareto_nbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (frequency integer, label text, customers bigint, actual double precision, expected double precision)
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_conditional' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 8;
CREATE FUNCTION segment.holdout_accuracy(model segment.bgnbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (customers bigint, actual double precision, expected double precision, error_percent double precision,
                   correlation double precision, mean_absolute_error double precision, chi_square double precision,
                   degrees_of_freedom integer, p_value double precision)
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_accuracy' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
CREATE FUNCTION segment.holdout_accuracy(model segment.pareto_nbd_model, summary segment.holdout_summary, max_frequency integer DEFAULT 7)
    RETURNS TABLE (customers bigint, actual double precision, expected double precision, error_percent double precision,
                   correlation double precision, mean_absolute_error double precision, chi_square double precision,
                   degrees_of_freedom integer, p_value double precision)
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_accuracy' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION segment.calibration_histogram(segment.bgnbd_model, segment.holdout_summary, integer) IS
    'Customers with 0, 1, ..., max_frequency+ repeat purchases in the calibration period: observed, expected, chi-square contribution';
COMMENT ON FUNCTION segment.calibration_histogram(segment.pareto_nbd_model, segment.holdout_summary, integer) IS
    'Customers with 0, 1, ..., max_frequency+ repeat purchases in the calibration period: observed, expected, chi-square contribution';
COMMENT ON FUNCTION segment.conditional_expectations(segment.bgnbd_model, segment.holdout_summary, integer) IS
    'Holdout repeat purchases by calibration frequency bin: customers, actual mean, expected (conditional) mean';
COMMENT ON FUNCTION segment.conditional_expectations(segment.pareto_nbd_model, segment.holdout_summary, integer) IS
    'Holdout repeat purchases by calibration frequency bin: customers, actual mean, expected (conditional) mean';
COMMENT ON FUNCTION segment.holdout_accuracy(segment.bgnbd_model, segment.holdout_summary, integer) IS
    'Holdout totals and error in percent, customer-level correlation and mean absolute error, the calibration histogram''s chi-square';
COMMENT ON FUNCTION segment.holdout_accuracy(segment.pareto_nbd_model, segment.holdout_summary, integer) IS
    'Holdout totals and error in percent, customer-level correlation and mean absolute error, the calibration histogram''s chi-square';
CREATE TYPE segment.tracking_summary AS (
    time_unit text, first_day date, calibration_periods integer, customers bigint, births bigint[], repeat_purchases bigint[]);
COMMENT ON TYPE segment.tracking_summary IS
    'A cohort''s first purchases (births) and repeat purchase periods per period from first_day, from tracking_agg';
CREATE FUNCTION segment._tracking_trans(internal, segment.rfm_summary, timestamptz, timestamptz, timestamptz, text, text)
    RETURNS internal AS 'MODULE_PATHNAME', 'pgseg_tracking_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tracking_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tracking_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tracking_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_tracking_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._tracking_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tracking_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._tracking_final(internal) RETURNS segment.tracking_summary
    AS 'MODULE_PATHNAME', 'pgseg_tracking_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._tracking_trans(internal, segment.rfm_summary, timestamptz, timestamptz, timestamptz, text, text) IS
    'tracking_agg transition: a customer''s first purchase period and repeat purchase periods';
COMMENT ON FUNCTION segment._tracking_combine(internal, internal) IS 'tracking_agg combine of partial states';
COMMENT ON FUNCTION segment._tracking_serialize(internal) IS 'tracking_agg state serialization for parallel workers';
COMMENT ON FUNCTION segment._tracking_deserialize(bytea, internal) IS 'tracking_agg state deserialization (validated)';
COMMENT ON FUNCTION segment._tracking_final(internal) IS 'tracking_agg final: the tracking_summary';
CREATE AGGREGATE segment.tracking_agg(s segment.rfm_summary, start timestamptz, calibration_end timestamptz, holdout_end timestamptz,
        time_unit text, tz text) (
    SFUNC = segment._tracking_trans, STYPE = internal, FINALFUNC = segment._tracking_final,
    COMBINEFUNC = segment._tracking_combine, SERIALFUNC = segment._tracking_serialize,
    DESERIALFUNC = segment._tracking_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.tracking_agg(segment.rfm_summary, timestamptz, timestamptz, timestamptz, text, text) IS
    'The cohort of customers first buying between start and calibration_end: births and repeat purchase periods per period up to holdout_end, in days or weeks counted in tz';
CREATE FUNCTION segment.tracking_series(model segment.bgnbd_model, summary segment.tracking_summary, period_length integer DEFAULT 1)
    RETURNS TABLE (period integer, period_start date, holdout boolean, actual double precision, expected double precision,
                   actual_cumulative double precision, expected_cumulative double precision)
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_tracking' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.tracking_series(model segment.pareto_nbd_model, summary segment.tracking_summary, period_length integer DEFAULT 1)
    RETURNS TABLE (period integer, period_start date, holdout boolean, actual double precision, expected double precision,
                   actual_cumulative double precision, expected_cumulative double precision)
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_tracking' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.tracking_series(segment.bgnbd_model, segment.tracking_summary, integer) IS
    'Repeat purchases of the cohort per group of period_length periods, incremental and cumulative, actual against expected (calibration and holdout)';
COMMENT ON FUNCTION segment.tracking_series(segment.pareto_nbd_model, segment.tracking_summary, integer) IS
    'Repeat purchases of the cohort per group of period_length periods, incremental and cumulative, actual against expected (calibration and holdout)';
CREATE TYPE segment.customer_prediction AS (
    predicted_orders double precision, predicted_clv double precision, churn_probability double precision,
    expected_next_order date, average_days_between_orders double precision, historic_clv numeric);
COMMENT ON TYPE segment.customer_prediction IS
    'What a CRM acts on: predicted orders and CLV over a horizon, churn probability, expected date of next order, average days between orders, historic CLV';
CREATE FUNCTION segment.predict_customer(s segment.rfm_summary, as_of timestamptz, purchases segment.bgnbd_model,
        spend segment.gamma_gamma_model, tz text, horizon interval DEFAULT '365 days'::pg_catalog.interval)
    RETURNS segment.customer_prediction AS 'MODULE_PATHNAME', 'pgseg_predict_customer' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.predict_customer(s segment.rfm_summary, as_of timestamptz, purchases segment.pareto_nbd_model,
        spend segment.gamma_gamma_model, tz text, horizon interval DEFAULT '365 days'::pg_catalog.interval)
    RETURNS segment.customer_prediction AS 'MODULE_PATHNAME', 'pgseg_predict_customer_pareto_nbd' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.predict_customer(segment.rfm_summary, timestamptz, segment.bgnbd_model, segment.gamma_gamma_model, text, interval) IS
    'CRM predictions of a customer as of an instant: BTYD figures in the model''s time unit, days in tz; NULL without a purchase by as_of';
COMMENT ON FUNCTION segment.predict_customer(segment.rfm_summary, timestamptz, segment.pareto_nbd_model, segment.gamma_gamma_model, text, interval) IS
    'CRM predictions of a customer as of an instant under Pareto/NBD: BTYD figures in the model''s time unit, days in tz; NULL without a purchase by as_of';

-- issue 15 item 5: the segmentation view option "predict" (sql/clv.sql)
-- Segmentation view option "predict": {"horizon_days": n (default 365), "model": "bgnbd" (default)
-- or "pareto_nbd", "unit": "days" (default) or "weeks"} (or true for the defaults). Wraps the
-- view's SELECT q: the customers' summaries are read again from the source (same rows: filter),
-- the purchase model and Gamma-Gamma are fitted on them in the same statement, so every refresh
-- refits, and predict_customer's columns follow the others. A refresh whose fits do not converge
-- (too few repeat buyers) still refreshes the view, with NULL predictions. Called by _segment_view_query.
CREATE FUNCTION segment._predict_view_query(q text, predict jsonb, source regclass, cust text, key_cast text, key_eq_sql text,
                                            at_expr text, amount_expr text, refund_expr text, filter_sql text, tz text)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    horizon numeric;
    model text;
    unit text;
BEGIN
    IF jsonb_typeof(predict) = 'boolean' AND (predict::text)::boolean THEN
        predict := '{}';
    END IF;
    IF jsonb_typeof(predict) IS DISTINCT FROM 'object' THEN
        RAISE EXCEPTION 'options.predict must be true or an object such as {"horizon_days": 365, "model": "bgnbd"}, got %', predict
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM jsonb_object_keys(predict) k WHERE k NOT IN ('horizon_days', 'model', 'unit')) THEN
        RAISE EXCEPTION 'options.predict has unknown key "%"', (SELECT k FROM jsonb_object_keys(predict) k WHERE k NOT IN ('horizon_days', 'model', 'unit') ORDER BY k LIMIT 1)
            USING ERRCODE = '22023', HINT = 'The keys are horizon_days, model (bgnbd or pareto_nbd) and unit (days or weeks).';
    END IF;
    horizon := CASE WHEN jsonb_typeof(predict->'horizon_days') = 'number' THEN (predict->>'horizon_days')::numeric END;
    IF predict ? 'horizon_days' AND (horizon IS NULL OR horizon <> trunc(horizon) OR horizon < 1 OR horizon > 36525) THEN
        RAISE EXCEPTION 'options.predict.horizon_days must be a whole number of days from 1 to 36525, got %', predict->'horizon_days'
            USING ERRCODE = '22023';
    END IF;
    model := coalesce(predict->>'model', 'bgnbd');
    IF jsonb_typeof(coalesce(predict->'model', '"bgnbd"')) <> 'string' OR model NOT IN ('bgnbd', 'pareto_nbd') THEN
        RAISE EXCEPTION 'options.predict.model must be "bgnbd" or "pareto_nbd", got %', predict->'model' USING ERRCODE = '22023';
    END IF;
    unit := coalesce(predict->>'unit', 'days');
    IF jsonb_typeof(coalesce(predict->'unit', '"days"')) <> 'string' OR unit NOT IN ('days', 'weeks') THEN
        RAISE EXCEPTION 'options.predict.unit must be "days" or "weeks", got %', predict->'unit' USING ERRCODE = '22023';
    END IF;
    RETURN format('WITH v AS MATERIALIZED (%1$s), '
                  'k AS MATERIALIZED (SELECT %2$s%3$s AS key, segment.rfm_agg(%4$s, %5$s%6$s) AS s FROM %7$s s WHERE %2$s IS NOT NULL%8$s GROUP BY 1), '
                  'c AS MATERIALIZED (SELECT v.customer_id, v.as_of, k.s FROM v JOIN k ON k.key %9$s v.customer_id), '
                  'm AS (SELECT segment.%10$s_fit(y.frequency, y.recency, y.t, %11$L) AS pm, segment.gamma_gamma_fit(y.frequency, y.monetary_value) AS gg '
                  'FROM c, segment.btyd(c.s, c.as_of, %11$L, %12$L) y) '
                  'SELECT v.*, p.predicted_orders, p.predicted_clv, p.churn_probability, p.expected_next_order, p.average_days_between_orders, p.historic_clv '
                  'FROM v LEFT JOIN c ON c.customer_id %9$s v.customer_id CROSS JOIN m '
                  'LEFT JOIN LATERAL segment.predict_customer(c.s, c.as_of, CASE WHEN (m.pm).converged AND (m.gg).converged THEN m.pm END, m.gg, %12$L, %13$L::interval) p ON true',
                  q, cust, key_cast, at_expr, amount_expr, refund_expr, source,
                  CASE WHEN filter_sql <> '' THEN ' AND ' || filter_sql ELSE '' END,
                  key_eq_sql, model, unit, tz, format('%s days', coalesce(horizon, 365)));
END $$;
COMMENT ON FUNCTION segment._predict_view_query(text, jsonb, regclass, text, text, text, text, text, text, text, text) IS
    'The SELECT of a segmentation view with the option predict: the view''s columns and predict_customer''s, the models fitted on the view''s own summaries at each refresh';

-- 0.2.0: rfm_agg over order rows with an order id: rows repeating an order id (and kind, order or
-- refund) inside the group count once, the earliest instant (then the smallest amount) being the
-- one that counts, as population_agg does; a NULL order id always counts.
CREATE FUNCTION segment._rfm_trans(internal, bigint, timestamptz, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_numeric_order' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, bigint, timestamptz, numeric, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_numeric_order' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, bigint, timestamptz, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_float8_order' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, bigint, timestamptz, double precision, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_float8_order' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_order_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_order_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_order_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_rfm_order_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._rfm_order_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_order_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._rfm_order_final(internal) RETURNS segment.rfm_summary
    AS 'MODULE_PATHNAME', 'pgseg_rfm_order_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._rfm_trans(internal, bigint, timestamptz, numeric) IS 'rfm_agg transition (order id, numeric amounts)';
COMMENT ON FUNCTION segment._rfm_trans(internal, bigint, timestamptz, numeric, boolean) IS 'rfm_agg transition (order id, numeric amounts, refund flag)';
COMMENT ON FUNCTION segment._rfm_trans(internal, bigint, timestamptz, double precision) IS 'rfm_agg transition (order id, float8 amounts)';
COMMENT ON FUNCTION segment._rfm_trans(internal, bigint, timestamptz, double precision, boolean) IS 'rfm_agg transition (order id, float8 amounts, refund flag)';
COMMENT ON FUNCTION segment._rfm_order_combine(internal, internal) IS 'rfm_agg (order id) combine of partial states';
COMMENT ON FUNCTION segment._rfm_order_serialize(internal) IS 'rfm_agg (order id) state serialization for parallel workers (repeats dropped)';
COMMENT ON FUNCTION segment._rfm_order_deserialize(bytea, internal) IS 'rfm_agg (order id) state deserialization (validated)';
COMMENT ON FUNCTION segment._rfm_order_final(internal) IS 'rfm_agg (order id) final: repeats dropped, sorted rfm_summary';
CREATE AGGREGATE segment.rfm_agg(order_id bigint, ordered_at timestamptz, amount numeric) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_order_final,
    COMBINEFUNC = segment._rfm_order_combine, SERIALFUNC = segment._rfm_order_serialize,
    DESERIALFUNC = segment._rfm_order_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(order_id bigint, ordered_at timestamptz, amount numeric, is_refund boolean) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_order_final,
    COMBINEFUNC = segment._rfm_order_combine, SERIALFUNC = segment._rfm_order_serialize,
    DESERIALFUNC = segment._rfm_order_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(order_id bigint, ordered_at timestamptz, amount double precision) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_order_final,
    COMBINEFUNC = segment._rfm_order_combine, SERIALFUNC = segment._rfm_order_serialize,
    DESERIALFUNC = segment._rfm_order_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(order_id bigint, ordered_at timestamptz, amount double precision, is_refund boolean) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_order_final,
    COMBINEFUNC = segment._rfm_order_combine, SERIALFUNC = segment._rfm_order_serialize,
    DESERIALFUNC = segment._rfm_order_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.rfm_agg(bigint, timestamptz, numeric) IS
    'Per-customer RFM summary of order rows with an order id: rows repeating an order id count once (earliest instant, then smallest amount; NULL order id: always counts)';
COMMENT ON AGGREGATE segment.rfm_agg(bigint, timestamptz, numeric, boolean) IS
    'Per-customer RFM summary with an order id and a refund flag: an order and its refund may share the id; each counts once';
COMMENT ON AGGREGATE segment.rfm_agg(bigint, timestamptz, double precision) IS
    'Per-customer RFM summary of order rows with an order id, float8 amounts: rows repeating an order id count once';
COMMENT ON AGGREGATE segment.rfm_agg(bigint, timestamptz, double precision, boolean) IS
    'Per-customer RFM summary with an order id, float8 amounts, refund flag: rows repeating an order id count once';
