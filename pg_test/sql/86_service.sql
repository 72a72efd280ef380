-- Service plans per member tier (the built-in table, user rows over built-in ones) and next
-- actions per lifecycle stage and cadence; both as columns of a segmentation view.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- the built-in table, whole: four tiers, four directions, labels in 中文 and English
SELECT tier, direction, benefit, position, label_zh, label_en FROM segment.service_benefits WHERE builtin
ORDER BY array_position('{diamond_vip,vip,senior_member,member}', tier),
         array_position('{customer_service,logistics,discounts,care}', direction), position;
SELECT count(*) AS builtin_rows, count(DISTINCT tier) AS tiers, count(*) FILTER (WHERE builtin) = count(*) AS all_builtin
FROM segment.service_benefits;
-- a tier by its code or either label, in any case and with spaces; labels per lang
SELECT t, segment.service_plan(t, 'code') AS plan FROM unnest(ARRAY['至尊VIP', 'Diamond VIP', ' diamond_vip ', 'VIP', 'vip', '高级会员',
    'senior member', '普通会员', 'Member']) t;
SELECT segment.service_plan('至尊VIP') AS zh, segment.service_plan('Diamond VIP', 'en') AS en;
SELECT segment.service_plan('普通会员', 'en')->'logistics' AS member_logistics, segment.service_plan('VIP')->'customer_service' AS vip_service;
-- unknown tiers have no plan; NULL arguments give NULL; a bad lang is an error whatever the tier
SELECT segment.service_plan('黑金会员') IS NULL AS unknown_tier, segment.service_plan(NULL) IS NULL AS null_tier,
       segment.service_plan('vip', NULL) IS NULL AS null_lang;
SELECT sqlstate_of($$SELECT segment.service_plan('vip', 'fr')$$);
SELECT sqlstate_of($$SELECT segment.service_plan('黑金会员', 'de')$$);

-- user rows: override a built-in benefit (same tier and code), remove one (both labels NULL),
-- add one, add a tier of their own; a user row may name a built-in tier by its label
BEGIN;
INSERT INTO segment.service_benefits (tier, direction, benefit, position, label_zh, label_en) VALUES
    ('vip', 'logistics', 'sf_express', 10, '顺丰次日达', 'SF Express next-day delivery'),
    ('普通会员', NULL, 'free_shipping', 100, NULL, NULL),
    ('member', 'care', 'holiday_greeting', 5, '节日问候', NULL),
    ('黑金会员', 'customer_service', 'butler', 1, '私人管家', 'Personal butler'),
    ('黑金会员', 'care', 'gift', 2, NULL, 'Annual gift');
SELECT segment.service_plan('VIP', 'en')->'logistics' AS vip_logistics, segment.service_plan('vip')->'logistics' AS vip_logistics_zh;
SELECT segment.service_plan('Member', 'en') AS member_en, segment.service_plan('member', 'zh') AS member_zh,
       segment.service_plan('member', 'code') AS member_code;
SELECT segment.service_plan('黑金会员') AS own_tier_zh, segment.service_plan('黑金会员', 'en') AS own_tier_en;
-- only user rows are dumped
SELECT c::regclass, extcondition[array_position(extconfig, c)] FROM pg_extension, unnest(extconfig) c
WHERE extname = 'pg_segment' AND c::regclass::text = 'segment.service_benefits';
ROLLBACK;
SELECT segment.service_plan('vip', 'en')->'logistics' AS after_rollback;
-- the table's checks
SELECT sqlstate_of($$INSERT INTO segment.service_benefits (tier, direction, benefit, label_zh) VALUES ('vip', 'shipping', 'x', '甲')$$);
SELECT sqlstate_of($$INSERT INTO segment.service_benefits (tier, direction, benefit, label_zh) VALUES ('vip', 'care', 'Free Gift', '甲')$$);
SELECT sqlstate_of($$INSERT INTO segment.service_benefits (tier, direction, benefit, label_zh) VALUES (' vip', 'care', 'gift', '甲')$$);
SELECT sqlstate_of($$INSERT INTO segment.service_benefits (tier, direction, benefit, label_zh) VALUES ('vip', NULL, 'gift', '甲')$$);
SELECT sqlstate_of($$INSERT INTO segment.service_benefits (tier, direction, benefit, label_zh, builtin) VALUES ('vip', 'care', 'gift', '甲', true)$$);

-- next actions: every stage against every cadence (NULL: no purchase), as codes
SELECT s AS stage, string_agg(coalesce(c, 'NULL') || '=' || segment.next_action(s, c, '{}', 'code'), ' ' ORDER BY o) AS actions
FROM unnest(ARRAY['prospect', 'new', 'active', 'sleeping', 'at_risk', 'churned']) WITH ORDINALITY st(s, so),
     unnest(ARRAY[NULL, 'one_time', 'irregular', 'monthly', 'quarterly', 'half_yearly', 'yearly']) WITH ORDINALITY ca(c, o)
GROUP BY s, so ORDER BY so;
-- labels in each language; stages and cadences accepted as lifecycle_stage and purchase_cadence write them
SELECT segment.next_action('活跃') AS zh, segment.next_action('Active', NULL, '{}', 'en') AS en,
       segment.next_action(' SLEEPING ', '月度', '{}', 'en') AS sleeping_monthly, segment.next_action('预流失', 'Yearly') AS at_risk_yearly,
       segment.next_action('流失', NULL, '{}', 'en') AS churned, segment.next_action('潜在', NULL, '{}', 'en') AS prospect,
       segment.next_action(NULL, 'monthly') IS NULL AS null_stage;
