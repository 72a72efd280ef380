//! The aggregate state: one inline entry per customer in an [`IdTable`] for the rows this state
//! read itself, the purchase day of each of those orders in one arena (keyed by table slot), the
//! sorted runs of partial states merged in (see [`super::run`]), and the rows that carry an order
//! id, which are deduplicated before they count.

use super::finish::finish_bytes;
use super::run::Run;
use crate::fallible as fa;
use crate::idtable::{IdTable, MIN_KEY_SLOT};
use crate::numeric::total_error;
use crate::summary::SummaryView;
use crate::time::zone_mismatch;
use crate::{Error, Result};

/// Per-customer running figures, kept inline in the hash table: with its id a slot is one
/// 64-byte cache line, so a row costs one memory miss. Amounts in micro-units (1/10000).
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
}

pub(super) const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();
const _: () = assert!(ENTRY_BYTES == 56);

impl Entry {
    pub(super) const EMPTY: Entry =
        Entry { first: i64::MAX, last: i64::MIN, monetary: 0, refunded: 0, w_monetary: 0, orders: 0, refunds: 0, future: 0, w_orders: 0 };
}

pub(super) type IdMap = IdTable<Entry>;

/// Rows buffered before their slots are touched: their slots are prefetched together.
const BATCH: usize = 32;

/// The most orders (purchase days) one state holds: day offsets are `u32`.
const MAX_DAYS: usize = (u32::MAX / 2) as usize;

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

/// A row that carries an order id: kept until the end, when rows repeating a customer's order
/// id (and kind: order or refund) count once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct IdRow {
    pub customer: i64,
    pub order: i64,
    /// 1 for a refund, 0 for an order: an order and its refund may share the order id
    pub refund: i64,
    pub at: i64,
    pub amount: i64,
    /// local day of `at` (read only when `at` is not after as_of)
    pub day: i64,
}

/// Keeps one row per (customer, order id, kind): the rows are sorted by customer, order id,
/// kind, instant and amount, and the first of each repeat counts (the earliest instant, then the
/// smallest amount). Returns how many rows were dropped. `rfm_agg(order_id, ...)` applies the
/// same rule inside its group (see [`crate::summary_orders`]).
pub fn dedup_order_rows(rows: &mut Vec<IdRow>) -> u64 {
    crate::cancel::sort_unstable_by(rows, |a, b| a.cmp(b));
    let before = rows.len();
    rows.dedup_by(|b, a| (a.customer, a.order, a.refund) == (b.customer, b.order, b.refund));
    (before - rows.len()) as u64
}

pub const ID_ROW_BYTES: usize = std::mem::size_of::<IdRow>();

/// The aggregate state.
pub struct State {
    pub as_of: i64,
    /// local day of as_of
    pub as_of_day: i64,
    /// first local day counted in the window, when scores use a window
    pub window_first_day: Option<i64>,
    /// the options text as given (it travels with partial states to the leader)
    pub options_json: String,
    /// the time zone the days are counted in: the `tz` option, else the session's `TimeZone`
    /// when the first row arrived (it travels with partial states: states of different zones
    /// never combine, see [`State::merge`])
    pub zone: String,
    pub rows: u64,
    /// rows that repeated a customer's order id and were not counted
    pub duplicates: u64,
    pub(super) map: IdMap,
    /// (local day, table slot) of every order at or before as_of that this state read itself
    pub(super) days: Vec<(i32, u32)>,
    /// sorted runs of customers: merged-in partial states, and this state's own table once it
    /// was sorted (by [`State::finish`] or for serialization)
    pub(super) runs: Vec<Run>,
    /// rows with an order id, not counted yet
    pub(super) id_rows: Vec<IdRow>,
    pub(super) limit: usize,
    pub(super) peak: usize,
    /// rows not yet applied: (id, at, amount, day)
    pub(super) pending: Vec<(i64, i64, i64, i64)>,
}

