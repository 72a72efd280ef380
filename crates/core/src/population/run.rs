//! Sorted runs: the customers of one partial state in ascending id order, with their entries and
//! their distinct purchase days (ascending) laid out in the same order. A state's table becomes a
//! run when it is serialized (in the parallel worker or partition that read the rows, so that
//! sorting is done there, in parallel) or finished; partial states merge by concatenating their
//! runs, and the final step walks all runs at once in id order ([`Merged`]), merging a customer
//! that appears in more than one run (overlapping partial states) as it goes. Partial states
//! that hold disjoint customers, such as hash partitions by customer or Citus shards, so cost a
//! merge of sorted lists, not a hash insert per customer.

use super::state::{overflow, Entry, IdMap, ENTRY_BYTES};
use crate::cancel::{self, Ticker};
use crate::fallible as fa;
use crate::idtable::MIN_KEY_SLOT;
use crate::numeric::total_error;
use crate::Result;

#[derive(Default)]
pub struct Run {
    pub ids: Vec<i64>,
    pub entries: Vec<Entry>,
    /// the distinct purchase days of customer k are `days[start[k]..start[k + 1]]`, ascending
    pub start: Vec<u32>,
    pub days: Vec<i32>,
}

const WHAT: &str = "population: sorting customers";

impl Run {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.ids.capacity() * 8 + self.entries.capacity() * ENTRY_BYTES + self.start.capacity() * 4 + self.days.capacity() * 4
    }

    /// The distinct purchase days of customer `k`.
    #[inline]
    pub fn days_of(&self, k: usize) -> &[i32] {
        &self.days[self.start[k] as usize..self.start[k + 1] as usize]
    }

    /// Bytes [`Run::from_table`] needs for `customers` in a table of `slots` slots and `days`
    /// purchase days, at its peak (the run itself and its scratch).
    pub fn bytes_to_sort(customers: usize, days: usize, slots: usize) -> usize {
        // ids with slots (16), the run's ids, entries and offsets (8 + 56 + 4), the fill
        // pointers (4); the rank of each slot (4 per slot); the days (4)
        customers
            .saturating_mul(16 + 8 + ENTRY_BYTES + 4 + 4)
            .saturating_add(slots.saturating_mul(4))
            .saturating_add(days.saturating_mul(4))
    }

    /// The run of a table and its purchase days `(day, slot)` (which it reorders: the state
    /// drops them afterwards): customers sorted by id, entries gathered in that order, days
    /// grouped by customer ([`group_days`]), each customer's days sorted and made distinct in
    /// place. Every loop is a cancellation point.
    pub fn from_table(map: &IdMap, days: &mut [(i32, u32)]) -> Result<Run> {
        Self::from_table_in(map, days, GROUP_BITS)
    }

    /// [`Run::from_table`] with groups of `2^group_bits` customers (tests use small groups).
    pub(super) fn from_table_in(map: &IdMap, days: &mut [(i32, u32)], group_bits: u32) -> Result<Run> {
        let mut tick = Ticker::new();
        let n = map.len();
        let mut by_id: Vec<(i64, u32)> = fa::vec_with_capacity(n, WHAT)?;
        for (slot, id, _) in map.iter_slots() {
            tick.tick(2);
            by_id.push((id, slot));
        }
        cancel::sort_unstable_by(&mut by_id, |a, b| a.0.cmp(&b.0));
        // the rank of each slot; the slot of i64::MIN (outside the table) is the first rank
        let mut rank_of_slot = fa::vec_filled(map.slot_count(), 0u32, WHAT)?;
        let mut ids: Vec<i64> = fa::vec_with_capacity(n, WHAT)?;
        let mut entries: Vec<Entry> = fa::vec_with_capacity(n, WHAT)?;
        for (rank, &(id, slot)) in by_id.iter().enumerate() {
            tick.tick(2);
            if slot != MIN_KEY_SLOT {
                rank_of_slot[slot as usize] = rank as u32;
            }
            ids.push(id);
            entries.push(*map.value(slot));
        }
        drop(by_id);
        let mut start = fa::vec_filled(n + 1, 0u32, WHAT)?;
        for (rank, e) in entries.iter().enumerate() {
            start[rank + 1] = start[rank] + e.orders;
        }
        if start[n] as usize != days.len() {
            return Err(crate::Error::internal("population: purchase days and order counts disagree"));
        }
        // each day's slot becomes its customer's rank
        for p in days.iter_mut() {
            tick.tick(1);
            p.1 = if p.1 == MIN_KEY_SLOT { 0 } else { rank_of_slot[p.1 as usize] };
        }
        drop(rank_of_slot);
        let mut grouped = group_days(days, &start, group_bits, &mut tick)?;
        // each customer's days sorted and made distinct, moved down in place
        let mut out = 0usize;
        for k in 0..n {
            let (a, b) = (start[k] as usize, start[k + 1] as usize);
            // sorting a customer's days: about d log d comparisons
            tick.tick(4 + (b - a) as u64 * 4);
            start[k] = out as u32;
            let s = &mut grouped[a..b];
            s.sort_unstable();
            for i in a..b {
                let d = grouped[i];
                if out == start[k] as usize || grouped[out - 1] != d {
                    grouped[out] = d;
                    out += 1;
                }
            }
        }
        start[n] = out as u32;
        grouped.truncate(out);
        Ok(Run { ids, entries, start, days: grouped })
    }
}

