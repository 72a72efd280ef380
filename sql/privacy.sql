-- pg_segment: privacy-safe exports (src/privacy.rs, crates/core/src/privacy.rs): keyed
-- pseudonyms under the superuser-only setting pg_segment.pseudonym_key (src/pg/guc.rs; never
-- stored in a table), an export of segments that carries nothing else, and small-group
-- suppression for KPI and report outputs (segment_kpis takes it in sql/views.sql).
------------------------------------------------------------------------------------------------
-- Pseudonyms
------------------------------------------------------------------------------------------------
-- STABLE: it reads the key setting. PARALLEL RESTRICTED: whether this session's key is safe to use
-- (it had no value before the library was loaded, README "Privacy-safe exports") is known to the
-- leader only; a parallel worker loads the library afresh and could not refuse an exposed key.
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
