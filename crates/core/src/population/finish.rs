//! The final step of `population_agg`: every customer segmented at once, in named steps (each a
//! cancellation point, their working memory counted by [`finish_bytes`]):
//! 1. [`State::by_id`]: customers in id order, their entries and purchase days laid out by rank;
//! 2. [`State::rows_and_inputs`]: the output rows and the R/F/M inputs of customers with orders;
//! 3. [`State::breaks_of`]: the given breaks, or quantiles of the population (as `rfm_breaks`);
//! 4. [`label_rows`]: scores, segments, lifecycle stages and cadences;
//! 5. [`assign_tiers`]: tiers by `cume_dist()` over the tier value.

use super::options::Options;
use super::state::{Entry, State, ENTRY_BYTES};
use super::value::{OutRow, Output, MAX_LABELS, ROW};
use crate::cancel::{self, Ticker};
use crate::config::{Label, Lang};
use crate::fallible as fa;
use crate::labels::{Cadence, Lifecycle};
use crate::score::{quantile_breaks, Breaks, Rfm};
use crate::time::format_instant;
use crate::{Error, Result};
use serde_json::Value;

const WHAT: &str = "population: final step";

/// Customers in id order, with their entries and purchase days laid out by that rank.
struct ById {
    /// (id, seq) ascending by id
    ids: Vec<(i64, u32)>,
    entries: Vec<Entry>,
    /// the purchase days of the customer of rank k: `days[start[k]..start[k + 1]]`
    start: Vec<u32>,
    days: Vec<i32>,
}

impl State {
    /// Segments every customer. `day_of` gives the local day of an instant (in the same zone
    /// as the days given to [`State::add`]). Its working memory ([`finish_bytes`]) counts
    /// against the limit too, and every loop is a cancellation point.
    pub fn finish(&mut self, opts: &Options, day_of: &mut dyn FnMut(i64) -> i64) -> Result<Output> {
        self.flush()?;
        let n = self.map.len();
        if self.bytes().saturating_add(finish_bytes(n, self.days.len())) > self.limit {
            return Err(self.over_limit(n, self.days.len()));
        }
        let mut tick = Ticker::new();
        let ById { ids, entries, start, mut days } = self.by_id(&mut tick)?;
        let (mut rows, values) = self.rows_and_inputs(&ids, &entries, day_of, &mut tick)?;
        // everything below reads the rows
        drop(entries);
        drop(ids);
        if opts.fixed.is_none() && n == 0 {
            return Ok(self.output(rows, Vec::new(), Value::Null));
        }
        let (breaks, doc) = self.breaks_of(opts, &values)?;
        let mut labels = label_rows(&mut rows, &values, breaks.as_ref(), opts, &start, &mut days, &mut tick)?;
        drop(values);
        drop(days);
        assign_tiers(&mut rows, opts, self.window_first_day.is_some(), &mut labels, &mut tick)?;
        Ok(self.output(rows, labels.names, doc))
    }

    fn output(&self, rows: Vec<OutRow>, labels: Vec<String>, breaks: Value) -> Output {
        Output { as_of: self.as_of, rows, labels, breaks, rows_read: self.rows, state_bytes: self.peak_bytes() }
    }