/// Customers per group of [`group_days`], as a power of two: 8,192 customers, whose offsets
/// (32 kB) and days (about 40 kB per 10 orders a customer) stay in the core's cache while the
/// group is sorted.
const GROUP_BITS: u32 = 13;

/// The days of `days` (`(day, rank)` pairs, customer `k`'s at `start[k]..start[k + 1]` once
/// grouped) grouped by customer rank. A single counting sort over all days would read and
/// write at random across the offsets of every customer and the whole output (three cache
/// misses per day: the larger part of the final step's time over 10 million orders). So the
/// pairs are first moved in place into groups of `2^group_bits` consecutive ranks (an
/// American flag sort: a few hundred write positions, each in the cache), and then each group
/// is counting-sorted into its own stretch of the output, which, with its offsets, fits in
/// the cache. The groups' bounds come from `start`, so no counting pass is needed.
fn group_days(days: &mut [(i32, u32)], start: &[u32], group_bits: u32, tick: &mut Ticker) -> Result<Vec<i32>> {
    let n = start.len() - 1;
    let groups = (n >> group_bits) + 1;
    let bound = |g: usize| start[(g << group_bits).min(n)] as usize;
    // where the next pair of each group goes; group g ends where group g + 1 starts
    let mut next: Vec<usize> = fa::collect((0..groups).map(bound), WHAT)?;
    let disagree = || crate::Error::internal("population: a purchase day outside its customer's group");
    for g in 0..groups {
        let end = bound(g + 1);
        while next[g] < end {
            // carry the pair at the group's next position to its own group, and the pair found
            // there onwards, until one belongs here
            let mut x = days[next[g]];
            loop {
                tick.tick(1);
                let t = (x.1 >> group_bits) as usize;
                if t == g {
                    break;
                }
                if t >= groups || next[t] >= bound(t + 1) {
                    return Err(disagree());
                }
                std::mem::swap(&mut x, &mut days[next[t]]);
                next[t] += 1;
            }
            days[next[g]] = x;
            next[g] += 1;
        }
    }
    drop(next);
    let mut fill = fa::copy_of(&start[..n], WHAT)?;
    let mut grouped = fa::vec_filled(days.len(), 0i32, WHAT)?;
    for g in 0..groups {
        let (lo, hi) = (bound(g), bound(g + 1));
        for &(d, rank) in &days[lo..hi] {
            tick.tick(1);
            let at = &mut fill[rank as usize];
            if *at as usize >= hi {
                return Err(disagree());
            }
            grouped[*at as usize] = d;
            *at += 1;
        }
    }
    Ok(grouped)
}

/// Adds entry `o` of customer `id` into `e` (the same customer in two partial states), with the
/// same limits as rows arriving one by one.
pub fn merge_entry(e: &mut Entry, o: &Entry, id: i64) -> Result<()> {
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
    Ok(())
}

