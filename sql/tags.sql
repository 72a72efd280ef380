-- pg_segment: behaviour tags from order rows (price-sensitive, promotion buyer, new-arrival
-- buyer, category-focused, weekly/monthly buyer), high-end as a second step, preferred category.
-- Everything here is IMMUTABLE: no calendar day is counted (intervals are in 24-hour days).
CREATE FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tags_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text, timestamptz) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tags_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text, timestamptz, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tags_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._preferred_category_trans(internal, text, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_pref_cat_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tags_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tags_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._tags_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_tags_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._tags_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_tags_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._tags_final(internal) RETURNS text[]
    AS 'MODULE_PATHNAME', 'pgseg_tags_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE TYPE segment.category_share AS (category text, share double precision);
COMMENT ON TYPE segment.category_share IS 'A category and its share (0..1) of the spend';
CREATE FUNCTION segment._preferred_category_final(internal) RETURNS segment.category_share
    AS 'MODULE_PATHNAME', 'pgseg_pref_cat_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text) IS 'behaviour_tags transition';
COMMENT ON FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text, timestamptz) IS 'behaviour_tags transition';
COMMENT ON FUNCTION segment._tags_trans(internal, timestamptz, numeric, numeric, boolean, text, timestamptz, jsonb) IS 'behaviour_tags transition';
COMMENT ON FUNCTION segment._preferred_category_trans(internal, text, numeric) IS 'preferred_category transition';
COMMENT ON FUNCTION segment._tags_combine(internal, internal) IS 'behaviour_tags/preferred_category combine';
COMMENT ON FUNCTION segment._tags_serialize(internal) IS 'behaviour_tags/preferred_category state serialization';
COMMENT ON FUNCTION segment._tags_deserialize(bytea, internal) IS 'behaviour_tags/preferred_category state deserialization';
COMMENT ON FUNCTION segment._tags_final(internal) IS 'behaviour_tags final: the tag codes';
COMMENT ON FUNCTION segment._preferred_category_final(internal) IS 'preferred_category final';

CREATE AGGREGATE segment.behaviour_tags(ordered_at timestamptz, amount numeric, discount numeric, promotion boolean, category text) (
    SFUNC = segment._tags_trans, STYPE = internal, FINALFUNC = segment._tags_final,
    COMBINEFUNC = segment._tags_combine, SERIALFUNC = segment._tags_serialize,
    DESERIALFUNC = segment._tags_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.behaviour_tags(ordered_at timestamptz, amount numeric, discount numeric, promotion boolean, category text,
        launched_at timestamptz) (
    SFUNC = segment._tags_trans, STYPE = internal, FINALFUNC = segment._tags_final,
    COMBINEFUNC = segment._tags_combine, SERIALFUNC = segment._tags_serialize,
    DESERIALFUNC = segment._tags_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.behaviour_tags(ordered_at timestamptz, amount numeric, discount numeric, promotion boolean, category text,
        launched_at timestamptz, rules jsonb) (
    SFUNC = segment._tags_trans, STYPE = internal, FINALFUNC = segment._tags_final,
    COMBINEFUNC = segment._tags_combine, SERIALFUNC = segment._tags_serialize,
    DESERIALFUNC = segment._tags_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.behaviour_tags(timestamptz, numeric, numeric, boolean, text) IS
    'Behaviour tag codes of one customer''s order rows (negative amounts are refunds, skipped): price_sensitive, promotion_buyer, category_focused, weekly_buyer, monthly_buyer';
COMMENT ON AGGREGATE segment.behaviour_tags(timestamptz, numeric, numeric, boolean, text, timestamptz) IS
    'Behaviour tags; launched_at (the product''s launch, NULL if unknown) adds new_arrival_buyer evidence';
COMMENT ON AGGREGATE segment.behaviour_tags(timestamptz, numeric, numeric, boolean, text, timestamptz, jsonb) IS
    'Behaviour tags with rules: discount_threshold, price_sensitive_share, promotion_share, promotion_min_orders, new_arrival_days, new_arrival_share, category_share, weekly_max_days, monthly_max_days, interval_min_purchases, min_orders';

CREATE AGGREGATE segment.preferred_category(category text, amount numeric) (
    SFUNC = segment._preferred_category_trans, STYPE = internal, FINALFUNC = segment._preferred_category_final,
    COMBINEFUNC = segment._tags_combine, SERIALFUNC = segment._tags_serialize,
    DESERIALFUNC = segment._tags_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.preferred_category(text, numeric) IS
    'Top category by spend (refunds reduce it; ties: the first name in byte order) with its share of the positive category spend; NULL without spend';

CREATE FUNCTION segment.tag_label(code text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_tag_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.tag_label(text, text) IS
    'Label of a behaviour tag code in zh, en or code; NULL for an unknown code';
COMMENT ON FUNCTION segment.with_high_end(text[], double precision, double precision, boolean) IS
    'Adds high_end to tags when avg_unit_price >= threshold (e.g. the population''s 75th percentile) and, unless require_promotion is false, the customer is a promotion_buyer';
