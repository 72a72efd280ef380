//! Named segments, tiers, lifecycle stages and purchase cadence: rules from scores and days to
//! labels in 中文, English or stable codes.

use super::config::{Json, Label, Obj};
use super::score::Score;
use super::{Error, Result};
use serde_json::Value;

/// Inclusive range condition on a number.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Range(f64, f64);

impl Range {
    fn holds(&self, x: f64) -> bool {
        x >= self.0 - 1e-9 && x <= self.1 + 1e-9
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub label: Label,
    r: Option<Range>,
    f: Option<Range>,
    m: Option<Range>,
    fm: Option<Range>,
    total: Option<Range>,
    r_high: Option<bool>,
    f_high: Option<bool>,
    m_high: Option<bool>,
}

impl Rule {
    fn is_catch_all(&self) -> bool {
        self.r.is_none()
            && self.f.is_none()
            && self.m.is_none()
            && self.fm.is_none()
            && self.total.is_none()
            && self.r_high.is_none()
            && self.f_high.is_none()
            && self.m_high.is_none()
    }

    fn matches(&self, s: &Scaled) -> bool {
        let ok = |c: &Option<Range>, x: f64| c.map_or(true, |r| r.holds(x));
        let okb = |c: &Option<bool>, x: bool| c.map_or(true, |b| b == x);
        ok(&self.r, s.r)
            && ok(&self.f, s.f)
            && ok(&self.m, s.m)
            && ok(&self.fm, (s.f + s.m) / 2.0)
            && ok(&self.total, s.total)
            && okb(&self.r_high, s.r_high)
            && okb(&self.f_high, s.f_high)
            && okb(&self.m_high, s.m_high)
    }
}

/// Scores as the rules see them (possibly rescaled to 1..5).
struct Scaled {
    r: f64,
    f: f64,
    m: f64,
    total: f64,
    r_high: bool,
    f_high: bool,
    m_high: bool,
}

/// A rule set: evaluated in order, first match wins; the last rule is a catch-all, so every
/// customer lands in exactly one segment.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// rescale each score to 1..5 before matching (built-in rfm11)
    rescale: bool,
}

impl RuleSet {
    pub fn classify(&self, s: &Score) -> &Label {
        &self.rules[self.classify_index(s)].label
    }

    /// The index in `rules` of the first rule that matches (the last one, the catch-all, when
    /// none does).
    pub fn classify_index(&self, s: &Score) -> usize {
        let sc = |v: i32, bins: i32| if self.rescale && bins != 5 { 1.0 + (v - 1) as f64 * 4.0 / (bins - 1) as f64 } else { v as f64 };
        let x = Scaled {
            r: sc(s.r, s.bins[0]),
            f: sc(s.f, s.bins[1]),
            m: sc(s.m, s.bins[2]),
            total: s.total() as f64,
            r_high: s.r_high,
            f_high: s.f_high,
            m_high: s.m_high,
        };
        self.rules.iter().position(|r| r.matches(&x)).unwrap_or(self.rules.len() - 1)
    }

