-- Customer lifetime value: bgnbd_fit, gamma_gamma_fit, predictions, clv; errors; parallel plans.
CREATE EXTENSION pg_segment;
SET search_path = public, segment;
SET TimeZone = 'Asia/Shanghai';
SET extra_float_digits = 0;

-- BTYD summaries of a small sample store, as of its end, in days
CREATE TABLE clv_btyd AS
SELECT customer_id, (btyd(rfm_agg(ordered_at, amount, is_refund), '2025-12-31 23:59:59+08', 'days')).*
FROM sample_orders(3000, 5) GROUP BY customer_id;
CREATE TABLE clv_models AS
SELECT bgnbd_fit(frequency, recency, t) AS bg, gamma_gamma_fit(frequency, monetary_value) AS gg FROM clv_btyd;

-- fitted parameters near the generator's (r 0.75, alpha 40 days, a 0.8, b 3; p 4, q 3.5, gamma 90),
-- within 25% at 3,000 customers (several standard errors)
SELECT (bg).customers, (bg).converged, abs((bg).r / 0.75 - 1) < 0.25 AS r_ok, abs((bg).alpha / 40 - 1) < 0.25 AS alpha_ok,
       abs((bg).a / 0.8 - 1) < 0.25 AS a_ok, abs((bg).b / 3 - 1) < 0.25 AS b_ok
FROM clv_models;
SELECT (gg).customers = (SELECT count(*) FROM clv_btyd WHERE frequency > 0) AS repeat_buyers_only, (gg).converged,
       abs((gg).p / 4 - 1) < 0.25 AS p_ok, abs((gg).q / 3.5 - 1) < 0.25 AS q_ok, abs((gg).gamma / 90 - 1) < 0.25 AS gamma_ok
FROM clv_models;
-- the log-likelihood in the model is the sum of the per-customer ones, and beats the true parameters
SELECT abs(sum(bgnbd_log_likelihood(bg, frequency, recency, t)) / (bg).log_likelihood - 1) < 1e-9 AS ll_is_sum,
       (bg).log_likelihood >= sum(bgnbd_log_likelihood('{"r": 0.75, "alpha": 40, "a": 0.8, "b": 3}'::jsonb::bgnbd_model, frequency, recency, t)) AS beats_truth
FROM clv_btyd, clv_models GROUP BY bg;

-- storable: jsonb round trip through the casts, fields as accessors
SELECT (bg::jsonb)::bgnbd_model = bg AS bgnbd_jsonb_round_trip, (gg::jsonb)::gamma_gamma_model = gg AS gg_jsonb_round_trip,
       jsonb_typeof(bg::jsonb -> 'alpha') AS alpha_json
FROM clv_models;
SET extra_float_digits = 1;
SELECT (bg::jsonb)::bgnbd_model = bg AS round_trip_at_default_digits FROM clv_models;
SET extra_float_digits = 0;

-- predictions on hand-computable cases (model r = 1, alpha = 3, a = 2, b = 1)
CREATE TABLE hand AS SELECT '{"r": 1, "alpha": 3, "a": 2, "b": 1}'::jsonb::bgnbd_model AS m, '{"p": 4, "q": 3.5, "gamma": 90}'::jsonb::gamma_gamma_model AS g;
-- p_alive(x = 1, t_x = 2, T = 6) = 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) = 1/(1 + 2 (9/5)^2)
SELECT round(bgnbd_p_alive(m, 1, 2, 6)::numeric, 12) AS p_alive, round((1 / (1 + 2 * (9.0 / 5) ^ 2))::numeric, 12) AS by_hand,
       bgnbd_p_alive(m, 0, 0, 6) AS never_repeated FROM hand;
-- new customer: 2F1(1,1;2;z) = -ln(1-z)/z, E[X(t)] = 2 (1 - (1-z)(-ln(1-z))/z), z = t/(alpha+t); t = 30
SELECT round(bgnbd_expected_purchases_new(m, 30)::numeric, 10) AS expected_new,
       round((2 * (1 - (1 - 30.0 / 33) * (-ln(1 - 30.0 / 33)) / (30.0 / 33)))::numeric, 10) AS by_hand,
       bgnbd_expected_purchases(m, 0, 2, 4, 6) AS zero_duration FROM hand;
-- Gamma-Gamma: p (gamma + x m) / (p x + q - 1); population mean p gamma / (q - 1) for x = 0
SELECT round(gamma_gamma_expected_spend(g, 2, 100)::numeric, 10) AS spend_x2, round((4 * 290 / 10.5)::numeric, 10) AS by_hand,
       gamma_gamma_expected_spend(g, 0, 0) AS population_mean FROM hand;
