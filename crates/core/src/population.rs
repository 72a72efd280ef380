//! The whole-population path: one aggregate over all order rows that groups by customer itself
//! (a hash map keyed by customer id, fixed-size entries, purchase days in one shared arena) and
//! then segments every customer at once: summary figures, quantile or fixed breaks, R/F/M
//! scores, named segment, tier, lifecycle stage and cadence.
//!
//! It computes exactly what the composable functions compute (`rfm_agg` + `rfm_breaks` +
//! `rfm_score` + `rfm_segment` + `customer_tier` + `lifecycle_stage` + `purchase_cadence`), but
//! keeps 72 bytes per customer and 8 bytes per purchase instead of 16 bytes per row, and spares
//! PostgreSQL's hash aggregation. Its memory is bounded by a limit the caller gives; exceeding
//! it is an [`Error`] with SQLSTATE 53200, never an out-of-memory kill.

use super::cancel::{self, Ticker};
use super::config::{Label, Lang, Obj};
use super::fallible as fa;
use super::idtable::IdTable;
use super::labels::{Cadence, Lifecycle, RuleSet, Tiers};
use super::numeric::{total_error, SCALE};
use super::score::{breaks_options, check_bins, quantile_breaks, Breaks, BreaksOptions, Rfm, Score};
use super::time::{check_instant, format_instant};
use super::{Error, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hash for integer customer ids: one multiplication, high bits folded into the
/// low bits the table indexes by (so ids that are multiples of a power of two spread too).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.write_i64(v as i64);
    }
    #[inline]
    fn write_i64(&mut self, v: i64) {
        let h = (v as u64 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }
}

/// Per-customer running figures, kept inline in the hash table (one cache line per customer,
/// so a row costs one memory miss). Amounts in micro-units (1/10000).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Entry {
    /// first and last order instants at or before as_of (i64::MAX / i64::MIN without orders)
    pub first: i64,
    pub last: i64,
    /// net spend (orders minus refunds) at or before as_of
    pub monetary: i64,
    pub refunded: i64,
    /// net spend in the window (when a window is set)
    pub w_monetary: i64,
    /// orders at or before as_of: also the number of purchase days stored for this customer
    pub orders: u32,
    pub refunds: u32,
    /// orders after as_of: excluded, counted
    pub future: u32,
    pub w_orders: u32,
    /// order of first appearance: the key of this customer's purchase days
    pub seq: u32,
    _pad: u32,
}

const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();
const _: () = assert!(ENTRY_BYTES == 64);

impl Entry {
    fn new(seq: u32) -> Entry {
        Entry {
            first: i64::MAX,
            last: i64::MIN,
            monetary: 0,
            refunded: 0,
            w_monetary: 0,
            orders: 0,
            refunds: 0,
            future: 0,
            w_orders: 0,
            seq,
            _pad: 0,
        }
    }
}

type IdMap = IdTable<Entry>;

/// Rows buffered before their slots are touched: their slots are prefetched together.
const BATCH: usize = 32;

fn overflow(what: &str, id: i64) -> Error {
    Error::out_of_range(format!("population: {what} of customer {id} is out of range"))
}

/// Adds `amount` (an order when >= 0, else a refund) to an entry's totals at or before as_of.
/// Orders and refunds are limited separately (the same [`MAX_TOTAL`](super::numeric::MAX_TOTAL)
/// as summaries), so whether
/// a population is within the limit does not depend on the order the rows arrive in, and every
/// net figure (`monetary`, `w_monetary`) fits without a check of its own.
#[inline]
fn add_amount(e: &mut Entry, amount: i64, in_window: bool, id: i64) -> Result<()> {
    if amount < 0 {
        e.refunded = e.refunded.checked_sub(amount).ok_or_else(|| total_error("refunds", &format!("customer {id}")))?;
    } else {
        // monetary + refunded is the orders' total, in range whenever both totals are
        let orders = e.monetary + e.refunded;
        orders.checked_add(amount).ok_or_else(|| total_error("orders", &format!("customer {id}")))?;
    }
    e.monetary += amount;
    if in_window {
        e.w_monetary += amount;
    }
    Ok(())
}

/// The aggregate state.
pub struct State {
    pub as_of: i64,
    /// local day of as_of
    pub as_of_day: i64,
    /// first local day counted in the window, when scores use a window
    pub window_first_day: Option<i64>,
    /// the options text as given (it travels with partial states to the leader)
    pub options_json: String,
    pub rows: u64,
    map: IdMap,
    /// (local day, customer seq) of every order at or before as_of, in arrival order
    days: Vec<(i32, u32)>,
    limit: usize,
    peak: usize,
    /// rows not yet applied: (id, at, amount, day)
    pending: Vec<(i64, i64, i64, i64)>,
}

impl State {
    pub fn new(as_of: i64, as_of_day: i64, window_days: Option<i64>, options_json: String, limit: usize) -> State {
        State {
            as_of,
            as_of_day,
            window_first_day: window_days.map(|d| as_of_day - d + 1),
            options_json,
            rows: 0,
            map: IdMap::new(Entry::new(0)),
            days: Vec::new(),
            limit,
            peak: 0,
            pending: Vec::with_capacity(BATCH),
        }
    }

    pub fn customers(&self) -> usize {
        self.map.len()
    }

    /// Bytes held by the state's growable parts.
    pub fn bytes(&self) -> usize {
        self.map.bytes() + self.days.capacity() * 8 + self.options_json.capacity()
    }

    /// The most bytes the state held at once (growth included).
    pub fn peak_bytes(&self) -> usize {
        self.peak.max(self.bytes())
    }

    /// Checks that holding `extra` more bytes, plus what the final step will need for the
    /// customers and days held so far, stays within the limit (so that an input too large fails
    /// while it is read, not after), and records the peak of the state.
    fn check(&mut self, extra: usize) -> Result<()> {
        let want = self.bytes() + extra;
        if want.saturating_add(finish_bytes(self.map.len(), self.days.len())) > self.limit {
            return Err(self.over_limit(self.map.len(), self.days.len()));
        }
        self.peak = self.peak.max(want);
        Ok(())
    }

    fn over_limit(&self, customers: usize, days: usize) -> Error {
        Error::out_of_memory(format!(
            "population: {customers} customers and {days} purchase days need more than the memory limit of {} MB",
            self.limit >> 20
        ))
        .with_hint("Segment fewer customers per call (e.g. one call per region or customer_id range); only a superuser may raise pg_segment.population_memory_limit.")
    }

    /// The entry of customer `id`, created empty on first sight. The table grows ahead of
    /// time, with the limit checked before memory is taken (old and new table coexist while
    /// it grows).
    #[inline]
    fn entry(&mut self, id: i64) -> Result<&mut Entry> {
        if self.map.full() && !self.map.contains(id) {
            // while the table grows, the old and the new slot arrays coexist
            self.check(IdMap::bytes_for(self.map.len() + 1))?;
            self.map.try_reserve(self.map.len() + 1)?;
        }
        let seq = self.map.len();
        if seq >= u32::MAX as usize {
            return Err(Error::out_of_range("population: more than 4 billion customers"));
        }
        self.map.get_or_insert(id, || Entry::new(seq as u32))
    }

    #[inline]
    fn push_day(&mut self, day: i64, seq: u32) -> Result<()> {
        if self.days.len() == self.days.capacity() {
            if self.days.len() >= u32::MAX as usize / 2 {
                return Err(Error::limit("population: more than 2 billion orders"));
            }
            let new_cap = (self.days.capacity() * 2).max(4096);
            self.check(new_cap * 8)?;
            fa::reserve_total(&mut self.days, new_cap, "population: purchase days")?;
        }
        self.days.push((day as i32, seq));
        Ok(())
    }

