-- pg_segment 0.1.0 -> 0.2.0 (ALTER EXTENSION pg_segment UPDATE TO '0.2.0').
--
-- Every change to an SQL object since 0.1.0 is here, so that an updated installation equals a
-- fresh 0.2.0 one (the update-chain test compares their pg_dump --schema-only). This is the
-- template of 0.2.0, a release under way. The objects themselves are written once, in their
-- family files: a line `\ir ../<family>.sql` stands for that whole file (its objects are all new),
-- `\ir ../<family>.sql name ...` for the statements of the named functions and aggregates (every
-- overload, as CREATE OR REPLACE), types (type:name) and casts (cast:source:target).
-- scripts/upgrade_scripts.py assembles pg_segment--0.1.0--0.2.0.sql on every install and package;
-- `make freeze` writes the assembled script into sql/ and records it, never edited again, and
-- later changes go into sql/upgrade/0.2.0--0.3.0.sql. Here stand the steps no family file holds
-- (ALTER TABLE and TYPE, DROP of changed signatures, policies, grants), in the order they run.
\echo Use "ALTER EXTENSION pg_segment UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Security (issue 12): a database owner must not become superuser, a superuser's alter must not
-- run the owner's code as superuser, rights must not drift. See README, "Security".
------------------------------------------------------------------------------------------------
-- Install-time expressions, schema-qualified with typed literals: in 0.1.0 the snapshot id
-- default nextval('...') with an untyped literal bound a public.nextval(text) planted before
-- CREATE EXTENSION. Owners are always given by the registry's writers now.
ALTER TABLE segment.segment_views
    ALTER COLUMN options SET DEFAULT '{}'::pg_catalog.jsonb,
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN created_at SET DEFAULT pg_catalog.now();
ALTER TABLE segment.segment_snapshots
    ALTER COLUMN snapshot_id SET DEFAULT pg_catalog.nextval('segment.segment_snapshots_id_seq'::pg_catalog.regclass),
    ALTER COLUMN owner DROP DEFAULT;

-- The registry is written only by the extension's functions (src/registry.rs): users read it.
REVOKE INSERT, UPDATE, DELETE ON segment.segment_views, segment.segment_snapshots, segment.segment_snapshot_rows FROM PUBLIC;
REVOKE USAGE ON SEQUENCE segment.segment_snapshots_id_seq FROM PUBLIC;
DROP POLICY own_views ON segment.segment_views;
DROP POLICY own_snapshots ON segment.segment_snapshots;
DROP POLICY own_snapshot_rows ON segment.segment_snapshot_rows;
\ir ../views.sql segment._is_mine
CREATE POLICY own_views ON segment.segment_views FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshots ON segment.segment_snapshots FOR SELECT USING (segment._is_mine(owner));
CREATE POLICY own_snapshot_rows ON segment.segment_snapshot_rows FOR SELECT
    USING (snapshot_id OPERATOR(pg_catalog.=) ANY (SELECT s.snapshot_id FROM segment.segment_snapshots s));

-- Functions whose argument lists changed: the public functions now pass the caller's
-- current_schema() to pinned workers.
DROP FUNCTION segment._view_ident(text);
DROP FUNCTION segment._view_row(text);
DROP FUNCTION segment._snapshot_pair(text, timestamptz, timestamptz);

