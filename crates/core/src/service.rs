//! Service plans and next actions: the contact a customer's lifecycle stage and purchase cadence
//! call for (`next_action`), and the tier names the service plan table is keyed by.
//!
//! The playbook: within a month of a purchase, recommend new arrivals; 3-6 months without one,
//! event notices; 6-12 months, notices of the bigger events; over 12 months, contact the customer
//! and find out why. The lifecycle stages carry those bands (active under 90 days, sleeping
//! under 180, at risk up to 365, churned beyond), and the cadence says whether a silence is
//! unusual for this customer: a monthly buyer silent for a quarter gets the bigger incentive, a
//! yearly buyer 6-12 months out is on schedule and gets the ordinary notice.

use super::config::{Json, Label, Obj};
use super::labels::{Cadence, Lifecycle, DEFAULT_TIERS};
use super::{Error, Result};
use serde_json::Value;

/// The built-in rules: first match wins, the last rule is the catch-all.
pub const DEFAULT_RULES: &str = r#"[
 {"stage": "prospect",          "code": "first_order_offer",  "label": {"zh": "首单优惠",         "en": "First-order offer"}},
 {"stage": ["new", "active"],   "code": "new_arrivals",       "label": {"zh": "推荐新品",         "en": "Recommend new arrivals"}},
 {"stage": "sleeping", "cadence": "monthly", "code": "major_event_notice", "label": {"zh": "大促活动通知", "en": "Major event notice"}},
 {"stage": "sleeping",          "code": "event_notice",       "label": {"zh": "活动通知",         "en": "Event notice"}},
 {"stage": "at_risk", "cadence": "yearly",   "code": "event_notice",       "label": {"zh": "活动通知",     "en": "Event notice"}},
 {"stage": "at_risk",           "code": "major_event_notice", "label": {"zh": "大促活动通知",     "en": "Major event notice"}},
 {"stage": "churned",           "code": "ask_why",            "label": {"zh": "联系客户了解原因", "en": "Contact and ask why"}},
 {                              "code": "no_contact",         "label": {"zh": "暂不联系",         "en": "No contact"}}
]"#;

/// One rule: the stages and cadences it applies to (None: any), and its action.
#[derive(Clone, Debug, PartialEq)]
struct Rule {
    stages: Option<Vec<usize>>,
    cadences: Option<Vec<usize>>,
    action: Label,
}

/// The next-action rules in force: evaluated in order, first match wins.
#[derive(Clone, Debug, PartialEq)]
pub struct NextActions {
    rules: Vec<Rule>,
}

/// Whether `text` is one of the forms of a label `(code, zh, en)`: the code (any case), the
/// Chinese label, or the English label (any case); surrounding spaces are ignored. No allocation:
/// a view calls this for every customer.
fn is_label(text: &str, (code, zh, en): (&str, &str, &str)) -> bool {
    let t = text.trim();
    code.eq_ignore_ascii_case(t) || zh == t || en.eq_ignore_ascii_case(t)
}

/// The index of `text` among `labels`, or an error listing their codes.
fn label_index(text: &str, labels: &[(&str, &str, &str)], what: &str) -> Result<usize> {
    labels.iter().position(|&l| is_label(text, l)).ok_or_else(|| {
        let codes = labels.iter().map(|l| l.0).collect::<Vec<_>>().join(", ");
        Error::invalid(format!("{what} ({codes}, or its 中文 or English label), got '{}'", text.trim()))
    })
}

/// A lifecycle stage as `lifecycle_stage` writes it, in any language.
pub fn stage_index(stage: &str) -> Result<usize> {
    label_index(stage, &Lifecycle::LABELS, "stage must be a lifecycle stage")
}

/// A purchase cadence as `purchase_cadence` writes it, in any language.
pub fn cadence_index(cadence: &str) -> Result<usize> {
    label_index(cadence, &Cadence::LABELS, "cadence must be NULL or a purchase cadence")
}

/// The code of a built-in membership tier given by its code or either label (至尊VIP, Diamond VIP,
/// diamond_vip); any other tier as given, without surrounding spaces. The service plan table is
/// matched on this, so that a view's tier column in any language finds the built-in rows.
pub fn tier_code(tier: &str) -> &str {
    DEFAULT_TIERS.iter().find(|&&(code, zh, en, _)| is_label(tier, (code, zh, en))).map_or(tier.trim(), |&(code, ..)| code)
}