-- CLV without discount = spend x expected purchases over the horizon (12 months = 360 days or 52.14 weeks)
SELECT round(clv(m, g, 0, 0, 0, 0, 12, 0, 'days')::numeric, 8) = round((144 * bgnbd_expected_purchases_new(m, 360))::numeric, 8) AS clv_days,
       round(clv(m, g, 0, 0, 0, 0, 12, 0, 'weeks')::numeric, 8) = round((144 * bgnbd_expected_purchases_new(m, 12 * 4.345))::numeric, 8) AS clv_weeks,
       clv(m, g, 0, 0, 0, 0, 12, 0.01, 'days') < clv(m, g, 0, 0, 0, 0, 12, 0, 'days') AS discount_lowers
FROM hand;

-- a ranking: top customers by 12-month CLV at 1% a month
SELECT customer_id, frequency, recency, t, round(clv(bg, gg, frequency, recency, t, monetary_value, 12, 0.01, 'days')::numeric, 2) AS clv,
       round(bgnbd_p_alive(bg, frequency, recency, t)::numeric, 4) AS p_alive
FROM clv_btyd, clv_models ORDER BY clv DESC, customer_id LIMIT 5;

-- degenerate data: flagged, never NaN; NULL without rows
SELECT (m).converged, (m).customers, isfinite_all
FROM (SELECT bgnbd_fit(0, 0, t) m FROM generate_series(1, 50) t) x,
     LATERAL (SELECT (m).r < 'Infinity' AND (m).alpha < 'Infinity' AND (m).a < 'Infinity' AND (m).b < 'Infinity' AS isfinite_all) y;
SELECT (bgnbd_fit(3, 20, 30)).converged AS single_customer;
SELECT (bgnbd_fit(0, 0, 0)).converged AS nothing_observed;
SELECT bgnbd_fit(f, r, t) IS NULL AS no_rows FROM clv_btyd x(c, f, r, t) WHERE false;
SELECT bgnbd_fit(NULL, 1, 2) IS NULL AS null_rows_skipped;
SELECT gamma_gamma_fit(0, 10) IS NULL AS no_repeat_buyers;
SELECT (gamma_gamma_fit(2, 50)).converged AS single_spend;
SELECT sqlstate_of($$SELECT bgnbd_p_alive(bgnbd_fit(0, 0, t), 1, 2, 3) FROM generate_series(1, 5) t$$) AS unconverged_model;