    /// Parses a user rule set: a JSON array of rules such as
    /// `{"label": {"zh": "高价值", "en": "High value"}, "code": "high", "r": [4, 5], "fm": [4, 5]}`.
    /// Conditions: `r`, `f`, `m`, `fm` (mean of f and m), `total` as `[low, high]` (inclusive) or a
    /// single number; `r_high`, `f_high`, `m_high` as booleans. The last rule must have no
    /// condition (the catch-all).
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<RuleSet> {
        let arr = match doc.into().into_value("rules")? {
            Value::Array(a) if !a.is_empty() => a,
            other => return Err(Error::invalid(format!("rules must be a non-empty JSON array of rule objects, got {other}"))),
        };
        let mut rules = Vec::with_capacity(arr.len());
        for (i, item) in arr.into_iter().enumerate() {
            let mut o = Obj::from_value("rules", item)?;
            let label = Label::read(&mut o, i)?;
            let mut range = |k: &str| -> Result<Option<Range>> {
                match o.take(k) {
                    None => Ok(None),
                    Some(Value::Number(n)) => {
                        let x = n.as_f64().unwrap();
                        Ok(Some(Range(x, x)))
                    }
                    Some(Value::Array(a)) if a.len() == 2 && a[0].is_number() && a[1].is_number() && a[0].as_f64() <= a[1].as_f64() => {
                        Ok(Some(Range(a[0].as_f64().unwrap(), a[1].as_f64().unwrap())))
                    }
                    Some(other) => Err(Error::invalid(format!(
                        "rules[{i}]: key \"{k}\" must be a number or [low, high] with low <= high, got {other}"
                    ))),
                }
            };
            let (r, f, m, fm, total) = (range("r")?, range("f")?, range("m")?, range("fm")?, range("total")?);
            let mut flag = |k: &str| -> Result<Option<bool>> {
                match o.take(k) {
                    None => Ok(None),
                    Some(Value::Bool(b)) => Ok(Some(b)),
                    Some(other) => Err(Error::invalid(format!("rules[{i}]: key \"{k}\" must be true or false, got {other}"))),
                }
            };
            let (r_high, f_high, m_high) = (flag("r_high")?, flag("f_high")?, flag("m_high")?);
            o.finish().map_err(|e| Error::invalid(format!("rules[{i}]: {}", e.message.trim_start_matches("rules: "))))?;
            rules.push(Rule { label, r, f, m, fm, total, r_high, f_high, m_high });
        }
        if !rules.last().unwrap().is_catch_all() {
            return Err(Error::invalid("rules: the last rule must be a catch-all (a rule with a label and no condition), so that every customer lands in exactly one segment")
                .with_hint("append {\"label\": {\"zh\": \"其他\", \"en\": \"Other\"}}"));
        }
        Ok(RuleSet { rules, rescale: false })
    }

    /// Built-in schemes: `rfm11` (the common 11 English segments, on R and the mean of F and M,
    /// scores rescaled to 1..5) and `cn8` (the Chinese 8-class model: R, F, M each high or low
    /// against the centre stored in the breaks).
    pub fn builtin(name: &str) -> Result<RuleSet> {
        let rules = match name.trim().to_ascii_lowercase().as_str() {
            "rfm11" => RFM11,
            "cn8" => CN8,
            other => return Err(Error::invalid(format!("scheme must be 'rfm11' or 'cn8' (or a jsonb rule set), got '{other}'"))),
        };
        let mut set = RuleSet::parse(rules).expect("built-in rules parse");
        set.rescale = name.trim().eq_ignore_ascii_case("rfm11");
        Ok(set)
    }
}

/// R = recency score, FM = mean of the F and M scores, all on a 1..5 scale; first match wins.
pub const RFM11: &str = r#"[
 {"code": "champions",          "label": {"en": "Champions",          "zh": "冠军客户"},     "r": [4, 5], "fm": [4, 5]},
 {"code": "loyal_customers",    "label": {"en": "Loyal Customers",    "zh": "忠诚客户"},     "r": [3, 5], "fm": [3, 5]},
 {"code": "cannot_lose_them",   "label": {"en": "Cannot Lose Them",   "zh": "不能失去的客户"}, "r": [1, 1], "fm": [4, 5]},
 {"code": "at_risk",            "label": {"en": "At Risk",            "zh": "风险客户"},     "r": [1, 2], "fm": [3, 5]},
 {"code": "new_customers",      "label": {"en": "New Customers",      "zh": "新客户"},       "r": [5, 5], "f": [1, 1]},
 {"code": "promising",          "label": {"en": "Promising",          "zh": "有潜力客户"},   "r": [4, 4], "f": [1, 1]},
 {"code": "potential_loyalist", "label": {"en": "Potential Loyalist", "zh": "潜在忠诚客户"}, "r": [4, 5]},
 {"code": "need_attention",     "label": {"en": "Need Attention",     "zh": "需要关注客户"}, "r": [3, 3], "fm": [2, 5]},
 {"code": "about_to_sleep",     "label": {"en": "About To Sleep",     "zh": "即将沉睡客户"}, "r": [3, 3]},
 {"code": "lost",               "label": {"en": "Lost",               "zh": "流失客户"},     "r": [1, 1], "fm": [1, 1.5]},
 {"code": "hibernating",        "label": {"en": "Hibernating",        "zh": "休眠客户"}}
]"#;

