-- pg_segment: segmentation views that stay fresh (materialized views over population_agg),
-- scheduled refresh with pg_cron, snapshots, tier migration and segment KPIs.
--
-- Rights (README, "Security"):
--   * Every function runs with the caller's rights (no SECURITY DEFINER). A view reads its
--     source with its owner's rights: it is created WITH NO DATA (PostgreSQL neither plans nor
--     runs the query then) and filled by REFRESH MATERIALIZED VIEW, which runs the query as the
--     view's owner under SECURITY_RESTRICTED_OPERATION, also when a superuser rebuilds a role's
--     view. No validation runs anything against the source (the key type is checked in the
--     catalogs).
--   * The registry tables are readable by everyone (row security: rows of roles one is a member
--     of) and written only by the C functions of src/views.rs, which check that the caller
--     may act for the view (has its owner's privileges, or is a superuser) and then write as the
--     tables' owner. A row always names a relation its owner owns; snapshots are owned by the
--     view's owner and reports read only those.
--   * pg_cron jobs run as the view's owner.
--   * PL/pgSQL and SQL functions with a string body pin search_path = pg_catalog, pg_temp and
--     qualify what is ours. The public entry points (create_segment_view, ...) are SQL-standard
--     bodies, bound when the extension is installed (every name qualified): they pass the
--     caller's current_schema() to the pinned workers (_create_segment_view, ...), which is how
--     an unqualified view name keeps meaning the caller's schema.
--   * The workers that fill a view (_create_segment_view, _alter_segment_view,
--     _refresh_segment_view, and so a pg_cron job) also set enable_partitionwise_aggregate = on
--     for their call: over postgres_fdw foreign partitions the per-customer rfm_agg then runs on
--     the shard servers whatever the refreshing session's setting (a plain REFRESH MATERIALIZED
--     VIEW by hand plans with the session's own).
-- Every statement built here from user-supplied names uses format('%I') / %L or regclass:
-- never string concatenation.

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
    options jsonb NOT NULL DEFAULT '{}'::pg_catalog.jsonb,
    definition text NOT NULL,
    owner name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    refreshed_at timestamptz,
    cron_job bigint,
    PRIMARY KEY (view_schema, view_name)
);
COMMENT ON TABLE segment.segment_views IS
    'Registry of segmentation views made by create_segment_view: source, columns, options and the SQL they run';

CREATE SEQUENCE segment.segment_snapshots_id_seq;
CREATE TABLE segment.segment_snapshots (
    snapshot_id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('segment.segment_snapshots_id_seq'::pg_catalog.regclass),
    view_schema name NOT NULL,
    view_name name NOT NULL,
    taken_at timestamptz NOT NULL,
    as_of timestamptz,
    customers bigint NOT NULL,
    owner name NOT NULL
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

-- Everyone may read the rows of roles it is a member of; nobody writes but the functions below.
ALTER TABLE segment.segment_views ENABLE ROW LEVEL SECURITY;
ALTER TABLE segment.segment_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE segment.segment_snapshot_rows ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION segment._is_mine(owner name) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN owner OPERATOR(pg_catalog.=) CURRENT_USER
        OR (owner OPERATOR(pg_catalog.=) ANY (SELECT r.rolname FROM pg_catalog.pg_roles r)
            AND pg_catalog.pg_has_role(owner, 'MEMBER'::pg_catalog.text));
COMMENT ON FUNCTION segment._is_mine(name) IS 'Row-level security of the registry: rows of roles the current user is a member of';
CREATE POLICY own_views ON segment.segment_views FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshots ON segment.segment_snapshots FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshot_rows ON segment.segment_snapshot_rows FOR SELECT
    USING (snapshot_id OPERATOR(pg_catalog.=) ANY (SELECT s.snapshot_id FROM segment.segment_snapshots s));
GRANT SELECT ON segment.segment_views, segment.segment_snapshots, segment.segment_snapshot_rows TO PUBLIC;
-- only the registry's owner draws snapshot ids (the explicit REVOKE also gives the sequence the
-- ACL an update from 0.1.0 leaves it with)
REVOKE ALL ON SEQUENCE segment.segment_snapshots_id_seq FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('segment.segment_views', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshots', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshot_rows', '');
SELECT pg_catalog.pg_extension_config_dump('segment.segment_snapshots_id_seq', '');

