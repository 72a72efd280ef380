-- pg_segment: every SQL object, declared by hand with deliberate markings.
-- The script creates schema segment itself (rather than naming it in the control file) so that
-- the schema is a member of the extension and DROP EXTENSION removes it.
CREATE SCHEMA segment;
COMMENT ON SCHEMA segment IS 'pg_segment: customer segmentation (RFM, tiers, lifecycle, cadence)';
-- Everyone may use the functions (EXECUTE is PUBLIC by default); nobody but the owner may create
-- objects here. To restrict: REVOKE USAGE ON SCHEMA segment FROM PUBLIC and grant it to roles.
GRANT USAGE ON SCHEMA segment TO PUBLIC;
-- Functions whose answer depends on the session's TimeZone are STABLE; their overloads with an
-- explicit tz are IMMUTABLE. Everything is PARALLEL SAFE.

------------------------------------------------------------------------------------------------
-- The rfm_summary type: every order and refund of one customer as (instant, amount).
------------------------------------------------------------------------------------------------
CREATE TYPE segment.rfm_summary;

CREATE FUNCTION segment.rfm_summary_in(cstring) RETURNS segment.rfm_summary
    AS 'MODULE_PATHNAME', 'pgseg_summary_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_summary_out(segment.rfm_summary) RETURNS cstring
    AS 'MODULE_PATHNAME', 'pgseg_summary_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_summary_recv(internal) RETURNS segment.rfm_summary
    AS 'MODULE_PATHNAME', 'pgseg_summary_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.rfm_summary_send(segment.rfm_summary) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_summary_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE segment.rfm_summary (
    INPUT = segment.rfm_summary_in,
    OUTPUT = segment.rfm_summary_out,
    RECEIVE = segment.rfm_summary_recv,
    SEND = segment.rfm_summary_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE segment.rfm_summary IS
    'Per-customer order history for RFM: every order and refund as (instant, amount); text form v1:<instant> <amount>|...';
COMMENT ON FUNCTION segment.rfm_summary_in(cstring) IS 'Text input of rfm_summary (v1:... form)';
COMMENT ON FUNCTION segment.rfm_summary_out(segment.rfm_summary) IS 'Text output of rfm_summary (v1:... form)';
COMMENT ON FUNCTION segment.rfm_summary_recv(internal) IS 'Binary input of rfm_summary (validated)';
COMMENT ON FUNCTION segment.rfm_summary_send(segment.rfm_summary) IS 'Binary output of rfm_summary';