/// The Chinese 8-class RFM model (R high = more recent than the centre).
pub const CN8: &str = r#"[
 {"code": "important_value",       "label": {"zh": "重要价值客户", "en": "Important Value"},       "r_high": true,  "f_high": true,  "m_high": true},
 {"code": "important_development", "label": {"zh": "重要发展客户", "en": "Important Development"}, "r_high": true,  "f_high": false, "m_high": true},
 {"code": "important_retention",   "label": {"zh": "重要保持客户", "en": "Important Retention"},   "r_high": false, "f_high": true,  "m_high": true},
 {"code": "important_winback",     "label": {"zh": "重要挽留客户", "en": "Important Win-back"},    "r_high": false, "f_high": false, "m_high": true},
 {"code": "general_value",         "label": {"zh": "一般价值客户", "en": "General Value"},         "r_high": true,  "f_high": true,  "m_high": false},
 {"code": "general_development",   "label": {"zh": "一般发展客户", "en": "General Development"},   "r_high": true,  "f_high": false, "m_high": false},
 {"code": "general_retention",     "label": {"zh": "一般保持客户", "en": "General Retention"},     "r_high": false, "f_high": true,  "m_high": false},
 {"code": "general_winback",       "label": {"zh": "一般挽留客户", "en": "General Win-back"}}
]"#;

/// The built-in membership tiers `(code, zh, en, share in percent)`, from the top.
pub const DEFAULT_TIERS: [(&str, &str, &str, f64); 4] = [
    ("diamond_vip", "至尊VIP", "Diamond VIP", 10.0),
    ("vip", "VIP", "VIP", 15.0),
    ("senior_member", "高级会员", "Senior Member", 25.0),
    ("member", "普通会员", "Member", 50.0),
];

/// Percentile tiers: `share` in percent of customers from the top; shares sum to 100.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiers {
    tiers: Vec<(f64, Label)>,
}

impl Tiers {
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<Tiers> {
        let mut o = Obj::read("customer_tier config", doc)?;
        let tiers = match o.take("tiers") {
            None => DEFAULT_TIERS.iter().map(|&(code, zh, en, share)| (share, Label::new(code, zh, en))).collect(),
            Some(Value::Array(a)) if !a.is_empty() => {
                let mut t = Vec::new();
                for (i, item) in a.into_iter().enumerate() {
                    let mut to = Obj::from_value("customer_tier config.tiers", item)?;
                    let label = Label::read(&mut to, i)?;
                    let share = to.f64("share", f64::NAN)?;
                    if !(share > 0.0 && share <= 100.0) {
                        return Err(Error::invalid(format!(
                            "customer_tier config.tiers[{i}]: key \"share\" is required: a percentage above 0 and at most 100"
                        )));
                    }
                    to.finish()?;
                    t.push((share, label));
                }
                t
            }
            Some(v) => {
                return Err(Error::invalid(format!(
                    "customer_tier config: key \"tiers\" must be a non-empty array of {{\"label\": ..., \"share\": percent}}, got {v}"
                )))
            }
        };
        o.finish()?;
        let sum: f64 = tiers.iter().map(|t| t.0).sum();
        if (sum - 100.0).abs() > 1e-6 {
            return Err(Error::invalid(format!("customer_tier config: the tier shares must sum to 100, they sum to {sum}")));
        }
        Ok(Tiers { tiers })
    }

    /// Number of tiers.
    pub fn len(&self) -> usize {
        self.tiers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// `rank_share`: the customer's share from the top, in (0, 1], as
    /// `cume_dist() OVER (ORDER BY value DESC)` gives it.
    pub fn tier(&self, rank_share: f64) -> Result<&Label> {
        Ok(&self.tiers[self.tier_index(rank_share)?].1)
    }

    /// The index of [`Tiers::tier`]'s tier, in the order of [`Tiers::labels`].
    pub fn tier_index(&self, rank_share: f64) -> Result<usize> {
        if !(rank_share > 0.0 && rank_share <= 1.0) {
            return Err(Error::invalid(format!(
                "rank_share must be in (0, 1] (use cume_dist() OVER (ORDER BY value DESC)), got {rank_share}"
            )));
        }
        let mut acc = 0.0;
        for (i, (share, _)) in self.tiers.iter().enumerate() {
            acc += share / 100.0;
            if rank_share <= acc + 1e-12 {
                return Ok(i);
            }
        }
        Ok(self.tiers.len() - 1)
    }

    /// The tiers' labels, top tier first.
    pub fn labels(&self) -> impl Iterator<Item = &Label> + '_ {
        self.tiers.iter().map(|(_, l)| l)
    }
}

