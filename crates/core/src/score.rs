//! R, F and M scores against breakpoints ("breaks").
//!
//! A breaks value is a jsonb document users can store, read and write by hand:
//! ```json
//! {"version": 1, "method": "quantile", "window_days": null,
//!  "recency": [..], "frequency": [..], "monetary": [..],
//!  "center": {"basis": "mean", "recency": 120.5, "frequency": 2.1, "monetary": 530.0},
//!  "customers": 1000, "mean": {..}, "median": {..}}
//! ```
//! Each list holds ascending breakpoints; a dimension with k breakpoints has k + 1 bins.
//! `method` decides which side of a bin is closed:
//! * `quantile` (from the `rfm_breaks` aggregate): bins are closed on the right, as pandas'
//!   `qcut` does: a value equal to a breakpoint falls in the lower bin, so heavy ties at the low
//!   end (many one-time buyers) stay in the lowest bin;
//! * `fixed` (from `rfm_thresholds`): bins are closed on the left: a threshold is the least value
//!   of its bin ("at least 12 orders", "from 90 days on").
//!
//! Scores run from 1 (worst) to bins (best). Recency is better when lower, so its score is
//! reversed. Equal values always get equal scores.

use super::cancel::Ticker;
use super::codec::{written_by_newer, Reader, Record, Writer};
use super::config::{Json, Obj};
use super::fallible as fa;
use super::numeric::SCALE;
use super::summary::SummaryView;
use super::time::day_of;
use super::{Error, Result};
use serde_json::{json, Value};

pub const BREAKS_VERSION: i64 = 1;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    Quantile,
    Fixed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Breaks {
    pub method: Method,
    pub window_days: Option<i64>,
    pub recency: Vec<f64>,
    pub frequency: Vec<f64>,
    pub monetary: Vec<f64>,
    /// the centre each dimension is "high" or "low" against (cn8 scheme)
    pub center: [f64; 3],
}

/// Per-customer input of scoring: recency in days, frequency in orders, monetary in currency.
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Rfm {
    pub recency: f64,
    pub frequency: f64,
    pub monetary: f64,
}

impl Rfm {
    /// The inputs of a customer with `orders` orders and `monetary` net spend (micro-units) in
    /// the scored window, `recency` local days after the last order: what `rfm_score` and
    /// `population_agg` both score.
    #[inline]
    pub fn of(recency: i64, orders: i64, monetary: i128) -> Rfm {
        Rfm { recency: recency as f64, frequency: orders as f64, monetary: monetary as f64 / SCALE as f64 }
    }

    /// The inputs of one stored summary at `as_of` (frequency and monetary over the last
    /// `window_days` local days when given); `None` without an order by then. `local` gives the
    /// local wall-clock time of an instant.
    pub fn of_summary(view: &SummaryView, as_of: i64, window_days: Option<i64>, local: &dyn Fn(i64) -> i64) -> Option<Rfm> {
        let all = view.metrics(Some(as_of));
        let last = all.last_order?;
        let recency = day_of(local(as_of)) - day_of(local(last));
        let w = match window_days {
            Some(d) => view.window_metrics(as_of, d, local),
            None => all,
        };
        Some(Rfm::of(recency, w.orders, w.monetary))
    }
}

