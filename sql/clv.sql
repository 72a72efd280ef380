-- pg_segment: customer lifetime value (BG/NBD purchases, Gamma-Gamma spend, CLV).
-- Fits are aggregates over per-customer BTYD summaries (segment.btyd); their state holds the
-- distinct input tuples with counts, so memory and fit time grow with distinct tuples, not rows.
------------------------------------------------------------------------------------------------
-- Model types: storable values whose fields are the accessors; cast to and from jsonb.
------------------------------------------------------------------------------------------------
CREATE TYPE segment.bgnbd_model AS (
    r double precision, alpha double precision, a double precision, b double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean);
COMMENT ON TYPE segment.bgnbd_model IS
    'BG/NBD model (Fader, Hardie & Lee 2005): purchase rate ~ Gamma(r, alpha) in the time unit of the data, dropout ~ Beta(a, b); log-likelihood at the estimate, customers fitted, optimiser iterations, converged';
CREATE TYPE segment.gamma_gamma_model AS (
    p double precision, q double precision, gamma double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean);
COMMENT ON TYPE segment.gamma_gamma_model IS
    'Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma); fitted over repeat buyers';

-- extra_float_digits = 3: every float8 field survives the round trip exactly, whatever the session's setting
CREATE FUNCTION segment.to_jsonb(m segment.bgnbd_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.to_jsonb(m segment.gamma_gamma_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.bgnbd_model(j jsonb) RETURNS segment.bgnbd_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.bgnbd_model, j);
CREATE FUNCTION segment.gamma_gamma_model(j jsonb) RETURNS segment.gamma_gamma_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.gamma_gamma_model, j);
COMMENT ON FUNCTION segment.to_jsonb(segment.bgnbd_model) IS 'A BG/NBD model as jsonb (also the cast bgnbd_model::jsonb)';
COMMENT ON FUNCTION segment.to_jsonb(segment.gamma_gamma_model) IS 'A Gamma-Gamma model as jsonb (also the cast gamma_gamma_model::jsonb)';
COMMENT ON FUNCTION segment.bgnbd_model(jsonb) IS 'A BG/NBD model from its jsonb form (also the cast jsonb::bgnbd_model)';
COMMENT ON FUNCTION segment.gamma_gamma_model(jsonb) IS 'A Gamma-Gamma model from its jsonb form (also the cast jsonb::gamma_gamma_model)';
CREATE CAST (segment.bgnbd_model AS jsonb) WITH FUNCTION segment.to_jsonb(segment.bgnbd_model);
CREATE CAST (segment.gamma_gamma_model AS jsonb) WITH FUNCTION segment.to_jsonb(segment.gamma_gamma_model);
CREATE CAST (jsonb AS segment.bgnbd_model) WITH FUNCTION segment.bgnbd_model(jsonb);
CREATE CAST (jsonb AS segment.gamma_gamma_model) WITH FUNCTION segment.gamma_gamma_model(jsonb);

------------------------------------------------------------------------------------------------
-- Fits (internal state; parallel: combine + serialize/deserialize)
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._bgnbd_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._bgnbd_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._bgnbd_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._bgnbd_final(internal) RETURNS segment.bgnbd_model
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision) IS 'bgnbd_fit transition: counts distinct (frequency, recency, t)';
COMMENT ON FUNCTION segment._bgnbd_combine(internal, internal) IS 'bgnbd_fit combine of partial states';
COMMENT ON FUNCTION segment._bgnbd_serialize(internal) IS 'bgnbd_fit state serialization for parallel workers';
COMMENT ON FUNCTION segment._bgnbd_deserialize(bytea, internal) IS 'bgnbd_fit state deserialization (validated)';
COMMENT ON FUNCTION segment._bgnbd_final(internal) IS 'bgnbd_fit final: maximum-likelihood fit';

