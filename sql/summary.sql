-- The summary family (src/summary.rs, crates/core/src/summary.rs): the rfm_summary type, the
-- rfm_agg and rollup aggregates, the accessors and btyd().
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