impl Record for Rfm {
    fn to_le(self) -> Self {
        Rfm { recency: self.recency.to_le(), frequency: self.frequency.to_le(), monetary: self.monetary.to_le() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub r: i32,
    pub f: i32,
    pub m: i32,
    pub r_high: bool,
    pub f_high: bool,
    pub m_high: bool,
    pub bins: [i32; 3],
}

impl Score {
    pub fn code(&self) -> String {
        format!("{}{}{}", self.r, self.f, self.m)
    }
    pub fn total(&self) -> i32 {
        self.r + self.f + self.m
    }
}

/// 1-based bin of `v` among ascending breakpoints.
#[inline]
fn bin(v: f64, breaks: &[f64], method: Method) -> i32 {
    let above = match method {
        Method::Quantile => breaks.iter().filter(|&&b| v > b).count(),
        Method::Fixed => breaks.iter().filter(|&&b| v >= b).count(),
    };
    above as i32 + 1
}

impl Breaks {
    #[inline]
    pub fn score(&self, x: &Rfm) -> Score {
        let rb = self.recency.len() as i32 + 1;
        Score {
            r: rb + 1 - bin(x.recency, &self.recency, self.method),
            f: bin(x.frequency, &self.frequency, self.method),
            m: bin(x.monetary, &self.monetary, self.method),
            r_high: x.recency < self.center[0],
            f_high: x.frequency > self.center[1],
            m_high: x.monetary > self.center[2],
            bins: [rb, self.frequency.len() as i32 + 1, self.monetary.len() as i32 + 1],
        }
    }

    /// Reads a breaks document (as written by `rfm_breaks` or `rfm_thresholds`, or by hand).
    pub fn from_json<'a>(doc: impl Into<Json<'a>>) -> Result<Breaks> {
        let mut o = Obj::read("breaks", doc)?;
        let version = o.i64("version", BREAKS_VERSION)?;
        if version < 1 || version > BREAKS_VERSION {
            return Err(written_by_newer(format!("breaks version {version} is not supported (this pg_segment reads version 1)")));
        }
        let method = match o.string("method", "fixed")?.as_str() {
            "quantile" => Method::Quantile,
            "fixed" => Method::Fixed,
            other => return Err(Error::invalid(format!("breaks: key \"method\" must be \"quantile\" or \"fixed\", got \"{other}\""))),
        };
        let strict = method == Method::Fixed;
        let recency = o.numbers("recency", &[], strict)?;
        let frequency = o.numbers("frequency", &[], strict)?;
        let monetary = o.numbers("monetary", &[], strict)?;
        for (k, v) in [("recency", &recency), ("frequency", &frequency), ("monetary", &monetary)] {
            if v.is_empty() {
                return Err(Error::invalid(format!("breaks: key \"{k}\" is required: an ascending array of 1 to 9 numbers")));
            }
        }
        let window_days = window_days(&mut o, "breaks", "a whole number of days from 1 to 36500 or null")?;
        let center = match o.take("center") {
            None => default_center(&recency, &frequency, &monetary),
            Some(v) => {
                let mut c = Obj::from_value("breaks.center", v)?;
                let _basis = c.string("basis", "fixed")?;
                let d = default_center(&recency, &frequency, &monetary);
                let r = [c.f64("recency", d[0])?, c.f64("frequency", d[1])?, c.f64("monetary", d[2])?];
                c.finish()?;
                r
            }
        };
        // informational keys written by rfm_breaks
        for k in ["customers", "mean", "median", "as_of", "bins"] {
            o.take(k);
        }
        o.finish()?;
        Ok(Breaks { method, window_days, recency, frequency, monetary, center })
    }
}

/// Takes the time zone out of a breaks document or of `rfm_breaks` options: `tz` rides beside
/// the breakpoints (`rfm_breaks` writes it) and says in which zone days are counted. A `tz` that
/// is not a string is an error naming it, never silently dropped.
pub fn take_tz(doc: &mut Value, what: &str) -> Result<Option<String>> {
    match doc.as_object_mut().and_then(|o| o.remove("tz")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(Error::invalid(format!("{what}: key \"tz\" must be a time zone name such as \"Asia/Shanghai\", got {v}"))),
    }
}

/// Parses JSON text read from a jsonb argument; `what` names the argument in the error (deep
/// nesting beyond serde_json's limit included: never a silent default).
pub fn parse_json(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::invalid(format!("{what}: not valid JSON: {e}")))
}

impl Breaks {
    /// Reads a breaks document with its optional `tz` (see [`take_tz`]).
    pub fn from_json_with_tz<'a>(doc: impl Into<Json<'a>>) -> Result<(Breaks, Option<String>)> {
        let mut v = doc.into().into_value("breaks")?;
        let tz = take_tz(&mut v, "breaks")?;
        Ok((Breaks::from_json(v)?, tz))
    }
}

/// Without an explicit centre: the middle breakpoint of each dimension.
fn default_center(r: &[f64], f: &[f64], m: &[f64]) -> [f64; 3] {
    let mid = |v: &[f64]| v[(v.len() - 1) / 2];
    [mid(r), mid(f), mid(m)]
}

