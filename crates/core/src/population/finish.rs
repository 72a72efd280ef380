//! The final step of `population_agg`: every customer segmented at once, written straight into
//! the stored value (the caller's buffer: PostgreSQL memory), in named steps (each a
//! cancellation point, their working memory counted by [`finish_bytes`]):
//! 1. rows with order ids are deduplicated and counted, the state's own table is sorted into a
//!    run ([`super::run`]), and all runs are walked in id order ([`Merged`]);
//! 2. [`State::inputs`]: the R/F/M inputs of customers with orders;
//! 3. [`State::breaks_of`]: the given breaks, or quantiles of the population (as `rfm_breaks`);
//! 4. [`write_rows`]: each customer's row with its scores, segment, lifecycle stage and cadence;
//! 5. [`assign_tiers`]: tiers by `cume_dist()` over the tier value, written into the rows.
//!
//! Label indices are fixed before any row is written (the value's head holds them): lifecycle
//! stages, cadences, the scheme's rules and the tiers, in that order.

use super::options::Options;
use super::run::{Merged, Run};
use super::state::State;
use super::value::{head_len, info_json, write_head, write_row, OutRow, Output, MAX_LABELS, POPULATION_VERSION, ROW, ROW_TIER_AT};
use crate::cancel::{self, Ticker};
use crate::config::Lang;
use crate::fallible as fa;
use crate::labels::{Cadence, Lifecycle};
use crate::score::{quantile_breaks, Breaks, Rfm};
use crate::time::format_instant;
use crate::{Error, Result};
use serde_json::Value;

const WHAT: &str = "population: final step";

/// Where the final step writes the stored value: a buffer of the length asked for (PostgreSQL
/// memory in the extension, a `Vec` in tests).
pub trait ValueBuf {
    fn alloc(&mut self, len: usize) -> Result<&mut [u8]>;
}

impl ValueBuf for Vec<u8> {
    fn alloc(&mut self, len: usize) -> Result<&mut [u8]> {
        self.clear();
        fa::reserve_exact(self, len, WHAT)?;
        self.resize(len, 0);
        Ok(&mut self[..])
    }
}

/// Label indices of a population: where each group of labels starts.
struct LabelBase {
    stages: u16,
    cadences: u16,
    rules: u16,
    tiers: u16,
}

impl State {
    /// Segments every customer and writes the stored value into `buf`. `day_of` gives the local
    /// day of an instant (in the zone of the days given to [`State::add`]). Its working memory
    /// ([`finish_bytes`]) counts against the limit too, and every loop is a cancellation point.
    /// The state stays valid (sorted into runs): it can take more rows and finish again.
    pub fn finish_into(&mut self, opts: &Options, day_of: &mut dyn FnMut(i64) -> i64, buf: &mut dyn ValueBuf) -> Result<()> {
        self.flush()?;
        let (customers, days) = (self.customers(), self.day_count());
        if self.bytes().saturating_add(finish_bytes(customers, days, self.map.slot_count())) > self.limit {
            return Err(self.over_limit(customers, days));
        }
        self.apply_id_rows()?;
        self.sort_table()?;
        let mut tick = Ticker::new();
        let m = Merged::new(&self.runs)?;
        let values = self.inputs(&m, day_of, &mut tick)?;
        let (breaks, doc) = if m.is_empty() { (None, fixed_doc(opts)) } else { self.breaks_of(opts, &values)? };
        let info = info_json(POPULATION_VERSION, &doc, Some(&self.zone), self.duplicates);
        // a population without customers names no labels
        let (names, base) = if m.is_empty() { (Vec::new(), None) } else { label_names(opts)? };
        let head = head_len(&info, &names);
        let out = buf.alloc(head + m.len() * ROW)?;
        // rows read: the rows counted and the repeats of order ids that were not
        write_head(
            &mut out[..head],
            POPULATION_VERSION,
            self.as_of,
            self.rows + self.duplicates,
            self.peak_bytes() as u64,
            m.len(),
            &info,
            &names,
        );
        let Some(base) = base else { return Ok(()) };
        let rows = &mut out[head..];
        let mut ranked = self.write_rows(&m, &values, breaks.as_ref(), opts, &base, day_of, rows, &mut tick)?;
        drop(values);
        assign_tiers(rows, &mut ranked, opts, &base, &mut tick)
    }