/// All runs of a state walked at once in id order: `order` lists, for each distinct customer,
/// the run and index that hold it. A customer found in several runs is merged into `dups` (its
/// entries added, its days united) and listed there.
pub struct Merged<'a> {
    runs: Vec<&'a Run>,
    dups: Run,
    /// (run, index) per distinct customer, ascending by id; `None` for a single run (identity)
    order: Option<Vec<(u32, u32)>>,
    len: usize,
}

impl<'a> Merged<'a> {
    pub fn new(runs: &'a [Run]) -> Result<Merged<'a>> {
        let runs: Vec<&Run> = runs.iter().filter(|r| !r.is_empty()).collect();
        if runs.len() <= 1 {
            let len = runs.first().map_or(0, |r| r.len());
            return Ok(Merged { runs, dups: Run::default(), order: None, len });
        }
        let total: usize = runs.iter().map(|r| r.len()).sum();
        let mut order: Vec<(u32, u32)> = fa::vec_with_capacity(total, WHAT)?;
        let mut dups = Run { start: vec![0], ..Run::default() };
        let dup_run = runs.len() as u32;
        // a binary heap of the next id of each run: n log k
        let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u32)>> =
            runs.iter().enumerate().map(|(r, run)| std::cmp::Reverse((run.ids[0], r as u32))).collect();
        let mut next = vec![0usize; runs.len()];
        let mut tick = Ticker::new();
        while let Some(std::cmp::Reverse((id, r))) = heap.pop() {
            tick.tick(4);
            let r = r as usize;
            let k = next[r];
            next[r] += 1;
            if next[r] < runs[r].len() {
                heap.push(std::cmp::Reverse((runs[r].ids[next[r]], r as u32)));
            }
            // the same customer in another run: merge into dups
            let same = order.last().is_some_and(|&(lr, lk)| {
                let run = if lr == dup_run { &dups } else { runs[lr as usize] };
                run.ids[lk as usize] == id
            });
            if !same {
                order.push((r as u32, k as u32));
                continue;
            }
            let (lr, lk) = *order.last().unwrap();
            if lr != dup_run {
                // first repeat: copy the earlier one into dups
                let src = runs[lr as usize];
                fa::push(&mut dups.ids, id, WHAT)?;
                fa::push(&mut dups.entries, src.entries[lk as usize], WHAT)?;
                fa::extend_from_slice(&mut dups.days, src.days_of(lk as usize), WHAT)?;
                fa::push(&mut dups.start, dups.days.len() as u32, WHAT)?;
                *order.last_mut().unwrap() = (dup_run, (dups.ids.len() - 1) as u32);
            }
            let d = dups.ids.len() - 1;
            let o = runs[r].entries[k];
            merge_entry(&mut dups.entries[d], &o, id)?;
            // unite the sorted distinct days
            let from = dups.start[d] as usize;
            let united = union(&dups.days[from..], runs[r].days_of(k))?;
            dups.days.truncate(from);
            fa::extend_from_slice(&mut dups.days, &united, WHAT)?;
            dups.start[d + 1] = dups.days.len() as u32;
        }
        let len = order.len();
        Ok(Merged { runs, dups, order: Some(order), len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Customer `i` (in id order): id, entry, distinct purchase days.
    #[inline]
    pub fn get(&self, i: usize) -> (i64, &Entry, &[i32]) {
        let (run, k) = match &self.order {
            None => (self.runs[0], i),
            Some(o) => {
                let (r, k) = o[i];
                (if r as usize == self.runs.len() { &self.dups } else { self.runs[r as usize] }, k as usize)
            }
        };
        (run.ids[k], &run.entries[k], run.days_of(k))
    }
}

/// The union of two ascending lists of distinct days.
fn union(a: &[i32], b: &[i32]) -> Result<Vec<i32>> {
    let mut out = fa::vec_with_capacity(a.len() + b.len(), WHAT)?;
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let x = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (Some(_), Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, Some(&y)) => {
                j += 1;
                y
            }
            (None, None) => unreachable!(),
        };
        out.push(x);
    }
    Ok(out)
}