    /// Step 1: customers in id order (the output does not depend on the plan), then entries and
    /// purchase days laid out by rank, so that everything after reads memory in order instead of
    /// jumping around the hash table.
    fn by_id(&self, tick: &mut Ticker) -> Result<ById> {
        let n = self.map.len();
        let mut ids: Vec<(i64, u32)> = fa::vec_with_capacity(n, WHAT)?;
        for (id, e) in self.map.iter() {
            tick.tick(2);
            ids.push((id, e.seq));
        }
        cancel::sort_unstable_by(&mut ids, |a, b| a.0.cmp(&b.0));
        let mut rank_of_seq = fa::vec_filled(n, 0u32, WHAT)?;
        for (rank, &(_, seq)) in ids.iter().enumerate() {
            tick.tick(1);
            rank_of_seq[seq as usize] = rank as u32;
        }
        let mut entries: Vec<Entry> = fa::vec_filled(n, Entry::new(0), WHAT)?;
        for (_, e) in self.map.iter() {
            tick.tick(2);
            entries[rank_of_seq[e.seq as usize] as usize] = *e;
        }
        // purchase days grouped by rank (a counting sort: sequential reads, scattered writes;
        // 32-bit offsets keep the scattered structures small enough for the cache)
        let mut start = fa::vec_filled(n + 1, 0u32, WHAT)?;
        for (rank, e) in entries.iter().enumerate() {
            start[rank + 1] = start[rank] + e.orders;
        }
        let mut fill = fa::copy_of(&start, WHAT)?;
        let mut days = fa::vec_filled(self.days.len(), 0i32, WHAT)?;
        let mut ranks: Vec<u32> = fa::vec_with_capacity(self.days.len(), WHAT)?;
        for &(_, s) in &self.days {
            tick.tick(1);
            ranks.push(rank_of_seq[s as usize]);
        }
        for (&(d, _), &r) in self.days.iter().zip(&ranks) {
            tick.tick(1);
            let at = &mut fill[r as usize];
            days[*at as usize] = d;
            *at += 1;
        }
        Ok(ById { ids, entries, start, days })
    }

    /// Step 2: the output row of every customer, and the R, F, M inputs of those with an order
    /// by as_of (the same figures `rfm_score` scores: [`Rfm::of`]).
    fn rows_and_inputs(
        &self,
        ids: &[(i64, u32)],
        entries: &[Entry],
        day_of: &mut dyn FnMut(i64) -> i64,
        tick: &mut Ticker,
    ) -> Result<(Vec<OutRow>, Vec<Rfm>)> {
        let windowed = self.window_first_day.is_some();
        let mut rows: Vec<OutRow> = fa::vec_with_capacity(ids.len(), WHAT)?;
        let mut values: Vec<Rfm> = fa::vec_with_capacity(ids.len(), WHAT)?;
        for (&(id, _), e) in ids.iter().zip(entries) {
            tick.tick(4);
            let mut row = OutRow::from_entry(id, e, windowed);
            if e.orders > 0 {
                row.recency = (self.as_of_day - day_of(e.last)) as i32;
                row.tenure = (self.as_of_day - day_of(e.first)) as i32;
                let (f, m) = if windowed { (e.w_orders, e.w_monetary) } else { (e.orders, e.monetary) };
                values.push(Rfm::of(row.recency as i64, f as i64, m as i128));
            }
            rows.push(row);
        }
        Ok((rows, values))
    }

    /// Step 3: the breaks scores are computed against, and the document the value records:
    /// given, or quantiles of the population (exactly what `rfm_breaks` computes, with the
    /// options' `tz` beside them). Customers but none with an order by as_of: no breaks, every
    /// customer a prospect.
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
}

/// Step 4: each customer's score and segment (from `values`, one per customer with orders, in
/// row order), lifecycle stage and cadence (from its purchase days, `days[start[k]..start[k+1]]`
/// for row k, sorted and made distinct in place). Returns the label texts interned so far.
fn label_rows(
    rows: &mut [OutRow],
    values: &[Rfm],
    breaks: Option<&Breaks>,
    opts: &Options,
    start: &[u32],
    days: &mut [i32],
    tick: &mut Ticker,
) -> Result<Interner> {
    let mut labels = Interner::default();
    let stages: Vec<u16> = (0..Lifecycle::STAGES).map(|i| labels.add(Lifecycle::label(i).get(opts.lang))).collect::<Result<_>>()?;
    let cadences: Vec<u16> = (0..Cadence::CLASSES).map(|i| labels.add(Cadence::label(i).get(opts.lang))).collect::<Result<_>>()?;
    let mut v = values.iter();
    for (k, row) in rows.iter_mut().enumerate() {
        if row.orders > 0 {
            let x = v.next().expect("one value per customer with orders");
            let s = breaks.expect("breaks whenever a customer has an order").score(x);
            row.segment = labels.get(opts.scheme.classify(&s), opts.lang)?;
            row.score = Some(s);
            row.stage = stages[opts.lifecycle.stage_index(Some(row.recency as i64), Some(row.tenure as i64))];
        } else {
            row.stage = stages[opts.lifecycle.stage_index(None, None)];
        }
        let days = &mut days[start[k] as usize..start[k + 1] as usize];
        // sorting a customer's days: about d log d comparisons
        tick.tick(16 + days.len() as u64 * 8);
        if let Some(c) = opts.cadence.classify_index(distinct_sorted(days)) {
            row.cadence = cadences[c];
        }
    }
    Ok(labels)
}

