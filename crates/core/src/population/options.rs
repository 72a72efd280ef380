//! The options of `population_agg` (a jsonb object; every key optional), read once into typed
//! values: the errors name the key, as the parsers of the composable functions they reuse do.

use super::value::MAX_LABELS;
use crate::config::{Lang, Obj};
use crate::labels::{Cadence, Lifecycle, RuleSet, Tiers};
use crate::score::{breaks_options, check_bins, Breaks, BreaksOptions};
use crate::{Error, Result};
use serde_json::Value;

/// Options of the population aggregate.
#[derive(Clone, Debug)]
pub struct Options {
    pub bins: i32,
    pub breaks: BreaksOptions,
    /// fixed breaks (e.g. from rfm_thresholds) instead of quantiles, with their document
    pub fixed: Option<(Breaks, Value)>,
    pub scheme: RuleSet,
    pub tiers: Tiers,
    pub tier_by_total: bool,
    pub lifecycle: Lifecycle,
    pub cadence: Cadence,
    pub lang: Lang,
    pub tz: Option<String>,
}

impl Options {
    /// The window in days that frequency and spend are scored on, if any.
    pub fn window_days(&self) -> Option<i64> {
        match &self.fixed {
            Some((b, _)) => b.window_days,
            None => self.breaks.window_days,
        }
    }
}

const OPTION_KEYS: &str = "bins, center, window_days, breaks, scheme, tiers, tier_by, lifecycle, cadence, lang, tz";

pub fn parse_options(text: &str) -> Result<Options> {
    let mut o = Obj::parse("population options", text)?;
    let sub = |o: &mut Obj, key: &str| -> Result<Value> {
        match o.take(key) {
            None | Some(Value::Null) => Ok(Value::Object(Default::default())),
            Some(v @ Value::Object(_)) => Ok(v),
            Some(v) => Err(Error::invalid(format!("population options: key \"{key}\" must be an object, got {v}"))),
        }
    };
    let bins = o.i64("bins", 5)?;
    check_bins(bins as i32).map_err(|e| Error::invalid(format!("population options: key \"bins\": {}", e.message)))?;
    let center = o.take("center");
    let window = o.take("window_days");
    let fixed = match o.take("breaks") {
        None | Some(Value::Null) => None,
        Some(v) => {
            if window.is_some() || center.is_some() {
                return Err(Error::invalid("population options: \"window_days\" and \"center\" belong to quantile breaks; with \"breaks\" given, put them in the breaks value"));
            }
            let (b, tz) = Breaks::from_json_with_tz(v.clone())
                .map_err(|e| Error { message: format!("population options: key \"breaks\": {}", e.message), ..e })?;
            Some((b, v, tz))
        }
    };
    let mut bo = serde_json::Map::new();
    if let Some(c) = center {
        bo.insert("center".into(), c);
    }
    if let Some(w) = window {
        bo.insert("window_days".into(), w);
    }
    let breaks = breaks_options(Value::Object(bo))?;
    let scheme = match o.take("scheme") {
        None | Some(Value::Null) => RuleSet::builtin("rfm11")?,
        Some(Value::String(s)) => RuleSet::builtin(&s)?,
        Some(v @ Value::Array(_)) => RuleSet::parse(v)?,
        Some(v) => {
            return Err(Error::invalid(format!("population options: key \"scheme\" must be 'rfm11', 'cn8' or a rule array, got {v}")))
        }
    };
    let mut tiers = serde_json::Map::new();
    if let Some(v) = o.take("tiers") {
        tiers.insert("tiers".into(), v);
    }
    let tiers = Tiers::parse(Value::Object(tiers))?;
    let tier_by_total = match o.string("tier_by", "monetary")?.as_str() {
        "monetary" => false,
        "rfm_total" => true,
        other => {
            return Err(Error::invalid(format!(
                "population options: key \"tier_by\" must be \"monetary\" or \"rfm_total\", got \"{other}\""
            )))
        }
    };
    let lifecycle = Lifecycle::parse(sub(&mut o, "lifecycle")?)?;
    let cadence = Cadence::parse(sub(&mut o, "cadence")?)?;
    let lang = Lang::parse(&o.string("lang", "zh")?)?;
    let tz = match o.take("tz") {
        // without a tz of its own, the days are counted in the tz of the given breaks, as
        // rfm_score(s, breaks, as_of) counts them
        None | Some(Value::Null) => fixed.as_ref().and_then(|f| f.2.clone()),
        Some(Value::String(s)) => Some(s),
        Some(v) => return Err(Error::invalid(format!("population options: key \"tz\" must be a time zone name, got {v}"))),
    };
    let fixed = fixed.map(|(b, v, _)| (b, v));
    o.finish().map_err(|e| Error { message: format!("{} (known keys: {OPTION_KEYS})", e.message), ..e })?;
    // every label a population can use gets a u16 index in the stored value
    let labels = scheme.rules.len() + tiers.len() + Lifecycle::STAGES + Cadence::CLASSES;
    if labels > MAX_LABELS {
        return Err(Error::invalid(format!(
            "population options: keys \"scheme\" and \"tiers\" hold {} rules and {} tiers: with the {} lifecycle and cadence labels that is more than the {MAX_LABELS} labels one population can name",
            scheme.rules.len(),
            tiers.len(),
            Lifecycle::STAGES + Cadence::CLASSES
        )));
    }
    Ok(Options { bins: bins as i32, breaks, fixed, scheme, tiers, tier_by_total, lifecycle, cadence, lang, tz })
}