------------------------------------------------------------------------------------------------
-- The registry's writers and the other C glue (src/registry.rs). Each checks that the caller
-- may act for the view (its owner's privileges, or a superuser) before it writes anything.
------------------------------------------------------------------------------------------------
\ir ../views.sql segment._registry_put segment._registry_refreshed segment._registry_cron segment._registry_drop segment._snapshot_take segment._snapshots_delete segment._grant_as segment._key_equality segment._drop_guard
CREATE EVENT TRIGGER pg_segment_drop_guard ON ddl_command_start WHEN TAG IN ('DROP EXTENSION', 'DROP OWNED')
    EXECUTE FUNCTION segment._drop_guard();
COMMENT ON EVENT TRIGGER pg_segment_drop_guard IS
    'pg_segment: a non-superuser may drop the extension only when no other role''s views, snapshots or objects would go with it';

------------------------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------------------------
-- 'name', 'schema.name', '"Odd Name"': the schema (default_schema, the caller's
-- current_schema(), when not given) and name.
\ir ../views.sql segment._view_ident segment._view_row segment._view_rel segment._view_relation segment._unregister segment._source_options segment._as_of_literal segment._column_type segment._events_view_query segment._segment_view_query segment._check_new_name segment._new_matview segment._create_segment_view segment.create_segment_view segment._require_pg_cron segment._require_cron_rights segment._schedule segment._unschedule segment._schedule_refresh segment.schedule_refresh segment._unschedule_refresh segment.unschedule_refresh segment._privileges segment._alter_segment_view segment.alter_segment_view segment._refresh_segment_view segment.refresh_segment_view segment._drop_segment_view segment.drop_segment_view segment._take_snapshot segment.take_snapshot segment._delete_snapshots segment.delete_snapshots segment._snapshot_at segment._snapshot_pair segment._tier_migration segment.tier_migration segment._segment_changes segment.segment_changes segment._segment_kpis segment.segment_kpis

------------------------------------------------------------------------------------------------
-- Profile: checks and defaults of city_tiers bound to pg_catalog, city_tier pinned
------------------------------------------------------------------------------------------------
ALTER TABLE segment.city_tiers
    DROP CONSTRAINT city_tiers_city_check,
    ADD CONSTRAINT city_tiers_city_check
        CHECK (city OPERATOR(pg_catalog.=) pg_catalog.btrim(city) AND city OPERATOR(pg_catalog.<>) ''::pg_catalog.text),
    DROP CONSTRAINT city_tiers_tier_check,
    ADD CONSTRAINT city_tiers_tier_check
        CHECK (tier OPERATOR(pg_catalog.=) ANY ('{tier1,new_tier1,tier2,tier3,tier4,tier5}'::pg_catalog.text[])),
    ALTER COLUMN aliases SET DEFAULT '{}'::pg_catalog.text[],
    ALTER COLUMN list_version SET DEFAULT 'user'::pg_catalog.text;
\ir ../profile.sql segment.age_band segment.birthday_within segment.city_tier

------------------------------------------------------------------------------------------------
-- Sample store and CLV helpers: pinned or qualified
------------------------------------------------------------------------------------------------
\ir ../sample.sql segment.sample_orders segment.sample_customers
\ir ../clv.sql segment.bgnbd_model segment.gamma_gamma_model

------------------------------------------------------------------------------------------------
-- Population (issue 18): stored values record the time zone (format version 2; version 1 still
-- reads), per-customer summaries and order ids as inputs
------------------------------------------------------------------------------------------------
-- 0.2.0: population_agg over one row per customer (customer_id, rfm_summary), over order rows
-- with an order id (a repeated order id counts once).
\ir ../population.sql segment._population_trans segment.population_agg segment.population_info

------------------------------------------------------------------------------------------------
-- Service plans and next actions (issue 16): the objects of sql/service.sql, new in 0.2.0
------------------------------------------------------------------------------------------------
\ir ../service.sql

------------------------------------------------------------------------------------------------
-- Privacy-safe exports (issue 16): the objects of sql/privacy.sql, new in 0.2.0 (segment_kpis
-- with min_group_size is above, with the KPIs)
------------------------------------------------------------------------------------------------
\ir ../privacy.sql

------------------------------------------------------------------------------------------------
-- The segment report (issue 17): segment.report() and its workers, as in sql/report.sql
------------------------------------------------------------------------------------------------
\ir ../report.sql

------------------------------------------------------------------------------------------------
-- Issue 16 part A: principal components, browsing activity, brand loyalty, data quality
-- (new objects: the text of sql/pca.sql, sql/browsing.sql, sql/loyalty.sql and sql/quality.sql)
------------------------------------------------------------------------------------------------
\ir ../pca.sql
\ir ../browsing.sql
\ir ../loyalty.sql
\ir ../quality.sql

-- Customer value you can trust (issue 15): models carry their time unit and standard errors,
-- Pareto/NBD, calibration and holdout, fit checks, intervals, CRM predictions.
------------------------------------------------------------------------------------------------
-- Stored 0.1.0 models (table columns of these types, and their jsonb forms) keep loading: a
-- composite value lacking the new trailing attributes reads them as NULL, so an old model has no
-- time unit (the functions that need one refuse it with a hint) and no covariance.
ALTER TYPE segment.bgnbd_model
    ADD ATTRIBUTE time_unit text, ADD ATTRIBUTE se_r double precision, ADD ATTRIBUTE se_alpha double precision,
    ADD ATTRIBUTE se_a double precision, ADD ATTRIBUTE se_b double precision, ADD ATTRIBUTE covariance double precision[];
ALTER TYPE segment.gamma_gamma_model
    ADD ATTRIBUTE se_p double precision, ADD ATTRIBUTE se_q double precision, ADD ATTRIBUTE se_gamma double precision,
    ADD ATTRIBUTE covariance double precision[];
COMMENT ON TYPE segment.bgnbd_model IS
    'BG/NBD model (Fader, Hardie & Lee 2005): purchase rate ~ Gamma(r, alpha) in time_unit, dropout ~ Beta(a, b); log-likelihood at the estimate, customers fitted, optimiser iterations, converged; standard errors and covariance (r, alpha, a, b) from the observed information';
COMMENT ON TYPE segment.gamma_gamma_model IS
    'Gamma-Gamma spend model: spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, gamma); fitted over repeat buyers; standard errors and covariance (p, q, gamma) from the observed information';
\ir ../clv.sql type:segment.pareto_nbd_model segment.to_jsonb segment.pareto_nbd_model cast:segment.pareto_nbd_model:jsonb cast:jsonb:segment.pareto_nbd_model segment._bgnbd_trans segment._pareto_nbd_final segment._bgnbd_combine segment._bgnbd_serialize segment._bgnbd_deserialize segment.bgnbd_fit segment.pareto_nbd_fit segment.clv segment.pareto_nbd_p_alive segment.pareto_nbd_expected_purchases segment.pareto_nbd_expected_purchases_new segment.pareto_nbd_log_likelihood type:segment.prediction_interval segment.bgnbd_expected_purchases_interval segment.pareto_nbd_expected_purchases_interval segment.clv_interval type:segment.btyd_holdout segment.calibration_holdout type:segment.holdout_summary segment._holdout_trans segment._holdout_combine segment._holdout_serialize segment._holdout_deserialize segment._holdout_final segment.holdout_agg segment.calibration_histogram segment.conditional_expectations segment.holdout_accuracy type:segment.tracking_summary segment._tracking_trans segment._tracking_combine segment._tracking_serialize segment._tracking_deserialize segment._tracking_final segment.tracking_agg segment.tracking_series type:segment.customer_prediction segment.predict_customer segment._predict_view_query

-- 0.2.0: rfm_agg over order rows with an order id: rows repeating an order id (and kind, order or
-- refund) inside the group count once, the earliest instant (then the smallest amount) being the
-- one that counts, as population_agg does; a NULL order id always counts.
\ir ../summary.sql segment._rfm_trans segment._rfm_order_combine segment._rfm_order_serialize segment._rfm_order_deserialize segment._rfm_order_final segment.rfm_agg
