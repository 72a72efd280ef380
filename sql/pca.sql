-- The pca family (src/pca.rs, crates/core/src/pca.rs): principal components of per-customer
-- feature vectors. pca_fit keeps every feature vector in the k-means aggregates' state (kind
-- pca; their combine, serialize and deserialize functions), and the fit sorts them first, so
-- serial and parallel plans give the same model.
CREATE FUNCTION segment._pca_fit_trans(internal, double precision[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pca_fit_trans(internal, double precision[], jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._pca_fit_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_pca_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._pca_fit_trans(internal, double precision[]) IS 'pca_fit transition';
COMMENT ON FUNCTION segment._pca_fit_trans(internal, double precision[], jsonb) IS 'pca_fit transition';
COMMENT ON FUNCTION segment._pca_fit_final(internal) IS 'pca_fit final: standardizes, decomposes the covariance';

CREATE AGGREGATE segment.pca_fit(features double precision[]) (
    SFUNC = segment._pca_fit_trans, STYPE = internal, FINALFUNC = segment._pca_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.pca_fit(features double precision[], options jsonb) (
    SFUNC = segment._pca_fit_trans, STYPE = internal, FINALFUNC = segment._pca_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.pca_fit(double precision[]) IS
    'Principal components model (jsonb) of the feature vectors: z-score standardization, every component; whatever the row order or plan, the same model';
COMMENT ON AGGREGATE segment.pca_fit(double precision[], jsonb) IS
    'Principal components model; options: standardize (zscore|log_zscore|none), n_components or variance (share to explain), memory_limit_mb';

CREATE FUNCTION segment.pca_transform(model jsonb, features double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'pgseg_pca_transform' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.pca_transform(jsonb, double precision[]) IS
    'The feature vector''s coordinates on the model''s components (after its standardization), first component first';
