-- The labels family (src/labels.rs, crates/core/src/labels.rs): named segments, tiers, lifecycle
-- stages, purchase cadence.
------------------------------------------------------------------------------------------------
-- Labels: segments, tiers, lifecycle, cadence
------------------------------------------------------------------------------------------------
CREATE FUNCTION segment._rfm_segment(r integer, f integer, m integer, r_high boolean, f_high boolean, m_high boolean,
        r_bins integer, f_bins integer, m_bins integer, scheme text, lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_rfm_segment_builtin' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION segment._rfm_segment(r integer, f integer, m integer, r_high boolean, f_high boolean, m_high boolean,
        r_bins integer, f_bins integer, m_bins integer, rules jsonb, lang text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_rfm_segment_rules' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION segment._rfm_segment(integer, integer, integer, boolean, boolean, boolean, integer, integer, integer, text, text) IS
    'rfm_segment worker for built-in schemes (NULL scores give NULL)';
COMMENT ON FUNCTION segment._rfm_segment(integer, integer, integer, boolean, boolean, boolean, integer, integer, integer, jsonb, text) IS
    'rfm_segment worker for user rule sets (NULL scores give NULL)';

CREATE FUNCTION segment.rfm_segment(score segment.rfm_score, scheme text DEFAULT 'rfm11', lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN segment._rfm_segment((score).r, (score).f, (score).m, (score).r_high, (score).f_high, (score).m_high,
                                    (score).r_bins, (score).f_bins, (score).m_bins, scheme, lang);
CREATE FUNCTION segment.rfm_segment(score segment.rfm_score, rules jsonb, lang text DEFAULT 'zh') RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN segment._rfm_segment((score).r, (score).f, (score).m, (score).r_high, (score).f_high, (score).m_high,
                                    (score).r_bins, (score).f_bins, (score).m_bins, rules, lang);
COMMENT ON FUNCTION segment.rfm_segment(segment.rfm_score, text, text) IS
    'Named segment of a score: scheme rfm11 (11 segments) or cn8 (8 Chinese classes); lang zh, en or code';
COMMENT ON FUNCTION segment.rfm_segment(segment.rfm_score, jsonb, text) IS
    'Named segment from a user rule set (array of rules, first match wins, last rule a catch-all)';

CREATE FUNCTION segment.customer_tier(rank_share double precision, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_customer_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.customer_tier(double precision, jsonb, text) IS
    'Percentile tier from rank_share = cume_dist() OVER (ORDER BY value DESC): top 10% 至尊VIP, next 15% VIP, next 25% 高级会员, rest 普通会员';
CREATE FUNCTION segment.spend_tier(spend numeric, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_spend_tier' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.spend_tier(numeric, jsonb, text) IS
    'Spend tier: above 50000 high, 10000 to 50000 middle, else low (config keys high, middle)';

CREATE FUNCTION segment.lifecycle_stage(s segment.rfm_summary, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lifecycle_stage' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.lifecycle_stage(s segment.rfm_summary, as_of timestamptz, config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_lifecycle_stage_tz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.lifecycle_stage(segment.rfm_summary, timestamptz, jsonb, text) IS
    'Lifecycle stage: prospect, new (<30 days since first order), active (<90 since last), sleeping (<180), at risk (<=365), churned; session TimeZone';
COMMENT ON FUNCTION segment.lifecycle_stage(segment.rfm_summary, timestamptz, jsonb, text, text) IS
    'Lifecycle stage with days counted in time zone tz';

CREATE FUNCTION segment.purchase_cadence(s segment.rfm_summary, as_of timestamptz, config jsonb DEFAULT '{}', lang text DEFAULT 'zh') RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_purchase_cadence' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION segment.purchase_cadence(s segment.rfm_summary, as_of timestamptz, config jsonb, lang text, tz text) RETURNS text
    AS 'MODULE_PATHNAME', 'pgseg_purchase_cadence_tz' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.purchase_cadence(segment.rfm_summary, timestamptz, jsonb, text) IS
    'Purchase cadence from gaps between purchase days: one-time, monthly, quarterly, half-yearly, yearly, irregular; session TimeZone';
COMMENT ON FUNCTION segment.purchase_cadence(segment.rfm_summary, timestamptz, jsonb, text, text) IS
    'Purchase cadence with days counted in time zone tz';

