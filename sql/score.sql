-- The score family (src/score.rs, crates/core/src/score.rs): rfm_breaks, rfm_thresholds, rfm_score.
------------------------------------------------------------------------------------------------
-- Scores
------------------------------------------------------------------------------------------------
CREATE TYPE segment.rfm_score AS (
    r integer, f integer, m integer, code text, total integer,
    r_high boolean, f_high boolean, m_high boolean,
    r_bins integer, f_bins integer, m_bins integer);
COMMENT ON TYPE segment.rfm_score IS
    'R, F, M scores (1 = worst), code such as 545, total, high/low against the centre, and the number of bins of each';

CREATE FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_breaks_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_breaks_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz, integer, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_breaks_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._breaks_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_breaks_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._breaks_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_breaks_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._breaks_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_breaks_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._breaks_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_breaks_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz) IS 'rfm_breaks transition';
COMMENT ON FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz, integer) IS 'rfm_breaks transition';
COMMENT ON FUNCTION segment._breaks_trans(internal, segment.rfm_summary, timestamptz, integer, jsonb) IS 'rfm_breaks transition';
COMMENT ON FUNCTION segment._breaks_combine(internal, internal) IS 'rfm_breaks combine';
COMMENT ON FUNCTION segment._breaks_serialize(internal) IS 'rfm_breaks state serialization';
COMMENT ON FUNCTION segment._breaks_deserialize(bytea, internal) IS 'rfm_breaks state deserialization';
COMMENT ON FUNCTION segment._breaks_final(internal) IS 'rfm_breaks final: breakpoints as jsonb';

CREATE AGGREGATE segment.rfm_breaks(s segment.rfm_summary, as_of timestamptz) (
    SFUNC = segment._breaks_trans, STYPE = internal, FINALFUNC = segment._breaks_final,
    COMBINEFUNC = segment._breaks_combine, SERIALFUNC = segment._breaks_serialize,
    DESERIALFUNC = segment._breaks_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_breaks(s segment.rfm_summary, as_of timestamptz, bins integer) (
    SFUNC = segment._breaks_trans, STYPE = internal, FINALFUNC = segment._breaks_final,
    COMBINEFUNC = segment._breaks_combine, SERIALFUNC = segment._breaks_serialize,
    DESERIALFUNC = segment._breaks_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_breaks(s segment.rfm_summary, as_of timestamptz, bins integer, options jsonb) (
    SFUNC = segment._breaks_trans, STYPE = internal, FINALFUNC = segment._breaks_final,
    COMBINEFUNC = segment._breaks_combine, SERIALFUNC = segment._breaks_serialize,
    DESERIALFUNC = segment._breaks_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.rfm_breaks(segment.rfm_summary, timestamptz) IS
    'Quantile breakpoints (5 bins) of recency, frequency and monetary over the customers with an order by as_of, as jsonb';
COMMENT ON AGGREGATE segment.rfm_breaks(segment.rfm_summary, timestamptz, integer) IS
    'Quantile breakpoints with 2..10 bins';
COMMENT ON AGGREGATE segment.rfm_breaks(segment.rfm_summary, timestamptz, integer, jsonb) IS
    'Quantile breakpoints; options: center (mean|median), window_days, tz';

CREATE FUNCTION segment.rfm_thresholds(rules jsonb DEFAULT '{}') RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_rfm_thresholds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.rfm_thresholds(jsonb) IS
    'Fixed-threshold breaks (defaults: recency 90/180/365 days, 2/4/12 orders and 10000/50000 spend in 365 days), usable by rfm_score';

CREATE FUNCTION segment.rfm_score(s segment.rfm_summary, breaks jsonb, as_of timestamptz) RETURNS segment.rfm_score
    AS 'MODULE_PATHNAME', 'pgseg_rfm_score' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_score(s segment.rfm_summary, breaks jsonb, as_of timestamptz, tz text) RETURNS segment.rfm_score
    AS 'MODULE_PATHNAME', 'pgseg_rfm_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.rfm_score(segment.rfm_summary, jsonb, timestamptz) IS
    'R, F, M scores of a customer against breaks (from rfm_breaks or rfm_thresholds); days in the breaks'' tz or the session TimeZone; NULL without an order by as_of';
COMMENT ON FUNCTION segment.rfm_score(segment.rfm_summary, jsonb, timestamptz, text) IS
    'R, F, M scores with days counted in time zone tz';

