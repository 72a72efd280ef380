//! The aggregate state: one inline entry per customer in an [`IdTable`], and the purchase day of
//! every order in one arena, grown within the memory limit.

use super::finish::finish_bytes;
use crate::cancel::Ticker;
use crate::fallible as fa;
use crate::idtable::IdTable;
use crate::numeric::total_error;
use crate::{Error, Result};

/// Per-customer running figures, kept inline in the hash table (one cache line per customer,
/// so a row costs one memory miss). Amounts in micro-units (1/10000).
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
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
    pub(super) _pad: u32,
}

pub(super) const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();
const _: () = assert!(ENTRY_BYTES == 64);

impl Entry {
    pub(super) fn new(seq: u32) -> Entry {
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

pub(super) type IdMap = IdTable<Entry>;

/// Rows buffered before their slots are touched: their slots are prefetched together.
const BATCH: usize = 32;

pub(super) fn overflow(what: &str, id: i64) -> Error {
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
    pub(super) map: IdMap,
    /// (local day, customer seq) of every order at or before as_of, in arrival order
    pub(super) days: Vec<(i32, u32)>,
    pub(super) limit: usize,
    pub(super) peak: usize,
    /// rows not yet applied: (id, at, amount, day)
    pub(super) pending: Vec<(i64, i64, i64, i64)>,
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
    pub(super) fn check(&mut self, extra: usize) -> Result<()> {
        let want = self.bytes() + extra;
        if want.saturating_add(finish_bytes(self.map.len(), self.days.len())) > self.limit {
            return Err(self.over_limit(self.map.len(), self.days.len()));
        }
        self.peak = self.peak.max(want);
        Ok(())
    }

    pub(super) fn over_limit(&self, customers: usize, days: usize) -> Error {
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
    pub(super) fn entry(&mut self, id: i64) -> Result<&mut Entry> {
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
}
