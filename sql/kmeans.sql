-- pg_segment: k-means clusters over per-customer feature vectors.
-- The aggregates keep every feature vector in an internal state (8 bytes per value, bounded by
-- options.memory_limit_mb) and are parallel safe: partial states are combined, and the fit sorts
-- the points first, so serial and parallel plans give the same model.
CREATE FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer, bigint) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer, bigint, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_silhouette_trans(internal, jsonb, double precision[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_silhouette_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_silhouette_trans(internal, jsonb, double precision[], integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_silhouette_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_elbow_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer, bigint) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_elbow_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer, bigint, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_elbow_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_fit_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_fit_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_silhouette_final(internal) RETURNS double precision
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_silhouette_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._kmeans_elbow_final(internal) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_elbow_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer) IS 'kmeans_fit transition';
COMMENT ON FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer, bigint) IS 'kmeans_fit transition';
COMMENT ON FUNCTION segment._kmeans_fit_trans(internal, double precision[], integer, bigint, jsonb) IS 'kmeans_fit transition';
COMMENT ON FUNCTION segment._kmeans_silhouette_trans(internal, jsonb, double precision[]) IS 'kmeans_silhouette transition';
COMMENT ON FUNCTION segment._kmeans_silhouette_trans(internal, jsonb, double precision[], integer) IS 'kmeans_silhouette transition';
COMMENT ON FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer) IS 'kmeans_elbow transition';
COMMENT ON FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer, bigint) IS 'kmeans_elbow transition';
COMMENT ON FUNCTION segment._kmeans_elbow_trans(internal, double precision[], integer, integer, bigint, jsonb) IS 'kmeans_elbow transition';
COMMENT ON FUNCTION segment._kmeans_combine(internal, internal) IS 'k-means aggregates: combine of partial states';
COMMENT ON FUNCTION segment._kmeans_serialize(internal) IS 'k-means aggregates: state serialization for parallel workers';
COMMENT ON FUNCTION segment._kmeans_deserialize(bytea, internal) IS 'k-means aggregates: state deserialization';
COMMENT ON FUNCTION segment._kmeans_fit_final(internal) IS 'kmeans_fit final: fits the model';
COMMENT ON FUNCTION segment._kmeans_silhouette_final(internal) IS 'kmeans_silhouette final: mean silhouette on the sample';
COMMENT ON FUNCTION segment._kmeans_elbow_final(internal) IS 'kmeans_elbow final: one fit per k';

CREATE AGGREGATE segment.kmeans_fit(features double precision[], k integer) (
    SFUNC = segment._kmeans_fit_trans, STYPE = internal, FINALFUNC = segment._kmeans_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.kmeans_fit(features double precision[], k integer, seed bigint) (
    SFUNC = segment._kmeans_fit_trans, STYPE = internal, FINALFUNC = segment._kmeans_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.kmeans_fit(features double precision[], k integer, seed bigint, options jsonb) (
    SFUNC = segment._kmeans_fit_trans, STYPE = internal, FINALFUNC = segment._kmeans_fit_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.kmeans_fit(double precision[], integer) IS
    'k-means model (jsonb) of the feature vectors: z-score standardization, k-means++ seeding with seed 42, Lloyd iterations';
COMMENT ON AGGREGATE segment.kmeans_fit(double precision[], integer, bigint) IS
    'k-means model with a given seed (same seed, same points: same model, whatever the row order or plan)';
COMMENT ON AGGREGATE segment.kmeans_fit(double precision[], integer, bigint, jsonb) IS
    'k-means model; options: standardize (zscore|log_zscore|none), max_iterations, tolerance, n_init, memory_limit_mb';

CREATE AGGREGATE segment.kmeans_silhouette(model jsonb, features double precision[]) (
    SFUNC = segment._kmeans_silhouette_trans, STYPE = internal, FINALFUNC = segment._kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.kmeans_silhouette(model jsonb, features double precision[], sample_size integer) (
    SFUNC = segment._kmeans_silhouette_trans, STYPE = internal, FINALFUNC = segment._kmeans_silhouette_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.kmeans_silhouette(jsonb, double precision[]) IS
    'Mean silhouette of a model''s clusters, exact over a deterministic sample of 10000 points (all when fewer); NULL with fewer than 2 clusters';
COMMENT ON AGGREGATE segment.kmeans_silhouette(jsonb, double precision[], integer) IS
    'Mean silhouette, exact over a deterministic sample of sample_size points (2..50000; cost grows with its square)';

CREATE AGGREGATE segment.kmeans_elbow(features double precision[], k_min integer, k_max integer) (
    SFUNC = segment._kmeans_elbow_trans, STYPE = internal, FINALFUNC = segment._kmeans_elbow_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.kmeans_elbow(features double precision[], k_min integer, k_max integer, seed bigint) (
    SFUNC = segment._kmeans_elbow_trans, STYPE = internal, FINALFUNC = segment._kmeans_elbow_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.kmeans_elbow(features double precision[], k_min integer, k_max integer, seed bigint, options jsonb) (
    SFUNC = segment._kmeans_elbow_trans, STYPE = internal, FINALFUNC = segment._kmeans_elbow_final, FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = segment._kmeans_combine, SERIALFUNC = segment._kmeans_serialize,
    DESERIALFUNC = segment._kmeans_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.kmeans_elbow(double precision[], integer, integer) IS
    'Elbow table: for each k in k_min..k_max (at most 20 values) inertia, iterations, converged and silhouette on a 2000-point sample, as a jsonb array';
COMMENT ON AGGREGATE segment.kmeans_elbow(double precision[], integer, integer, bigint) IS
    'Elbow table with a given seed';
COMMENT ON AGGREGATE segment.kmeans_elbow(double precision[], integer, integer, bigint, jsonb) IS
    'Elbow table with a given seed and kmeans_fit options';

CREATE FUNCTION segment.kmeans_assign(model jsonb, features double precision[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'pgseg_kmeans_assign' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.kmeans_assign(jsonb, double precision[]) IS
    'Cluster id (1..k, 1 the largest cluster of the fit) of a feature vector: the nearest centroid after the model''s standardization';