CREATE AGGREGATE segment.bgnbd_fit(frequency double precision, recency double precision, t double precision) (
    SFUNC = segment._bgnbd_trans, STYPE = internal, FINALFUNC = segment._bgnbd_final,
    COMBINEFUNC = segment._bgnbd_combine, SERIALFUNC = segment._bgnbd_serialize,
    DESERIALFUNC = segment._bgnbd_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.bgnbd_fit(double precision, double precision, double precision) IS
    'Maximum-likelihood BG/NBD fit over per-customer (frequency, recency, t) as segment.btyd gives them; rows with a NULL skipped; NULL for no rows';

CREATE FUNCTION segment._gamma_gamma_trans(internal, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_gg_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._gamma_gamma_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_gg_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._gamma_gamma_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_gg_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._gamma_gamma_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_gg_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._gamma_gamma_final(internal) RETURNS segment.gamma_gamma_model
    AS 'MODULE_PATHNAME', 'pgseg_gg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._gamma_gamma_trans(internal, double precision, double precision) IS 'gamma_gamma_fit transition: counts distinct (frequency, monetary_value) of repeat buyers';
COMMENT ON FUNCTION segment._gamma_gamma_combine(internal, internal) IS 'gamma_gamma_fit combine of partial states';
COMMENT ON FUNCTION segment._gamma_gamma_serialize(internal) IS 'gamma_gamma_fit state serialization for parallel workers';
COMMENT ON FUNCTION segment._gamma_gamma_deserialize(bytea, internal) IS 'gamma_gamma_fit state deserialization (validated)';
COMMENT ON FUNCTION segment._gamma_gamma_final(internal) IS 'gamma_gamma_fit final: maximum-likelihood fit';

CREATE AGGREGATE segment.gamma_gamma_fit(frequency double precision, monetary_value double precision) (
    SFUNC = segment._gamma_gamma_trans, STYPE = internal, FINALFUNC = segment._gamma_gamma_final,
    COMBINEFUNC = segment._gamma_gamma_combine, SERIALFUNC = segment._gamma_gamma_serialize,
    DESERIALFUNC = segment._gamma_gamma_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.gamma_gamma_fit(double precision, double precision) IS
    'Maximum-likelihood Gamma-Gamma fit over repeat buyers (frequency > 0; others skipped); NULL without one';

------------------------------------------------------------------------------------------------
-- Predictions: durations are in the time unit of the model's data (days or weeks)
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.bgnbd_p_alive(model segment.bgnbd_model, frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_bgnbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.bgnbd_expected_purchases(model segment.bgnbd_model, duration double precision,
        frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_bgnbd_expected' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.bgnbd_expected_purchases_new(model segment.bgnbd_model, duration double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_bgnbd_expected_new' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.bgnbd_log_likelihood(model segment.bgnbd_model, frequency double precision, recency double precision, t double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_bgnbd_log_likelihood' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.gamma_gamma_expected_spend(model segment.gamma_gamma_model, frequency double precision, monetary_value double precision)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_gg_expected_spend' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.clv(bgnbd segment.bgnbd_model, gamma_gamma segment.gamma_gamma_model,
        frequency double precision, recency double precision, t double precision, monetary_value double precision,
        horizon integer, discount_rate double precision, time_unit text)
    RETURNS double precision AS 'MODULE_PATHNAME', 'pgseg_clv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION segment.bgnbd_p_alive(segment.bgnbd_model, double precision, double precision, double precision) IS
    'Probability that the customer is still active at t (1 for frequency 0)';
COMMENT ON FUNCTION segment.bgnbd_expected_purchases(segment.bgnbd_model, double precision, double precision, double precision, double precision) IS
    'Expected repeat purchases in the next duration time units of a customer with (frequency, recency, t)';
COMMENT ON FUNCTION segment.bgnbd_expected_purchases_new(segment.bgnbd_model, double precision) IS
    'Expected repeat purchases in the first duration time units of a newly acquired customer';
COMMENT ON FUNCTION segment.bgnbd_log_likelihood(segment.bgnbd_model, double precision, double precision, double precision) IS
    'Log-likelihood of one customer under the model; sum it to compare models on the same data';
COMMENT ON FUNCTION segment.gamma_gamma_expected_spend(segment.gamma_gamma_model, double precision, double precision) IS
    'Expected spend per purchase given frequency and mean repeat spend (population mean for frequency 0)';
COMMENT ON FUNCTION segment.clv(segment.bgnbd_model, segment.gamma_gamma_model, double precision, double precision, double precision, double precision, integer, double precision, text) IS
    'Discounted expected spend over horizon months: sum over months i of spend x expected purchases in month i / (1 + discount_rate)^i; time_unit (days|weeks) of the summaries, a month = 30 days or 4.345 weeks';