/// Fixed-threshold breaks from a rule set; every key optional. Defaults follow Chinese
/// e-commerce practice: recency bands 90/180/365 days; frequency classes by orders in the last
/// 365 days (2 = half-yearly, 4 = quarterly, 12 = monthly buyers); spend in the last 365 days
/// 10,000 and 50,000; high/low centre: 90 days, more than 1 order, more than 10,000 spent.
pub fn thresholds(text: &str) -> Result<Value> {
    let mut o = Obj::parse("rfm_thresholds rules", text)?;
    let recency = o.numbers("recency", &[90.0, 180.0, 365.0], true)?;
    let frequency = o.numbers("frequency", &[2.0, 4.0, 12.0], true)?;
    let monetary = o.numbers("monetary", &[10_000.0, 50_000.0], true)?;
    let window = o.i64("window_days", 365)?;
    if !(1..=36_500).contains(&window) {
        return Err(Error::invalid(format!("rfm_thresholds rules: key \"window_days\" must be from 1 to 36500, got {window}")));
    }
    let center = match o.take("center") {
        None => [90.0, 1.0, 10_000.0],
        Some(v) => {
            let mut c = Obj::from_value("rfm_thresholds rules.center", v)?;
            let r = [c.f64("recency", 90.0)?, c.f64("frequency", 1.0)?, c.f64("monetary", 10_000.0)?];
            c.finish()?;
            r
        }
    };
    o.finish()?;
    Ok(json!({
        "version": BREAKS_VERSION, "method": "fixed", "window_days": window,
        "recency": recency, "frequency": frequency, "monetary": monetary,
        "center": {"basis": "fixed", "recency": center[0], "frequency": center[1], "monetary": center[2]},
    }))
}

/// Options of the `rfm_breaks` aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct BreaksOptions {
    pub center: Center,
    pub window_days: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Center {
    Mean,
    Median,
}

pub fn breaks_options<'a>(doc: impl Into<Json<'a>>) -> Result<BreaksOptions> {
    let mut o = Obj::read("rfm_breaks options", doc)?;
    let center = match o.string("center", "mean")?.as_str() {
        "mean" => Center::Mean,
        "median" => Center::Median,
        other => {
            return Err(Error::invalid(format!("rfm_breaks options: key \"center\" must be \"mean\" or \"median\", got \"{other}\""))
                .with_hint("for fixed centres, edit the \"center\" of the breaks value or use rfm_thresholds"))
        }
    };
    let window_days = window_days(&mut o, "rfm_breaks options", "a whole number from 1 to 36500")?;
    o.finish()?;
    Ok(BreaksOptions { center, window_days })
}

/// Options of the `rfm_breaks` aggregate with their optional `tz`.
pub fn breaks_options_with_tz(text: &str) -> Result<(BreaksOptions, Option<String>)> {
    let mut v = parse_json(text, "rfm_breaks options")?;
    let tz = take_tz(&mut v, "rfm_breaks options")?;
    Ok((breaks_options(v)?, tz))
}

/// The optional `window_days` key of `what`: whole days from 1 to 36500 (`form` in the error).
fn window_days(o: &mut Obj, what: &str, form: &str) -> Result<Option<i64>> {
    match o.take("window_days") {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(d) if (1..=36_500).contains(&d) => Ok(Some(d)),
            _ => Err(Error::invalid(format!("{what}: key \"window_days\" must be {form}, got {v}"))),
        },
    }
}

pub fn check_bins(bins: i32) -> Result<()> {
    if !(2..=10).contains(&bins) {
        return Err(Error::invalid(format!("bins must be between 2 and 10, got {bins}")));
    }
    Ok(())
}

/// Linear-interpolation quantile (PostgreSQL's `percentile_cont`, numpy's default) of sorted data
/// (or of data whose ranks `floor((n-1)q)` and the next are in their sorted places).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Puts the elements of ranks `ranks` (ascending, distinct, all `< d.len()`) in their sorted
/// places, as if `d` were sorted there: a quickselect that splits at the middle rank and recurses
/// into both sides, O(n log k) for k ranks instead of a full sort's O(n log n).
/// `base` is the rank of `d[0]` in the whole slice.
fn select_ranks(d: &mut [f64], ranks: &[usize], base: usize) {
    if ranks.is_empty() || d.is_empty() {
        return;
    }
    let mid = ranks.len() / 2;
    let r = ranks[mid] - base;
    let (left, _, right) = d.select_nth_unstable_by(r, |a, b| a.total_cmp(b));
    select_ranks(left, &ranks[..mid], base);
    select_ranks(right, &ranks[mid + 1..], base + r + 1);
}

/// Ranks that [`quantile`] reads for the quantiles `qs` of `n` values.
fn quantile_ranks(n: usize, qs: &[f64]) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut ranks: Vec<usize> = qs
        .iter()
        .flat_map(|&q| {
            let lo = ((n - 1) as f64 * q).floor() as usize;
            [lo, (lo + 1).min(n - 1)]
        })
        .collect();
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// Mean that does not depend on the order of the values (partial states of parallel workers
/// arrive in any order): values are summed exactly as whole micro-units, the precision they
/// come from.
fn exact_mean(d: &[f64]) -> f64 {
    let sum: i128 = d.iter().map(|&x| (x * 1e6).round() as i128).sum();
    sum as f64 / 1e6 / d.len() as f64
}