    /// One order row: `amount` in micro-units, negative for a refund (the refund flag already
    /// applied, see [`super::summary::signed_amount`]); `day` the local day of `at` (only read
    /// when `at` is not after as_of).
    #[inline]
    pub fn add(&mut self, id: i64, at: i64, amount: i64, day: i64) -> Result<()> {
        self.map.prefetch(id);
        self.pending.push((id, at, amount, day));
        if self.pending.len() == BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Applies the buffered rows (their slots were prefetched as they arrived).
    pub fn flush(&mut self) -> Result<()> {
        let mut batch = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for &(id, at, amount, day) in &batch {
            result = self.apply(id, at, amount, day);
            if result.is_err() {
                break;
            }
        }
        batch.clear();
        self.pending = batch;
        result
    }

    #[inline]
    fn apply(&mut self, id: i64, at: i64, amount: i64, day: i64) -> Result<()> {
        self.rows += 1;
        let as_of = self.as_of;
        let in_window = self.window_first_day.is_some_and(|f| day >= f);
        let e = self.entry(id)?;
        if at > as_of {
            if amount >= 0 {
                e.future = e.future.checked_add(1).ok_or_else(|| overflow("future orders", id))?;
            }
            return Ok(());
        }
        add_amount(e, amount, in_window, id)?;
        if amount < 0 {
            e.refunds = e.refunds.checked_add(1).ok_or_else(|| overflow("refunds", id))?;
            return Ok(());
        }
        e.orders = e.orders.checked_add(1).ok_or_else(|| overflow("orders", id))?;
        e.first = e.first.min(at);
        e.last = e.last.max(at);
        if in_window {
            e.w_orders += 1;
        }
        let seq = e.seq;
        self.push_day(day, seq)
    }

    /// Merges another partial state (the combine step). Order independent.
    pub fn merge(&mut self, other: &State) -> Result<()> {
        self.flush()?;
        if !other.pending.is_empty() {
            return Err(Error::internal("population: merge of a partial state with unapplied rows"));
        }
        if other.as_of != self.as_of || other.window_first_day != self.window_first_day || other.options_json != self.options_json {
            return Err(Error::invalid("population: as_of and options must be the same for every row of the aggregate"));
        }
        self.rows += other.rows;
        // other's seq -> our seq
        let mut remap = fa::vec_filled(other.map.len(), 0u32, "population: combine")?;
        let mut tick = Ticker::new();
        for (id, o) in other.map.iter() {
            tick.tick(4);
            let e = self.entry(id)?;
            e.first = e.first.min(o.first);
            e.last = e.last.max(o.last);
            let whose = || format!("customer {id}");
            let orders = (e.monetary + e.refunded).checked_add(o.monetary + o.refunded).ok_or_else(|| total_error("orders", &whose()))?;
            e.refunded = e.refunded.checked_add(o.refunded).ok_or_else(|| total_error("refunds", &whose()))?;
            e.monetary = orders - e.refunded;
            // a window total is part of its customer's totals: in range whenever they are
            e.w_monetary += o.w_monetary;
            e.orders = e.orders.checked_add(o.orders).ok_or_else(|| overflow("orders", id))?;
            e.refunds = e.refunds.checked_add(o.refunds).ok_or_else(|| overflow("refunds", id))?;
            e.future = e.future.checked_add(o.future).ok_or_else(|| overflow("future orders", id))?;
            e.w_orders = e.w_orders.checked_add(o.w_orders).ok_or_else(|| overflow("window orders", id))?;
            remap[o.seq as usize] = e.seq;
        }
        let need = self.days.len() + other.days.len();
        if need > self.days.capacity() {
            self.check((need - self.days.capacity()) * 8)?;
            fa::reserve_total(&mut self.days, need, "population: purchase days")?;
        }
        self.days.extend(other.days.iter().map(|&(d, s)| (d, remap[s as usize])));
        Ok(())
    }

    // ---- partial-state serialization (parallel aggregation) ----
    // [magic u32][as_of i64][window_first_day i64 (MIN = none)][as_of_day i64][rows u64]
    // [limit u64][options len u32][options][n customers u64][n days u64]
    // [n × (id i64, entry 64 bytes)][n days × (day i32, seq u32)]

    /// (Call [`State::flush`] first: buffered rows are not serialized.)
    pub fn serialized_len(&self) -> usize {
        4 + 8 * 5 + 4 + self.options_json.len() + 16 + self.map.len() * (8 + ENTRY_BYTES) + self.days.len() * 8
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer { out, pos: 0 };
        w.put(&MAGIC.to_le_bytes());
        w.put(&self.as_of.to_le_bytes());
        w.put(&self.window_first_day.unwrap_or(i64::MIN).to_le_bytes());
        w.put(&self.as_of_day.to_le_bytes());
        w.put(&self.rows.to_le_bytes());
        w.put(&(self.limit as u64).to_le_bytes());
        w.put(&(self.options_json.len() as u32).to_le_bytes());
        w.put(self.options_json.as_bytes());
        w.put(&(self.map.len() as u64).to_le_bytes());
        w.put(&(self.days.len() as u64).to_le_bytes());
        for (id, e) in self.map.iter() {
            for v in [id, e.first, e.last, e.monetary, e.refunded, e.w_monetary] {
                w.put(&v.to_le_bytes());
            }
            for v in [e.orders, e.refunds, e.future, e.w_orders, e.seq, 0] {
                w.put(&v.to_le_bytes());
            }
        }
        for &(d, n) in &self.days {
            w.put(&d.to_le_bytes());
            w.put(&n.to_le_bytes());
        }
        debug_assert_eq!(w.pos, w.out.len());
    }

    /// Reads a partial state; `limit` is the reader's own memory limit (the one recorded by the
    /// writer is not trusted).
    pub fn deserialize(bytes: &[u8], limit: usize) -> Result<State> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.u32()? != MAGIC {
            return Err(Error::binary("population partial state: bad magic number"));
        }
        let as_of = r.i64()?;
        let wf = r.i64()?;
        let as_of_day = r.i64()?;
        let rows = r.u64()?;
        let _writer_limit = r.u64()?;
        let olen = r.u32()? as usize;
        let options_json =
            String::from_utf8(r.take(olen)?.to_vec()).map_err(|_| Error::binary("population partial state: options are not UTF-8"))?;
        let n = r.u64()? as usize;
        let nd = r.u64()? as usize;
        if n.saturating_mul(8 + ENTRY_BYTES).saturating_add(nd.saturating_mul(8)) != bytes.len() - r.pos {
            return Err(Error::binary("population partial state: truncated"));
        }
        let mut st = State::new(as_of, as_of_day, None, options_json, limit);
        st.window_first_day = (wf != i64::MIN).then_some(wf);
        st.rows = rows;
        // counts were checked against the bytes present; memory against the limit
        let need = IdMap::bytes_for(n).saturating_add(nd.saturating_mul(8)).saturating_add(n).saturating_add(finish_bytes(n, nd));
        if need > limit {
            return Err(st.over_limit(n, nd));
        }
        st.map.try_reserve(n)?;
        fa::reserve_exact(&mut st.days, nd, "population partial state")?;
        let mut seen = fa::vec_filled(n, false, "population partial state")?;
        for _ in 0..n {
            let id = r.i64()?;
            let mut e = Entry::new(0);
            e.first = r.i64()?;
            e.last = r.i64()?;
            e.monetary = r.i64()?;
            e.refunded = r.i64()?;
            e.w_monetary = r.i64()?;
            e.orders = r.u32()?;
            e.refunds = r.u32()?;
            e.future = r.u32()?;
            e.w_orders = r.u32()?;
            e.seq = r.u32()?;
            r.u32()?;
            if e.seq as usize >= n || std::mem::replace(&mut seen[e.seq as usize], true) {
                return Err(Error::binary("population partial state: bad customer sequence"));
            }
            // one probe: a second entry for the same customer is corruption
            let mut fresh = false;
            st.map.get_or_insert(id, || {
                fresh = true;
                e
            })?;
            if !fresh {
                return Err(Error::binary("population partial state: duplicate customer"));
            }
        }
        for _ in 0..nd {
            let d = r.u32()? as i32;
            let seq = r.u32()?;
            if seq as usize >= n {
                return Err(Error::binary("population partial state: bad customer sequence"));
            }
            st.days.push((d, seq));
        }
        Ok(st)
    }

