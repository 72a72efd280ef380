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