/// Quantile breaks of a population (what `rfm_breaks` and `population_agg` compute), with the
/// figures their document reports beside the breakpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantileBreaks {
    /// what scores are computed against (method quantile, the chosen centre)
    pub breaks: Breaks,
    pub bins: i32,
    pub customers: usize,
    pub as_of: String,
    pub basis: Center,
    pub mean: [f64; 3],
    pub median: [f64; 3],
}

impl QuantileBreaks {
    /// The breaks document users see and store (the JSON of 0.1.0, key for key): reading it back
    /// with [`Breaks::from_json`] gives [`QuantileBreaks::breaks`].
    pub fn to_json(&self) -> Value {
        let b = &self.breaks;
        let triple = |t: [f64; 3]| json!({"recency": t[0], "frequency": t[1], "monetary": t[2]});
        json!({
            "version": BREAKS_VERSION, "method": "quantile", "bins": self.bins, "as_of": self.as_of,
            "window_days": b.window_days, "customers": self.customers,
            "recency": b.recency, "frequency": b.frequency, "monetary": b.monetary,
            "center": {"basis": if self.basis == Center::Mean { "mean" } else { "median" }, "recency": b.center[0], "frequency": b.center[1], "monetary": b.center[2]},
            "mean": triple(self.mean), "median": triple(self.median),
        })
    }
}

/// Quantile breaks of the population's values (one `Rfm` per customer). Its working memory (24
/// bytes per value) is allocated fallibly.
pub fn quantile_breaks(values: &[Rfm], bins: i32, opts: &BreaksOptions, as_of_text: &str) -> Result<QuantileBreaks> {
    let n = values.len();
    let what = "rfm breaks";
    let mut dims: [Vec<f64>; 3] = [fa::vec_with_capacity(n, what)?, fa::vec_with_capacity(n, what)?, fa::vec_with_capacity(n, what)?];
    let mut tick = Ticker::new();
    for v in values.iter() {
        tick.tick(3);
        dims[0].push(v.recency);
        dims[1].push(v.frequency);
        dims[2].push(v.monetary);
    }
    let qs: Vec<f64> = (1..bins).map(|k| k as f64 / bins as f64).chain([0.5]).collect();
    let ranks = quantile_ranks(n, &qs);
    let mut breaks: [Vec<f64>; 3] = Default::default();
    let mut means = [0.0; 3];
    let mut medians = [0.0; 3];
    for (i, d) in dims.iter_mut().enumerate() {
        super::cancel::check();
        // only the order statistics the quantiles read are put in place; `quantile` reads no other
        select_ranks(d, &ranks, 0);
        breaks[i] = qs[..qs.len() - 1].iter().map(|&q| round6(quantile(d, q))).collect();
        means[i] = round6(exact_mean(d));
        medians[i] = round6(quantile(d, 0.5));
    }
    let center = match opts.center {
        Center::Mean => means,
        Center::Median => medians,
    };
    let [recency, frequency, monetary] = breaks;
    Ok(QuantileBreaks {
        breaks: Breaks { method: Method::Quantile, window_days: opts.window_days, recency, frequency, monetary, center },
        bins,
        customers: n,
        as_of: as_of_text.to_string(),
        basis: opts.center,
        mean: means,
        median: medians,
    })
}

// ---- the rfm_breaks aggregate's state ----

const BREAKS: &str = "rfm_breaks";

fn reserve_values(values: &mut Vec<Rfm>, extra: usize, limit: usize) -> Result<()> {
    let need = values.len().saturating_add(extra);
    if need > values.capacity() {
        let bytes = |n: usize| fa::bytes_of::<Rfm>(n).saturating_mul(2);
        fa::check_limit(BREAKS, bytes(need), limit, fa::MEMORY_SETTING)?;
        let want = need.max(values.capacity() * 2).max(64);
        let want = if bytes(want) > limit { need } else { want };
        fa::reserve_total(values, want, BREAKS)?;
    }
    Ok(())
}