    /// Segments every customer. `day_of` gives the local day of an instant (in the same zone
    /// as the days given to [`State::add`]). Its working memory ([`finish_bytes`]) counts
    /// against the limit too, and every loop is a cancellation point.
    pub fn finish(&mut self, opts: &Options, day_of: &mut dyn FnMut(i64) -> i64) -> Result<Output> {
        self.flush()?;
        let n = self.map.len();
        if self.bytes().saturating_add(finish_bytes(n, self.days.len())) > self.limit {
            return Err(self.over_limit(n, self.days.len()));
        }
        let what = "population: final step";
        let mut tick = Ticker::new();
        // customers in id order (the output does not depend on the plan): each customer's rank,
        // then entries and purchase days laid out by rank, so that everything below reads
        // memory in order instead of jumping around the hash table
        let mut ids: Vec<(i64, u32)> = fa::vec_with_capacity(n, what)?;
        for (id, e) in self.map.iter() {
            tick.tick(2);
            ids.push((id, e.seq));
        }
        cancel::sort_unstable_by(&mut ids, |a, b| a.0.cmp(&b.0));
        let mut rank_of_seq = fa::vec_filled(n, 0u32, what)?;
        for (rank, &(_, seq)) in ids.iter().enumerate() {
            tick.tick(1);
            rank_of_seq[seq as usize] = rank as u32;
        }
        let mut ranked: Vec<Entry> = fa::vec_filled(n, Entry::new(0), what)?;
        for (_, e) in self.map.iter() {
            tick.tick(2);
            ranked[rank_of_seq[e.seq as usize] as usize] = *e;
        }
        // purchase days grouped by rank (a counting sort: sequential reads, scattered writes;
        // 32-bit offsets keep the scattered structures small enough for the cache)
        let mut start = fa::vec_filled(n + 1, 0u32, what)?;
        for (rank, e) in ranked.iter().enumerate() {
            start[rank + 1] = start[rank] + e.orders;
        }
        let mut fill = fa::copy_of(&start, what)?;
        let mut flat = fa::vec_filled(self.days.len(), 0i32, what)?;
        let mut ranks: Vec<u32> = fa::vec_with_capacity(self.days.len(), what)?;
        for &(_, s) in &self.days {
            tick.tick(1);
            ranks.push(rank_of_seq[s as usize]);
        }
        for (&(d, _), &r) in self.days.iter().zip(&ranks) {
            tick.tick(1);
            let at = &mut fill[r as usize];
            flat[*at as usize] = d;
            *at += 1;
        }
        drop(ranks);
        drop(fill);
        drop(rank_of_seq);
        let windowed = self.window_first_day.is_some();
        // R, F, M inputs of the customers with an order by as_of
        let mut rows: Vec<OutRow> = fa::vec_with_capacity(n, what)?;
        let mut values: Vec<Rfm> = fa::vec_with_capacity(n, what)?;
        for (&(id, _), e) in ids.iter().zip(&ranked) {
            tick.tick(4);
            let mut row = OutRow::from_entry(id, e, windowed);
            if e.orders > 0 {
                row.recency = (self.as_of_day - day_of(e.last)) as i32;
                row.tenure = (self.as_of_day - day_of(e.first)) as i32;
                let (f, m) = if windowed { (e.w_orders, e.w_monetary) } else { (e.orders, e.monetary) };
                values.push(Rfm { recency: row.recency as f64, frequency: f as f64, monetary: m as f64 / SCALE as f64 });
            }
            rows.push(row);
        }
        // everything below reads the rows
        drop(ranked);
        drop(ids);
        // breaks: given, or quantiles of the population (exactly what rfm_breaks computes)
        let (breaks, breaks_doc) = match &opts.fixed {
            Some((b, doc)) => (Some(b.clone()), doc.clone()),
            // customers, but none with an order by as_of: no breaks, every customer a prospect
            None if values.is_empty() && n > 0 => (None, Value::Null),
            None if values.is_empty() => {
                return Ok(Output {
                    as_of: self.as_of,
                    rows,
                    labels: Vec::new(),
                    breaks: Value::Null,
                    rows_read: self.rows,
                    state_bytes: self.peak_bytes(),
                });
            }
            None => {
                let doc = quantile_breaks(&values, opts.bins, &opts.breaks, &format_instant(self.as_of))?;
                let breaks = Breaks::from_json(&doc.to_string())?;
                let mut doc = doc;
                if let Some(tz) = &opts.tz {
                    doc["tz"] = Value::String(tz.clone());
                }
                (Some(breaks), doc)
            }
        };
        let mut labels = Interner::default();
        let stages: Vec<u16> = (0..Lifecycle::STAGES).map(|i| labels.add(Lifecycle::label(i).get(opts.lang))).collect::<Result<_>>()?;
        let cadences: Vec<u16> = (0..Cadence::CLASSES).map(|i| labels.add(Cadence::label(i).get(opts.lang))).collect::<Result<_>>()?;
        let mut v = values.iter();
        let mut buf: Vec<i64> = Vec::new();
        for (k, row) in rows.iter_mut().enumerate() {
            if row.orders > 0 {
                let x = v.next().expect("one value per customer with orders");
                let s = breaks.as_ref().expect("breaks whenever a customer has an order").score(x);
                row.segment = labels.get(opts.scheme.classify(&s), opts.lang)?;
                row.score = Some(s);
                row.stage = stages[opts.lifecycle.stage_index(Some(row.recency as i64), Some(row.tenure as i64))];
            } else {
                row.stage = stages[opts.lifecycle.stage_index(None, None)];
            }
            let days = &mut flat[start[k] as usize..start[k + 1] as usize];
            // sorting a customer's days: about d log d comparisons
            tick.tick(16 + days.len() as u64 * 8);
            days.sort_unstable();
            let mut distinct = 0;
            for i in 0..days.len() {
                if i == 0 || days[i] != days[distinct - 1] {
                    days[distinct] = days[i];
                    distinct += 1;
                }
            }
            buf.clear();
            fa::reserve(&mut buf, distinct, what)?;
            buf.extend(days[..distinct].iter().map(|&d| d as i64));
            if let Some(c) = opts.cadence.classify_index(&buf) {
                row.cadence = cadences[c];
            }
        }
        drop(values);
        drop(flat);
        // tier: cume_dist() over the tier value, descending, among customers with an order
        let mut ranked: Vec<(i64, u32)> = fa::vec_with_capacity(n, what)?;
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
            // peers share the position of the last of them, as cume_dist() does
            let share = (end + 1) as f64 / total as f64;
            let label = opts.tiers.tier(share)?;
            let t = labels.get(label, opts.lang)?;
            for r in &ranked[start..=end] {
                rows[r.1 as usize].tier = t;
            }
            start = end + 1;
        }
        Ok(Output {
            as_of: self.as_of,
            rows,
            labels: labels.names,
            breaks: breaks_doc,
            rows_read: self.rows,
            state_bytes: self.peak_bytes(),
        })
    }
}