-- your own rules replace the built-in ones: first match wins, the last rule is the catch-all
SELECT s, c, segment.next_action(s, c, '{"rules": [{"stage": ["sleeping", "at_risk"], "cadence": ["monthly", "quarterly"], "code": "call",
                                                     "label": {"zh": "电话回访", "en": "Phone call"}},
                                                    {"stage": "churned", "label": "流失调研"},
                                                    {"code": "sms", "label": {"zh": "短信", "en": "SMS"}}]}', 'en') AS action
FROM (VALUES ('sleeping', 'monthly'), ('at_risk', 'quarterly'), ('at_risk', 'yearly'), ('churned', NULL), ('new', 'monthly')) v(s, c);
-- errors name the argument or key
SELECT sqlstate_of($$SELECT segment.next_action('dormant')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', 'weekly')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{}', 'fr')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{}', NULL)$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{"rule": []}')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{"rules": [{"stage": "active", "label": "A"}]}')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{"rules": [{"stage": "asleep", "label": "A"}, {"label": "B"}]}')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{"rules": [{"cadence": 3, "label": "A"}, {"label": "B"}]}')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '{"rules": [{"stage": "new"}, {"label": "B"}]}')$$);
SELECT sqlstate_of($$SELECT segment.next_action('active', NULL, '[]')$$);

-- segmentation views: options next_action and service_plan add the two columns, in the view's
-- language; every row agrees with the functions on its own stage, cadence and tier
CREATE TABLE svc_orders AS SELECT * FROM segment.sample_orders(400, 16);
SELECT segment.create_segment_view('svc_segments', 'svc_orders', 'customer_id', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "lang": "en", "refund_column": "is_refund", "next_action": true, "service_plan": true}');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'svc_segments'::regclass AND attnum > 21 ORDER BY attnum;
SELECT count(*) AS customers,
       count(*) FILTER (WHERE next_action = segment.next_action(lifecycle_stage, cadence, '{}', 'en')) AS next_action_agrees,
       count(*) FILTER (WHERE service_plan = segment.service_plan(tier, 'en')) AS plan_agrees,
       count(*) FILTER (WHERE service_plan IS NULL) AS without_plan
FROM svc_segments;
SELECT tier, next_action, count(*) FROM svc_segments GROUP BY 1, 2 ORDER BY 1, 2;
SELECT customer_id, tier, lifecycle_stage, cadence, next_action, service_plan->'logistics' AS logistics FROM svc_segments ORDER BY customer_id LIMIT 4;
-- a benefit changed in the table shows after a refresh
BEGIN;
INSERT INTO segment.service_benefits (tier, direction, benefit, position, label_zh, label_en) VALUES ('member', 'logistics', 'free_shipping', 10, '全场包邮', 'Free shipping');
SELECT segment.refresh_segment_view('svc_segments') IS NOT NULL AS refreshed;
SELECT DISTINCT service_plan->'logistics' AS member_logistics FROM svc_segments WHERE tier = 'Member';
ROLLBACK;
-- rules of your own, a view in Chinese; removing the options removes the columns
SELECT segment.alter_segment_view('svc_segments', '{"lang": "zh", "service_plan": null,
    "next_action": {"rules": [{"stage": "churned", "label": {"zh": "流失调研", "en": "Churn survey"}}, {"label": {"zh": "常规触达", "en": "Routine"}}]}}');
SELECT lifecycle_stage, next_action, count(*) FROM svc_segments GROUP BY 1, 2 ORDER BY 1, 2;
SELECT segment.alter_segment_view('svc_segments', '{"next_action": false}');
SELECT count(*) AS extra_columns FROM pg_attribute WHERE attrelid = 'svc_segments'::regclass AND attname IN ('next_action', 'service_plan');
SELECT options FROM segment.segment_views WHERE view_name = 'svc_segments';
-- text customer keys take the same options
CREATE VIEW svc_orders_by_code AS SELECT 'C' || customer_id AS code, ordered_at, amount, is_refund FROM svc_orders;
SELECT segment.create_segment_view('svc_by_code', 'svc_orders_by_code', 'code', 'ordered_at', 'amount',
    '{"as_of": "2025-12-31 23:59:59+08", "refund_column": "is_refund", "next_action": true, "service_plan": true}');
SELECT count(*) AS customers, count(*) FILTER (WHERE customer_id LIKE 'C%') AS text_keys,
       count(*) FILTER (WHERE next_action = segment.next_action(lifecycle_stage, cadence)
                          AND service_plan = segment.service_plan(tier)) AS agree
FROM svc_by_code;
-- bad option values are 22023, and nothing is created
SELECT sqlstate_of($$SELECT segment.create_segment_view('svc_bad', 'svc_orders', 'customer_id', 'ordered_at', 'amount', '{"next_action": 1}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('svc_bad', 'svc_orders', 'customer_id', 'ordered_at', 'amount', '{"next_action": {"rules": []}}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('svc_bad', 'svc_orders', 'customer_id', 'ordered_at', 'amount', '{"service_plan": "yes"}')$$);
SELECT sqlstate_of($$SELECT segment.create_segment_view('svc_bad', 'svc_orders', 'customer_id', 'ordered_at', 'amount', '{"service_plan": true, "lang": "fr"}')$$);
SELECT count(*) AS svc_bad FROM pg_class WHERE relname = 'svc_bad';
SELECT segment.drop_segment_view('svc_by_code');
SELECT segment.drop_segment_view('svc_segments');
DROP VIEW svc_orders_by_code;
DROP TABLE svc_orders;
DROP EXTENSION pg_segment CASCADE;
