-- Profile helpers: age bands, birthday windows, provinces (whole table), city tiers (whole table).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_segment;
RESET client_min_messages;
SET TimeZone = 'UTC';

-- age bands: every boundary of the default bands; 18 is in the first band
SELECT age, segment.age_band(('2025-06-30'::date - make_interval(years => age))::date, '2025-06-30'::date) AS zh,
       segment.age_band(('2025-06-30'::date - make_interval(years => age))::date, '2025-06-30'::date, '{}', 'en') AS en,
       segment.age_band(('2025-06-30'::date - make_interval(years => age))::date, '2025-06-30'::date, '{}', 'code') AS code
FROM unnest(ARRAY[0, 17, 18, 19, 24, 25, 28, 29, 33, 34, 40, 41, 50, 51, 99]) age ORDER BY age;
-- the day before the birthday still counts the younger age; 29 Feb turns older on 1 Mar
SELECT segment.age_band('2006-07-01', '2025-06-30'::date, '{}', 'code') AS day_before_19,
       segment.age_band('2006-06-30', '2025-06-30'::date, '{}', 'code') AS on_19th_birthday,
       segment.age_band('2006-02-28', '2025-02-28'::date, '{}', 'code') AS leapling_ref,
       segment.age_band('2000-02-29', '2025-02-28'::date, '{"upper": [24]}', 'code') AS leapling_feb28,
       segment.age_band('2000-02-29', '2025-03-01'::date, '{"upper": [24]}', 'code') AS leapling_mar1;
-- configured bands, timestamptz overload, unborn -> NULL
SELECT segment.age_band('1990-01-01', '2025-01-01'::date, '{"upper": [20, 35]}', 'zh') AS configured,
       segment.age_band('1990-01-01', '2025-01-01 12:00+00'::timestamptz) AS tstz,
       segment.age_band('2030-01-01', '2025-01-01'::date) IS NULL AS unborn_is_null;
-- errors name the argument
SELECT sqlstate_of($$SELECT segment.age_band('1990-01-01', '2025-01-01'::date, '{"upper": [30, 20]}')$$);
SELECT sqlstate_of($$SELECT segment.age_band('1990-01-01', '2025-01-01'::date, '{"bands": [20]}')$$);
SELECT sqlstate_of($$SELECT segment.age_band('1990-01-01', '2025-01-01'::date, '{}', 'fr')$$);
SELECT sqlstate_of($$SELECT segment.age_band('infinity', '2025-01-01'::date)$$);

-- birthdays: windows, year end, 29 February (28 Feb in non-leap years)
SELECT b::date AS birthday, a::date AS as_of, n AS days, segment.birthday_within(b::date, a::date, n) AS within,
       segment.next_birthday(b::date, a::date) AS next
FROM (VALUES ('1990-06-10', '2025-06-03', 7), ('1990-06-10', '2025-06-02', 7), ('1990-06-10', '2025-06-10', 0),
             ('1990-01-03', '2025-12-28', 7), ('1990-01-05', '2025-12-28', 7), ('1990-12-31', '2025-12-31', 0),
             ('2000-02-29', '2025-02-20', 8), ('2000-02-29', '2025-02-20', 7), ('2000-02-29', '2024-02-20', 9),
             ('2000-02-29', '2025-03-01', 300), ('2000-02-29', '2027-03-01', 365), ('2030-01-01', '2025-12-30', 10))
     v(b, a, n) ORDER BY 1, 2, 3;
SELECT segment.birthday_within('1990-01-02', '2025-12-31 12:00+00'::timestamptz, 2) AS tstz_overload;
SELECT sqlstate_of($$SELECT segment.birthday_within('1990-01-01', '2025-01-01'::date, -1)$$);
SELECT sqlstate_of($$SELECT segment.birthday_within('1990-01-01', '2025-01-01'::date, 367)$$);

