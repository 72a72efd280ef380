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
       (bg).log_likelihood >= sum(bgnbd_log_likelihood(ROW(0.75, 40, 0.8, 3, NULL, NULL, NULL, NULL)::bgnbd_model, frequency, recency, t)) AS beats_truth
FROM clv_btyd, clv_models GROUP BY bg;

-- storable: jsonb round trip through the casts, fields as accessors
SELECT (bg::jsonb)::bgnbd_model = bg AS bgnbd_jsonb_round_trip, (gg::jsonb)::gamma_gamma_model = gg AS gg_jsonb_round_trip,
       jsonb_typeof(bg::jsonb -> 'alpha') AS alpha_json
FROM clv_models;
SET extra_float_digits = 1;
SELECT (bg::jsonb)::bgnbd_model = bg AS round_trip_at_default_digits FROM clv_models;
SET extra_float_digits = 0;

-- predictions on hand-computable cases (model r = 1, alpha = 3, a = 2, b = 1)
CREATE TABLE hand AS SELECT ROW(1, 3, 2, 1, NULL, NULL, NULL, NULL)::bgnbd_model AS m, ROW(4, 3.5, 90, NULL, NULL, NULL, NULL)::gamma_gamma_model AS g;
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
SELECT sqlstate_of($$SELECT bgnbd_expected_purchases(ROW(1, -3, 2, 1, NULL, NULL, NULL, NULL)::bgnbd_model, 1, 1, 2, 6)$$);
SELECT sqlstate_of($$SELECT bgnbd_p_alive(ROW(NULL, 3, 2, 1, NULL, NULL, NULL, NULL)::bgnbd_model, 1, 2, 6)$$);
SELECT sqlstate_of($$SELECT gamma_gamma_expected_spend(ROW(4, 0.5, 90, NULL, NULL, NULL, NULL)::gamma_gamma_model, 1, 10)$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 0, 0.01, 'days') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 12, -0.5, 'days') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 10, 12, 0.01, 'months') FROM hand$$);
SELECT sqlstate_of($$SELECT clv(m, g, 1, 2, 6, 0, 12, 0.01, 'days') FROM hand$$);

-- parallel plans: Partial Aggregate in EXPLAIN, same model as serial
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
ANALYZE clv_btyd;
EXPLAIN (COSTS OFF) SELECT bgnbd_fit(frequency, recency, t) FROM clv_btyd;
EXPLAIN (COSTS OFF) SELECT gamma_gamma_fit(frequency, monetary_value) FROM clv_btyd;
CREATE TEMP TABLE par AS SELECT bgnbd_fit(frequency, recency, t) bg, gamma_gamma_fit(frequency, monetary_value) gg FROM clv_btyd;
SET max_parallel_workers_per_gather = 0;
SELECT p.bg = m.bg AS parallel_bgnbd_equals_serial, p.gg = m.gg AS parallel_gg_equals_serial FROM par p, clv_models m;
RESET max_parallel_workers_per_gather; RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;

DROP TABLE clv_btyd, clv_models, hand, par;
DROP EXTENSION pg_segment;