/// Spend tiers: above `high` is high, from `middle` up to `high` middle, below low.
#[derive(Clone, Debug, PartialEq)]
pub struct SpendTiers {
    high: f64,
    middle: f64,
    labels: [Label; 3],
}

impl SpendTiers {
    pub fn parse(config: &str) -> Result<SpendTiers> {
        let mut o = Obj::parse("spend_tier config", config)?;
        let high = o.f64("high", 50_000.0)?;
        let middle = o.f64("middle", 10_000.0)?;
        o.finish()?;
        if middle >= high {
            return Err(Error::invalid(format!("spend_tier config: \"middle\" ({middle}) must be below \"high\" ({high})")));
        }
        let labels = [
            Label::new("high", "高消费", "High spend"),
            Label::new("middle", "中消费", "Middle spend"),
            Label::new("low", "低消费", "Low spend"),
        ];
        Ok(SpendTiers { high, middle, labels })
    }

    pub fn tier(&self, spend: f64) -> &Label {
        &self.labels[if spend > self.high {
            0
        } else if spend >= self.middle {
            1
        } else {
            2
        }]
    }
}

/// Lifecycle thresholds in days.
#[derive(Clone, Debug, PartialEq)]
pub struct Lifecycle {
    pub new_days: i64,
    pub active_days: i64,
    pub sleeping_days: i64,
    pub at_risk_days: i64,
}

impl Lifecycle {
    /// Reads the config (jsonb text, or a value already parsed); every key optional.
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<Lifecycle> {
        let mut o = Obj::read("lifecycle config", doc)?;
        let l = Lifecycle {
            new_days: o.i64("new_days", 30)?,
            active_days: o.i64("active_days", 90)?,
            sleeping_days: o.i64("sleeping_days", 180)?,
            at_risk_days: o.i64("at_risk_days", 365)?,
        };
        o.finish()?;
        if !(0 <= l.new_days && 0 < l.active_days && l.active_days < l.sleeping_days && l.sleeping_days < l.at_risk_days) {
            return Err(Error::invalid(format!(
                "lifecycle config: thresholds must satisfy 0 <= new_days and 0 < active_days < sleeping_days < at_risk_days, got new_days={}, active_days={}, sleeping_days={}, at_risk_days={}",
                l.new_days, l.active_days, l.sleeping_days, l.at_risk_days
            )));
        }
        Ok(l)
    }

    /// `recency`/`tenure`: local days since the last/first order, `None` without orders.
    pub fn stage(&self, recency: Option<i64>, tenure: Option<i64>) -> Label {
        Lifecycle::label(self.stage_index(recency, tenure))
    }

    /// The stage as an index into [`Lifecycle::label`] (no allocation).
    pub fn stage_index(&self, recency: Option<i64>, tenure: Option<i64>) -> usize {
        match (recency, tenure) {
            (Some(r), Some(t)) => {
                if t < self.new_days {
                    1
                } else if r < self.active_days {
                    2
                } else if r < self.sleeping_days {
                    3
                } else if r <= self.at_risk_days {
                    4
                } else {
                    5
                }
            }
            _ => 0,
        }
    }

    pub const STAGES: usize = 6;

    /// The stages' `(code, zh, en)`, by index.
    pub const LABELS: [(&'static str, &'static str, &'static str); Lifecycle::STAGES] = [
        ("prospect", "潜在", "Prospect"),
        ("new", "新客", "New"),
        ("active", "活跃", "Active"),
        ("sleeping", "沉睡", "Sleeping"),
        ("at_risk", "预流失", "At Risk"),
        ("churned", "流失", "Churned"),
    ];

    pub fn label(index: usize) -> Label {
        Label::of(Lifecycle::LABELS[index])
    }
}

/// Purchase cadence from the gaps between distinct purchase days.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    pub monthly: f64,
    pub quarterly: f64,
    pub half_yearly: f64,
    pub yearly: f64,
    pub max_cv: f64,
}