/// The state of the `rfm_breaks` aggregate: its constant arguments and one [`Rfm`] per customer
/// with an order by `as_of`.
///
/// Partial state (little endian): `[as_of i64][bins i32][options length u32][options text]
/// [zone length u32][zone][n u64][n × (recency, frequency, monetary) f64]`.
#[derive(Clone, Debug, PartialEq)]
pub struct BreaksState {
    pub as_of: i64,
    pub bins: i32,
    /// the options as given (they travel with partial states)
    pub options_json: String,
    pub options: BreaksOptions,
    /// the options' `tz`, if given
    pub tz: Option<String>,
    /// the zone recency days are counted in: `tz`, else the session's `TimeZone` when the first
    /// row arrived (checked when states combine or finish)
    pub zone: String,
    pub values: Vec<Rfm>,
}

impl BreaksState {
    /// A state for the first row: `options_json` is read here (its `tz` included);
    /// `session_zone` is the session's `TimeZone`, the zone days are counted in without `tz`.
    pub fn new(as_of: i64, bins: i32, options_json: String, session_zone: &str) -> Result<BreaksState> {
        check_bins(bins)?;
        // the time zone rides in the options ({"tz": "Asia/Shanghai"})
        let (options, tz) = breaks_options_with_tz(&options_json)?;
        let zone = tz.clone().unwrap_or_else(|| session_zone.to_string());
        Ok(BreaksState { as_of, bins, options_json, options, tz, zone, values: Vec::new() })
    }

    /// Checks that a state counting days in the session's zone is finished in a session of the
    /// same zone (see [`check_session_zone`](super::time::check_session_zone)).
    pub fn check_session(&self, session_zone: &str) -> Result<()> {
        match self.tz {
            Some(_) => Ok(()),
            None => super::time::check_session_zone(BREAKS, &self.zone, session_zone),
        }
    }

    /// Room for `extra` more values: within `limit` (the values and the final step's copy of
    /// them, `pg_segment.memory_limit`) and allocated fallibly.
    pub fn reserve(&mut self, extra: usize, limit: usize) -> Result<()> {
        reserve_values(&mut self.values, extra, limit)
    }

    /// Checks that another state (of another row or worker) was made with the same arguments.
    pub fn check_same(&self, as_of: i64, bins: i32) -> Result<()> {
        if self.as_of != as_of || self.bins != bins {
            return Err(Error::invalid("rfm_breaks: as_of and bins must be the same for every row of the aggregate"));
        }
        Ok(())
    }

    /// A copy (the combine step's first partial state), its values allocated as
    /// [`BreaksState::reserve`] does.
    pub fn try_clone(&self, limit: usize) -> Result<BreaksState> {
        let mut copy = BreaksState {
            values: Vec::new(),
            options_json: self.options_json.clone(),
            options: self.options.clone(),
            tz: self.tz.clone(),
            zone: self.zone.clone(),
            ..*self
        };
        copy.merge(self, limit)?;
        Ok(copy)
    }

    /// Appends the values of `other` (the combine step).
    pub fn merge(&mut self, other: &BreaksState, limit: usize) -> Result<()> {
        self.check_same(other.as_of, other.bins)?;
        if other.zone != self.zone {
            return Err(super::time::zone_mismatch(BREAKS, &self.zone, &other.zone));
        }
        self.reserve(other.values.len(), limit)?;
        self.values.extend_from_slice(&other.values);
        Ok(())
    }

    /// The breaks document: quantiles of the values, with the options' `tz` beside them (as in
    /// 0.1.0; the zone of the session, when none is given, is checked while states combine and
    /// finish, not written); `None` without values.
    pub fn finish(&self) -> Result<Option<Value>> {
        if self.values.is_empty() {
            return Ok(None);
        }
        let mut doc = quantile_breaks(&self.values, self.bins, &self.options, &super::time::format_instant(self.as_of))?.to_json();
        if let Some(tz) = &self.tz {
            doc["tz"] = Value::String(tz.clone());
        }
        Ok(Some(doc))
    }

    pub fn serialized_len(&self) -> usize {
        8 + 4 + 4 + self.options_json.len() + 4 + self.zone.len() + 8 + self.values.len() * std::mem::size_of::<Rfm>()
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(self.as_of);
        w.record(self.bins);
        w.bytes_u32(self.options_json.as_bytes());
        w.bytes_u32(self.zone.as_bytes());
        w.record(self.values.len() as u64);
        w.records(&self.values);
        w.finish();
    }