    /// [`State::finish_into`] a `Vec`, decoded back (for tests and tools).
    pub fn finish(&mut self, opts: &Options, day_of: &mut dyn FnMut(i64) -> i64) -> Result<Output> {
        let mut buf = Vec::new();
        self.finish_into(opts, day_of, &mut buf)?;
        Output::decode(&buf)
    }

    /// Step 2: the R, F, M inputs of every customer with an order by as_of, in id order (the
    /// same figures `rfm_score` scores: [`Rfm::of`]).
    fn inputs(&self, m: &Merged, day_of: &mut dyn FnMut(i64) -> i64, tick: &mut Ticker) -> Result<Vec<Rfm>> {
        let windowed = self.window_first_day.is_some();
        let mut values: Vec<Rfm> = fa::vec_with_capacity(m.len(), WHAT)?;
        for i in 0..m.len() {
            tick.tick(2);
            let (_, e, _) = m.get(i);
            if e.orders > 0 {
                let (f, mon) = if windowed { (e.w_orders, e.w_monetary) } else { (e.orders, e.monetary) };
                values.push(Rfm::of(self.as_of_day - day_of(e.last), f as i64, mon as i128));
            }
        }
        Ok(values)
    }

    /// Step 3: the breaks scores are computed against, and the document the value records:
    /// given, or quantiles of the population (exactly what `rfm_breaks` computes, with the
    /// options' `tz` beside them, as in 0.1.0: the value's info records the zone in any case).
    /// Customers but none with an order by as_of: no breaks, every customer a
    /// prospect.
    fn breaks_of(&self, opts: &Options, values: &[Rfm]) -> Result<(Option<Breaks>, Value)> {
        Ok(match &opts.fixed {
            Some((b, doc)) => (Some(b.clone()), doc.clone()),
            None if values.is_empty() => (None, Value::Null),
            None => {
                let q = quantile_breaks(values, opts.bins, &opts.breaks, &format_instant(self.as_of))?;
                let mut doc = q.to_json();
                if let Some(tz) = &opts.tz {
                    doc["tz"] = Value::String(tz.clone());
                }
                (Some(q.breaks), doc)
            }
        })
    }

    /// Step 4: each customer's row, written into `rows`: figures, score and segment (from
    /// `values`, one per customer with orders, in order), lifecycle stage and cadence (from its
    /// distinct purchase days). Returns (tier value, row) of every scored customer.
    #[allow(clippy::too_many_arguments)]
    fn write_rows(
        &self,
        m: &Merged,
        values: &[Rfm],
        breaks: Option<&Breaks>,
        opts: &Options,
        base: &LabelBase,
        day_of: &mut dyn FnMut(i64) -> i64,
        rows: &mut [u8],
        tick: &mut Ticker,
    ) -> Result<Vec<(i64, u32)>> {
        let windowed = self.window_first_day.is_some();
        let mut ranked: Vec<(i64, u32)> = fa::vec_with_capacity(values.len(), WHAT)?;
        let mut v = values.iter();
        for (i, out) in rows.chunks_exact_mut(ROW).enumerate() {
            let (id, e, days) = m.get(i);
            tick.tick(8 + days.len() as u64);
            let mut row = OutRow::from_entry(id, e, windowed);
            if e.orders > 0 {
                row.recency = (self.as_of_day - day_of(e.last)) as i32;
                row.tenure = (self.as_of_day - day_of(e.first)) as i32;
                let x = v.next().ok_or_else(|| Error::internal("population: one value per customer with orders"))?;
                let s = breaks.ok_or_else(|| Error::internal("population: breaks whenever a customer has an order"))?.score(x);
                row.segment = base.rules + opts.scheme.classify_index(&s) as u16;
                let tier_value = if opts.tier_by_total {
                    s.total() as i64
                } else if windowed {
                    e.w_monetary
                } else {
                    e.monetary
                };
                ranked.push((tier_value, i as u32));
                row.score = Some(s);
                row.stage = base.stages + opts.lifecycle.stage_index(Some(row.recency as i64), Some(row.tenure as i64)) as u16;
            } else {
                row.stage = base.stages + opts.lifecycle.stage_index(None, None) as u16;
            }
            if let Some(c) = opts.cadence.classify_index(days) {
                row.cadence = base.cadences + c as u16;
            }
            write_row(&row, out);
        }
        Ok(ranked)
    }
}

