-- The loyalty family (src/loyalty.rs, crates/core/src/loyalty.rs): brand loyalty of one
-- customer's order rows. Everything here is IMMUTABLE: no day is counted.
CREATE FUNCTION segment._loyalty_trans(internal, text, numeric) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_trans(internal, text, numeric, jsonb) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_serialize(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_serialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment._loyalty_deserialize(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_deserialize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE segment.loyalty AS (brand text, orders bigint, order_share double precision, spend_share double precision,
                                brands integer, level text);
COMMENT ON TYPE segment.loyalty IS
    'Brand loyalty: the top brand, its orders, its share of the orders and of the spend, the brands bought, the level code (none, moderate, strong, absolute; NULL below min_orders)';
CREATE FUNCTION segment._loyalty_final(internal) RETURNS segment.loyalty
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._loyalty_trans(internal, text, numeric) IS 'brand_loyalty transition';
COMMENT ON FUNCTION segment._loyalty_trans(internal, text, numeric, jsonb) IS 'brand_loyalty transition';
COMMENT ON FUNCTION segment._loyalty_combine(internal, internal) IS 'brand_loyalty combine of partial states';
COMMENT ON FUNCTION segment._loyalty_serialize(internal) IS 'brand_loyalty state serialization for parallel workers';
COMMENT ON FUNCTION segment._loyalty_deserialize(bytea, internal) IS 'brand_loyalty state deserialization';
COMMENT ON FUNCTION segment._loyalty_final(internal) IS 'brand_loyalty final: top brand, shares, level';

CREATE AGGREGATE segment.brand_loyalty(brand text, amount numeric) (
    SFUNC = segment._loyalty_trans, STYPE = internal, FINALFUNC = segment._loyalty_final,
    COMBINEFUNC = segment._loyalty_combine, SERIALFUNC = segment._loyalty_serialize,
    DESERIALFUNC = segment._loyalty_deserialize, PARALLEL = SAFE);
CREATE AGGREGATE segment.brand_loyalty(brand text, amount numeric, rules jsonb) (
    SFUNC = segment._loyalty_trans, STYPE = internal, FINALFUNC = segment._loyalty_final,
    COMBINEFUNC = segment._loyalty_combine, SERIALFUNC = segment._loyalty_serialize,
    DESERIALFUNC = segment._loyalty_deserialize, PARALLEL = SAFE);
COMMENT ON AGGREGATE segment.brand_loyalty(text, numeric) IS
    'Brand loyalty of one customer''s order rows (negative amounts are refunds): top brand by orders; level by its share of the orders: absolute 1, strong >= 0.7, moderate >= 0.4, else none; no level below 3 orders';
COMMENT ON AGGREGATE segment.brand_loyalty(text, numeric, jsonb) IS
    'Brand loyalty with rules: by (orders|spend), moderate, strong, absolute, min_orders';

CREATE FUNCTION segment.loyalty_label(level text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_loyalty_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.loyalty_label(text, text) IS
    'Label of a brand loyalty level code in zh (无, 一般, 强烈, 绝对), en or code; NULL for an unknown code';