/// Reads the value of `key` in a rule: one label or an array of them, each resolved by `index`.
fn label_list(o: &mut Obj, key: &str, i: usize, index: fn(&str) -> Result<usize>) -> Result<Option<Vec<usize>>> {
    let what = |v: &Value| {
        Error::invalid(format!("next_action config.rules[{i}]: key \"{key}\" must be a string or a non-empty array of strings, got {v}"))
    };
    let items = match o.take(key) {
        None => return Ok(None),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut out = Vec::with_capacity(a.len().min(16));
            for v in &a {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(what(&Value::Array(a.clone()))),
                }
            }
            out
        }
        Some(v) => return Err(what(&v)),
    };
    items
        .iter()
        .map(|s| index(s).map_err(|e| Error::invalid(format!("next_action config.rules[{i}]: key \"{key}\": {}", e.message))))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl NextActions {
    /// The built-in rules ([`DEFAULT_RULES`]).
    pub fn builtin() -> NextActions {
        Self::rules(Json::Text(DEFAULT_RULES)).expect("built-in next-action rules parse")
    }

    /// Reads a config: `{}` (the built-in rules) or `{"rules": [...]}`, an array of
    /// `{"stage": s | [s, ...], "cadence": c | [c, ...], "label": ..., "code": ...}` whose last
    /// rule has neither stage nor cadence.
    pub fn parse<'a>(doc: impl Into<Json<'a>>) -> Result<NextActions> {
        let mut o = Obj::read("next_action config", doc)?;
        let rules = o.take("rules");
        o.finish()?;
        match rules {
            None => Ok(Self::builtin()),
            Some(v) => Self::rules(Json::Value(v)),
        }
    }

    fn rules(doc: Json) -> Result<NextActions> {
        let arr = match doc.into_value("next_action config.rules")? {
            Value::Array(a) if !a.is_empty() => a,
            other => {
                return Err(Error::invalid(format!(
                    "next_action config: key \"rules\" must be a non-empty array of rule objects, got {other}"
                )))
            }
        };
        let mut rules = Vec::with_capacity(arr.len().min(64));
        for (i, item) in arr.into_iter().enumerate() {
            let mut o = Obj::from_value("next_action config.rules", item)?;
            let action = Label::read(&mut o, i)?;
            let stages = label_list(&mut o, "stage", i, stage_index)?;
            let cadences = label_list(&mut o, "cadence", i, cadence_index)?;
            o.finish().map_err(|e| {
                Error::invalid(format!("next_action config.rules[{i}]: {}", e.message.trim_start_matches("next_action config.rules: ")))
            })?;
            rules.push(Rule { stages, cadences, action });
        }
        let last = rules.last().unwrap();
        if last.stages.is_some() || last.cadences.is_some() {
            return Err(Error::invalid(
                "next_action config: the last rule must be a catch-all (a label and no \"stage\" or \"cadence\"), so that every customer gets one action",
            )
            .with_hint("append {\"code\": \"no_contact\", \"label\": {\"zh\": \"暂不联系\", \"en\": \"No contact\"}}"));
        }
        Ok(NextActions { rules })
    }

    /// The action for a stage and a cadence (None: the customer has no purchase, e.g. a prospect;
    /// it matches only rules without a cadence).
    pub fn action(&self, stage: usize, cadence: Option<usize>) -> &Label {
        let holds = |set: &Option<Vec<usize>>, x: Option<usize>| set.as_ref().is_none_or(|s| x.is_some_and(|x| s.contains(&x)));
        let rule = self.rules.iter().find(|r| holds(&r.stages, Some(stage)) && holds(&r.cadences, cadence));
        &rule.unwrap_or_else(|| self.rules.last().unwrap()).action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Lang;

    fn act(n: &NextActions, stage: &str, cadence: Option<&str>) -> String {
        n.action(stage_index(stage).unwrap(), cadence.map(|c| cadence_index(c).unwrap())).code.clone()
    }

    #[test]
    fn the_playbook_by_stage() {
        let n = NextActions::parse("{}").unwrap();
        assert_eq!(n, NextActions::builtin());
        assert_eq!(act(&n, "prospect", None), "first_order_offer");
        assert_eq!(act(&n, "new", Some("one_time")), "new_arrivals");
        assert_eq!(act(&n, "active", Some("quarterly")), "new_arrivals");
        assert_eq!(act(&n, "sleeping", Some("quarterly")), "event_notice");
        assert_eq!(act(&n, "sleeping", None), "event_notice");
        assert_eq!(act(&n, "at_risk", Some("half_yearly")), "major_event_notice");
        assert_eq!(act(&n, "churned", Some("monthly")), "ask_why");
        let l = n.action(stage_index("churned").unwrap(), None);
        assert_eq!((l.get(Lang::Zh), l.get(Lang::En)), ("联系客户了解原因", "Contact and ask why"));
    }

    #[test]
    fn the_cadence_moves_the_action() {
        let n = NextActions::builtin();
        // a monthly buyer silent for a quarter: the bigger incentive
        assert_eq!(act(&n, "sleeping", Some("monthly")), "major_event_notice");
        // a yearly buyer 6-12 months out is on schedule
        assert_eq!(act(&n, "at_risk", Some("yearly")), "event_notice");
        assert_eq!(act(&n, "at_risk", Some("monthly")), "major_event_notice");
    }

    #[test]
    fn stages_and_cadences_in_every_language() {
        for (text, code) in
            [("活跃", "active"), ("Active", "active"), (" ACTIVE ", "active"), ("预流失", "at_risk"), ("At Risk", "at_risk")]
        {
            assert_eq!(Lifecycle::label(stage_index(text).unwrap()).code, code, "{text}");
        }
        for (text, code) in [("月度", "monthly"), ("Half-yearly", "half_yearly"), ("one_time", "one_time")] {
            assert_eq!(Cadence::label(cadence_index(text).unwrap()).code, code, "{text}");
        }
        let e = stage_index("dormant").unwrap_err();
        assert_eq!(e.code, crate::ErrCode::InvalidParameter);
        assert!(
            e.message.starts_with("stage must be a lifecycle stage (prospect, new, active, sleeping, at_risk, churned"),
            "{}",
            e.message
        );
        let e = cadence_index(" weekly ").unwrap_err();
        assert!(
            e.message.starts_with("cadence must be NULL or a purchase cadence (one_time, irregular,")
                && e.message.ends_with("got 'weekly'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn user_rules_replace_the_built_in_ones() {
        let n = NextActions::parse(
            r#"{"rules": [{"stage": ["sleeping", "沉睡"], "cadence": ["monthly", "quarterly"], "label": {"zh": "电话回访", "en": "Call"}, "code": "call"},
                          {"label": "短信"}]}"#,
        )
        .unwrap();
        assert_eq!(act(&n, "sleeping", Some("quarterly")), "call");
        assert_eq!(act(&n, "sleeping", Some("yearly")), "短信");
        assert_eq!(act(&n, "sleeping", None), "短信");
        assert_eq!(act(&n, "active", Some("monthly")), "短信");
    }

    #[test]
    fn bad_rules_name_the_key() {
        let cases = [
            (r#"{"rule": []}"#, "unknown key \"rule\""),
            (r#"{"rules": []}"#, "non-empty array"),
            (r#"{"rules": [{"stage": "active", "label": "A"}]}"#, "catch-all"),
            (
                r#"{"rules": [{"stage": "dormant", "label": "A"}, {"label": "B"}]}"#,
                "rules[0]: key \"stage\": stage must be a lifecycle stage",
            ),
            (
                r#"{"rules": [{"stage": [], "label": "A"}, {"label": "B"}]}"#,
                "rules[0]: key \"stage\" must be a string or a non-empty array",
            ),
            (r#"{"rules": [{"cadence": [1], "label": "A"}, {"label": "B"}]}"#, "rules[0]: key \"cadence\" must be"),
            (r#"{"rules": [{"label": "A", "when": 1}, {"label": "B"}]}"#, "rules[0]: unknown key \"when\""),
            (r#"{"rules": [{"stage": "new"}, {"label": "B"}]}"#, "rules[0]: key \"label\" is required"),
            (r#"{"rules": [{"label": "B"}], "x": 1}"#, "unknown key \"x\""),
            (r#"[]"#, "must be a JSON object"),
        ];
        for (config, want) in cases {
            let e = NextActions::parse(config).unwrap_err();
            assert_eq!(e.code, crate::ErrCode::InvalidParameter, "{config}");
            assert!(e.message.contains(want), "{config}: {}", e.message);
        }
    }

    #[test]
    fn tier_codes_from_any_label() {
        for t in ["至尊VIP", "Diamond VIP", "diamond vip", "DIAMOND_VIP", " diamond_vip "] {
            assert_eq!(tier_code(t), "diamond_vip", "{t}");
        }
        assert_eq!(tier_code("VIP"), "vip");
        assert_eq!(tier_code("高级会员"), "senior_member");
        assert_eq!(tier_code("Member"), "member");
        assert_eq!(tier_code(" 黑金会员 "), "黑金会员");
    }
}