impl State {
    pub fn new(as_of: i64, as_of_day: i64, window_days: Option<i64>, options_json: String, zone: String, limit: usize) -> State {
        State {
            as_of,
            as_of_day,
            window_first_day: window_days.map(|d| as_of_day - d + 1),
            options_json,
            zone,
            rows: 0,
            duplicates: 0,
            map: IdMap::new(Entry::EMPTY),
            days: Vec::new(),
            runs: Vec::new(),
            id_rows: Vec::new(),
            limit,
            peak: 0,
            pending: Vec::with_capacity(BATCH),
        }
    }

    /// An empty state with the same parameters (as_of, window, options, zone, limit).
    pub fn empty_like(&self) -> State {
        let mut st = State::new(self.as_of, self.as_of_day, None, self.options_json.clone(), self.zone.clone(), self.limit);
        st.window_first_day = self.window_first_day;
        st
    }

    /// Customers held, counting a customer once per run it appears in (an upper bound).
    pub fn customers(&self) -> usize {
        self.map.len() + self.runs.iter().map(|r| r.len()).sum::<usize>()
    }

    /// Purchase days held (an upper bound of what the final step reads).
    pub(super) fn day_count(&self) -> usize {
        self.days.len() + self.runs.iter().map(|r| r.days.len()).sum::<usize>() + self.id_rows.len()
    }

