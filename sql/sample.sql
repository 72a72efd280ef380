-- pg_segment: the sample-store generator (after the pgrx-generated _sample_* functions).
------------------------------------------------------------------------------------------------
-- Sample store
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.sample_orders(customers integer, seed bigint DEFAULT 42, params jsonb DEFAULT '{}')
    RETURNS TABLE (order_id bigint, customer_id bigint, ordered_at timestamptz, amount numeric(12,2),
                   is_refund boolean, promotion boolean, discount numeric(4,2), category text)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT o.order_id, o.customer_id, o.ordered_at, (o.amount_fen * 0.01)::numeric(12,2),
                 o.is_refund, o.promotion, (o.discount_pct * 0.01)::numeric(4,2), o.category
          FROM segment._sample_orders(customers, seed, params) o $$;
CREATE FUNCTION segment.sample_customers(customers integer, seed bigint DEFAULT 42, params jsonb DEFAULT '{}')
    RETURNS TABLE (customer_id bigint, birthday date, gender text, province text, city text, signup_at timestamptz)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT * FROM segment._sample_customers(customers, seed, params) $$;
COMMENT ON FUNCTION segment.sample_orders(integer, bigint, jsonb) IS
    'Deterministic synthetic orders (BG/NBD purchases, Gamma-Gamma spend, 3% refunds, promotion events); see sample_model()';
COMMENT ON FUNCTION segment.sample_customers(integer, bigint, jsonb) IS
    'Deterministic synthetic customer profiles matching sample_orders (birthday, gender, province, city, signup)';
COMMENT ON FUNCTION segment._sample_orders(integer, bigint, jsonb) IS 'sample_orders worker (amounts in fen)';
COMMENT ON FUNCTION segment._sample_customers(integer, bigint, jsonb) IS 'sample_customers worker';
COMMENT ON FUNCTION segment.sample_model(jsonb) IS 'The generator parameters in force for a params value (defaults filled in)';
