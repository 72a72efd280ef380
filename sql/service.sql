-- pg_segment: service plans per member tier and the next action per lifecycle stage and cadence
-- (src/service.rs, crates/core/src/service.rs), and the segmentation view options that add
-- both as columns.
------------------------------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._lang(lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lang' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._lang(text) IS 'A lang argument checked and normalized to zh, en or code (22023 otherwise, NULL too)';
CREATE FUNCTION segment._tier_code(tier text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_tier_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment._tier_code(text) IS
    'The code of a built-in membership tier given in any language (至尊VIP, Diamond VIP, diamond_vip); any other tier trimmed';

------------------------------------------------------------------------------------------------
-- Service plans: a user-extensible table (user rows override built-in ones and are dumped)
------------------------------------------------------------------------------------------------
-- (the checks and defaults are bound when the extension is installed: every name qualified)
CREATE TABLE segment.service_benefits (
    tier text NOT NULL CONSTRAINT service_benefits_tier_check
        CHECK (tier OPERATOR(pg_catalog.=) pg_catalog.btrim(tier) AND tier OPERATOR(pg_catalog.<>) ''::pg_catalog.text),
    benefit text NOT NULL CONSTRAINT service_benefits_benefit_check
        CHECK (benefit OPERATOR(pg_catalog.~) '^[a-z][a-z0-9_]*$'::pg_catalog.text),
    direction text CONSTRAINT service_benefits_direction_check
        CHECK (direction OPERATOR(pg_catalog.=) ANY ('{customer_service,logistics,discounts,care}'::pg_catalog.text[])),
    label_zh text,
    label_en text,
    position integer NOT NULL DEFAULT 100,
    builtin boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tier, benefit, builtin),
    -- a row with both labels NULL removes a benefit; every other row says where it belongs
    CONSTRAINT service_benefits_check CHECK ((label_zh IS NULL AND label_en IS NULL) OR direction IS NOT NULL),
    CONSTRAINT service_benefits_builtin_check CHECK (NOT builtin OR (label_zh IS NOT NULL AND label_en IS NOT NULL))
);
COMMENT ON TABLE segment.service_benefits IS
    'Service benefits per member tier in four directions (customer_service, logistics, discounts, care), read by service_plan(): built-in rows (builtin = true) are re-created by the extension; your rows (builtin = false) override a built-in benefit of the same tier and code, add benefits or tiers, and with both labels NULL remove a benefit; pg_dump keeps them';
COMMENT ON TYPE segment.service_benefits IS 'Row type of segment.service_benefits';
-- user rows (and only they) are dumped by pg_dump; built-in rows come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('segment.service_benefits', 'WHERE NOT builtin');
GRANT SELECT ON segment.service_benefits TO PUBLIC;

-- Built-in plans for the four tiers of customer_tier() (codes diamond_vip, vip, senior_member,
-- member): one-to-one service and longer return windows, free shipping and SF Express for the
-- higher tiers, new-arrival, member-day and event offers, SMS, birthday and holiday greetings and
-- weather notes. A starting point: replace them with your own rows.
INSERT INTO segment.service_benefits (tier, direction, benefit, position, label_zh, label_en, builtin) VALUES
    ('diamond_vip', 'customer_service', 'one_to_one_service', 10, '专属客服一对一服务', 'Dedicated one-to-one service', true),
    ('diamond_vip', 'customer_service', 'return_window', 20, '30天无忧退换货', '30-day returns and exchanges', true),
    ('diamond_vip', 'logistics', 'sf_express', 10, '顺丰速运包邮', 'Free SF Express delivery', true),
    ('diamond_vip', 'discounts', 'new_arrival_offer', 10, '新品抢先购', 'Early access to new arrivals', true),
    ('diamond_vip', 'discounts', 'member_day_offer', 20, '会员日85折', 'Member day: 15% off', true),
    ('diamond_vip', 'discounts', 'event_offer', 30, '大促专享券', 'Exclusive coupons for major events', true),
    ('diamond_vip', 'care', 'sms_care', 10, '专属短信关怀', 'Personal SMS care', true),
    ('diamond_vip', 'care', 'birthday_greeting', 20, '生日祝福与生日礼', 'Birthday greeting and gift', true),
    ('diamond_vip', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('diamond_vip', 'care', 'weather_note', 40, '天气变化提醒', 'Weather notes', true),
    ('vip', 'customer_service', 'priority_service', 10, '优先客服', 'Priority customer service', true),
    ('vip', 'customer_service', 'return_window', 20, '15天退换货', '15-day returns and exchanges', true),
    ('vip', 'logistics', 'sf_express', 10, '顺丰速运包邮', 'Free SF Express delivery', true),
    ('vip', 'discounts', 'new_arrival_offer', 10, '新品9折', 'New arrivals: 10% off', true),
    ('vip', 'discounts', 'member_day_offer', 20, '会员日9折', 'Member day: 10% off', true),
    ('vip', 'discounts', 'event_offer', 30, '大促专享券', 'Exclusive coupons for major events', true),
    ('vip', 'care', 'sms_care', 10, '短信关怀', 'SMS care', true),
    ('vip', 'care', 'birthday_greeting', 20, '生日祝福与生日券', 'Birthday greeting and coupon', true),
    ('vip', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('vip', 'care', 'weather_note', 40, '天气变化提醒', 'Weather notes', true),
    ('senior_member', 'customer_service', 'return_window', 20, '10天退换货', '10-day returns and exchanges', true),
    ('senior_member', 'logistics', 'free_shipping', 10, '全场包邮', 'Free shipping', true),
    ('senior_member', 'discounts', 'member_day_offer', 20, '会员日95折', 'Member day: 5% off', true),
    ('senior_member', 'discounts', 'event_offer', 30, '活动优惠券', 'Event coupons', true),
    ('senior_member', 'care', 'birthday_greeting', 20, '生日祝福', 'Birthday greeting', true),
    ('senior_member', 'care', 'holiday_greeting', 30, '节日问候', 'Holiday greetings', true),
    ('member', 'customer_service', 'return_window', 20, '7天无理由退货', '7-day no-reason returns', true),
    ('member', 'logistics', 'free_shipping', 10, '满99元包邮', 'Free shipping over ¥99', true),
    ('member', 'discounts', 'event_offer', 30, '活动优惠', 'Event offers', true),
    ('member', 'care', 'birthday_greeting', 20, '生日祝福短信', 'Birthday greeting by SMS', true);

-- Every tier's plan, user rows over built-in ones: {"customer_service": [...], "logistics": [...],
-- "discounts": [...], "care": [...]}, labels in lang (benefit codes for 'code'), in position order.
CREATE FUNCTION segment._service_plans(lang text) RETURNS TABLE (tier text, plan jsonb)
    LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
#variable_conflict use_column
BEGIN
    lang := segment._lang(lang);  -- checked before anything is read
    RETURN QUERY
    WITH b AS (  -- per tier and benefit: a user row if there is one, else the built-in one
        SELECT DISTINCT ON (t.code, s.benefit) t.code AS tier, s.benefit, s.direction, s.position,
               CASE lang WHEN 'code' THEN s.benefit WHEN 'en' THEN coalesce(s.label_en, s.label_zh)
                         ELSE coalesce(s.label_zh, s.label_en) END AS label,
               s.label_zh IS NULL AND s.label_en IS NULL AS removed
        FROM segment.service_benefits s, LATERAL (SELECT segment._tier_code(s.tier) AS code) t
        ORDER BY t.code, s.benefit, s.builtin, s.tier),
    d AS (
        SELECT b.tier, b.direction, jsonb_agg(to_jsonb(b.label) ORDER BY b.position, b.benefit) AS items
        FROM b WHERE NOT b.removed GROUP BY 1, 2)
    SELECT t.tier, '{"customer_service": [], "logistics": [], "discounts": [], "care": []}'::jsonb
                   || coalesce((SELECT jsonb_object_agg(d.direction, d.items) FROM d WHERE d.tier = t.tier), '{}'::jsonb)
    FROM (SELECT DISTINCT b.tier FROM b) t;
END $$;
COMMENT ON FUNCTION segment._service_plans(text) IS
    'Every tier''s service plan from segment.service_benefits (user rows over built-in ones): benefit labels per direction';

CREATE FUNCTION segment.service_plan(tier text, lang text DEFAULT 'zh') RETURNS jsonb
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT p.plan FROM segment._service_plans($2) p WHERE p.tier = segment._tier_code($1) $$;
COMMENT ON FUNCTION segment.service_plan(text, text) IS
    'A member tier''s service benefits (至尊VIP, Diamond VIP or diamond_vip; your own tiers as written in segment.service_benefits) as {"customer_service", "logistics", "discounts", "care"} arrays of labels; NULL for a tier without rows';

------------------------------------------------------------------------------------------------
-- Next actions
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.next_action(stage text, cadence text DEFAULT NULL, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_next_action' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment.next_action(text, text, jsonb, text) IS
    'Recommended contact for a lifecycle stage and purchase cadence (any language): new, active: new arrivals; sleeping: event notice (monthly buyers: major event); at risk: major event notice (yearly buyers: event); churned: ask why; prospect: first-order offer; config {"rules": [...]} replaces the rules; NULL stage gives NULL';

------------------------------------------------------------------------------------------------
-- Segmentation view options "next_action" (true, or a next_action config) and "service_plan"
-- (true): columns next_action text and service_plan jsonb after the others. Called by
-- _create_segment_view and _alter_segment_view (sql/views.sql) for the view's query.
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._segment_view_sql(source regclass, customer_column name, ordered_at_column name,
                                          amount_column name, options jsonb)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q text;
    lang text;
    config jsonb;
    extra text := '';
    joins text := '';
BEGIN
    options := coalesce(options, '{}');
    -- the other options (and the shape of options itself) are checked by _segment_view_query
    q := segment._segment_view_query(source, customer_column, ordered_at_column, amount_column,
                                     CASE jsonb_typeof(options) WHEN 'object' THEN options - ARRAY['next_action', 'service_plan'] ELSE options END);
    IF NOT (options ? 'next_action' OR options ? 'service_plan') THEN
        RETURN q;
    END IF;
    lang := segment._lang(coalesce(options->>'lang', 'zh'));
    IF options ? 'next_action' THEN
        CASE jsonb_typeof(options->'next_action')
            WHEN 'boolean' THEN config := CASE WHEN (options->>'next_action')::boolean THEN '{}'::jsonb END;
            WHEN 'object' THEN config := options->'next_action';
            ELSE RAISE EXCEPTION 'options.next_action must be true, false or a next_action config such as {"rules": [...]}, got %', options->'next_action'
                USING ERRCODE = '22023';
        END CASE;
        IF config IS NOT NULL THEN
            PERFORM segment.next_action('active', NULL, config, lang);  -- a bad config fails now, not at refresh
            extra := extra || format(', segment.next_action(v.lifecycle_stage, v.cadence, %L::jsonb, %L) AS next_action', config, lang);
        END IF;
    END IF;
    IF options ? 'service_plan' THEN
        IF jsonb_typeof(options->'service_plan') IS DISTINCT FROM 'boolean' THEN
            RAISE EXCEPTION 'options.service_plan must be true or false, got %', options->'service_plan' USING ERRCODE = '22023';
        END IF;
        IF (options->>'service_plan')::boolean THEN
            -- one plan per tier, joined (not one service_plan() call per customer)
            extra := extra || ', sp.plan AS service_plan';
            joins := format(' LEFT JOIN segment._service_plans(%L) sp ON sp.tier = segment._tier_code(v.tier)', lang);
        END IF;
    END IF;
    IF extra = '' THEN
        RETURN q;
    END IF;
    RETURN format('SELECT v.*%s FROM (%s) v%s', extra, q, joins);
END $$;
COMMENT ON FUNCTION segment._segment_view_sql(regclass, name, name, name, jsonb) IS
    'The SELECT of a segmentation view: _segment_view_query with the columns of the options next_action and service_plan';