    /// Bytes held by the state's growable parts.
    pub fn bytes(&self) -> usize {
        self.map.bytes()
            + self.days.capacity() * 8
            + self.runs.iter().map(|r| r.bytes()).sum::<usize>()
            + self.id_rows.capacity() * ID_ROW_BYTES
            + self.options_json.capacity()
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
        if want.saturating_add(finish_bytes(self.customers(), self.day_count(), self.map.slot_count())) > self.limit {
            return Err(self.over_limit(self.customers(), self.day_count()));
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

    /// The slot of customer `id`, created empty on first sight. The table grows ahead of time,
    /// with the limit checked before memory is taken (old and new table coexist while it
    /// grows), and the purchase days follow the slots that move.
    #[inline]
    fn slot(&mut self, id: i64) -> Result<u32> {
        if self.map.full() && !self.map.contains(id) {
            self.grow()?;
        }
        self.map.insert_slot(id, || Entry::EMPTY)
    }

    #[cold]
    fn grow(&mut self) -> Result<()> {
        let n = self.map.len() + 1;
        // while the table grows, the old and the new slot arrays and the slot map coexist
        self.check(IdMap::bytes_for(n) + self.map.slot_count() * 4)?;
        if let Some(moved) = self.map.try_reserve(n)? {
            for d in self.days.iter_mut() {
                if d.1 != MIN_KEY_SLOT {
                    d.1 = moved[d.1 as usize];
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn push_day(&mut self, day: i64, slot: u32) -> Result<()> {
        if self.days.len() == self.days.capacity() {
            if self.day_count() >= MAX_DAYS {
                return Err(Error::limit("population: more than 2 billion orders"));
            }
            let new_cap = (self.days.capacity() * 2).max(4096);
            self.check((new_cap - self.days.capacity()) * 8)?;
            fa::reserve_total(&mut self.days, new_cap, "population: purchase days")?;
        }
        self.days.push((day as i32, slot));
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

    /// One order row with its order id: it counts once however often the customer's order id
    /// repeats (with the same kind, order or refund); among repeats the row with the earliest
    /// instant (then the smallest amount) is the one that counts.
    pub fn add_with_order(&mut self, id: i64, order: i64, at: i64, amount: i64, day: i64) -> Result<()> {
        if self.id_rows.len() == self.id_rows.capacity() {
            if self.day_count() >= MAX_DAYS {
                return Err(Error::limit("population: more than 2 billion orders"));
            }
            let new_cap = (self.id_rows.capacity() * 2).max(1024);
            self.check((new_cap - self.id_rows.capacity()) * ID_ROW_BYTES)?;
            fa::reserve_total(&mut self.id_rows, new_cap, "population: rows with order ids")?;
        }
        self.id_rows.push(IdRow { customer: id, order, refund: (amount < 0) as i64, at, amount, day });
        Ok(())
    }

    /// Every order and refund of one customer's summary, as if each were an order row (what
    /// `population_agg(customer_id, summary, as_of)` reads). `day_of` gives the local day of an
    /// instant. A customer met again (summaries per month, say) adds to the same entry.
    pub fn add_summary(&mut self, id: i64, view: &SummaryView, day_of: &mut dyn FnMut(i64) -> i64) -> Result<()> {
        // an empty summary holds no row: the customer is not met (as with no order rows)
        if view.len() == 0 {
            return Ok(());
        }
        self.flush()?;
        let slot = self.slot(id)?;
        for e in view.iter() {
            let day = if e.at <= self.as_of { day_of(e.at) } else { 0 };
            self.apply_at(slot, id, e.at, e.amount, day)?;
        }
        Ok(())
    }

    /// Applies the buffered rows (their slots were prefetched as they arrived).
    pub fn flush(&mut self) -> Result<()> {
        let mut batch = std::mem::take(&mut self.pending);
        let mut result = Ok(());
        for &(id, at, amount, day) in &batch {
            result = self.slot(id).and_then(|slot| self.apply_at(slot, id, at, amount, day));
            if result.is_err() {
                break;
            }
        }
        batch.clear();
        self.pending = batch;
        result
    }

    #[inline]
    fn apply_at(&mut self, slot: u32, id: i64, at: i64, amount: i64, day: i64) -> Result<()> {
        self.rows += 1;
        let as_of = self.as_of;
        let in_window = self.window_first_day.is_some_and(|f| day >= f);
        let e = self.map.value_mut(slot);
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
        self.push_day(day, slot)
    }

    /// Deduplicates the rows with order ids (sorted by customer, order id, kind, instant and
    /// amount: the first of each repeat counts) and keeps only the rows that count.
    pub(super) fn dedup_id_rows(&mut self) -> Result<()> {
        if self.id_rows.is_empty() {
            return Ok(());
        }
        self.duplicates += dedup_order_rows(&mut self.id_rows);
        Ok(())
    }

    /// Counts the rows with order ids, once each (see [`State::add_with_order`]).
    pub(super) fn apply_id_rows(&mut self) -> Result<()> {
        self.dedup_id_rows()?;
        let rows = std::mem::take(&mut self.id_rows);
        let mut tick = crate::cancel::Ticker::new();
        for r in &rows {
            tick.tick(2);
            self.add(r.customer, r.at, r.amount, r.day)?;
        }
        self.flush()
    }

    /// Merges another partial state (the combine step): its sorted runs are taken over as they
    /// are (plain concatenation: no customer is looked up or re-inserted; customers that appear
    /// in more than one run are merged once, by the final step), its own table is sorted into a
    /// run first. Order independent.
    pub fn merge(&mut self, other: &mut State) -> Result<()> {
        self.flush()?;
        other.flush()?;
        if other.as_of != self.as_of || other.window_first_day != self.window_first_day || other.options_json != self.options_json {
            return Err(Error::invalid("population: as_of and options must be the same for every row of the aggregate"));
        }
        if other.zone != self.zone {
            return Err(zone_mismatch("population_agg", &self.zone, &other.zone));
        }
        other.sort_table()?;
        self.rows += other.rows;
        self.duplicates += other.duplicates;
        let extra: usize = other.runs.iter().map(|r| r.bytes()).sum::<usize>() + other.id_rows.len() * ID_ROW_BYTES;
        self.check(extra)?;
        self.runs.append(&mut other.runs);
        fa::reserve(&mut self.id_rows, other.id_rows.len(), "population: rows with order ids")?;
        self.id_rows.append(&mut other.id_rows);
        Ok(())
    }

    /// Sorts this state's own table and purchase days into a run (see [`Run::from_table`]) and
    /// empties the table.
    pub(super) fn sort_table(&mut self) -> Result<()> {
        self.flush()?;
        if self.map.is_empty() {
            return Ok(());
        }
        let need = Run::bytes_to_sort(self.map.len(), self.days.len(), self.map.slot_count());
        self.check(need)?;
        let run = Run::from_table(&self.map, &mut self.days)?;
        fa::reserve(&mut self.runs, 1, "population: runs")?;
        self.runs.push(run);
        self.map = IdMap::new(Entry::EMPTY);
        self.days = Vec::new();
        Ok(())
    }
}