/// Bytes the final step needs beyond the state for `customers` and `days` purchase days, at its
/// peak: while the output rows are built, the id order, the entries by rank, the day offsets and
/// the R/F/M values coexist with them (later phases and the encoded value need less); the days
/// by rank and their ranks take 8 bytes per day.
pub fn finish_bytes(customers: usize, days: usize) -> usize {
    let per_customer = std::mem::size_of::<OutRow>() + 16 + ENTRY_BYTES + 8 + std::mem::size_of::<Rfm>();
    customers.saturating_mul(per_customer.max(ROW)).saturating_add(days.saturating_mul(8))
}

const MAGIC: u32 = 0x5053_4731; // "PSG1"

struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) {
        self.out[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.b.len() - self.pos {
            return Err(Error::binary("population value is truncated"));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}

/// Label texts of one population, each stored once; labels are found by address (the rule
/// set and tiers own them for the whole call), so no string is hashed per customer.
#[derive(Default)]
struct Interner {
    names: Vec<String>,
    by_address: HashMap<usize, u16, BuildHasherDefault<IdHasher>>,
}

impl Interner {
    fn add(&mut self, text: &str) -> Result<u16> {
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

/// The most labels one population value can index (u16 indices, [`NO_LABEL`] excluded).
pub const MAX_LABELS: usize = NO_LABEL as usize;

// ---- options ----

/// Options of the population aggregate (a jsonb object; every key optional).
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
    let sub = |o: &mut Obj, key: &str| -> Result<String> {
        match o.take(key) {
            None | Some(Value::Null) => Ok("{}".into()),
            Some(v @ Value::Object(_)) => Ok(v.to_string()),
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
            let (b, tz) = Breaks::from_json_with_tz(&v.to_string())
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
    let breaks = breaks_options(&Value::Object(bo).to_string())?;
    let scheme = match o.take("scheme") {
        None | Some(Value::Null) => RuleSet::builtin("rfm11")?,
        Some(Value::String(s)) => RuleSet::builtin(&s)?,
        Some(v @ Value::Array(_)) => RuleSet::parse(&v.to_string())?,
        Some(v) => {
            return Err(Error::invalid(format!("population options: key \"scheme\" must be 'rfm11', 'cn8' or a rule array, got {v}")))
        }
    };
    let tiers = match o.take("tiers") {
        None | Some(Value::Null) => Tiers::parse("{}")?,
        Some(v) => Tiers::parse(&json!({ "tiers": v }).to_string())?,
    };
    let tier_by_total = match o.string("tier_by", "monetary")?.as_str() {
        "monetary" => false,
        "rfm_total" => true,
        other => {
            return Err(Error::invalid(format!(
                "population options: key \"tier_by\" must be \"monetary\" or \"rfm_total\", got \"{other}\""
            )))
        }
    };
    let lifecycle = Lifecycle::parse(&sub(&mut o, "lifecycle")?)?;
    let cadence = Cadence::parse(&sub(&mut o, "cadence")?)?;
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

// ---- the population value ----

/// One customer's segmentation.
#[derive(Clone, Debug, PartialEq)]
pub struct OutRow {
    pub id: i64,
    pub orders: u32,
    pub refunds: u32,
    pub future: u32,
    pub w_orders: u32,
    pub monetary: i64,
    pub refunded: i64,
    pub w_monetary: i64,
    pub first: i64,
    pub last: i64,
    pub recency: i32,
    pub tenure: i32,
    pub windowed: bool,
    pub score: Option<Score>,
    pub segment: u16,
    pub tier: u16,
    pub stage: u16,
    pub cadence: u16,
}

pub const NO_LABEL: u16 = u16::MAX;

impl OutRow {
    fn from_entry(id: i64, e: &Entry, windowed: bool) -> OutRow {
        OutRow {
            id,
            orders: e.orders,
            refunds: e.refunds,
            future: e.future,
            w_orders: e.w_orders,
            monetary: e.monetary,
            refunded: e.refunded,
            w_monetary: e.w_monetary,
            first: e.first,
            last: e.last,
            recency: 0,
            tenure: 0,
            windowed,
            score: None,
            segment: NO_LABEL,
            tier: NO_LABEL,
            stage: NO_LABEL,
            cadence: NO_LABEL,
        }
    }
}

/// The finished population: rows in customer-id order, the label texts they index, the breaks
/// document used.
pub struct Output {
    pub as_of: i64,
    pub rows: Vec<OutRow>,
    pub labels: Vec<String>,
    pub breaks: Value,
    pub rows_read: u64,
    pub state_bytes: usize,
}

// Encoded population value (little endian):
// [magic u32][version u8][pad 3][as_of i64][rows_read u64][state_bytes u64][n u64]
// [info len u32][info json][labels: count u32, (len u32, bytes)*][n × ROW bytes]
const POP_MAGIC: u32 = 0x5053_5031; // "PSP1"
/// Largest info document a reader accepts: the JSON a writer can put there (a breaks document
/// from the options, themselves at most MAX_JSON_TEXT) and a little framing.
const MAX_INFO: usize = fa::MAX_JSON_TEXT + 64;
pub const POPULATION_VERSION: u8 = 1;
const ROW: usize = 8 * 6 + 4 * 4 + 4 * 2 + 4 + 4 * 2 + 8; // = 92

impl Output {
    fn info_json(&self) -> String {
        json!({"breaks": self.breaks}).to_string()
    }

    pub fn encoded_len(&self) -> usize {
        let labels: usize = self.labels.iter().map(|l| 4 + l.len()).sum();
        4 + 4 + 8 * 4 + 4 + self.info_json().len() + 4 + labels + self.rows.len() * ROW
    }

    pub fn encode_into(&self, out: &mut [u8]) {
        let mut w = Writer { out, pos: 0 };
        w.put(&POP_MAGIC.to_le_bytes());
        w.put(&[POPULATION_VERSION, 0, 0, 0]);
        w.put(&self.as_of.to_le_bytes());
        w.put(&self.rows_read.to_le_bytes());
        w.put(&(self.state_bytes as u64).to_le_bytes());
        w.put(&(self.rows.len() as u64).to_le_bytes());
        let info = self.info_json();
        w.put(&(info.len() as u32).to_le_bytes());
        w.put(info.as_bytes());
        w.put(&(self.labels.len() as u32).to_le_bytes());
        for l in &self.labels {
            w.put(&(l.len() as u32).to_le_bytes());
            w.put(l.as_bytes());
        }
        for r in &self.rows {
            for v in [r.id, r.monetary, r.refunded, r.w_monetary, r.first, r.last] {
                w.put(&v.to_le_bytes());
            }
            for v in [r.orders, r.refunds, r.future, r.w_orders] {
                w.put(&v.to_le_bytes());
            }
            w.put(&r.recency.to_le_bytes());
            w.put(&r.tenure.to_le_bytes());
            let (sc, bins, hi) = match &r.score {
                Some(s) => (
                    [s.r as u8, s.f as u8, s.m as u8],
                    [s.bins[0] as u8, s.bins[1] as u8, s.bins[2] as u8],
                    (s.r_high as u8) | (s.f_high as u8) << 1 | (s.m_high as u8) << 2 | 8,
                ),
                None => ([0; 3], [0; 3], 0),
            };
            w.put(&[sc[0], sc[1], sc[2], hi | if r.windowed { 16 } else { 0 }]);
            w.put(&[bins[0], bins[1], bins[2], 0]);
            w.put(&[0u8; 4]);
            for v in [r.segment, r.tier, r.stage, r.cadence] {
                w.put(&v.to_le_bytes());
            }
        }
        debug_assert_eq!(w.pos, w.out.len());
    }
}

/// Zero-copy reader of an encoded population value.
pub struct PopulationView<'a> {
    pub as_of: i64,
    pub rows_read: u64,
    pub state_bytes: u64,
    pub len: usize,
    pub info: &'a str,
    pub labels: Vec<&'a str>,
    rows: &'a [u8],
}

impl<'a> PopulationView<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<PopulationView<'a>> {
        let mut r = Reader { b: bytes, pos: 0 };
        if r.u32()? != POP_MAGIC {
            return Err(Error::binary("not an rfm_population value"));
        }
        let version = r.take(4)?[0];
        if version > POPULATION_VERSION {
            return Err(Error::not_supported(format!(
                "rfm_population version {version} is not supported (this pg_segment reads version {POPULATION_VERSION})"
            ))
            .with_hint("the value was written by a newer pg_segment: run ALTER EXTENSION pg_segment UPDATE"));
        }
        let as_of = r.i64()?;
        let rows_read = r.u64()?;
        let state_bytes = r.u64()?;
        let len = r.u64()? as usize;
        let ilen = r.u32()? as usize;
        // the accessors parse the info: a (hand-made) value cannot make them parse more than a
        // writer ever writes (a breaks document of a few hundred bytes)
        if ilen > MAX_INFO {
            return Err(Error::binary("rfm_population: the info document is larger than pg_segment writes"));
        }
        let info = std::str::from_utf8(r.take(ilen)?).map_err(|_| Error::binary("rfm_population: info is not UTF-8"))?;
        let nl = r.u32()? as usize;
        // every label takes at least its 4-byte length: the count is bounded by the bytes left
        if nl > (bytes.len() - r.pos) / 4 {
            return Err(Error::binary("rfm_population value is truncated"));
        }
        let mut labels = fa::vec_with_capacity(nl, "rfm_population")?;
        for _ in 0..nl {
            let l = r.u32()? as usize;
            labels.push(std::str::from_utf8(r.take(l)?).map_err(|_| Error::binary("rfm_population: label is not UTF-8"))?);
        }
        let rows = &bytes[r.pos..];
        if rows.len() != len.saturating_mul(ROW) {
            return Err(Error::binary("rfm_population value is truncated"));
        }
        Ok(PopulationView { as_of, rows_read, state_bytes, len, info, labels, rows })
    }

    /// Checks everything `population_agg` guarantees of a value, so that the text and binary
    /// inputs accept exactly the values it can produce: version 1 with zero padding, an info
    /// document holding valid breaks, labels without NUL, and rows in strictly ascending
    /// customer order whose instants, totals, scores and label indices are consistent.
    /// `bytes` is the value the view was made from.
    pub fn validate(&self, bytes: &[u8]) -> Result<()> {
        let bad = |what: String| Error::binary(format!("rfm_population value is corrupt: {what}"));
        if bytes[4..8] != [POPULATION_VERSION, 0, 0, 0] {
            return Err(bad(format!(
                "version {} with padding {:?} (this pg_segment writes version {POPULATION_VERSION})",
                bytes[4],
                &bytes[5..8]
            )));
        }
        check_instant(self.as_of, "rfm_population as_of")?;
        let info: Value = serde_json::from_str(self.info).map_err(|e| bad(format!("info is not JSON: {e}")))?;
        match info.as_object() {
            Some(o) if o.len() == 1 => match o.get("breaks") {
                Some(Value::Null) => {}
                Some(b @ Value::Object(_)) => {
                    Breaks::from_json_with_tz(&b.to_string()).map_err(|e| bad(format!("info.breaks: {}", e.message)))?;
                }
                _ => return Err(bad("info must be {\"breaks\": null or a breaks object}".into())),
            },
            _ => return Err(bad("info must be {\"breaks\": ...}".into())),
        }
        if self.labels.len() > MAX_LABELS {
            return Err(bad(format!("{} labels, more than {MAX_LABELS}", self.labels.len())));
        }
        if self.labels.iter().chain([&self.info]).any(|l| l.contains('\0')) {
            return Err(bad("a label or the info holds a NUL character".into()));
        }
        let n_labels = self.labels.len();
        let label_ok = |i: u16, required: bool| if i == NO_LABEL { !required } else { (i as usize) < n_labels };
        let mut prev: Option<i64> = None;
        for i in 0..self.len {
            let b = &self.rows[i * ROW..(i + 1) * ROW];
            let r = self.row(i);
            let row = |what: &str| bad(format!("row {} (customer {}): {what}", i + 1, r.id));
            if prev.is_some_and(|p| p >= r.id) {
                return Err(row("customers are not in strictly ascending id order"));
            }
            prev = Some(r.id);
            if b[75] & !31 != 0 || b[79..84] != [0; 5] {
                return Err(row("unknown flags or nonzero padding"));
            }
            // totals: net spend is orders minus refunds (summed in i128: pg_segment 0.1.0 limited
            // the running net only, so its values may hold larger totals, and must still load)
            let orders_total = r.monetary as i128 + r.refunded as i128;
            if r.refunded < 0 || orders_total < 0 || (r.refunds == 0) != (r.refunded == 0) {
                return Err(row("inconsistent net spend, refunds and refunded amount"));
            }
            let window_ok = (-(r.refunded as i128)..=orders_total).contains(&(r.w_monetary as i128));
            if r.w_orders > r.orders || !window_ok || !r.windowed && (r.w_orders, r.w_monetary) != (0, 0) {
                return Err(row("window figures outside the customer's figures"));
            }
            if r.orders == 0 {
                let empty = (r.first, r.last, r.recency, r.tenure, orders_total, r.segment, r.tier)
                    == (i64::MAX, i64::MIN, 0, 0, 0i128, NO_LABEL, NO_LABEL);
                if !empty || b[72..75] != [0; 3] || b[76..79] != [0; 3] || b[75] & !16 != 0 {
                    return Err(row("a customer without orders has order figures"));
                }
            } else {
                check_instant(r.first, "rfm_population first_order")?;
                check_instant(r.last, "rfm_population last_order")?;
                if r.first > r.last || r.last > self.as_of || r.recency < 0 || r.tenure < r.recency {
                    return Err(row("first and last order, recency and tenure are inconsistent"));
                }
                let Some(s) = &r.score else { return Err(row("a customer with orders has no score")) };
                let ok = |v: i32, bins: i32| (2..=10).contains(&bins) && (1..=bins).contains(&v);
                if !(ok(s.r, s.bins[0]) && ok(s.f, s.bins[1]) && ok(s.m, s.bins[2])) {
                    return Err(row("scores outside their bins"));
                }
                if !label_ok(r.segment, true) || !label_ok(r.tier, true) {
                    return Err(row("segment or tier label index out of range"));
                }
            }
            // pg_segment 0.1.0 wrote populations without any order by as_of with no labels at
            // all (no lifecycle stage): such values stay readable
            let legacy_prospect = n_labels == 0 && r.orders == 0 && r.stage == NO_LABEL;
            if !(legacy_prospect || label_ok(r.stage, true)) || !label_ok(r.cadence, false) {
                return Err(row("lifecycle stage or cadence label index out of range"));
            }
        }
        Ok(())
    }

    pub fn label(&self, i: u16) -> Option<&'a str> {
        if i == NO_LABEL {
            None
        } else {
            self.labels.get(i as usize).copied()
        }
    }

    /// Row `i`; label fields index `labels`.
    pub fn row(&self, i: usize) -> OutRow {
        let b = &self.rows[i * ROW..(i + 1) * ROW];
        let i64_at = |p: usize| i64::from_le_bytes(b[p..p + 8].try_into().unwrap());
        let u32_at = |p: usize| u32::from_le_bytes(b[p..p + 4].try_into().unwrap());
        let u16_at = |p: usize| u16::from_le_bytes(b[p..p + 2].try_into().unwrap());
        let flags = b[75];
        let score = (flags & 8 != 0).then(|| Score {
            r: b[72] as i32,
            f: b[73] as i32,
            m: b[74] as i32,
            r_high: flags & 1 != 0,
            f_high: flags & 2 != 0,
            m_high: flags & 4 != 0,
            bins: [b[76] as i32, b[77] as i32, b[78] as i32],
        });
        OutRow {
            id: i64_at(0),
            monetary: i64_at(8),
            refunded: i64_at(16),
            w_monetary: i64_at(24),
            first: i64_at(32),
            last: i64_at(40),
            orders: u32_at(48),
            refunds: u32_at(52),
            future: u32_at(56),
            w_orders: u32_at(60),
            recency: i32::from_le_bytes(b[64..68].try_into().unwrap()),
            tenure: i32::from_le_bytes(b[68..72].try_into().unwrap()),
            windowed: flags & 16 != 0,
            score,
            segment: u16_at(84),
            tier: u16_at(86),
            stage: u16_at(88),
            cadence: u16_at(90),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::MAX_TOTAL;
    use crate::summary::{purchase_days, signed_amount, Summary, SummaryView};
    use crate::time::{day_of, USECS_PER_DAY};
    use crate::ErrCode;
    use rand::{Rng, SeedableRng};

    const AS_OF: i64 = 800 * USECS_PER_DAY + 12 * 3_600_000_000;

    /// (customer, instant, amount, refund flag) rows: ties, same-day orders, refunds by sign and
    /// by flag, orders after as_of, customers with only refunds or only future orders.
    fn rows(seed: u64, customers: i64) -> Vec<(i64, i64, i64, bool)> {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut out = Vec::new();
        for c in 1..=customers {
            let n = rng.gen_range(0..12);
            for _ in 0..n {
                let day = rng.gen_range(0..900i64);
                let at = day * USECS_PER_DAY + rng.gen_range(0..4) * 6 * 3_600_000_000;
                let amount = rng.gen_range(0..50i64) * 10_000 + if rng.gen_bool(0.3) { 5_000 } else { 0 };
                let refund = rng.gen_bool(0.1);
                out.push((c * 7919, at, if rng.gen_bool(0.05) { -amount } else { amount }, refund));
            }
        }
        out.push((-5, AS_OF - 3 * USECS_PER_DAY, 10_000, true)); // only a refund
        out.push((-6, AS_OF + USECS_PER_DAY, 10_000, false)); // only a future order
        out
    }

    fn state(rows: &[(i64, i64, i64, bool)], opts: &Options, json: &str) -> State {
        let mut st = State::new(AS_OF, day_of(AS_OF), opts.window_days(), json.into(), usize::MAX);
        for &(c, at, amount, flag) in rows {
            if let Some(a) = signed_amount(amount, flag) {
                st.add(c, at, a, day_of(at)).unwrap();
            }
        }
        st
    }

    /// The composable path, computed from per-customer summaries with the core functions the
    /// SQL functions call.
    fn composable(
        rows: &[(i64, i64, i64, bool)],
        opts: &Options,
    ) -> Vec<(i64, Option<Score>, String, Option<String>, String, Option<String>, i64, i64)> {
        let mut by: std::collections::BTreeMap<i64, Summary> = Default::default();
        for &(c, at, amount, flag) in rows {
            by.entry(c).or_insert_with(Summary::new).push(at, amount, flag);
        }
        let enc: Vec<(i64, Vec<u8>)> = by.into_iter().map(|(c, mut s)| (c, s.encode())).collect();
        let local = |t: i64| t;
        let window = opts.window_days();
        let mut values = Vec::new();
        let mut per = Vec::new();
        for (c, b) in &enc {
            let v = SummaryView::new(b).unwrap();
            let all = v.metrics(Some(AS_OF));
            let w = match window {
                Some(d) => v.window_metrics(AS_OF, d, &local),
                None => all,
            };
            let x = all.last_order.map(|l| Rfm {
                recency: (day_of(AS_OF) - day_of(l)) as f64,
                frequency: w.orders as f64,
                monetary: w.monetary as f64 / SCALE as f64,
            });
            if let Some(x) = x {
                values.push(x);
            }
            per.push((*c, v, all, w, x));
        }
        let breaks = match &opts.fixed {
            Some((b, _)) => b.clone(),
            None => Breaks::from_json(&quantile_breaks(&values, opts.bins, &opts.breaks, "x").unwrap().to_string()).unwrap(),
        };
        let mut spend: Vec<i64> = per.iter().filter(|p| p.4.is_some()).map(|p| p.3.monetary as i64).collect();
        spend.sort_unstable_by(|a, b| b.cmp(a));
        per.iter()
            .map(|(c, v, all, w, x)| {
                let score = x.map(|x| breaks.score(&x));
                let seg = score.as_ref().map_or(String::new(), |s| opts.scheme.classify(s).get(opts.lang).to_string());
                let tier = x.map(|_| {
                    let pos = spend.iter().filter(|&&s| s >= w.monetary as i64).count();
                    opts.tiers.tier(pos as f64 / spend.len() as f64).unwrap().get(opts.lang).to_string()
                });
                let rec = all.last_order.map(|l| day_of(AS_OF) - day_of(l));
                let ten = all.first_order.map(|f| day_of(AS_OF) - day_of(f));
                let stage = opts.lifecycle.stage(rec, ten).get(opts.lang).to_string();
                let cad = opts.cadence.classify(&purchase_days(v, AS_OF, &local).unwrap()).map(|l| l.get(opts.lang).to_string());
                (*c, score, seg, tier, stage, cad, all.monetary as i64, all.future_orders)
            })
            .collect()
    }

    fn check_equal(json: &str, seed: u64) {
        let opts = parse_options(json).unwrap();
        let rows = rows(seed, 400);
        let out = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
        let expect = composable(&rows, &opts);
        assert_eq!(out.rows.len(), expect.len());
        let mut bytes = vec![0u8; out.encoded_len()];
        out.encode_into(&mut bytes);
        let view = PopulationView::new(&bytes).unwrap();
        assert_eq!(view.len, expect.len());
        for (i, (r, e)) in out.rows.iter().zip(&expect).enumerate() {
            let name = |k: u16| view.label(k).map(String::from);
            assert_eq!(r.id, e.0);
            assert_eq!(r.score, e.1, "score of {}", r.id);
            assert_eq!(name(r.segment).unwrap_or_default(), e.2, "segment of {}", r.id);
            assert_eq!(name(r.tier), e.3, "tier of {}", r.id);
            assert_eq!(name(r.stage).unwrap(), e.4, "stage of {}", r.id);
            assert_eq!(name(r.cadence), e.5, "cadence of {}", r.id);
            assert_eq!(r.monetary, e.6);
            assert_eq!(r.future as i64, e.7);
            let v = view.row(i);
            assert_eq!(
                (v.id, v.monetary, v.orders, v.recency, v.tenure, v.score.clone(), v.segment, v.tier, v.stage, v.cadence),
                (r.id, r.monetary, r.orders, r.recency, r.tenure, r.score.clone(), r.segment, r.tier, r.stage, r.cadence)
            );
        }
    }

    #[test]
    fn equals_the_composable_functions() {
        check_equal("{}", 1);
        check_equal(r#"{"scheme": "cn8", "lang": "en", "bins": 4, "center": "median"}"#, 2);
        check_equal(r#"{"window_days": 365, "lang": "code", "tiers": [{"label": "top", "share": 20}, {"label": "rest", "share": 80}]}"#, 3);
        let fixed = crate::score::thresholds(r#"{"monetary": [100, 200]}"#).unwrap();
        check_equal(&json!({"breaks": fixed, "lang": "en"}).to_string(), 4);
    }

    #[test]
    fn partial_states_merge_and_serialize_to_the_same_result() {
        let json = r#"{"window_days": 200}"#;
        let opts = parse_options(json).unwrap();
        let rows = rows(9, 300);
        let whole = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
        // three partial states over interleaved rows, each through serialize/deserialize
        let parts: Vec<Vec<_>> = (0..3).map(|k| rows.iter().enumerate().filter(|(i, _)| i % 3 == k).map(|(_, r)| *r).collect()).collect();
        let mut merged: Option<State> = None;
        for p in parts.iter().rev() {
            let mut st = state(p, &opts, json);
            st.flush().unwrap();
            let mut b = vec![0u8; st.serialized_len()];
            st.serialize_into(&mut b);
            let back = State::deserialize(&b, usize::MAX).unwrap();
            match merged.as_mut() {
                None => merged = Some(back),
                Some(m) => m.merge(&back).unwrap(),
            }
        }
        let merged = merged.unwrap().finish(&opts, &mut |t| day_of(t)).unwrap();
        assert_eq!(merged.rows, whole.rows);
        assert_eq!(merged.breaks, whole.breaks);
        // a truncated partial state is an error, not a crash
        let mut st = state(&parts[0], &opts, json);
        st.flush().unwrap();
        let mut b = vec![0u8; st.serialized_len()];
        st.serialize_into(&mut b);
        assert!(State::deserialize(&b[..b.len() - 3], usize::MAX).is_err());
        assert!(State::deserialize(&b[..10], usize::MAX).is_err());
        // the reader's limit applies, not the one the writer recorded
        assert_eq!(State::deserialize(&b, 1 << 10).err().unwrap().code, crate::ErrCode::OutOfMemory);
        // two records for one customer: rejected, not merged into one entry
        let hdr = 4 + 8 * 5 + 4 + json.len() + 16;
        let first_id: [u8; 8] = b[hdr..hdr + 8].try_into().unwrap();
        b[hdr + 8 + ENTRY_BYTES..hdr + 16 + ENTRY_BYTES].copy_from_slice(&first_id);
        let e = State::deserialize(&b, usize::MAX).err().expect("a duplicate customer must be rejected");
        assert!(e.message.contains("duplicate customer"), "{}", e.message);
        let o = parse_options("{}").unwrap();
        let mut other = state(&rows, &opts, json);
        other.flush().unwrap();
        assert!(state(&rows, &o, "{}").merge(&other).is_err(), "different options must not merge");
    }

    #[test]
    fn memory_limit_is_an_error_with_sqlstate_53200() {
        let mut st = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), 1 << 20);
        let mut err = None;
        for c in 0..100_000 {
            if let Err(e) = st.add(c, AS_OF - USECS_PER_DAY, 10_000, day_of(AS_OF) - 1).and_then(|_| st.flush()) {
                err = Some(e);
                break;
            }
        }
        let e = err.expect("1 MB cannot hold 100,000 customers");
        assert_eq!(e.code, crate::ErrCode::OutOfMemory);
        assert!(e.message.contains("memory limit of 1 MB") && e.hint.unwrap().contains("pg_segment.population_memory_limit"));
        assert!(st.bytes() <= 1 << 20);
    }

    /// The final step's working memory counts against the limit, and the final step stops on
    /// cancel (leaving the state as it was: the same state finishes afterwards).
    #[test]
    fn final_step_is_bounded_and_cancellable() {
        use crate::cancel::testing::{cancel_after, count_checks};
        let opts = parse_options("{}").unwrap();
        let rows = rows(5, 60_000);
        let mut st = state(&rows, &opts, "{}");
        st.flush().unwrap();
        let want = st.finish(&opts, &mut |t| day_of(t)).unwrap();
        st.limit = st.bytes() + finish_bytes(st.customers(), st.days.len()) - 1;
        let e = st.finish(&opts, &mut |t| day_of(t)).err().expect("the final step must count against the limit");
        assert_eq!(e.code, crate::ErrCode::OutOfMemory);
        st.limit = usize::MAX;
        let (_, checks) = count_checks(|| st.finish(&opts, &mut |t| day_of(t)).unwrap());
        assert!(checks >= 2, "{checks} interrupt checks in the final step of 60,000 customers");
        for after in [0, checks - 1] {
            assert!(cancel_after(after, || st.finish(&opts, &mut |t| day_of(t))).0.is_err(), "cancel at check {after} ignored");
        }
        assert_eq!(st.finish(&opts, &mut |t| day_of(t)).unwrap().rows, want.rows);
    }

    #[test]
    fn options_are_strict() {
        for (json, needle) in [
            (r#"{"bins": 11}"#, "bins"),
            (r#"{"scheme": "rfm12"}"#, "scheme"),
            (r#"{"tier_by": "age"}"#, "tier_by"),
            (r#"{"lang": "fr"}"#, "lang"),
            (r#"{"colour": 1}"#, "colour"),
            (r#"{"breaks": {"recency": [1], "frequency": [1], "monetary": [1]}, "window_days": 30}"#, "window_days"),
            (r#"{"lifecycle": {"active_days": 400}}"#, "lifecycle"),
        ] {
            let e = parse_options(json).err().unwrap_or_else(|| panic!("{json} should fail"));
            assert_eq!(e.code, crate::ErrCode::InvalidParameter, "{json}");
            assert!(e.message.contains(needle), "{json}: {}", e.message);
        }
    }

    /// Label indices are u16 in the stored value: options that could name more labels are refused
    /// up front, and the interner itself never wraps.
    #[test]
    fn label_indices_never_wrap() {
        let n = MAX_LABELS - Lifecycle::STAGES - Cadence::CLASSES;
        let tiers = |n: usize| {
            let t: Vec<Value> = (0..n).map(|i| json!({"label": format!("t{i}"), "share": 100.0 / n as f64})).collect();
            json!({ "tiers": t }).to_string()
        };
        // 11 rules of rfm11 plus n tiers: one too many
        let e = parse_options(&tiers(n - 10)).err().expect("too many labels");
        assert_eq!(e.code, crate::ErrCode::InvalidParameter);
        assert!(e.message.contains("\"tiers\"") && e.message.contains(&MAX_LABELS.to_string()), "{}", e.message);
        assert!(parse_options(&tiers(n - 11)).is_ok());
        let mut i = Interner::default();
        for k in 0..MAX_LABELS {
            assert_eq!(i.add("x").unwrap() as usize, k);
        }
        assert_eq!(i.add("x").unwrap_err().code, crate::ErrCode::LimitExceeded);
    }

    /// The inputs accept what population_agg produces and refuse values it cannot produce.
    #[test]
    fn validation_accepts_produced_values_and_refuses_crafted_ones() {
        let json = r#"{"window_days": 90}"#;
        let opts = parse_options(json).unwrap();
        let mut rows = rows(5, 60);
        rows.push((1_000_000, AS_OF - 1, MAX_TOTAL - 5, false)); // at the limit with the next row
        rows.push((1_000_000, AS_OF - 2, 5, false));
        let out = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
        let mut bytes = vec![0u8; out.encoded_len()];
        out.encode_into(&mut bytes);
        PopulationView::new(&bytes).unwrap().validate(&bytes).unwrap();
        let empty = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), usize::MAX).finish(&opts, &mut |t| day_of(t)).unwrap();
        let mut eb = vec![0u8; empty.encoded_len()];
        empty.encode_into(&mut eb);
        PopulationView::new(&eb).unwrap().validate(&eb).unwrap();
        let rows_at = bytes.len() - out.rows.len() * ROW;
        let check = |b: &[u8]| PopulationView::new(b).and_then(|v| v.validate(b));
        let patched = |at: usize, v: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let k = out.rows.iter().position(|r| r.orders > 0 && r.id > out.rows[0].id).unwrap();
        let row1 = rows_at + k * ROW; // a customer with orders after the first one
        for (what, b) in [
            ("version 0", patched(4, &[0])),
            ("padding", patched(5, &[1])),
            ("first order out of range", patched(row1 + 32, &i64::MIN.to_le_bytes())),
            ("last order after as_of", patched(row1 + 40, &(AS_OF + 1).to_le_bytes())),
            ("ids out of order", patched(row1, &i64::MIN.to_le_bytes())),
            ("negative refunds", patched(row1 + 16, &(-1i64).to_le_bytes())),
            ("score beyond its bins", patched(row1 + 72, &[9])),
            ("bins beyond 10", patched(row1 + 76, &[11])),
            ("unknown flag", patched(row1 + 75, &[0x28])),
            ("segment index out of range", patched(row1 + 84, &(out.labels.len() as u16).to_le_bytes())),
            ("stage without label", patched(row1 + 88, &NO_LABEL.to_le_bytes())),
            ("window beyond the customer", patched(row1 + 60, &u32::MAX.to_le_bytes())),
        ] {
            let e = check(&b).err().unwrap_or_else(|| panic!("{what} must be refused"));
            assert!(matches!(e.code, ErrCode::InvalidBinary | ErrCode::DatetimeOverflow), "{what}: {e:?}");
        }
        assert!(check(&bytes[..bytes.len() - 1]).is_err());
        // pg_segment 0.1.0 limited the running net only: its values may hold orders totalling
        // more than MAX_TOTAL, and they still load (their dumps must restore)
        let mut legacy = Output {
            as_of: out.as_of,
            rows: out.rows.clone(),
            labels: out.labels.clone(),
            breaks: out.breaks.clone(),
            rows_read: 0,
            state_bytes: 0,
        };
        let r = legacy.rows.iter_mut().find(|r| r.orders > 0 && r.refunds > 0).unwrap();
        r.monetary = i64::MAX;
        let mut lb = vec![0u8; legacy.encoded_len()];
        legacy.encode_into(&mut lb);
        check(&lb).unwrap();
        // a value whose info is not {"breaks": ...}
        let mut other = Output { as_of: out.as_of, rows: vec![], labels: vec![], breaks: json!([1]), rows_read: 0, state_bytes: 0 };
        let mut ob = vec![0u8; other.encoded_len()];
        other.encode_into(&mut ob);
        assert!(check(&ob).is_err());
        other.breaks = json!({"recency": [1]});
        let mut ob = vec![0u8; other.encoded_len()];
        other.encode_into(&mut ob);
        assert!(check(&ob).unwrap_err().message.contains("info.breaks"));
    }

    /// Orders and refunds are limited separately, so the limit does not depend on row order: a
    /// refund arriving first does not make room for orders beyond the limit.
    #[test]
    fn totals_limit_is_independent_of_row_order() {
        let whole = |rows: &[(i64, i64)]| {
            let mut st = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), usize::MAX);
            rows.iter().try_for_each(|&(at, a)| st.add(1, at, a, day_of(at)))?;
            st.flush()
        };
        let big = MAX_TOTAL / 2 + 1;
        let rows = [(0, big), (1, -big), (2, big)];
        let mut orders: Vec<Vec<(i64, i64)>> = vec![rows.to_vec(), vec![rows[1], rows[0], rows[2]], vec![rows[2], rows[0], rows[1]]];
        for r in orders.drain(..) {
            let e = whole(&r).unwrap_err();
            assert_eq!(e.code, ErrCode::OutOfRange);
            assert!(e.message.starts_with("monetary: the orders of customer 1"), "{}", e.message);
        }
        assert!(whole(&[(0, big), (1, -big), (2, big - 2)]).is_ok());
    }

    /// Customers without any order by as_of are prospects, as lifecycle_stage says (0.1.0 left
    /// their stage empty); values 0.1.0 wrote that way still validate.
    #[test]
    fn populations_without_orders_are_prospects() {
        let opts = parse_options(r#"{"lang": "code"}"#).unwrap();
        let rows = [(7, AS_OF - USECS_PER_DAY, 10_000, true), (8, AS_OF + USECS_PER_DAY, 10_000, false)];
        let out = state(&rows, &opts, "{}").finish(&opts, &mut |t| day_of(t)).unwrap();
        let mut bytes = vec![0u8; out.encoded_len()];
        out.encode_into(&mut bytes);
        let view = PopulationView::new(&bytes).unwrap();
        view.validate(&bytes).unwrap();
        for i in 0..view.len {
            let r = view.row(i);
            assert_eq!((view.label(r.stage), view.label(r.segment), view.label(r.tier)), (Some("prospect"), None, None));
        }
        assert!(out.breaks.is_null());
        // the 0.1.0 form of the same population: no labels, no stage
        let mut legacy = out;
        legacy.labels.clear();
        legacy.rows.iter_mut().for_each(|r| r.stage = NO_LABEL);
        let mut old = vec![0u8; legacy.encoded_len()];
        legacy.encode_into(&mut old);
        PopulationView::new(&old).unwrap().validate(&old).unwrap();
    }

    #[test]
    fn empty_population_and_bad_values() {
        let opts = parse_options("{}").unwrap();
        let mut st = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), usize::MAX);
        let out = st.finish(&opts, &mut |t| day_of(t)).unwrap();
        assert!(out.rows.is_empty() && out.breaks.is_null());
        assert!(PopulationView::new(b"garbage").is_err());
        let mut st = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), usize::MAX);
        st.add(1, 0, i64::MAX, 0).unwrap();
        st.add(1, 0, 1, 0).unwrap();
        assert_eq!(st.flush().unwrap_err().code, crate::ErrCode::OutOfRange);
    }
}