-- invalid input: 22023 naming the argument
SELECT sqlstate_of($$SELECT bgnbd_fit(-1, 0, 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit('NaN', 0, 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(1.5, 2, 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(2, 'NaN', 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(2, 3, '-Infinity')$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(2, 6, 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(2, 0, 5)$$);
SELECT sqlstate_of($$SELECT bgnbd_fit(0, 3, 5)$$);
SELECT sqlstate_of($$SELECT gamma_gamma_fit(2, -5)$$);
SELECT sqlstate_of($$SELECT gamma_gamma_fit(2, 'NaN')$$);
SELECT sqlstate_of($$SELECT bgnbd_p_alive(m, 1, 7, 6) FROM hand$$);
SELECT sqlstate_of($$SELECT bgnbd_expected_purchases(m, -1, 1, 2, 6) FROM hand$$);
SELECT sqlstate_of($$SELECT bgnbd_expected_purchases('{"r": 1, "alpha": -3, "a": 2, "b": 1}'::jsonb::bgnbd_model, 1, 1, 2, 6)$$);
SELECT sqlstate_of($$SELECT bgnbd_p_alive('{"alpha": 3, "a": 2, "b": 1}'::jsonb::bgnbd_model, 1, 2, 6)$$);
SELECT sqlstate_of($$SELECT gamma_gamma_expected_spend('{"p": 4, "q": 0.5, "gamma": 90}'::jsonb::gamma_gamma_model, 1, 10)$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 0, 0.01, 'days') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 12, -0.5, 'days') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 12, 0.01, 'months') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 0, 12, 0.01, 'days') FROM hand$$);

-- ---- 0.2.0: time units, Pareto/NBD, standard errors, intervals, holdout, fit checks, CRM predictions ----
-- the time_unit form records the unit; the 0.1.0 form records none (and old stored values read NULL)
CREATE TABLE clv_units AS
SELECT bgnbd_fit(frequency, recency, t, 'days') AS bg, pareto_nbd_fit(frequency, recency, t, 'days') AS pn FROM clv_btyd;
SELECT (u.bg).time_unit AS bg_unit, (pn).time_unit AS pn_unit, (m.bg).time_unit IS NULL AS old_form_no_unit,
       (u.bg).r = (m.bg).r AS same_fit_as_old_form, (pn).converged, (pn).customers
FROM clv_units u, clv_models m;
-- Pareto/NBD (the store is generated by BG/NBD: no truth to compare with here, tests/clv.rs reproduces CDNOW): its
-- log-likelihood is the sum of the per-customer ones; standard errors are positive and finite
-- and the covariance is 4 x 4 with the squared standard errors on its diagonal
SELECT abs(sum(pareto_nbd_log_likelihood(pn, frequency, recency, t)) / (pn).log_likelihood - 1) < 1e-9 AS pn_ll_is_sum,
       (pn).se_r > 0 AND (pn).se_alpha > 0 AND (pn).se_s > 0 AND (pn).se_beta > 0 AND (pn).se_beta < 'Infinity' AS pn_se_ok,
       array_dims((pn).covariance) AS pn_cov_dims, abs((pn).covariance[1][1] / (pn).se_r ^ 2 - 1) < 1e-9 AS pn_cov_diag,
       array_dims((bg).covariance) AS bg_cov_dims, abs((bg).covariance[4][4] / (bg).se_b ^ 2 - 1) < 1e-9 AS bg_cov_diag
FROM clv_btyd, clv_units GROUP BY pn, bg;
SELECT array_dims((gg).covariance) AS gg_cov_dims, (gg).se_p > 0 AND (gg).se_q > 0 AND (gg).se_gamma > 0 AS gg_se_ok FROM clv_models;
SELECT (pn::jsonb)::pareto_nbd_model = pn AS pn_jsonb_round_trip, (bg::jsonb)::bgnbd_model = bg AS bg_jsonb_round_trip FROM clv_units;
-- a model from jsonb without the 0.2.0 keys still reads (no unit, no standard errors)
SELECT m.time_unit IS NULL AND m.se_r IS NULL AS old_json_reads FROM bgnbd_model('{"r": 1, "alpha": 3, "a": 2, "b": 1}') m;

-- Pareto/NBD by hand (r 1, alpha 3, s 2, beta 4): new customer E[X(t)] = r beta / (alpha (s-1)) (1 - (beta/(beta+t))^(s-1)),
-- t = 4: 2/3; P(alive) of a customer with no repeat purchase at T = 0 is 1
CREATE TABLE hand_pn AS SELECT '{"r": 1, "alpha": 3, "s": 2, "beta": 4, "time_unit": "weeks"}'::jsonb::pareto_nbd_model AS p;
SELECT round(pareto_nbd_expected_purchases_new(p, 4)::numeric, 12) AS expected_new, round(2 / 3.0, 12) AS by_hand,
       pareto_nbd_p_alive(p, 0, 0, 0) AS alive_at_birth, pareto_nbd_p_alive(p, 2, 1, 50) < pareto_nbd_p_alive(p, 2, 49, 50) AS recent_more_alive
FROM hand_pn;
-- clv in the model's own unit equals the 0.1.0 form given that unit; a model without a unit is refused
SELECT clv(u.bg, gg, 2, 30, 90, 50, 12, 0.01) = clv(u.bg, gg, 2, 30, 90, 50, 12, 0.01, 'days') AS own_unit_clv,
       clv(pn, gg, 2, 30, 90, 50, 12, 0.01) > 0 AS pn_clv_positive
FROM clv_units u, clv_models;
SELECT sqlstate_of($$SELECT clv(bg, gg, 2, 30, 90, 50, 12, 0.01) FROM clv_models$$) AS no_unit_recorded;
SELECT sqlstate_of($$SELECT clv(u.bg, gg, 2, 30, 90, 50, 12, 0.01, 'weeks') FROM clv_units u, clv_models$$) AS weeks_for_a_days_model;

-- delta-method intervals contain their estimate, widen with the level, and equal the point prediction
SELECT i.estimate = bgnbd_expected_purchases(bg, 30, 2, 30, 90) AS same_estimate, i.lower < i.estimate AND i.estimate < i.upper AS contains,
       (bgnbd_expected_purchases_interval(bg, 30, 2, 30, 90, 0.99)).upper > i.upper AS wider_at_99, i.level
FROM clv_units, bgnbd_expected_purchases_interval(bg, 30, 2, 30, 90) i;
SELECT i.lower < i.estimate AND i.estimate < i.upper AS pn_contains FROM clv_units, pareto_nbd_expected_purchases_interval(pn, 30, 2, 30, 90) i;
SELECT abs(c.estimate / clv(u.bg, gg, 2, 30, 90, 50, 12, 0.01) - 1) < 1e-12 AS clv_estimate, c.lower < c.estimate AND c.estimate < c.upper AS clv_contains
FROM clv_units u, clv_models, clv_interval(u.bg, gg, 2, 30, 90, 50) c;

-- calibration and holdout by hand: purchases on 1, 3 and 10 January and 5 February (UTC), calibration to the
-- end of 20 January, holdout to the end of 28 February, in days
CREATE TABLE ho AS SELECT rfm_agg(d::timestamptz, 10::numeric) s
FROM unnest(ARRAY['2025-01-01 10:00+00', '2025-01-03 09:00+00', '2025-01-10 12:00+00', '2025-02-05 08:00+00']) d;
SELECT (calibration_holdout(s, '2025-01-20 23:59:59.999999+00', '2025-02-28 23:59:59.999999+00', 'days', 'UTC')).* FROM ho;
SELECT calibration_holdout(s, '2024-12-31 23:59:59+00', '2025-02-28 23:59:59+00', 'days', 'UTC') IS NULL AS not_yet_a_customer FROM ho;
SELECT sqlstate_of($$SELECT calibration_holdout(s, '2025-03-01', '2025-02-01', 'days', 'UTC') FROM ho$$) AS holdout_before_calibration;
SELECT sqlstate_of($$SELECT calibration_holdout(s, '2025-01-20', '2025-02-28', 'months', 'UTC') FROM ho$$) AS bad_unit;

-- fit checks on the sample store: calibration to mid 2025, holdout to its end
CREATE TABLE clv_ho AS
SELECT (calibration_holdout(rfm_agg(ordered_at, amount, is_refund), '2025-06-30 23:59:59.999999+08', '2025-12-31 23:59:59.999999+08', 'days', 'Asia/Shanghai')).*
FROM sample_orders(3000, 5) GROUP BY customer_id;
CREATE TABLE clv_chk AS
SELECT bgnbd_fit(frequency_cal, recency_cal, t_cal, 'days') bg, pareto_nbd_fit(frequency_cal, recency_cal, t_cal, 'days') pn,
       holdout_agg(frequency_cal, recency_cal, t_cal, frequency_holdout, duration_holdout, 'days') h
FROM clv_ho WHERE frequency_cal IS NOT NULL;
-- the histogram covers every customer, observed and expected (the expected sums to the customers)
SELECT sum(observed) = (h).customers AS observed_all, abs(sum(expected) / (h).customers - 1) < 1e-9 AS expected_all, count(*) AS bins,
       max(label) FILTER (WHERE frequency = 7) AS top_label
FROM clv_chk, calibration_histogram(bg, h) GROUP BY h;
SELECT count(*) AS pn_bins, abs(sum(expected) / (h).customers - 1) < 1e-9 AS pn_expected_all FROM clv_chk, calibration_histogram(pn, h) GROUP BY h;
-- conditional expectations: bin sizes sum to the customers, the actual means reproduce the holdout total
SELECT sum(customers) = (h).customers AS bins_cover, abs(sum(customers * actual) - (SELECT sum(frequency_holdout) FROM clv_ho)) < 1e-6 AS actual_total,
       bool_and(expected >= 0) AS expected_ok
FROM clv_chk, conditional_expectations(bg, h) GROUP BY h;
SELECT customers = (h).customers AS accuracy_customers, actual = (SELECT sum(frequency_holdout) FROM clv_ho) AS accuracy_actual,
       abs(error_percent - 100 * (expected - actual) / actual) < 1e-9 AS error_is_percent, correlation BETWEEN -1 AND 1 AS corr_ok,
       mean_absolute_error >= 0 AS mae_ok, degrees_of_freedom, p_value BETWEEN 0 AND 1 AS p_ok
FROM clv_chk, holdout_accuracy(bg, h);
SELECT correlation > 0 AS pn_correlation_positive FROM clv_chk, holdout_accuracy(pn, h);
SELECT sqlstate_of($$SELECT * FROM clv_chk, calibration_histogram(bg, h, 0)$$) AS max_frequency_zero;
SELECT sqlstate_of($$SELECT holdout_agg(1, 2, 3, 1, 5, u) FROM (VALUES ('days'), ('weeks')) v(u)$$) AS mixed_units;
SELECT sqlstate_of($$SELECT * FROM calibration_histogram('{"r": 1, "alpha": 3, "a": 2, "b": 1, "time_unit": "weeks"}'::jsonb::bgnbd_model, (SELECT h FROM clv_chk))$$) AS unit_mismatch;

-- tracking: the cohort first buying in the first half of 2025, daily, calibration to mid year, in weeks of 7 days
CREATE TABLE clv_tr AS
SELECT tracking_agg(s, '2025-01-01 00:00+08', '2025-06-30 23:59:59.999999+08', '2025-12-31 23:59:59.999999+08', 'days', 'Asia/Shanghai') t
FROM (SELECT rfm_agg(ordered_at, amount, is_refund) s FROM sample_orders(3000, 5) GROUP BY customer_id) x;
SELECT (t).time_unit, (t).first_day, (t).calibration_periods, (t).customers > 0 AS has_cohort FROM clv_tr;
-- incremental sums to cumulative, actual repeat purchases are whole, the holdout flag starts after calibration
SELECT count(*) AS periods, bool_and(abs(actual_cumulative - run_actual) < 1e-9 AND abs(expected_cumulative - run_expected) < 1e-6) AS cumulative_ok,
       bool_and(actual = trunc(actual)) AS whole, min(period) FILTER (WHERE holdout) AS first_holdout_period
FROM (SELECT s.*, sum(actual) OVER w AS run_actual, sum(expected) OVER w AS run_expected
      FROM clv_chk, clv_tr, tracking_series(pn, t, 7) s WINDOW w AS (ORDER BY period)) y;
SELECT count(*) AS four_week_groups FROM clv_chk, clv_tr, tracking_series(bg, t, 28);
SELECT sqlstate_of($$SELECT * FROM clv_tr, tracking_series('{"r": 1, "alpha": 3, "a": 2, "b": 1, "time_unit": "weeks"}'::jsonb::bgnbd_model, t)$$) AS weeks_model_on_days;

-- CRM predictions: horizon in the model's unit, churn = 1 - P(alive), NULL gap with one order
SELECT round(p.predicted_orders::numeric, 9) = round(bgnbd_expected_purchases(u.bg, 365, (b).frequency, (b).recency, (b).t)::numeric, 9) AS orders_365,
       round(p.churn_probability::numeric, 12) = round((1 - bgnbd_p_alive(u.bg, (b).frequency, (b).recency, (b).t))::numeric, 12) AS churn,
       p.expected_next_order > '2025-01-20' AS next_after_as_of, p.average_days_between_orders, p.historic_clv
FROM clv_units u, ho, LATERAL (SELECT btyd(s, '2025-01-20 23:59:59.999999+00', 'days', 'UTC') b) x,
     LATERAL predict_customer(s, '2025-01-20 23:59:59.999999+00', u.bg, (SELECT gg FROM clv_models), 'UTC') p;
SELECT p.average_days_between_orders IS NULL AS one_order_no_gap, p.expected_next_order IS NULL AS no_repeat_no_next
FROM clv_units, (SELECT rfm_agg(timestamptz '2025-01-05 10:00+00', 10::numeric) s) o,
     predict_customer(o.s, '2025-01-20 23:59:59+00', pn, (SELECT gg FROM clv_models), 'UTC', '90 days') p;
SELECT sqlstate_of($$SELECT predict_customer(s, '2025-01-20', u.bg, gg, 'UTC', '1 year') FROM ho, clv_units u, clv_models$$) AS months_refused;
SELECT sqlstate_of($$SELECT predict_customer(s, '2025-01-20', bg, gg, 'UTC') FROM ho, clv_models$$) AS model_without_unit;

-- unit errors
SELECT sqlstate_of($$SELECT bgnbd_fit(1, 2, 3, 'months')$$) AS fit_bad_unit;
SELECT sqlstate_of($$SELECT pareto_nbd_fit(f, 2, 3, u) FROM (VALUES (1, 'days'), (1, 'weeks')) v(f, u)$$) AS fit_mixed_units;
SELECT (pareto_nbd_fit(0, 0, t, 'days')).converged AS pn_no_repeat_buyers FROM generate_series(1, 50) t;
SELECT (pareto_nbd_fit(3, 20, 30, 'days')).converged AS pn_single_customer;

-- parallel plans: Partial Aggregate in EXPLAIN, same model as serial
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ANALYZE clv_btyd;
EXPLAIN (COSTS OFF) SELECT bgnbd_fit(frequency, recency, t) FROM clv_btyd;
EXPLAIN (COSTS OFF) SELECT gamma_gamma_fit(frequency, monetary_value) FROM clv_btyd;
EXPLAIN (COSTS OFF) SELECT pareto_nbd_fit(frequency, recency, t, 'days') FROM clv_btyd;
CREATE TEMP TABLE par AS SELECT bgnbd_fit(frequency, recency, t) bg, gamma_gamma_fit(frequency, monetary_value) gg, pareto_nbd_fit(frequency, recency, t, 'days') pn FROM clv_btyd;
SET max_parallel_workers_per_gather = 0;
SELECT p.bg = m.bg AS parallel_bgnbd_equals_serial, p.gg = m.gg AS parallel_gg_equals_serial, p.pn = u.pn AS parallel_pn_equals_serial FROM par p, clv_models m, clv_units u;
RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;


-- the segmentation view option "predict": the view's prediction columns are predict_customer's
-- over the view's own summaries, with the models fitted on them at each refresh
CREATE TABLE pv_orders AS SELECT * FROM sample_orders(400, 5);
SELECT create_segment_view('pv', 'pv_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "refund_column": "is_refund", "tz": "Asia/Shanghai", "predict": {"horizon_days": 90}}');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
WHERE a.attrelid = 'pv'::regclass AND a.attnum > (SELECT attnum FROM pg_attribute WHERE attrelid = 'pv'::regclass AND attname = 'as_of') ORDER BY a.attnum;
-- by hand: the summaries, both fits, predict_customer
CREATE TABLE pv_hand AS SELECT customer_id, rfm_agg(ordered_at, amount, is_refund) AS s FROM pv_orders GROUP BY customer_id;
CREATE TABLE pv_models AS
SELECT bgnbd_fit(y.frequency, y.recency, y.t, 'days') AS bg, pareto_nbd_fit(y.frequency, y.recency, y.t, 'days') AS pn,
       gamma_gamma_fit(y.frequency, y.monetary_value) AS gg
FROM pv_hand, btyd(s, '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai') y;
SELECT (bg).converged AS bg_converged, (pn).converged AS pn_converged, (gg).converged AS gg_converged, (bg).customers FROM pv_models;
-- a function, so that alter_segment_view can rebuild the view it reads
CREATE FUNCTION pv_check(OUT customers bigint, OUT equal_bgnbd bigint, OUT equal_pareto_nbd bigint, OUT no_average bigint,
                         OUT under_two_orders bigint, OUT bad bigint) LANGUAGE sql AS $$
SELECT count(*) AS customers,
       count(*) FILTER (WHERE (v.predicted_orders, v.predicted_clv, v.churn_probability, v.expected_next_order, v.average_days_between_orders, v.historic_clv)
                              IS NOT DISTINCT FROM (p.predicted_orders, p.predicted_clv, p.churn_probability, p.expected_next_order, p.average_days_between_orders, p.historic_clv)) AS equal_bgnbd,
       count(*) FILTER (WHERE (v.predicted_orders, v.predicted_clv, v.churn_probability, v.expected_next_order, v.average_days_between_orders, v.historic_clv)
                              IS NOT DISTINCT FROM (q.predicted_orders, q.predicted_clv, q.churn_probability, q.expected_next_order, q.average_days_between_orders, q.historic_clv)) AS equal_pareto_nbd,
       count(*) FILTER (WHERE v.average_days_between_orders IS NULL) AS no_average, count(*) FILTER (WHERE v.orders < 2) AS under_two_orders,
       count(*) FILTER (WHERE v.predicted_clv IS NULL OR v.churn_probability NOT BETWEEN 0 AND 1) AS bad
FROM pv v JOIN pv_hand h USING (customer_id), pv_models m,
     predict_customer(h.s, '2025-12-31 23:59:59+08', m.bg, m.gg, 'Asia/Shanghai', '90 days') p,
     predict_customer(h.s, '2025-12-31 23:59:59+08', m.pn, m.gg, 'Asia/Shanghai', '90 days') q $$;
SELECT * FROM pv_check();
-- a row of it, by hand: historic CLV is the net spend, churn 1 - P(alive) of the BTYD summary
SELECT v.historic_clv = v.monetary AS historic_is_net_spend,
       abs(v.churn_probability - (1 - bgnbd_p_alive(m.bg, y.frequency, y.recency, y.t))) < 1e-12 AS churn_is_one_minus_p_alive
FROM pv v JOIN pv_hand h USING (customer_id), pv_models m, btyd(h.s, '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai') y
WHERE v.customer_id = (SELECT min(customer_id) FROM pv WHERE orders >= 3);
-- the report draws the P(alive) and CLV sections from these columns
SELECT d->'sections' ? 'p_alive' AS report_p_alive, d->'sections' ? 'clv' AS report_clv FROM _report_data('pv', 'public', '{}') d;

-- a refresh after new orders refits: the customer's predictions and everyone's model change
CREATE TABLE pv_before AS SELECT * FROM pv;
INSERT INTO pv_orders (order_id, customer_id, ordered_at, amount, is_refund)
SELECT 1000000 + g, c, '2025-12-20 12:00+08'::timestamptz + g * interval '2 days', 300, false
FROM (SELECT min(customer_id) AS c FROM pv_orders) x, generate_series(1, 4) g;
REFRESH MATERIALIZED VIEW pv;
TRUNCATE pv_hand, pv_models;
INSERT INTO pv_hand SELECT customer_id, rfm_agg(ordered_at, amount, is_refund) FROM pv_orders GROUP BY customer_id;
INSERT INTO pv_models
SELECT bgnbd_fit(y.frequency, y.recency, y.t, 'days'), pareto_nbd_fit(y.frequency, y.recency, y.t, 'days'), gamma_gamma_fit(y.frequency, y.monetary_value)
FROM pv_hand, btyd(s, '2025-12-31 23:59:59+08', 'days', 'Asia/Shanghai') y;
SELECT customers, equal_bgnbd = customers AS all_equal_after_refresh FROM pv_check();
SELECT n.orders - o.orders AS new_orders, n.predicted_orders > o.predicted_orders AS more_predicted, n.historic_clv - o.historic_clv AS added_spend,
       n.churn_probability <> o.churn_probability AS churn_changed
FROM pv n JOIN pv_before o USING (customer_id) WHERE n.customer_id = (SELECT min(customer_id) FROM pv_orders);
SELECT count(*) FILTER (WHERE n.predicted_orders <> o.predicted_orders) > 300 AS others_refitted
FROM pv n JOIN pv_before o USING (customer_id) WHERE n.customer_id <> (SELECT min(customer_id) FROM pv_orders);

-- alter_segment_view: another model, then without the option (its columns go), then back (true: the defaults)
SELECT alter_segment_view('pv', '{"predict": {"model": "pareto_nbd", "horizon_days": 90}}');
SELECT customers, equal_pareto_nbd = customers AS all_equal_pareto_nbd FROM pv_check();
SELECT alter_segment_view('pv', '{"predict": null}');
SELECT count(*) AS prediction_columns FROM pg_attribute WHERE attrelid = 'pv'::regclass AND attname IN ('predicted_orders', 'predicted_clv', 'churn_probability');
SELECT alter_segment_view('pv', '{"predict": true}');
SELECT count(*) FILTER (WHERE v.predicted_orders IS NOT DISTINCT FROM p.predicted_orders AND v.predicted_clv IS NOT DISTINCT FROM p.predicted_clv) = count(*) AS default_horizon_365
FROM pv v JOIN pv_hand h USING (customer_id), pv_models m, predict_customer(h.s, '2025-12-31 23:59:59+08', m.bg, m.gg, 'Asia/Shanghai') p;

-- fits that do not converge (no repeat buyer): the view still refreshes, its predictions NULL
CREATE TABLE pv_one (customer_id bigint, ordered_at timestamptz, amount numeric);
INSERT INTO pv_one VALUES (1, '2025-03-01 10:00+08', 50), (2, '2025-06-01 10:00+08', 70);
SELECT create_segment_view('pv1', 'pv_one', 'customer_id', 'ordered_at', 'amount', '{"as_of": "2025-12-31 23:59:59+08", "predict": true}');
SELECT customer_id, orders, predicted_orders, predicted_clv, churn_probability, historic_clv FROM pv1 ORDER BY customer_id;
SELECT drop_segment_view('pv1');
DROP TABLE pv_one;

-- a text customer key and a filter: the same rows and keys as the view's
CREATE TABLE pv_text AS SELECT 'c' || customer_id AS customer, ordered_at, amount, category FROM sample_orders(400, 5);
SELECT create_segment_view('pvt', 'pv_text', 'customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "filter": {"column": "category", "not_in": ["books"]}, "predict": {"unit": "weeks"}}');
WITH h AS (SELECT customer, rfm_agg(ordered_at, amount) AS s FROM pv_text WHERE category <> 'books' GROUP BY customer),
     m AS (SELECT bgnbd_fit(y.frequency, y.recency, y.t, 'weeks') AS bg, gamma_gamma_fit(y.frequency, y.monetary_value) AS gg
           FROM h, btyd(s, '2025-12-31 23:59:59+08', 'weeks', 'Asia/Shanghai') y)
SELECT count(*) AS customers, count(*) FILTER (WHERE v.predicted_clv IS NOT NULL) AS predicted,
       count(*) FILTER (WHERE (v.predicted_orders, v.predicted_clv, v.churn_probability, v.expected_next_order, v.average_days_between_orders, v.historic_clv)
                              IS NOT DISTINCT FROM (p.predicted_orders, p.predicted_clv, p.churn_probability, p.expected_next_order, p.average_days_between_orders, p.historic_clv)) AS equal
FROM pvt v JOIN h ON h.customer = v.customer_id, m, predict_customer(h.s, '2025-12-31 23:59:59+08', m.bg, m.gg, 'Asia/Shanghai') p;
SELECT drop_segment_view('pvt');
DROP TABLE pv_text;

-- an order id column: rows an export repeats count once in the predictions too. Every third
-- customer's rows (orders and refunds) stand twice in pv_dup; with order_id_column its view
-- equals the view of the distinct rows, column for column, for an integer and a text key
CREATE TABLE pv_dist AS SELECT order_id, customer_id, 'c' || customer_id AS customer, ordered_at, amount, is_refund FROM sample_orders(400, 5);
CREATE TABLE pv_dup AS SELECT * FROM pv_dist UNION ALL SELECT * FROM pv_dist WHERE customer_id % 3 = 0;
SELECT (SELECT count(*) FROM pv_dup) - (SELECT count(*) FROM pv_dist) AS repeated_rows;
SELECT create_segment_view('pvd', 'pv_dup', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund", "order_id_column": "order_id", "predict": true}');
SELECT create_segment_view('pvs', 'pv_dist', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund", "predict": true}');
SELECT count(*) AS customers, count(*) FILTER (WHERE d.predicted_clv IS NOT NULL) AS predicted,
       count(*) FILTER (WHERE to_jsonb(d) = to_jsonb(s)) AS equal_rows
FROM pvd d FULL JOIN pvs s USING (customer_id);
SELECT create_segment_view('pvdt', 'pv_dup', 'customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund", "order_id_column": "order_id", "predict": {"unit": "weeks"}}');
SELECT create_segment_view('pvst', 'pv_dist', 'customer', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "tz": "Asia/Shanghai", "refund_column": "is_refund", "predict": {"unit": "weeks"}}');
SELECT count(*) AS customers, count(*) FILTER (WHERE to_jsonb(d) = to_jsonb(s)) AS equal_rows
FROM pvdt d FULL JOIN pvst s USING (customer_id);
-- without the order id the repeats count: the predictions differ for the doubled customers
SELECT alter_segment_view('pvd', '{"order_id_column": null}');
SELECT count(*) FILTER (WHERE d.historic_clv <> s.historic_clv) > 50 AS repeats_counted_without_order_id
FROM pvd d JOIN pvs s USING (customer_id) WHERE d.customer_id % 3 = 0;
SELECT drop_segment_view(v) FROM unnest(ARRAY['pvd', 'pvs', 'pvdt', 'pvst']) v;
DROP TABLE pv_dist, pv_dup;

-- bad values: 22023 naming the key, checked when the view is created or altered

SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": 3}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": false}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"horizon_days": 0}}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"horizon_days": 7.5}}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"horizon_days": "90"}}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"model": "lifetimes"}}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"unit": "months"}}')$q$);
SELECT sqlstate_of($q$SELECT segment.create_segment_view('pv2', 'pv_orders', 'customer_id', 'ordered_at', 'amount', '{"predict": {"horizon": 90}}')$q$);
SELECT sqlstate_of($q$SELECT segment.alter_segment_view('pv', '{"predict": {"model": 1}}')$q$);
SELECT count(*) AS prediction_columns_kept FROM pg_attribute WHERE attrelid = 'pv'::regclass AND attname IN ('predicted_orders', 'predicted_clv', 'churn_probability');
SELECT drop_segment_view('pv');
DROP FUNCTION pv_check();
DROP TABLE pv_orders, pv_hand, pv_models, pv_before;

DROP TABLE clv_btyd, clv_models, hand, par, clv_units, hand_pn, ho, clv_ho, clv_chk, clv_tr;
DROP EXTENSION pg_segment;