-- rfm_agg support functions (internal state, parallel: combine + serialize/deserialize)
CREATE FUNCTION segment._rfm_trans(internal, timestamptz, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, timestamptz, numeric, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_numeric' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, timestamptz, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_trans(internal, timestamptz, double precision, boolean) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_trans_float8' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_rfm_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._rfm_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rfm_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._rfm_final(internal) RETURNS segment.rfm_summary
    AS 'MODULE_PATHNAME', 'pgseg_rfm_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rollup_trans(internal, segment.rfm_summary) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_rollup_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segment._rfm_trans(internal, timestamptz, numeric) IS 'rfm_agg transition (numeric amounts)';
COMMENT ON FUNCTION segment._rfm_trans(internal, timestamptz, numeric, boolean) IS 'rfm_agg transition (numeric amounts, refund flag)';
COMMENT ON FUNCTION segment._rfm_trans(internal, timestamptz, double precision) IS 'rfm_agg transition (float8 amounts)';
COMMENT ON FUNCTION segment._rfm_trans(internal, timestamptz, double precision, boolean) IS 'rfm_agg transition (float8 amounts, refund flag)';
COMMENT ON FUNCTION segment._rfm_combine(internal, internal) IS 'rfm_agg/rollup combine of partial states';
COMMENT ON FUNCTION segment._rfm_serialize(internal) IS 'rfm_agg/rollup state serialization for parallel workers';
COMMENT ON FUNCTION segment._rfm_deserialize(bytea, internal) IS 'rfm_agg/rollup state deserialization';
COMMENT ON FUNCTION segment._rfm_final(internal) IS 'rfm_agg/rollup final: sorted rfm_summary';
COMMENT ON FUNCTION segment._rollup_trans(internal, segment.rfm_summary) IS 'rollup transition';

CREATE AGGREGATE segment.rfm_agg(ordered_at timestamptz, amount numeric) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_final,
    COMBINEFUNC = segment._rfm_combine, SERIALFUNC = segment._rfm_serialize,
    DESERIALFUNC = segment._rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(ordered_at timestamptz, amount numeric, is_refund boolean) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_final,
    COMBINEFUNC = segment._rfm_combine, SERIALFUNC = segment._rfm_serialize,
    DESERIALFUNC = segment._rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(ordered_at timestamptz, amount double precision) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_final,
    COMBINEFUNC = segment._rfm_combine, SERIALFUNC = segment._rfm_serialize,
    DESERIALFUNC = segment._rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rfm_agg(ordered_at timestamptz, amount double precision, is_refund boolean) (
    SFUNC = segment._rfm_trans, STYPE = internal, FINALFUNC = segment._rfm_final,
    COMBINEFUNC = segment._rfm_combine, SERIALFUNC = segment._rfm_serialize,
    DESERIALFUNC = segment._rfm_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.rollup(segment.rfm_summary) (
    SFUNC = segment._rollup_trans, STYPE = internal, FINALFUNC = segment._rfm_final,
    COMBINEFUNC = segment._rfm_combine, SERIALFUNC = segment._rfm_serialize,
    DESERIALFUNC = segment._rfm_deserialize, PARALLEL = SAFE);

COMMENT ON AGGREGATE segment.rfm_agg(timestamptz, numeric) IS
    'Per-customer RFM summary of order rows; negative amounts are refunds; NULL rows skipped; NULL for no rows';
COMMENT ON AGGREGATE segment.rfm_agg(timestamptz, numeric, boolean) IS
    'Per-customer RFM summary; rows with is_refund = true are refunds of their amount';
COMMENT ON AGGREGATE segment.rfm_agg(timestamptz, double precision) IS
    'Per-customer RFM summary of order rows with float8 amounts (rounded to 0.0001)';
COMMENT ON AGGREGATE segment.rfm_agg(timestamptz, double precision, boolean) IS
    'Per-customer RFM summary, float8 amounts, refund flag';
COMMENT ON AGGREGATE segment.rollup(segment.rfm_summary) IS
    'Merges rfm_summary values (e.g. monthly partials into a year)';

------------------------------------------------------------------------------------------------
-- Accessors
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.frequency(s segment.rfm_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_frequency' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.frequency(s segment.rfm_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_frequency' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.frequency(s segment.rfm_summary, as_of timestamptz, window_days integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_window_frequency' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.frequency(s segment.rfm_summary, as_of timestamptz, window_days integer, tz text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_window_frequency' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.monetary(s segment.rfm_summary, as_of timestamptz, window_days integer) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_window_monetary' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.monetary(s segment.rfm_summary, as_of timestamptz, window_days integer, tz text) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_window_monetary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.monetary(s segment.rfm_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_monetary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.monetary(s segment.rfm_summary, as_of timestamptz) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_monetary' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.average_order_value(s segment.rfm_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_average_order_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.average_order_value(s segment.rfm_summary, as_of timestamptz) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_average_order_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.first_order(s segment.rfm_summary) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_first_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.first_order(s segment.rfm_summary, as_of timestamptz) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_first_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.last_order(s segment.rfm_summary) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_last_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.last_order(s segment.rfm_summary, as_of timestamptz) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'pgseg_last_order' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.refunds(s segment.rfm_summary) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_refunds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.refunds(s segment.rfm_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_refunds' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.refunded_amount(s segment.rfm_summary) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_refunded' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.refunded_amount(s segment.rfm_summary, as_of timestamptz) RETURNS numeric
    AS 'MODULE_PATHNAME', 'pgseg_refunded' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.future_orders(s segment.rfm_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_future_orders' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.recency_days(s segment.rfm_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_recency_days' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.recency_days(s segment.rfm_summary, as_of timestamptz, tz text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_recency_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.tenure_days(s segment.rfm_summary, as_of timestamptz) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_tenure_days' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.tenure_days(s segment.rfm_summary, as_of timestamptz, tz text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'pgseg_tenure_days' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segment.frequency(segment.rfm_summary) IS 'Number of orders (refunds never count)';
COMMENT ON FUNCTION segment.frequency(segment.rfm_summary, timestamptz) IS 'Number of orders at or before as_of';
COMMENT ON FUNCTION segment.frequency(segment.rfm_summary, timestamptz, integer) IS 'Orders in the window_days calendar days (session TimeZone) ending with as_of';
COMMENT ON FUNCTION segment.frequency(segment.rfm_summary, timestamptz, integer, text) IS 'Orders in the window_days calendar days (time zone tz) ending with as_of';
COMMENT ON FUNCTION segment.monetary(segment.rfm_summary, timestamptz, integer) IS 'Net spend in the window_days calendar days (session TimeZone) ending with as_of, e.g. 365 for annual spend';
COMMENT ON FUNCTION segment.monetary(segment.rfm_summary, timestamptz, integer, text) IS 'Net spend in the window_days calendar days (time zone tz) ending with as_of';
COMMENT ON FUNCTION segment.monetary(segment.rfm_summary) IS 'Net spend: orders minus refunds';
COMMENT ON FUNCTION segment.monetary(segment.rfm_summary, timestamptz) IS 'Net spend at or before as_of';
COMMENT ON FUNCTION segment.average_order_value(segment.rfm_summary) IS 'Net spend per order (NULL without orders)';
COMMENT ON FUNCTION segment.average_order_value(segment.rfm_summary, timestamptz) IS 'Net spend per order at or before as_of';
COMMENT ON FUNCTION segment.first_order(segment.rfm_summary) IS 'Instant of the first order (NULL without orders)';
COMMENT ON FUNCTION segment.first_order(segment.rfm_summary, timestamptz) IS 'Instant of the first order at or before as_of';
COMMENT ON FUNCTION segment.last_order(segment.rfm_summary) IS 'Instant of the last order (NULL without orders)';
COMMENT ON FUNCTION segment.last_order(segment.rfm_summary, timestamptz) IS 'Instant of the last order at or before as_of';
COMMENT ON FUNCTION segment.refunds(segment.rfm_summary) IS 'Number of refund rows';
COMMENT ON FUNCTION segment.refunds(segment.rfm_summary, timestamptz) IS 'Number of refund rows at or before as_of';
COMMENT ON FUNCTION segment.refunded_amount(segment.rfm_summary) IS 'Total refunded amount (positive)';
COMMENT ON FUNCTION segment.refunded_amount(segment.rfm_summary, timestamptz) IS 'Total refunded amount at or before as_of';
COMMENT ON FUNCTION segment.future_orders(segment.rfm_summary, timestamptz) IS 'Orders after as_of: excluded from every as_of figure, counted here';
COMMENT ON FUNCTION segment.recency_days(segment.rfm_summary, timestamptz) IS 'Calendar days (session TimeZone) from the last order to as_of; NULL without orders';
COMMENT ON FUNCTION segment.recency_days(segment.rfm_summary, timestamptz, text) IS 'Calendar days in time zone tz from the last order to as_of';
COMMENT ON FUNCTION segment.tenure_days(segment.rfm_summary, timestamptz) IS 'Calendar days (session TimeZone) from the first order to as_of';
COMMENT ON FUNCTION segment.tenure_days(segment.rfm_summary, timestamptz, text) IS 'Calendar days in time zone tz from the first order to as_of';

-- BTYD summary (lifetimes convention)
CREATE TYPE segment.btyd_summary AS (frequency double precision, recency double precision, t double precision, monetary_value double precision);
COMMENT ON TYPE segment.btyd_summary IS 'BTYD inputs: repeat purchase periods, age at last purchase, age at as_of, mean repeat-period spend';
CREATE FUNCTION segment.btyd(s segment.rfm_summary, as_of timestamptz, unit text DEFAULT 'days') RETURNS segment.btyd_summary
    AS 'MODULE_PATHNAME', 'pgseg_btyd' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.btyd(s segment.rfm_summary, as_of timestamptz, unit text, tz text) RETURNS segment.btyd_summary
    AS 'MODULE_PATHNAME', 'pgseg_btyd' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.btyd(segment.rfm_summary, timestamptz, text) IS
    'BTYD summary as lifetimes summary_data_from_transaction_data computes it; unit days or weeks; session TimeZone';
COMMENT ON FUNCTION segment.btyd(segment.rfm_summary, timestamptz, text, text) IS
    'BTYD summary in time zone tz; unit days or weeks';

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

------------------------------------------------------------------------------------------------
-- Labels: segments, tiers, lifecycle, cadence
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._rfm_segment(r integer, f integer, m integer, r_high boolean, f_high boolean, m_high boolean,
        r_bins integer, f_bins integer, m_bins integer, scheme text, lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_rfm_segment_builtin' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_segment(r integer, f integer, m integer, r_high boolean, f_high boolean, m_high boolean,
        r_bins integer, f_bins integer, m_bins integer, rules jsonb, lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_rfm_segment_rules' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._rfm_segment(integer, integer, integer, boolean, boolean, boolean, integer, integer, integer, text, text) IS
    'rfm_segment worker for built-in schemes (NULL scores give NULL)';
COMMENT ON FUNCTION segment._rfm_segment(integer, integer, integer, boolean, boolean, boolean, integer, integer, integer, jsonb, text) IS
    'rfm_segment worker for user rule sets (NULL scores give NULL)';

CREATE FUNCTION segment.rfm_segment(score segment.rfm_score, scheme text DEFAULT 'rfm11', lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN segment._rfm_segment((score).r, (score).f, (score).m, (score).r_high, (score).f_high, (score).m_high,
                                    (score).r_bins, (score).f_bins, (score).m_bins, scheme, lang);
CREATE FUNCTION segment.rfm_segment(score segment.rfm_score, rules jsonb, lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN segment._rfm_segment((score).r, (score).f, (score).m, (score).r_high, (score).f_high, (score).m_high,
                                    (score).r_bins, (score).f_bins, (score).m_bins, rules, lang);
COMMENT ON FUNCTION segment.rfm_segment(segment.rfm_score, text, text) IS
    'Named segment of a score: scheme rfm11 (11 segments) or cn8 (8 Chinese classes); lang zh, en or code';
COMMENT ON FUNCTION segment.rfm_segment(segment.rfm_score, jsonb, text) IS
    'Named segment from a user rule set (array of rules, first match wins, last rule a catch-all)';

CREATE FUNCTION segment.customer_tier(rank_share double precision, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_customer_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.customer_tier(double precision, jsonb, text) IS
    'Percentile tier from rank_share = cume_dist() OVER (ORDER BY value DESC): top 10% 至尊VIP, next 15% VIP, next 25% 高级会员, rest 普通会员';
CREATE FUNCTION segment.spend_tier(spend numeric, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_spend_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.spend_tier(numeric, jsonb, text) IS
    'Spend tier: above 50000 high, 10000 to 50000 middle, else low (config keys high, middle)';

CREATE FUNCTION segment.lifecycle_stage(s segment.rfm_summary, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lifecycle_stage' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.lifecycle_stage(s segment.rfm_summary, as_of timestamptz, config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lifecycle_stage_tz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.lifecycle_stage(segment.rfm_summary, timestamptz, jsonb, text) IS
    'Lifecycle stage: prospect, new (<30 days since first order), active (<90 since last), sleeping (<180), at risk (<=365), churned; session TimeZone';
COMMENT ON FUNCTION segment.lifecycle_stage(segment.rfm_summary, timestamptz, jsonb, text, text) IS
    'Lifecycle stage with days counted in time zone tz';

CREATE FUNCTION segment.purchase_cadence(s segment.rfm_summary, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_purchase_cadence' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.purchase_cadence(s segment.rfm_summary, as_of timestamptz, config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_purchase_cadence_tz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.purchase_cadence(segment.rfm_summary, timestamptz, jsonb, text) IS
    'Purchase cadence from gaps between purchase days: one-time, monthly, quarterly, half-yearly, yearly, irregular; session TimeZone';
COMMENT ON FUNCTION segment.purchase_cadence(segment.rfm_summary, timestamptz, jsonb, text, text) IS
    'Purchase cadence with days counted in time zone tz';

