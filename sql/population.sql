-- pg_segment: the whole-population path (population_agg -> rfm_population -> population_rows).
------------------------------------------------------------------------------------------------
-- The rfm_population type: every customer of one population_agg call, segmented.
------------------------------------------------------------------------------------------------
CREATE TYPE segment.rfm_population;

CREATE FUNCTION segment.rfm_population_in(cstring) RETURNS segment.rfm_population
    AS 'MODULE_PATHNAME', 'pgseg_population_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_population_out(segment.rfm_population) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pgseg_population_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_population_recv(internal) RETURNS segment.rfm_population
    AS 'MODULE_PATHNAME', 'pgseg_population_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_population_send(segment.rfm_population) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_population_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segment.rfm_population (
    INPUT = segment.rfm_population_in,
    OUTPUT = segment.rfm_population_out,
    RECEIVE = segment.rfm_population_recv,
    SEND = segment.rfm_population_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE segment.rfm_population IS
    'A segmented customer population from population_agg; expand it with population_rows()';
COMMENT ON FUNCTION segment.rfm_population_in(cstring) IS 'Text input of rfm_population (the p1:<hex> form, validated)';
COMMENT ON FUNCTION segment.rfm_population_out(segment.rfm_population) IS 'Text output of rfm_population (p1:<hex>)';
COMMENT ON FUNCTION segment.rfm_population_recv(internal) IS 'Binary input of rfm_population (validated)';
COMMENT ON FUNCTION segment.rfm_population_send(segment.rfm_population) IS 'Binary output of rfm_population';

-- support functions: STABLE because without a "tz" option days are counted in the session TimeZone
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_numeric' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_numeric' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, boolean, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_numeric_flag' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_float8' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_float8' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, boolean, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_trans_float8_flag' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_combine' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION segment._population_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_population_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._population_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_population_deserialize' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._population_final(internal) RETURNS segment.rfm_population
    AS 'MODULE_PATHNAME', 'pgseg_population_final' LANGUAGE C STABLE PARALLEL SAFE;

COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, timestamptz) IS 'population_agg transition (numeric amounts)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, timestamptz, jsonb) IS 'population_agg transition (numeric amounts, options)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, numeric, boolean, timestamptz, jsonb) IS 'population_agg transition (numeric amounts, refund flag, options)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, timestamptz) IS 'population_agg transition (float8 amounts)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, timestamptz, jsonb) IS 'population_agg transition (float8 amounts, options)';
COMMENT ON FUNCTION segment._population_trans(internal, bigint, timestamptz, double precision, boolean, timestamptz, jsonb) IS 'population_agg transition (float8 amounts, refund flag, options)';
COMMENT ON FUNCTION segment._population_combine(internal, internal) IS 'population_agg combine of partial states (parallel workers)';
COMMENT ON FUNCTION segment._population_serialize(internal) IS 'population_agg partial state serialization';
COMMENT ON FUNCTION segment._population_deserialize(bytea, internal) IS 'population_agg partial state deserialization';
COMMENT ON FUNCTION segment._population_final(internal) IS 'population_agg final: breaks, scores and labels for every customer';

CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount numeric, as_of timestamptz) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount numeric, as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount numeric, is_refund boolean, as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount double precision, as_of timestamptz) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount double precision, as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.population_agg(customer_id bigint, ordered_at timestamptz, amount double precision, is_refund boolean, as_of timestamptz, options jsonb) (
    SFUNC = segment._population_trans, STYPE = internal, FINALFUNC = segment._population_final,
    COMBINEFUNC = segment._population_combine, SERIALFUNC = segment._population_serialize,
    DESERIALFUNC = segment._population_deserialize, PARALLEL = SAFE);

COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, numeric, timestamptz) IS
    'Whole-population segmentation of order rows, grouped by customer inside the aggregate; expand with population_rows()';
COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, numeric, timestamptz, jsonb) IS
    'Whole-population segmentation with options (bins, center, window_days, breaks, scheme, tiers, tier_by, lifecycle, cadence, lang, tz)';
COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, numeric, boolean, timestamptz, jsonb) IS
    'Whole-population segmentation; rows with is_refund = true are refunds of their amount';
COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, double precision, timestamptz) IS
    'Whole-population segmentation, float8 amounts (rounded to 0.0001)';
COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, double precision, timestamptz, jsonb) IS
    'Whole-population segmentation with options, float8 amounts';
COMMENT ON AGGREGATE segment.population_agg(bigint, timestamptz, double precision, boolean, timestamptz, jsonb) IS
    'Whole-population segmentation, float8 amounts, refund flag';

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

CREATE FUNCTION segment.population_rows(p segment.rfm_population,
        OUT customer_id bigint, OUT orders bigint, OUT monetary numeric,
        OUT first_order timestamptz, OUT last_order timestamptz,
        OUT recency_days integer, OUT tenure_days integer,
        OUT refunds bigint, OUT refunded numeric, OUT future_orders bigint,
        OUT window_orders bigint, OUT window_monetary numeric,
        OUT r integer, OUT f integer, OUT m integer, OUT rfm_code text, OUT rfm_total integer,
        OUT segment text, OUT tier text, OUT lifecycle_stage text, OUT cadence text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'pgseg_population_rows' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100000;
COMMENT ON FUNCTION segment.population_rows(segment.rfm_population) IS
    'One row per customer of a population: summary figures, R/F/M scores and code, segment, tier, lifecycle stage, cadence (ordered by customer_id)';
CREATE FUNCTION segment.population_breaks(p segment.rfm_population) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_population_breaks' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.population_breaks(segment.rfm_population) IS
    'The breaks a population was scored with (as rfm_breaks or rfm_thresholds writes them); NULL when nobody ordered by as_of';
CREATE FUNCTION segment.population_info(p segment.rfm_population) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_population_info' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.population_info(segment.rfm_population) IS
    'Format version, as_of, time zone days were counted in, customers, order rows read, repeated order rows dropped, peak state bytes and value bytes of a population';