------------------------------------------------------------------------------------------------
-- The registry's writers and the other C glue (src/views.rs). Each checks that the caller
-- may act for the view (its owner's privileges, or a superuser) before it writes anything.
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._registry_put(view regclass, source regclass, customer_column name, ordered_at_column name,
                                      amount_column name, options jsonb, definition text) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_put' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._registry_refreshed(view regclass) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_registry_refreshed' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._registry_cron(view regclass, job bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_cron' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._registry_drop(view_schema name, view_name name, keep_history boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_registry_drop' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._snapshot_take(view regclass, taken_at timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_snapshot_take' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._snapshots_delete(view_schema name, view_name name, taken_before timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_snapshots_delete' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._grant_as(view regclass, column_name name, grantor oid, grantee oid, privilege text,
                                  grantable boolean, revoke boolean) RETURNS void
    AS 'MODULE_PATHNAME', 'pgseg_grant_as' LANGUAGE C VOLATILE PARALLEL UNSAFE;
CREATE FUNCTION segment._key_equality(key_type regtype) RETURNS regoper
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
CREATE FUNCTION segment._drop_guard() RETURNS event_trigger
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
CREATE FUNCTION segment._view_ident(qualified text, default_schema name, OUT view_schema name, OUT view_name name)
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
CREATE FUNCTION segment._view_row(view_name text, default_schema name) RETURNS segment.segment_views
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
CREATE FUNCTION segment._view_rel(r segment.segment_views) RETURNS regclass
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

-- the materialized view of a view name, for the workers that need only the relation: the
-- registry row first (42P01 when there is none), then its relation (42P01 when it is gone)
CREATE FUNCTION segment._view_relation(view_name text, default_schema name) RETURNS regclass
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT segment._view_rel(segment._view_row(view_name, default_schema)) $$;
COMMENT ON FUNCTION segment._view_relation(text, name) IS
    'The materialized view of a segmentation view name (42P01 when it is not registered or is gone)';

------------------------------------------------------------------------------------------------
-- The view's query
------------------------------------------------------------------------------------------------
-- the type of a column of a relation, or ERROR 42703 naming it
CREATE FUNCTION segment._column_type(source regclass, col name, what text) RETURNS regtype
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

-- the first checks of a function over a source relation and its options (segmentation views,
-- the quality report): the source given (22004), the options an object (22023); '{}' for NULL
CREATE FUNCTION segment._source_options(source regclass, options jsonb) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = '22004';
    END IF;
    options := coalesce(options, '{}');
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a jsonb object, got %', options USING ERRCODE = '22023';
    END IF;
    RETURN options;
END $$;
COMMENT ON FUNCTION segment._source_options(regclass, jsonb) IS
    'The options of a function over a source relation, checked: 22004 without a source, 22023 unless an object; NULL gives {}';

-- options.as_of (a fixed instant) as SQL text: an ISO 8601 UTC literal, which reads back the same
-- under any DateStyle and TimeZone; 22023 naming the key when it is not an instant. STABLE: the
-- value is read in the session's TimeZone and DateStyle.
CREATE FUNCTION segment._as_of_literal(as_of jsonb) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN format('%L::timestamptz', to_char((as_of #>> '{}')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'));
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'options.as_of must be "now" or a timestamptz, got %', as_of USING ERRCODE = '22023';
END $$;
COMMENT ON FUNCTION segment._as_of_literal(jsonb) IS
    'options.as_of as an ISO 8601 UTC timestamptz literal for generated SQL; 22023 naming the key unless an instant';

-- A segmentation view with an events source (option "events"): the view's rows full-joined with
-- one browsing summary per customer of the events source, so that customers who only browse are
-- rows too (no order: orders and monetary 0); lifecycle_stage becomes the browsing-aware stage
-- and visits, browsing_active and last_visit are added. q's columns are population_rows' and as_of.
CREATE FUNCTION segment._events_view_query(q text, key_type regtype, mapped boolean, key_eq_sql text, as_of_expr text,
                                           pop jsonb, events jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src regclass;
    kind "char";
    t regtype;
    bad text;
    cust name;
    at_col name;
    at_sql text;
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
    -- local times (timestamp, date) are read in the view's zone, as the order instants are
    at_sql := CASE WHEN t = 'timestamptz'::regtype THEN format('e.%I::timestamptz', at_col)
                   ELSE format('(e.%I::timestamp AT TIME ZONE %s)', at_col, CASE WHEN pop ? 'tz' THEN format('%L', pop->>'tz') ELSE 'current_setting(''TimeZone'')' END) END;
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
                  'FROM (%6$s) v FULL JOIN (SELECT e.%7$I%8$s AS key, segment.browsing_agg(%9$s) AS b FROM %10$s e '
                  'WHERE e.%7$I IS NOT NULL GROUP BY 1) e ON e.key %11$s v.customer_id',
                  cols, as_of_expr, coalesce((activity->>'window_days')::int, 30),
                  CASE WHEN pop ? 'tz' THEN format('%L', pop->>'tz') ELSE 'current_setting(''TimeZone'')' END,
                  activity, q, cust, CASE WHEN mapped THEN '' ELSE '::bigint' END, at_sql, src, key_eq_sql);
END $$;
COMMENT ON FUNCTION segment._events_view_query(text, regtype, boolean, text, text, jsonb, jsonb) IS
    'The SELECT of a segmentation view with an events source: browsing columns and stages, customers who only browse included';

-- The view's SELECT, parsed (never run) when the view is created under the pinned search_path:
-- every name it uses binds to pg_catalog or segment then, whoever refreshes it later.
CREATE FUNCTION segment._segment_view_query(source regclass, customer_column name, ordered_at_column name,
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
    oid_arg text := '';  -- the order id argument of rfm_agg, with its comma
    at_local boolean;  -- a timestamp or date column: local times
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
    options := segment._source_options(source, options);
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
    at_local := t <> 'timestamptz'::regtype;

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
    IF options ? 'order_id_column' THEN
        fcol := options->>'order_id_column';
        t := segment._column_type(source, fcol, 'options.order_id_column');
        IF t NOT IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype) THEN
            RAISE EXCEPTION 'options.order_id_column "%" of % must be an integer column, it is %', fcol, source, t USING ERRCODE = '42804';
        END IF;
        customer_expr := customer_expr || format(', s.%I::bigint', fcol);
        oid_arg := format('s.%I::bigint, ', fcol);
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
        as_of_expr := segment._as_of_literal(options->'as_of');
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
    -- a timestamp or date column holds local times: they are read in the view's zone, not in the
    -- TimeZone of whichever session refreshes (a pg_cron job, a Citus worker)
    IF at_local THEN
        at_expr := format('(s.%I::timestamp AT TIME ZONE %L)', ordered_at_column, tz);
    END IF;
    predict_at := oid_arg || at_expr;
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
CREATE FUNCTION segment._check_new_name(view_schema name, view_name name) RETURNS void
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
CREATE FUNCTION segment._new_matview(view_schema name, view_name name, source regclass, q text) RETURNS regclass
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

CREATE FUNCTION segment._create_segment_view(view_name text, default_schema name, source regclass, customer_column name,
                                             ordered_at_column name, amount_column name, options jsonb)
    RETURNS regclass LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    SET enable_partitionwise_aggregate = on AS $$
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
CREATE FUNCTION segment.create_segment_view(view_name text, source regclass, customer_column name, ordered_at_column name,
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
CREATE FUNCTION segment._require_pg_cron() RETURNS void
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
CREATE FUNCTION segment._require_cron_rights(r segment.segment_views, what text) RETURNS void
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

CREATE FUNCTION segment._schedule(r segment.segment_views, cron text) RETURNS bigint
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
CREATE FUNCTION segment._unschedule(r segment.segment_views) RETURNS boolean
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

CREATE FUNCTION segment._schedule_refresh(view_name text, default_schema name, cron text) RETURNS bigint
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
CREATE FUNCTION segment.schedule_refresh(view_name text, cron text) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._schedule_refresh(view_name, pg_catalog.current_schema(), cron);
COMMENT ON FUNCTION segment.schedule_refresh(text, text) IS
    'Schedules a concurrent refresh of a segmentation view with pg_cron (cron syntax), run as the view''s owner; returns the pg_cron job id';

CREATE FUNCTION segment._unschedule_refresh(view_name text, default_schema name) RETURNS boolean
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
CREATE FUNCTION segment.unschedule_refresh(view_name text) RETURNS boolean
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._unschedule_refresh(view_name, pg_catalog.current_schema());
COMMENT ON FUNCTION segment.unschedule_refresh(text) IS 'Removes the pg_cron schedule of a segmentation view; false when it had none';

------------------------------------------------------------------------------------------------
-- Alter, refresh, drop
------------------------------------------------------------------------------------------------
-- every privilege on a relation and on its columns as a sorted jsonb array of
-- {col, grantor, grantee, privilege, grantable} (col null: the relation itself)
CREATE FUNCTION segment._privileges(rel regclass) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.col NULLS FIRST, x.grantor, x.grantee, x.privilege), '[]') FROM (
        SELECT NULL::name AS col, a.grantor, a.grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
        FROM pg_catalog.pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = rel
        UNION ALL
        SELECT t.attname, a.grantor, a.grantee, a.privilege_type, a.is_grantable
        FROM pg_catalog.pg_attribute t, aclexplode(t.attacl) a WHERE t.attrelid = rel AND t.attnum > 0 AND NOT t.attisdropped) x $$;
COMMENT ON FUNCTION segment._privileges(regclass) IS
    'Privileges on a relation and its columns (grantor, grantee, privilege, grantable) as a sorted jsonb array';

-- the registry row of a view (rights first: _registry_drop lets only those who may act for the
-- view) and then its pg_cron job, where pg_cron is installed; the relation is the caller's to drop
CREATE FUNCTION segment._unregister(r segment.segment_views, keep_history boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM segment._registry_drop(r.view_schema, r.view_name, keep_history);
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        PERFORM segment._unschedule(r);
    END IF;
END $$;
COMMENT ON FUNCTION segment._unregister(segment.segment_views, boolean) IS
    'Removes the registry row of a segmentation view (and, unless keep_history, its snapshots) and its pg_cron job';

CREATE FUNCTION segment._alter_segment_view(view_name text, default_schema name, options jsonb) RETURNS regclass
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    SET enable_partitionwise_aggregate = on AS $$
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
    PERFORM segment._unregister(r, true);
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
CREATE FUNCTION segment.alter_segment_view(view_name text, options jsonb) RETURNS regclass
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._alter_segment_view(view_name, pg_catalog.current_schema(), options);
COMMENT ON FUNCTION segment.alter_segment_view(text, jsonb) IS
    'Rebuilds a segmentation view with changed options (merged over the old ones; null removes a key) as its owner; keeps its snapshots, schedule, privileges (table and column, each by its grantor), comments, added indexes and owner';

CREATE FUNCTION segment._refresh_segment_view(view_name text, default_schema name, concurrently boolean) RETURNS timestamptz
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp
    SET enable_partitionwise_aggregate = on AS $$
DECLARE
    rel regclass := segment._view_relation(view_name, default_schema);
BEGIN
    -- REFRESH runs the view's query as the view's owner, whoever calls
    IF _refresh_segment_view.concurrently THEN  -- a keyword inside SQL: qualified by the function name
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', rel);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW %s', rel);
    END IF;
    RETURN segment._registry_refreshed(rel);
END $$;
COMMENT ON FUNCTION segment._refresh_segment_view(text, name, boolean) IS 'refresh_segment_view worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.refresh_segment_view(view_name text, concurrently boolean DEFAULT true) RETURNS timestamptz
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._refresh_segment_view(view_name, pg_catalog.current_schema(), refresh_segment_view.concurrently);
COMMENT ON FUNCTION segment.refresh_segment_view(text, boolean) IS
    'Refreshes a segmentation view (its query runs as the view''s owner); concurrently (default) never blocks its readers';

CREATE FUNCTION segment._drop_segment_view(view_name text, default_schema name, keep_history boolean) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r segment.segment_views;
    rel regclass;
BEGIN
    r := segment._view_row(view_name, default_schema);
    -- rights first: only the view's owner (or a role with her privileges) and superusers
    PERFORM segment._unregister(r, coalesce(keep_history, false));
    -- the materialized view, unless it was dropped already (or the name is another role's now)
    SELECT c.oid INTO rel FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = r.view_schema AND c.relname = r.view_name AND c.relkind = 'm' AND pg_has_role(c.relowner, 'USAGE');
    IF rel IS NOT NULL THEN
        EXECUTE format('DROP MATERIALIZED VIEW %s', rel);
    END IF;
END $$;
COMMENT ON FUNCTION segment._drop_segment_view(text, name, boolean) IS 'drop_segment_view worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.drop_segment_view(view_name text, keep_history boolean DEFAULT false) RETURNS void
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._drop_segment_view(view_name, pg_catalog.current_schema(), keep_history);
COMMENT ON FUNCTION segment.drop_segment_view(text, boolean) IS
    'Drops a segmentation view (its owner or a superuser), its schedule and (unless keep_history) the snapshots of it the caller may delete';

------------------------------------------------------------------------------------------------
-- History: snapshots, migration, changes. A view's history is the snapshots its owner took;
-- reports read only those (superusers bypass row security, so the filter is explicit).
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._take_snapshot(view_name text, default_schema name, taken_at timestamptz) RETURNS bigint
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass := segment._view_relation(view_name, default_schema);
BEGIN
    IF taken_at IS NULL THEN
        RAISE EXCEPTION 'taken_at must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN segment._snapshot_take(rel, taken_at);
END $$;
COMMENT ON FUNCTION segment._take_snapshot(text, name, timestamptz) IS 'take_snapshot worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.take_snapshot(view_name text, taken_at timestamptz DEFAULT pg_catalog.now()) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._take_snapshot(view_name, pg_catalog.current_schema(), taken_at);
COMMENT ON FUNCTION segment.take_snapshot(text, timestamptz) IS
    'Stores every customer''s tier, segment, lifecycle stage, orders and spend from a segmentation view; returns the snapshot id';

CREATE FUNCTION segment._delete_snapshots(view_name text, default_schema name, taken_before timestamptz) RETURNS bigint
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
CREATE FUNCTION segment.delete_snapshots(view_name text, taken_before timestamptz) RETURNS bigint
    LANGUAGE sql VOLATILE PARALLEL UNSAFE
    RETURN segment._delete_snapshots(view_name, pg_catalog.current_schema(), taken_before);
COMMENT ON FUNCTION segment.delete_snapshots(text, timestamptz) IS
    'Deletes the snapshots of a view taken before an instant (their rows follow); the snapshots'' owner or a superuser; returns how many';

-- the latest snapshot of a view taken at or before an instant by the view's owner
CREATE FUNCTION segment._snapshot_at(r segment.segment_views, at timestamptz, what text) RETURNS bigint
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
CREATE FUNCTION segment._snapshot_pair(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
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

CREATE FUNCTION segment._tier_migration(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (from_tier text, to_tier text, customers bigint, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT p.from_tier, p.to_tier, count(*), sum(p.revenue)
    FROM segment._snapshot_pair(view_name, default_schema, "from", "to") p
    GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS FIRST $$;
COMMENT ON FUNCTION segment._tier_migration(text, name, timestamptz, timestamptz) IS 'tier_migration worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.tier_migration(view_name text, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (from_tier text, to_tier text, customers bigint, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT m.from_tier, m.to_tier, m.customers, m.revenue
    FROM segment._tier_migration(view_name, pg_catalog.current_schema(), "from", "to") m;
END;
COMMENT ON FUNCTION segment.tier_migration(text, timestamptz, timestamptz) IS
    'Migration matrix between the snapshots in force at two instants: customers per (from tier, to tier) and their net spend between the snapshots (NULL tier: not a customer then)';

CREATE FUNCTION segment._segment_changes(view_name text, default_schema name, "from" timestamptz, "to" timestamptz)
    RETURNS TABLE (customer_id text, from_tier text, to_tier text, from_segment text, to_segment text,
                   from_stage text, to_stage text, revenue numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT * FROM segment._snapshot_pair(view_name, default_schema, "from", "to") p
    WHERE p.from_tier IS DISTINCT FROM p.to_tier OR p.from_segment IS DISTINCT FROM p.to_segment
    ORDER BY length(p.customer_id), p.customer_id $$;  -- shorter keys first: non-negative integer ids in numeric order
COMMENT ON FUNCTION segment._segment_changes(text, name, timestamptz, timestamptz) IS 'segment_changes worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.segment_changes(view_name text, "from" timestamptz, "to" timestamptz)
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
CREATE FUNCTION segment._segment_kpis(view_name text, default_schema name, by text)
    RETURNS TABLE (label text, customers bigint, customer_share numeric, revenue numeric, revenue_share numeric,
                   average_order_value numeric, repurchase_rate numeric)
    LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.label, k.customers, k.customer_share, k.revenue, k.revenue_share, k.average_order_value, k.repurchase_rate
    FROM segment._segment_kpis(view_name, default_schema, by, 1) k
    ORDER BY k.revenue DESC NULLS LAST, k.label $$;
COMMENT ON FUNCTION segment._segment_kpis(text, name, text) IS 'segment_kpis worker (default_schema: the caller''s current schema)';
CREATE FUNCTION segment.segment_kpis(view_name text, by text DEFAULT 'tier')
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