impl Cadence {
    /// Reads the config (jsonb text, or a value already parsed); every key optional.
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<Cadence> {
        let mut o = Obj::read("cadence config", doc)?;
        let c = Cadence {
            monthly: o.f64("monthly_days", 45.0)?,
            quarterly: o.f64("quarterly_days", 120.0)?,
            half_yearly: o.f64("half_yearly_days", 240.0)?,
            yearly: o.f64("yearly_days", 500.0)?,
            max_cv: o.f64("max_cv", 1.0)?,
        };
        o.finish()?;
        if !(0.0 < c.monthly && c.monthly < c.quarterly && c.quarterly < c.half_yearly && c.half_yearly < c.yearly && c.max_cv > 0.0) {
            return Err(Error::invalid(
                "cadence config: need 0 < monthly_days < quarterly_days < half_yearly_days < yearly_days and max_cv > 0",
            ));
        }
        Ok(c)
    }

    /// `days`: distinct purchase days, ascending. `None` when there is no purchase.
    pub fn classify(&self, days: &[i64]) -> Option<Label> {
        self.classify_index(days).map(Cadence::label)
    }

    /// The cadence as an index into [`Cadence::label`] (no allocation); `days` as
    /// [`Cadence::classify`] takes them, in any integer type (the population keeps them as i32).
    pub fn classify_index<D: Copy + Into<i64>>(&self, days: &[D]) -> Option<usize> {
        if days.is_empty() {
            return None;
        }
        if days.len() == 1 {
            return Some(0);
        }
        let gaps = days.len() - 1;
        let n = gaps as f64;
        let gap = |i: usize| (days[i + 1].into() - days[i].into()) as f64;
        let mean = (0..gaps).map(gap).sum::<f64>() / n;
        let var = (0..gaps).map(|i| (gap(i) - mean) * (gap(i) - mean)).sum::<f64>() / n;
        let cv = var.sqrt() / mean;
        Some(if gaps >= 2 && cv > self.max_cv {
            1
        } else if mean <= self.monthly {
            2
        } else if mean <= self.quarterly {
            3
        } else if mean <= self.half_yearly {
            4
        } else if mean <= self.yearly {
            5
        } else {
            1
        })
    }

    pub const CLASSES: usize = 6;