-- provinces: the whole table, each by its short, official and English name and two spellings
SELECT * FROM segment.provinces();
SELECT count(*) AS provinces,
       count(*) FILTER (WHERE segment.province_name(province) = province
                          AND segment.province_name(official_name) = province
                          AND segment.province_name(name_en) = province
                          AND segment.province_name(upper(name_en)) = province
                          AND segment.province_name(lower(name_en) || ' province') = province
                          AND segment.province_name(province || '省') = province
                          AND segment.province_name(' ' || official_name || ' ', 'en') = name_en
                          AND segment.china_region(official_name) = region
                          AND segment.china_region(name_en, 'en') = region_en
                          AND segment.north_south(province, 'code') = north_south
                          AND segment.north_south(official_name) = CASE north_south WHEN 'north' THEN '北方' ELSE '南方' END
                          AND segment.north_south(lower(name_en), 'en') = initcap(north_south)) AS all_forms_agree
FROM segment.provinces();
SELECT region, count(*), string_agg(province, ' ' ORDER BY province) FROM segment.provinces() GROUP BY 1 ORDER BY 1;
SELECT north_south, count(*) FROM segment.provinces() GROUP BY 1 ORDER BY 1;
SELECT p, segment.province_name(p) AS name, segment.china_region(p) AS region, segment.north_south(p, 'en') AS side
FROM unnest(ARRAY['广东', '广东省', 'Guangdong', 'GUANGDONG', '广西壮族自治区', '北京市', '内蒙古自治区', 'Inner Mongolia',
                  'Nei Mongol', '宁夏回族自治区', '新疆维吾尔自治区', 'Xinjiang Uyghur Autonomous Region', '西藏自治区', 'Xizang',
                  '香港特别行政区', 'Hong Kong SAR', 'Macau', '台湾省', 'Shaanxi', 'Shanxi']) p;
-- unknown names are NULL, not errors
SELECT p, segment.province_name(p) AS name, segment.china_region(p) AS region, segment.north_south(p) AS side
FROM unnest(ARRAY['', '广', '东京', 'Atlantis', 'province', '广东东']) p;
SELECT sqlstate_of($$SELECT segment.china_region('广东', 'de')$$);

-- city tiers: the whole built-in table, by Chinese name, name with 市, and English name
SELECT tier, count(*), string_agg(city, ' ' ORDER BY city) FROM segment.city_tiers WHERE builtin GROUP BY 1 ORDER BY 1;
SELECT count(*) AS cities,
       count(*) FILTER (WHERE segment.city_tier(city, 'code') = tier
                          AND segment.city_tier(city || '市', 'code') = tier
                          AND segment.city_tier(' ' || upper(city_en) || ' ', 'code') = tier
                          AND segment.city_tier(city) = segment.city_tier_label(tier, 'zh')
                          AND segment.city_tier(city_en, 'en') = segment.city_tier_label(tier, 'en')) AS all_forms_agree
FROM segment.city_tiers WHERE builtin;
SELECT c, segment.city_tier(c) AS zh, segment.city_tier(c, 'en') AS en
FROM unnest(ARRAY['北京', '上海市', 'Guangzhou', 'canton', '杭州', 'Suzhou, Jiangsu', 'Suzhou', 'Taizhou', '佛山', '拉萨', 'Atlantis', '']) c;
SELECT t, segment.city_tier_label(t), segment.city_tier_label(t, 'en') FROM unnest(ARRAY['tier1', 'new_tier1', 'tier2', 'tier3', 'tier4', 'tier5', 'tier9']) t;
-- users extend the table: their rows take precedence, tier NULL takes a city out of the tiers
BEGIN;
INSERT INTO segment.city_tiers (city, city_en, tier, aliases) VALUES ('拉萨', 'Lhasa', 'tier3', '{Lasa}'), ('佛山', 'Foshan', 'new_tier1', '{}'), ('唐山', 'Tangshan', NULL, '{}');
SELECT c, segment.city_tier(c, 'code') FROM unnest(ARRAY['拉萨', 'lasa', '佛山', '唐山']) c;
-- only user rows are dumped
SELECT extcondition[array_position(extconfig, 'segment.city_tiers'::regclass)] FROM pg_extension WHERE extname = 'pg_segment';
ROLLBACK;
SELECT sqlstate_of($$INSERT INTO segment.city_tiers (city, tier) VALUES ('西宁', 'tier7')$$);
SELECT sqlstate_of($$INSERT INTO segment.city_tiers (city, tier, builtin) VALUES ('西宁', NULL, true)$$);
DROP EXTENSION pg_segment CASCADE;
