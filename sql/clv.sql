-- pg_segment: customer lifetime value (BG/NBD and Pareto/NBD purchases, Gamma-Gamma spend, CLV),
-- calibration and holdout, fit checks, intervals and CRM predictions.
-- Fits are aggregates over per-customer BTYD summaries (segment.btyd); their state holds the
-- distinct input tuples with counts, so memory and fit time grow with distinct tuples, not rows.
------------------------------------------------------------------------------------------------
-- Model types: storable values whose fields are the accessors; cast to and from jsonb.
------------------------------------------------------------------------------------------------
-- The attributes after "converged" came with 0.2.0 (ALTER TYPE ... ADD ATTRIBUTE in the update):
-- values stored by 0.1.0 read them as NULL (no time unit recorded, no standard errors).
CREATE TYPE segment.bgnbd_model AS (
    r double precision, alpha double precision, a double precision, b double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean,
    time_unit text, se_r double precision, se_alpha double precision, se_a double precision, se_b double precision,
    covariance double precision[]);
COMMENT ON TYPE segment.bgnbd_model IS
    'BG/NBD model (Fader, Hardie & Lee 2005): purchase rate ~ Gamma(r, alpha) in time_unit, dropout ~ Beta(a, b); log-likelihood at the estimate, customers fitted, optimiser iterations, converged; standard errors and covariance (r, alpha, a, b) from the observed information';
CREATE TYPE segment.gamma_gamma_model AS (
    p double precision, q double precision, gamma double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean,
    se_p double precision, se_q double precision, se_gamma double precision, covariance double precision[]);
COMMENT ON TYPE segment.gamma_gamma_model IS
    'Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma); fitted over repeat buyers; standard errors and covariance (p, q, gamma) from the observed information';
CREATE TYPE segment.pareto_nbd_model AS (
    r double precision, alpha double precision, s double precision, beta double precision,
    log_likelihood double precision, customers bigint, iterations integer, converged boolean,
    time_unit text, se_r double precision, se_alpha double precision, se_s double precision, se_beta double precision,
    covariance double precision[]);
COMMENT ON TYPE segment.pareto_nbd_model IS
    'Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta), in time_unit; log-likelihood, customers, iterations, converged; standard errors and covariance (r, alpha, s, beta) from the observed information';

-- extra_float_digits = 3: every float8 field survives the round trip exactly, whatever the session's setting
CREATE FUNCTION segment.to_jsonb(m segment.bgnbd_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.to_jsonb(m segment.gamma_gamma_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.bgnbd_model(j jsonb) RETURNS segment.bgnbd_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.bgnbd_model, j);
CREATE FUNCTION segment.gamma_gamma_model(j jsonb) RETURNS segment.gamma_gamma_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.gamma_gamma_model, j);
CREATE FUNCTION segment.to_jsonb(m segment.pareto_nbd_model) RETURNS jsonb
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET extra_float_digits = 3 RETURN pg_catalog.to_jsonb(m);
CREATE FUNCTION segment.pareto_nbd_model(j jsonb) RETURNS segment.pareto_nbd_model
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE RETURN pg_catalog.jsonb_populate_record(NULL::segment.pareto_nbd_model, j);
COMMENT ON FUNCTION segment.to_jsonb(segment.pareto_nbd_model) IS 'A Pareto/NBD model as jsonb (also the cast pareto_nbd_model::jsonb)';
COMMENT ON FUNCTION segment.pareto_nbd_model(jsonb) IS 'A Pareto/NBD model from its jsonb form (also the cast jsonb::pareto_nbd_model)';
CREATE CAST (segment.pareto_nbd_model AS jsonb) WITH FUNCTION segment.to_jsonb(segment.pareto_nbd_model);
CREATE CAST (jsonb AS segment.pareto_nbd_model) WITH FUNCTION segment.pareto_nbd_model(jsonb);
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
CREATE FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision, text) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_bgnbd_trans_unit' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pareto_nbd_final(internal) RETURNS segment.pareto_nbd_model
    AS 'MODULE_PATHNAME', 'pgseg_pareto_nbd_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision) IS 'bgnbd_fit transition: counts distinct (frequency, recency, t)';
COMMENT ON FUNCTION segment._bgnbd_trans(internal, double precision, double precision, double precision, text) IS
    'bgnbd_fit and pareto_nbd_fit transition: counts distinct (frequency, recency, t), one time_unit for every row';
COMMENT ON FUNCTION segment._bgnbd_combine(internal, internal) IS 'bgnbd_fit and pareto_nbd_fit combine of partial states';
COMMENT ON FUNCTION segment._bgnbd_serialize(internal) IS 'bgnbd_fit and pareto_nbd_fit state serialization for parallel workers';
COMMENT ON FUNCTION segment._bgnbd_deserialize(bytea, internal) IS 'bgnbd_fit and pareto_nbd_fit state deserialization (validated)';
COMMENT ON FUNCTION segment._bgnbd_final(internal) IS 'bgnbd_fit final: maximum-likelihood fit';
COMMENT ON FUNCTION segment._pareto_nbd_final(internal) IS 'pareto_nbd_fit final: maximum-likelihood fit';

CREATE AGGREGATE segment.bgnbd_fit(frequency double precision, recency double precision, t double precision) (
    SFUNC = segment._bgnbd_trans, STYPE = internal, FINALFUNC = segment._bgnbd_final,
    COMBINEFUNC = segment._bgnbd_combine, SERIALFUNC = segment._bgnbd_serialize,
    DESERIALFUNC = segment._bgnbd_deserialize, PARALLEL = SAFE);
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
    'Discounted expected spend over horizon months: sum over months i of spend x expected purchases in month i / (1 + discount_rate)^i; time_unit (days|weeks) of the summaries, which must be the model''s when it records one; a month = 30 days or 4.345 weeks';

------------------------------------------------------------------------------------------------
-- Pareto/NBD predictions and CLV with the model's own time unit
------------------------------------------------------------------------------------------------
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

------------------------------------------------------------------------------------------------
-- Uncertainty: delta-method intervals from the models' covariance
------------------------------------------------------------------------------------------------
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

------------------------------------------------------------------------------------------------
-- Calibration and holdout; fit checks as rows
------------------------------------------------------------------------------------------------
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

------------------------------------------------------------------------------------------------
-- CRM predictions per customer
------------------------------------------------------------------------------------------------
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