    /// The classes' `(code, zh, en)`, by index.
    pub const LABELS: [(&'static str, &'static str, &'static str); Cadence::CLASSES] = [
        ("one_time", "一次性", "One-time"),
        ("irregular", "不规律", "Irregular"),
        ("monthly", "月度", "Monthly"),
        ("quarterly", "季度", "Quarterly"),
        ("half_yearly", "半年度", "Half-yearly"),
        ("yearly", "年度", "Yearly"),
    ];

    pub fn label(index: usize) -> Label {
        Label::of(Cadence::LABELS[index])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(r: i32, f: i32, m: i32) -> Score {
        Score { r, f, m, r_high: r >= 3, f_high: f >= 3, m_high: m >= 3, bins: [5, 5, 5] }
    }

    #[test]
    fn rfm11_partitions_every_score_and_reaches_every_segment() {
        let set = RuleSet::builtin("rfm11").unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    seen.insert(set.classify(&score(r, f, m)).code.clone());
                }
            }
        }
        assert_eq!(seen.len(), 11, "{seen:?}");
        assert_eq!(set.classify(&score(5, 5, 5)).en, "Champions");
        assert_eq!(set.classify(&score(5, 1, 1)).en, "New Customers");
        assert_eq!(set.classify(&score(1, 1, 1)).en, "Lost");
        assert_eq!(set.classify(&score(1, 5, 5)).en, "Cannot Lose Them");
    }

    #[test]
    fn cn8_uses_high_low_flags() {
        let set = RuleSet::builtin("cn8").unwrap();
        let mut s = score(1, 1, 1);
        (s.r_high, s.f_high, s.m_high) = (true, false, true);
        assert_eq!(set.classify(&s).zh, "重要发展客户");
        (s.r_high, s.f_high, s.m_high) = (false, false, false);
        assert_eq!(set.classify(&s).zh, "一般挽留客户");
    }

    #[test]
    fn user_rules_need_catch_all_and_valid_keys() {
        let e = RuleSet::parse(r#"[{"label": "A", "r": [4, 5]}]"#).unwrap_err();
        assert!(e.message.contains("catch-all"));
        let e = RuleSet::parse(r#"[{"label": "A", "rr": 1}, {"label": "B"}]"#).unwrap_err();
        assert!(e.message.contains("unknown key \"rr\""), "{}", e.message);
        let e = RuleSet::parse(r#"[{"label": "A", "r": [5, 4]}, {"label": "B"}]"#).unwrap_err();
        assert!(e.message.contains("\"r\""));
        let set = RuleSet::parse(r#"[{"label": {"zh": "甲", "en": "A"}, "total": [12, 15]}, {"label": "B"}]"#).unwrap();
        assert_eq!(set.classify(&score(4, 4, 4)).zh, "甲");
        assert_eq!(set.classify(&score(1, 4, 4)).en, "B");
        assert!(RuleSet::builtin("rfm12").is_err());
        // a label of the wrong type is an error naming it, never dropped for the other language
        for label in [r#"{"zh": 5, "en": "A"}"#, r#"{"zh": "甲", "en": ["A"]}"#] {
            let e = RuleSet::parse(&format!(r#"[{{"label": {label}}}]"#)).unwrap_err();
            assert_eq!(e.code, crate::ErrCode::InvalidParameter);
            assert!(e.message.contains("\"label\".\"") && e.message.contains("must be a string"), "{}", e.message);
        }
    }

    #[test]
    fn tiers_follow_shares() {
        let t = Tiers::parse("{}").unwrap();
        assert_eq!(t.tier(0.10).unwrap().zh, "至尊VIP");
        assert_eq!(t.tier(0.1000001).unwrap().zh, "VIP");
        assert_eq!(t.tier(0.25).unwrap().zh, "VIP");
        assert_eq!(t.tier(0.5).unwrap().en, "Senior Member");
        assert_eq!(t.tier(1.0).unwrap().code, "member");
        assert!(t.tier(0.0).is_err() && t.tier(1.5).is_err());
        let e = Tiers::parse(r#"{"tiers": [{"label": "A", "share": 30}, {"label": "B", "share": 60}]}"#).unwrap_err();
        assert!(e.message.contains("sum to 100"));
        let s = SpendTiers::parse("{}").unwrap();
        assert!(s.tier(50_000.0).code == "middle" && s.tier(50_000.01).code == "high" && s.tier(9_999.99).code == "low");
        assert!(SpendTiers::parse(r#"{"middle": 5, "high": 2}"#).is_err());
    }

    #[test]
    fn lifecycle_boundaries() {
        let l = Lifecycle::parse("{}").unwrap();
        assert_eq!(l.stage(None, None).code, "prospect");
        assert_eq!(l.stage(Some(0), Some(29)).code, "new");
        assert_eq!(l.stage(Some(89), Some(30)).code, "active");
        assert_eq!(l.stage(Some(90), Some(300)).code, "sleeping");
        assert_eq!(l.stage(Some(180), Some(300)).code, "at_risk");
        assert_eq!(l.stage(Some(365), Some(900)).code, "at_risk");
        assert_eq!(l.stage(Some(366), Some(900)).zh, "流失");
        assert!(Lifecycle::parse(r#"{"active_days": 200}"#).is_err());
    }

    #[test]
    fn cadence_classes() {
        let c = Cadence::parse("{}").unwrap();
        assert_eq!(c.classify(&[]), None);
        assert_eq!(c.classify(&[5]).unwrap().code, "one_time");
        assert_eq!(c.classify(&[0, 30, 60, 90]).unwrap().code, "monthly");
        assert_eq!(c.classify(&[0, 90, 180]).unwrap().code, "quarterly");
        assert_eq!(c.classify(&[0, 365]).unwrap().code, "yearly");
        assert_eq!(c.classify(&[0, 1, 2, 300]).unwrap().code, "irregular");
    }
}