/// The distinct values of `days`, ascending: sorted and deduplicated in place.
fn distinct_sorted(days: &mut [i32]) -> &[i32] {
    days.sort_unstable();
    let mut distinct = 0;
    for i in 0..days.len() {
        if i == 0 || days[i] != days[distinct - 1] {
            days[distinct] = days[i];
            distinct += 1;
        }
    }
    &days[..distinct]
}

/// Step 5: tiers by `cume_dist()` over the tier value, descending, among customers with an
/// order (peers share the position of the last of them).
fn assign_tiers(rows: &mut [OutRow], opts: &Options, windowed: bool, labels: &mut Interner, tick: &mut Ticker) -> Result<()> {
    let mut ranked: Vec<(i64, u32)> = fa::vec_with_capacity(rows.len(), WHAT)?;
    for (i, r) in rows.iter().enumerate() {
        tick.tick(1);
        let Some(s) = r.score.as_ref() else { continue };
        let v = if opts.tier_by_total {
            s.total() as i64
        } else if windowed {
            r.w_monetary
        } else {
            r.monetary
        };
        ranked.push((v, i as u32));
    }
    cancel::sort_unstable_by(&mut ranked, |a, b| b.0.cmp(&a.0));
    let total = ranked.len();
    let mut start = 0;
    while start < total {
        let mut end = start;
        while end + 1 < total && ranked[end + 1].0 == ranked[start].0 {
            end += 1;
        }
        tick.tick((end + 1 - start) as u64);
        let share = (end + 1) as f64 / total as f64;
        let label = opts.tiers.tier(share)?;
        let t = labels.get(label, opts.lang)?;
        for r in &ranked[start..=end] {
            rows[r.1 as usize].tier = t;
        }
        start = end + 1;
    }
    Ok(())
}

/// Bytes the final step needs beyond the state for `customers` and `days` purchase days, at its
/// peak: while the output rows are built, the id order, the entries by rank, the day offsets and
/// the R/F/M values coexist with them (later phases and the encoded value need less); the days
/// by rank and their ranks take 8 bytes per day.
pub fn finish_bytes(customers: usize, days: usize) -> usize {
    let per_customer = std::mem::size_of::<OutRow>() + 16 + ENTRY_BYTES + 8 + std::mem::size_of::<Rfm>();
    customers.saturating_mul(per_customer.max(ROW)).saturating_add(days.saturating_mul(8))
}

/// Label texts of one population, each stored once; labels are found by address (the rule
/// set and tiers own them for the whole call), so no string is hashed per customer.
#[derive(Default)]
pub(super) struct Interner {
    names: Vec<String>,
    by_address: foldhash::HashMap<usize, u16>,
}

impl Interner {
    pub(super) fn add(&mut self, text: &str) -> Result<u16> {
        // label indices are u16 in the stored value and u16::MAX means "no label"
        if self.names.len() >= MAX_LABELS {
            return Err(Error::limit(format!("population: more than {MAX_LABELS} distinct labels")));
        }
        self.names.push(text.to_string());
        Ok((self.names.len() - 1) as u16)
    }

    fn get(&mut self, label: &Label, lang: Lang) -> Result<u16> {
        let key = label as *const Label as usize;
        if let Some(&i) = self.by_address.get(&key) {
            return Ok(i);
        }
        let i = self.add(label.get(lang))?;
        self.by_address.insert(key, i);
        Ok(i)
    }
}