    /// Reads a partial state; `limit` bounds its values as [`BreaksState::reserve`] does.
    pub fn deserialize(bytes: &[u8], limit: usize) -> Result<BreaksState> {
        let mut r = Reader::new(bytes, "rfm_breaks partial state is truncated");
        let as_of = r.i64()?;
        let bins = r.i32()?;
        let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| Error::binary("rfm_breaks partial state holds invalid UTF-8"));
        let options_json = text(r.bytes_u32()?)?;
        let zone = text(r.bytes_u32()?)?;
        let n = r.u64()? as usize;
        // the count is checked against the bytes present before anything is sized from it
        r.ensure(n.saturating_mul(std::mem::size_of::<Rfm>()))?;
        let mut values = Vec::new();
        reserve_values(&mut values, n, limit)?;
        r.records_into(&mut values, n, BREAKS)?;
        let (options, tz) = breaks_options_with_tz(&options_json)?;
        if tz.as_ref().is_some_and(|t| *t != zone) {
            return Err(Error::binary("rfm_breaks partial state: its zone is not the tz of its options"));
        }
        Ok(BreaksState { as_of, bins, options_json, options, tz, zone, values })
    }
}

/// Breakpoints are stored with 6 decimals so that the jsonb text is stable and readable.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfm(r: f64, f: f64, m: f64) -> Rfm {
        Rfm { recency: r, frequency: f, monetary: m }
    }

    /// The partial state round-trips byte for byte, merges to the whole, and refuses a count its
    /// bytes do not hold, a newer layout's garbage and a state beyond the memory limit.
    #[test]
    fn breaks_state_round_trips_and_merges() {
        let mut next = crate::test_rng(0xB4EA_C0DE);
        let mut whole = BreaksState::new(86_400_000_000, 4, r#"{"tz": "Asia/Shanghai", "center": "median"}"#.into(), "UTC").unwrap();
        assert_eq!((whole.tz.as_deref(), whole.options.center), (Some("Asia/Shanghai"), Center::Median));
        let mut parts = [whole.clone(), whole.clone()];
        for i in 0..500 {
            let v = rfm((next() % 400) as f64, (next() % 9) as f64, (next() % 100_000) as f64 / 100.0);
            whole.reserve(1, usize::MAX).unwrap();
            whole.values.push(v);
            parts[i % 2].reserve(1, usize::MAX).unwrap();
            parts[i % 2].values.push(v);
        }
        let mut bytes = vec![0u8; parts[0].serialized_len()];
        parts[0].serialize_into(&mut bytes);
        // the documented layout: as_of, bins, options text, zone text, count, values
        let olen = parts[0].options_json.len();
        assert_eq!(&bytes[..12], [86_400_000_000i64.to_le_bytes().as_slice(), &4i32.to_le_bytes()].concat());
        assert_eq!(&bytes[16..16 + olen], parts[0].options_json.as_bytes());
        let back = BreaksState::deserialize(&bytes, usize::MAX).unwrap();
        assert_eq!(back, parts[0]);
        let mut again = vec![0u8; back.serialized_len()];
        back.serialize_into(&mut again);
        assert_eq!(again, bytes);
        let mut merged = back;
        merged.merge(&parts[1], usize::MAX).unwrap();
        assert_eq!(
            merged.finish().unwrap(),
            BreaksState { values: merged.values.iter().rev().copied().collect(), ..whole.clone() }.finish().unwrap()
        );
        assert_eq!(merged.finish().unwrap(), whole.finish().unwrap());
        assert_eq!(merged.finish().unwrap().unwrap()["tz"], json!("Asia/Shanghai"));
        let n_at = bytes.len() - 250 * 24 - 8;
        let mut claim = bytes[..n_at + 8].to_vec();
        claim[n_at..].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert_eq!(BreaksState::deserialize(&claim, usize::MAX).unwrap_err().message, "rfm_breaks partial state is truncated");
        assert_eq!(BreaksState::deserialize(&bytes, 1 << 10).unwrap_err().code, crate::ErrCode::OutOfMemory);
        let mut other = parts[1].clone();
        other.bins = 5;
        assert!(merged.merge(&other, usize::MAX).unwrap_err().message.contains("as_of and bins"));
        assert_eq!(BreaksState::new(0, 5, "{}".into(), "UTC").unwrap().finish().unwrap(), None);
    }

    /// Without a tz the days are counted in the session's zone, which the state records and
    /// combining or finishing checks: different zones are an error naming both. The breaks
    /// document carries only a tz that was given (as in 0.1.0).
    #[test]
    fn breaks_record_their_zone() {
        let mut a = BreaksState::new(0, 5, "{}".into(), "Asia/Shanghai").unwrap();
        let mut b = BreaksState::new(0, 5, "{}".into(), "UTC").unwrap();
        for s in [&mut a, &mut b] {
            s.reserve(1, usize::MAX).unwrap();
            s.values.push(rfm(1.0, 2.0, 3.0));
        }
        assert_eq!((a.tz.as_deref(), a.zone.as_str()), (None, "Asia/Shanghai"));
        assert_eq!(a.finish().unwrap().unwrap().get("tz"), None);
        let mut bytes = vec![0u8; b.serialized_len()];
        b.serialize_into(&mut bytes);
        let back = BreaksState::deserialize(&bytes, usize::MAX).unwrap();
        assert_eq!(back.zone, "UTC");
        let e = a.merge(&back, usize::MAX).unwrap_err();
        assert!(e.message.starts_with("rfm_breaks: ") && e.message.contains("\"Asia/Shanghai\" and \"UTC\""), "{}", e.message);
        assert!(a.check_session("Asia/Shanghai").is_ok());
        let e = a.check_session("Europe/Berlin").unwrap_err();
        assert!(e.message.contains("\"Asia/Shanghai\"") && e.message.contains("\"Europe/Berlin\""), "{}", e.message);
        // with an explicit tz the session does not matter
        let t = BreaksState::new(0, 5, r#"{"tz": "UTC"}"#.into(), "Asia/Shanghai").unwrap();
        assert!(t.check_session("Europe/Berlin").is_ok());
        assert_eq!(t.zone, "UTC");
        let mut t = t;
        t.reserve(1, usize::MAX).unwrap();
        t.values.push(rfm(1.0, 2.0, 3.0));
        assert_eq!(t.finish().unwrap().unwrap()["tz"], json!("UTC"));
    }

    #[test]
    fn quantile_matches_percentile_cont() {
        let d = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&d, 0.5), 2.5);
        assert_eq!(quantile(&d, 0.0), 1.0);
        assert_eq!(quantile(&d, 1.0), 4.0);
        assert!((quantile(&d, 0.2) - 1.6).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }

    /// The selection-based breaks equal quantiles of fully sorted data, and the document does not
    /// depend on the order the values arrive in (parallel partial states arrive in any order).
    #[test]
    fn selected_quantiles_equal_sorted_and_ignore_order() {
        let mut next = crate::test_rng(0x9E3779B97F4A7C15u64);
        for n in [1usize, 2, 3, 7, 10, 101, 5_000] {
            for bins in [2, 3, 5, 10] {
                let mut pop: Vec<Rfm> =
                    (0..n).map(|_| rfm((next() % 400) as f64, (next() % 6 + 1) as f64, (next() % 2_000_000) as f64 / 100.0)).collect();
                let opts = BreaksOptions { center: Center::Mean, window_days: None };
                let q = quantile_breaks(&pop, bins, &opts, "x").unwrap();
                let doc = q.to_json();
                // the typed breaks are what the document reads back as
                assert_eq!(Breaks::from_json(&doc.to_string()).unwrap(), q.breaks, "n={n} bins={bins}");
                for (k, dim) in ["recency", "frequency", "monetary"].iter().enumerate() {
                    let mut sorted: Vec<f64> = pop.iter().map(|v| [v.recency, v.frequency, v.monetary][k]).collect();
                    sorted.sort_by(|a, b| a.total_cmp(b));
                    let want: Vec<f64> = (1..bins).map(|j| round6(quantile(&sorted, j as f64 / bins as f64))).collect();
                    let got: Vec<f64> = doc[dim].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                    assert_eq!(got, want, "n={n} bins={bins} {dim}");
                    assert_eq!(doc["median"][dim].as_f64().unwrap(), round6(quantile(&sorted, 0.5)));
                    let mean = sorted.iter().sum::<f64>() / n as f64;
                    assert!((doc["mean"][dim].as_f64().unwrap() - mean).abs() <= 1e-6 * mean.abs().max(1.0));
                }
                pop.reverse();
                pop.rotate_left(n / 3);
                assert_eq!(quantile_breaks(&pop, bins, &opts, "x").unwrap().to_json(), doc, "order-dependent, n={n}");
            }
        }
    }

    #[test]
    fn quantile_scores_ties_equal_and_monotone() {
        let pop: Vec<Rfm> = (0..100).map(|i| rfm(i as f64, if i < 60 { 1.0 } else { (i - 58) as f64 }, i as f64 * 10.0)).collect();
        let b = quantile_breaks(&pop, 5, &BreaksOptions { center: Center::Mean, window_days: None }, "x").unwrap().breaks;
        // all one-time buyers share the lowest frequency score
        let s1 = b.score(&rfm(5.0, 1.0, 10.0));
        assert_eq!(s1.f, 1);
        // monotone: higher frequency/monetary never lowers the score; higher recency never raises it
        let mut prev = b.score(&rfm(0.0, 0.0, -1000.0));
        for i in 0..300 {
            let x = i as f64;
            let s = b.score(&rfm(x, x / 3.0, x * 5.0));
            assert!(s.r <= prev.r && s.f >= prev.f && s.m >= prev.m);
            assert!((1..=5).contains(&s.r) && (1..=5).contains(&s.f) && (1..=5).contains(&s.m));
            prev = s;
        }
        // equal inputs, equal scores
        assert_eq!(b.score(&rfm(33.0, 4.0, 120.0)), b.score(&rfm(33.0, 4.0, 120.0)));
    }

    #[test]
    fn fixed_thresholds_are_left_closed() {
        let b = Breaks::from_json(&thresholds("{}").unwrap().to_string()).unwrap();
        assert_eq!(b.score(&rfm(89.0, 1.0, 0.0)).r, 4);
        assert_eq!(b.score(&rfm(90.0, 1.0, 0.0)).r, 3);
        assert_eq!(b.score(&rfm(365.0, 1.0, 0.0)).r, 1);
        assert_eq!(b.score(&rfm(1.0, 12.0, 0.0)).f, 4);
        assert_eq!(b.score(&rfm(1.0, 11.0, 0.0)).f, 3);
        assert_eq!(b.score(&rfm(1.0, 1.0, 50_000.0)).m, 3);
        let s = b.score(&rfm(10.0, 2.0, 10_000.5));
        assert!(s.r_high && s.f_high && s.m_high);
        assert_eq!(s.bins, [4, 4, 3]);
        assert_eq!(s.code(), "422");
    }

    #[test]
    fn bad_configuration_names_the_key() {
        let e = thresholds(r#"{"recency": [180, 90]}"#).unwrap_err();
        assert!(e.message.contains("\"recency\"") && e.message.contains("strictly ascending"), "{}", e.message);
        let e = thresholds(r#"{"recenzy": [1]}"#).unwrap_err();
        assert!(e.message.contains("unknown key \"recenzy\""), "{}", e.message);
        assert!(check_bins(11).is_err() && check_bins(1).is_err() && check_bins(2).is_ok());
        let e = breaks_options(r#"{"center": "mode"}"#).unwrap_err();
        assert!(e.message.contains("center"));
        let e = Breaks::from_json(r#"{"version": 2, "recency":[1], "frequency":[1], "monetary":[1]}"#).unwrap_err();
        assert_eq!(e.code, crate::ErrCode::NotSupported);
        assert!(Breaks::from_json(r#"{"recency":[1]}"#).unwrap_err().message.contains("\"frequency\" is required"));
    }

    /// A tz of the wrong type and JSON nested past serde_json's limit are errors naming the key
    /// or the argument, never the defaults.
    #[test]
    fn tz_and_deep_nesting_are_never_silent_defaults() {
        let doc = thresholds("{}").unwrap();
        let mut with = doc.clone();
        with["tz"] = json!("Asia/Shanghai");
        let (b, tz) = Breaks::from_json_with_tz(&with.to_string()).unwrap();
        assert_eq!((b, tz.as_deref()), (Breaks::from_json(&doc.to_string()).unwrap(), Some("Asia/Shanghai")));
        for bad in [json!(8), json!(["UTC"]), json!({"name": "UTC"}), json!(true)] {
            with["tz"] = bad;
            let e = Breaks::from_json_with_tz(&with.to_string()).unwrap_err();
            assert_eq!(e.code, crate::ErrCode::InvalidParameter);
            assert!(e.message.contains("\"tz\""), "{}", e.message);
            let e = breaks_options_with_tz(&json!({"tz": with["tz"]}).to_string()).unwrap_err();
            assert!(e.message.starts_with("rfm_breaks options: key \"tz\""), "{}", e.message);
        }
        let deep = format!("{{\"center\": {}\"median\"{}}}", "[".repeat(200), "]".repeat(200));
        let e = breaks_options_with_tz(&deep).unwrap_err();
        assert_eq!(e.code, crate::ErrCode::InvalidParameter);
        assert!(e.message.starts_with("rfm_breaks options: not valid JSON"), "{}", e.message);
        assert!(Breaks::from_json_with_tz(&deep).unwrap_err().message.starts_with("breaks: not valid JSON"));
        assert_eq!(breaks_options_with_tz(r#"{"tz": null, "center": "median"}"#).unwrap().0.center, Center::Median);
    }
}
