-- pg_segment: the segment report, one self-contained HTML page per segmentation view.
--
-- segment.report(view_name, options) runs one query per chart, each a query a user could run
-- as it is (segment_kpis, tier_migration, or a plain SELECT over the view), and hands their SQL
-- text and rows to the renderer (src/report.rs, crates/core/src/report/), which draws the page
-- and lists every chart's SQL beside it. Rows travel as the text PostgreSQL prints for each value
-- (jsonb scalars #>> '{}'), so the page shows the SQL's own digits.
--
-- Rights: everything runs with the caller's rights (the view and its snapshots are read as the
-- caller sees them); the workers pin search_path = pg_catalog, pg_temp; names reach the SQL only
-- through format('%I') and %L (the view's registry row) or regclass.

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
