-- pg_segment: profile helpers (age bands, birthday windows, provinces, city tiers).
-- Functions of the date overloads are IMMUTABLE; the timestamptz overloads turn as_of into a
-- date in the session's TimeZone and are therefore STABLE.
------------------------------------------------------------------------------------------------
-- Age bands and birthdays
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.age_band(birthday date, as_of date, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_age_band' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.age_band(birthday date, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN segment.age_band(birthday, as_of::pg_catalog.date, config, lang);
COMMENT ON FUNCTION segment.age_band(date, date, jsonb, text) IS
    'Age band of completed years at as_of: 18 and under, 19-24, 25-28, 29-33, 34-40, 41-50, over 50 (config {"upper": [...]}); NULL when birthday > as_of';
COMMENT ON FUNCTION segment.age_band(date, timestamptz, jsonb, text) IS
    'Age band at as_of''s date in the session TimeZone';

CREATE FUNCTION segment.birthday_within(birthday date, as_of date, days integer) RETURNS boolean
    AS 'MODULE_PATHNAME', 'pgseg_birthday_within' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.birthday_within(birthday date, as_of timestamptz, days integer) RETURNS boolean
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN segment.birthday_within(birthday, as_of::pg_catalog.date, days);
CREATE FUNCTION segment.next_birthday(birthday date, as_of date) RETURNS date
    AS 'MODULE_PATHNAME', 'pgseg_next_birthday' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.birthday_within(date, date, integer) IS
    'Whether the birthday falls in as_of .. as_of + days (0..366), across year ends; 29 Feb is celebrated on 28 Feb in non-leap years';
COMMENT ON FUNCTION segment.birthday_within(date, timestamptz, integer) IS
    'birthday_within at as_of''s date in the session TimeZone';
COMMENT ON FUNCTION segment.next_birthday(date, date) IS
    'The first birthday on or after as_of (29 Feb -> 28 Feb in non-leap years); NULL when birthday > as_of';

------------------------------------------------------------------------------------------------
-- Provinces: region (七大地理分区) and north/south (Qinling-Huaihe line)
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment.province_name(province text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_province_name' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.china_region(province text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_china_region' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.north_south(province text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_north_south' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.province_name(text, text) IS
    'Canonical short name (zh) or English name of a provincial-level division given as 广东, 广东省, 广西壮族自治区 or Guangdong; NULL if unknown';
COMMENT ON FUNCTION segment.china_region(text, text) IS
    'Geographic region 东北/华北/华东/华中/华南/西南/西北 of a province (台湾 华东; 香港, 澳门 华南); NULL if unknown';
COMMENT ON FUNCTION segment.north_south(text, text) IS
    'North or south of the Qinling-Huaihe line (split provinces by their capital); NULL if unknown';
COMMENT ON FUNCTION segment.provinces() IS
    'The 34 provincial-level divisions with names, region and north/south: the whole mapping';

------------------------------------------------------------------------------------------------
-- City tiers: a user-extensible table
------------------------------------------------------------------------------------------------
-- (the checks and defaults are bound when the extension is installed: every name qualified)
CREATE TABLE segment.city_tiers (
    city text NOT NULL CONSTRAINT city_tiers_city_check
        CHECK (city OPERATOR(pg_catalog.=) pg_catalog.btrim(city) AND city OPERATOR(pg_catalog.<>) ''::pg_catalog.text),
    city_en text,
    tier text CONSTRAINT city_tiers_tier_check
        CHECK (tier OPERATOR(pg_catalog.=) ANY ('{tier1,new_tier1,tier2,tier3,tier4,tier5}'::pg_catalog.text[])),
    aliases text[] NOT NULL DEFAULT '{}'::pg_catalog.text[],
    list_version text NOT NULL DEFAULT 'user'::pg_catalog.text,
    builtin boolean NOT NULL DEFAULT false,
    PRIMARY KEY (city, builtin),
    CONSTRAINT city_tiers_check CHECK (tier IS NOT NULL OR NOT builtin)
);
COMMENT ON TABLE segment.city_tiers IS
    'City tiers used by city_tier(): built-in rows (builtin = true, list_version 2024) are re-created by the extension; add your own rows (builtin = false): they take precedence, are kept by pg_dump, and tier NULL removes a city from the tiers';
-- user rows (and only they) are dumped by pg_dump; built-in rows come back with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('segment.city_tiers', 'WHERE NOT builtin');
GRANT SELECT ON segment.city_tiers TO PUBLIC;

-- Built-in list, version 2024: tier 1, new tier 1 and tier 2 after the 2024 edition of the
-- city business-attractiveness ranking by CBN Weekly's New Tier-1 Cities Research Institute
-- (第一财经·新一线城市研究所). Check it against the edition you follow and add your own rows.
INSERT INTO segment.city_tiers (city, city_en, tier, list_version, builtin) VALUES
    ('北京', 'Beijing', 'tier1', '2024', true),
    ('上海', 'Shanghai', 'tier1', '2024', true),
    ('广州', 'Guangzhou', 'tier1', '2024', true),
    ('深圳', 'Shenzhen', 'tier1', '2024', true),
    ('成都', 'Chengdu', 'new_tier1', '2024', true),
    ('杭州', 'Hangzhou', 'new_tier1', '2024', true),
    ('重庆', 'Chongqing', 'new_tier1', '2024', true),
    ('苏州', 'Suzhou', 'new_tier1', '2024', true),
    ('武汉', 'Wuhan', 'new_tier1', '2024', true),
    ('西安', 'Xi''an', 'new_tier1', '2024', true),
    ('南京', 'Nanjing', 'new_tier1', '2024', true),
    ('长沙', 'Changsha', 'new_tier1', '2024', true),
    ('天津', 'Tianjin', 'new_tier1', '2024', true),
    ('郑州', 'Zhengzhou', 'new_tier1', '2024', true),
    ('东莞', 'Dongguan', 'new_tier1', '2024', true),
    ('无锡', 'Wuxi', 'new_tier1', '2024', true),
    ('宁波', 'Ningbo', 'new_tier1', '2024', true),
    ('青岛', 'Qingdao', 'new_tier1', '2024', true),
    ('合肥', 'Hefei', 'new_tier1', '2024', true),
    ('佛山', 'Foshan', 'tier2', '2024', true),
    ('沈阳', 'Shenyang', 'tier2', '2024', true),
    ('昆明', 'Kunming', 'tier2', '2024', true),
    ('济南', 'Jinan', 'tier2', '2024', true),
    ('厦门', 'Xiamen', 'tier2', '2024', true),
    ('福州', 'Fuzhou', 'tier2', '2024', true),
    ('温州', 'Wenzhou', 'tier2', '2024', true),
    ('哈尔滨', 'Harbin', 'tier2', '2024', true),
    ('石家庄', 'Shijiazhuang', 'tier2', '2024', true),
    ('大连', 'Dalian', 'tier2', '2024', true),
    ('南宁', 'Nanning', 'tier2', '2024', true),
    ('泉州', 'Quanzhou', 'tier2', '2024', true),
    ('金华', 'Jinhua', 'tier2', '2024', true),
    ('贵阳', 'Guiyang', 'tier2', '2024', true),
    ('常州', 'Changzhou', 'tier2', '2024', true),
    ('长春', 'Changchun', 'tier2', '2024', true),
    ('南昌', 'Nanchang', 'tier2', '2024', true),
    ('南通', 'Nantong', 'tier2', '2024', true),
    ('嘉兴', 'Jiaxing', 'tier2', '2024', true),
    ('徐州', 'Xuzhou', 'tier2', '2024', true),
    ('惠州', 'Huizhou', 'tier2', '2024', true),
    ('太原', 'Taiyuan', 'tier2', '2024', true),
    ('台州', 'Taizhou', 'tier2', '2024', true),
    ('绍兴', 'Shaoxing', 'tier2', '2024', true),
    ('保定', 'Baoding', 'tier2', '2024', true),
    ('中山', 'Zhongshan', 'tier2', '2024', true),
    ('潍坊', 'Weifang', 'tier2', '2024', true),
    ('临沂', 'Linyi', 'tier2', '2024', true),
    ('珠海', 'Zhuhai', 'tier2', '2024', true),
    ('烟台', 'Yantai', 'tier2', '2024', true);
-- pinyin shared with another prefecture-level city (台州/泰州, 苏州/宿州, 福州/抚州): the bare
-- English name is ambiguous, so only the qualified form is matched
-- (these statements run as the superuser that installs the extension: every operator qualified)
UPDATE segment.city_tiers
    SET city_en = city_en OPERATOR(pg_catalog.||) ', '::pg_catalog.text OPERATOR(pg_catalog.||)
                  CASE WHEN city OPERATOR(pg_catalog.=) '台州'::pg_catalog.text THEN 'Zhejiang'::pg_catalog.text
                       WHEN city OPERATOR(pg_catalog.=) '苏州'::pg_catalog.text THEN 'Jiangsu'::pg_catalog.text
                       ELSE 'Fujian'::pg_catalog.text END
    WHERE builtin AND city OPERATOR(pg_catalog.=) ANY ('{台州,苏州,福州}'::pg_catalog.text[]);
UPDATE segment.city_tiers SET aliases = '{Peking}'::pg_catalog.text[] WHERE builtin AND city OPERATOR(pg_catalog.=) '北京'::pg_catalog.text;
UPDATE segment.city_tiers SET aliases = '{Canton}'::pg_catalog.text[] WHERE builtin AND city OPERATOR(pg_catalog.=) '广州'::pg_catalog.text;
UPDATE segment.city_tiers SET aliases = '{Xian}'::pg_catalog.text[] WHERE builtin AND city OPERATOR(pg_catalog.=) '西安'::pg_catalog.text;

CREATE FUNCTION segment.city_tier_label(tier text, lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_city_tier_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.city_tier_label(text, text) IS
    'Label of a tier code (tier1 一线城市, new_tier1 新一线城市, tier2 二线城市, tier3..tier5) in zh, en or code';

CREATE FUNCTION segment.city_tier(city text, lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp
    AS $$ SELECT segment.city_tier_label(t.tier, $2)
          FROM segment.city_tiers t, (SELECT btrim($1) AS c) n
          WHERE t.city = n.c OR t.city || '市' = n.c OR lower(t.city_en) = lower(n.c)
             OR EXISTS (SELECT 1 FROM unnest(t.aliases) a WHERE lower(a) = lower(n.c))
          ORDER BY t.builtin, t.city
          LIMIT 1 $$;
COMMENT ON FUNCTION segment.city_tier(text, text) IS
    'Tier of a city from segment.city_tiers (广州, 广州市, Guangzhou or an alias; user rows first); NULL if not listed';
COMMENT ON TYPE segment.city_tiers IS 'Row type of segment.city_tiers';