/// The breaks document of a population without customers: the fixed breaks given, if any.
fn fixed_doc(opts: &Options) -> Value {
    opts.fixed.as_ref().map_or(Value::Null, |f| f.1.clone())
}

/// The label texts of a population in index order, and where each group starts.
fn label_names(opts: &Options) -> Result<(Vec<String>, Option<LabelBase>)> {
    let lang: Lang = opts.lang;
    let mut names = Interner::default();
    let stages = names.len();
    for i in 0..Lifecycle::STAGES {
        names.add(Lifecycle::label(i).get(lang))?;
    }
    let cadences = names.len();
    for i in 0..Cadence::CLASSES {
        names.add(Cadence::label(i).get(lang))?;
    }
    let rules = names.len();
    for r in &opts.scheme.rules {
        names.add(r.label.get(lang))?;
    }
    let tiers = names.len();
    for t in opts.tiers.labels() {
        names.add(t.get(lang))?;
    }
    Ok((names.names, Some(LabelBase { stages, cadences, rules, tiers })))
}

/// Step 5: tiers by `cume_dist()` over the tier value, descending, among customers with an
/// order (peers share the position of the last of them), written into each row.
fn assign_tiers(rows: &mut [u8], ranked: &mut [(i64, u32)], opts: &Options, base: &LabelBase, tick: &mut Ticker) -> Result<()> {
    cancel::sort_unstable_by(ranked, |a, b| b.0.cmp(&a.0));
    let total = ranked.len();
    let mut start = 0;
    while start < total {
        let mut end = start;
        while end + 1 < total && ranked[end + 1].0 == ranked[start].0 {
            end += 1;
        }
        tick.tick((end + 1 - start) as u64);
        let share = (end + 1) as f64 / total as f64;
        let t = (base.tiers + opts.tiers.tier_index(share)? as u16).to_le_bytes();
        for r in &ranked[start..=end] {
            let at = r.1 as usize * ROW + ROW_TIER_AT;
            rows[at..at + 2].copy_from_slice(&t);
        }
        start = end + 1;
    }
    Ok(())
}

/// Bytes the final step needs beyond the state for at most `customers` customers (counted once
/// per run they appear in), `days` purchase days and rows with order ids, and a table of
/// `slots` slots, at its peak: sorting the table into a run (the run itself and its scratch),
/// then the merged order of all runs, the R/F/M inputs, the tier ranking and the rows of the
/// stored value itself.
pub fn finish_bytes(customers: usize, days: usize, slots: usize) -> usize {
    // the merged order (8), the inputs, the tier ranking (16) and the row
    let per_customer = 8 + std::mem::size_of::<Rfm>() + 16 + ROW;
    Run::bytes_to_sort(customers, days, slots).saturating_add(customers.saturating_mul(per_customer))
}

/// Label texts of one population, in index order; indices are u16 in the stored value and
/// u16::MAX means "no label".
#[derive(Default)]
pub(super) struct Interner {
    names: Vec<String>,
}

impl Interner {
    fn len(&self) -> u16 {
        self.names.len() as u16
    }

    pub(super) fn add(&mut self, text: &str) -> Result<u16> {
        if self.names.len() >= MAX_LABELS {
            return Err(Error::limit(format!("population: more than {MAX_LABELS} distinct labels")));
        }
        self.names.push(fa::string_of(text, WHAT)?);
        Ok((self.names.len() - 1) as u16)
    }
}
