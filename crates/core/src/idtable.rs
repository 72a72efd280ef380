//! An open-addressing hash table from integer customer ids to fixed-size values, built for the
//! whole-population aggregate: values live inline in the slots (one cache line per customer),
//! the slot of an id can be computed ahead of time so that a batch of rows prefetches its slots
//! before touching them (memory misses overlap instead of queueing), and the slot array asks
//! the kernel for transparent huge pages (fewer TLB misses over a table of hundreds of MB).
//!
//! Why ours rather than hashbrown: prefetching a batch of slots before touching them, values
//! inline in 64-byte slots (one cache line), a memory limit checked before the table grows, fallible growth, and
//! a per-table random seed with a probe bound (ids chosen to collide force a rebuild under a
//! fresh seed) are what make `population_agg` fast and safe; a general map offers none of them.

use super::fallible;
use super::{Error, Result};

/// Marks an empty slot; the id `i64::MIN` itself is kept outside the slots.
const EMPTY: i64 = i64::MIN;

/// The longest probe an insert may take before the table is rebuilt under a fresh seed.
/// Honest ids at the table's load (at most 3/4) practically never probe this far: the longest
/// run of a linear-probing table of 2^30 slots at load 3/4 is about 550 slots. A longer probe
/// means ids that collide under this table's seed, which a rebuild under a new random seed
/// scatters; the rebuild costs one pass over the table.
const MAX_PROBE: usize = 1024;
/// Forced rebuilds one table may take; more means ids that collide under every seed tried,
/// which random seeds make practically impossible.
const MAX_REHASHES: u32 = 16;

/// One slot: an id and its value, 64-byte aligned so that a slot whose value fits in 56 bytes
/// is exactly one cache line (one memory miss per row, and one line to prefetch).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot<V: Copy> {
    key: i64,
    value: V,
}

/// The slot index [`IdTable::insert_slot`] reports for the id `i64::MIN`, which lives outside
/// the slot array (its slot never moves).
pub const MIN_KEY_SLOT: u32 = u32::MAX;
/// The most slots a table may have: slot indices are `u32`, [`MIN_KEY_SLOT`] excluded.
pub const MAX_SLOTS: usize = 1 << 31;

pub struct IdTable<V: Copy> {
    slots: Vec<Slot<V>>,
    /// log2 of the slot count
    bits: u32,
    len: usize,
    /// the table grows (or is rebuilt) before an insert once `len` reaches this: 3/4 of the
    /// slots, or 0 when the last insert probed too long
    grow_at: usize,
    /// a rebuild under a fresh seed is due
    rehash: bool,
    /// rebuilds forced by long probes so far
    rehashes: u32,
    /// the value of id i64::MIN, if seen
    min_key: Option<V>,
    filler: V,
    seed: u64,
    /// slots inspected by lookups so far (a measure of clustering, for tests)
    #[cfg(test)]
    probes: std::cell::Cell<u64>,
}

/// A well-mixed hash of an id under a per-table seed. The seed matters twice. Merging one table
/// into another walks the first in slot order, and with one hash function for both that order is
/// the second table's home order too, which piles the inserted ids into one long probe run
/// (quadratic time): different seeds make the two orders unrelated. And ids chosen to collide
/// under a known seed do the same: seeds are random, so nobody can choose them.
#[inline]
fn hash(id: i64, seed: u64) -> u64 {
    super::mix::mix64((id as u64) ^ seed)
}

/// A seed for a new table from the operating system's random source (getrandom), so that the
/// seeds of a backend cannot be predicted from outside; std's randomly keyed hasher (also seeded
/// by the operating system) if that source fails.
fn random_seed() -> u64 {
    use rand::RngCore;
    let mut b = [0u8; 8];
    match rand::rngs::OsRng.try_fill_bytes(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => {
            use std::hash::BuildHasher;
            static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            std::collections::hash_map::RandomState::new().hash_one(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
        }
    }
}

impl<V: Copy> IdTable<V> {
    /// `filler` is any value (stored in empty slots, never read).
    pub fn new(filler: V) -> IdTable<V> {
        Self::with_seed(filler, random_seed())
    }

    fn with_seed(filler: V, seed: u64) -> IdTable<V> {
        IdTable {
            slots: Vec::new(),
            bits: 0,
            len: 0,
            grow_at: 0,
            rehash: false,
            rehashes: 0,
            min_key: None,
            filler,
            seed,
            #[cfg(test)]
            probes: std::cell::Cell::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots in the slot array (slot indices run below this, or are [`MIN_KEY_SLOT`]).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Bytes of the slot array.
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot<V>>()
    }

    /// Bytes the slot array would take after growing to hold `len` ids.
    pub fn bytes_for(len: usize) -> usize {
        Self::slots_for(len).saturating_mul(std::mem::size_of::<Slot<V>>())
    }

    fn slots_for(len: usize) -> usize {
        // at most 3/4 full
        (len.saturating_mul(4) / 3 + 1).checked_next_power_of_two().unwrap_or(usize::MAX).max(1024)
    }

    /// Whether the next insert must first grow the slot array (or rebuild it under a fresh
    /// seed): then the caller checks its memory limit and calls [`IdTable::try_reserve`].
    #[inline]
    pub fn full(&self) -> bool {
        self.len >= self.grow_at
    }

    /// Grows the slot array to hold `len` ids, and rebuilds it under a fresh seed when an insert
    /// probed too long. The new array is allocated fallibly (ERROR 53200 when the server cannot
    /// provide it); the old one is kept until the new one is filled. When the ids moved, returns
    /// where each old slot went (`moved[old] = new`; empty old slots map to 0), so that callers
    /// that keep slot indices can follow them.
    pub fn try_reserve(&mut self, len: usize) -> Result<Option<Vec<u32>>> {
        let want = Self::slots_for(len).max(self.slots.len());
        if want == self.slots.len() && !self.rehash {
            self.grow_at = want / 4 * 3;
            return Ok(None);
        }
        if want > MAX_SLOTS {
            return Err(Error::limit(format!("population: more than {} customers", MAX_SLOTS / 4 * 3)));
        }
        if self.rehash {
            if self.rehashes >= MAX_REHASHES {
                return Err(Error::limit(format!(
                    "population: customer ids collide in the hash table under {MAX_REHASHES} random seeds in a row"
                )));
            }
            self.rehashes += 1;
            self.seed = random_seed();
        }
        let mut moved = fallible::vec_filled(self.slots.len(), 0u32, "population: customer table")?;
        let fresh = alloc_slots(want, self.filler)?;
        let old = std::mem::replace(&mut self.slots, fresh);
        self.bits = want.trailing_zeros();
        self.grow_at = want / 4 * 3;
        self.rehash = false;
        for (i, s) in old.into_iter().enumerate() {
            if s.key != EMPTY {
                let j = self.find(s.key).0;
                self.slots[j] = s;
                moved[i] = j as u32;
            }
        }
        Ok(Some(moved))
    }

    #[inline]
    fn home(&self, id: i64) -> usize {
        (hash(id, self.seed) >> (64 - self.bits)) as usize
    }

    /// The slot holding `id`, or the empty slot where it would go, and how many slots were
    /// passed on the way.
    #[inline]
    fn find(&self, id: i64) -> (usize, usize) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        let mut dist = 0;
        loop {
            #[cfg(test)]
            self.probes.set(self.probes.get() + 1);
            let k = self.slots[i].key;
            if k == id || k == EMPTY {
                return (i, dist);
            }
            i = (i + 1) & mask;
            dist += 1;
        }
    }

    /// Asks the CPU to start loading the slot of `id`.
    #[inline]
    pub fn prefetch(&self, id: i64) {
        if self.slots.is_empty() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let p = self.slots.as_ptr().add(self.home(id)) as *const i8;
            std::arch::x86_64::_mm_prefetch(p, std::arch::x86_64::_MM_HINT_T0);
        }
    }

    pub fn get(&self, id: i64) -> Option<&V> {
        self.slot_of(id).map(|s| self.value(s))
    }

    /// The slot of `id`, if present.
    pub fn slot_of(&self, id: i64) -> Option<u32> {
        if id == EMPTY {
            return self.min_key.is_some().then_some(MIN_KEY_SLOT);
        }
        if self.slots.is_empty() {
            return None;
        }
        let i = self.find(id).0;
        (self.slots[i].key == id).then_some(i as u32)
    }

    /// The slot of `id`, inserted with `make()` when absent. The caller grows the table first
    /// when [`IdTable::full`] says so (so that it can check its memory limit and follow the
    /// slots that move); inserting into a full table is an internal error.
    #[inline]
    pub fn insert_slot(&mut self, id: i64, make: impl FnOnce() -> V) -> Result<u32> {
        if id == EMPTY {
            if self.min_key.is_none() {
                self.min_key = Some(make());
                self.len += 1;
            }
            return Ok(MIN_KEY_SLOT);
        }
        if self.slots.is_empty() {
            return Err(Error::internal("population: insert into a table that was not reserved"));
        }
        let (i, dist) = self.find(id);
        if self.slots[i].key == id {
            return Ok(i as u32);
        }
        if self.full() {
            return Err(Error::internal("population: insert into a full table"));
        }
        self.slots[i] = Slot { key: id, value: make() };
        self.len += 1;
        if dist > MAX_PROBE {
            // rebuild under a fresh seed before the next insert
            self.rehash = true;
            self.grow_at = 0;
        }
        Ok(i as u32)
    }

    #[inline]
    pub fn value(&self, slot: u32) -> &V {
        if slot == MIN_KEY_SLOT {
            self.min_key.as_ref().expect("the slot of i64::MIN")
        } else {
            &self.slots[slot as usize].value
        }
    }

    #[inline]
    pub fn value_mut(&mut self, slot: u32) -> &mut V {
        if slot == MIN_KEY_SLOT {
            self.min_key.as_mut().expect("the slot of i64::MIN")
        } else {
            &mut self.slots[slot as usize].value
        }
    }

    /// The value of `id`, inserted with `make()` when absent; grows the table itself (slots
    /// that move are not reported: for callers that keep no slot indices).
    pub fn get_or_insert(&mut self, id: i64, make: impl FnOnce() -> V) -> Result<&mut V> {
        if id != EMPTY && (self.slots.is_empty() || self.full()) && self.slot_of(id).is_none() {
            self.try_reserve(self.len + 1)?;
        }
        let s = self.insert_slot(id, make)?;
        Ok(self.value_mut(s))
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: i64) -> bool {
        self.slot_of(id).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, &V)> + '_ {
        self.iter_slots().map(|(_, id, v)| (id, v))
    }

    /// Every (slot, id, value), the id `i64::MIN` first.
    pub fn iter_slots(&self) -> impl Iterator<Item = (u32, i64, &V)> + '_ {
        self.min_key
            .iter()
            .map(|v| (MIN_KEY_SLOT, EMPTY, v))
            .chain(self.slots.iter().enumerate().filter(|(_, s)| s.key != EMPTY).map(|(i, s)| (i as u32, s.key, &s.value)))
    }
}

/// A slot array of `n` empty slots, allocated fallibly; on Linux the kernel is asked to back it
/// with huge pages (it is touched only after the advice, so the pages are faulted in as huge
/// pages).
fn alloc_slots<V: Copy>(n: usize, filler: V) -> Result<Vec<Slot<V>>> {
    let mut v: Vec<Slot<V>> = fallible::vec_with_capacity(n, "population: customer table")?;
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + n * std::mem::size_of::<Slot<V>>();
        let a = (start + HUGE - 1) & !(HUGE - 1);
        if end > a + HUGE {
            let len = (end - a) & !(HUGE - 1);
            // advice only: failure changes nothing but speed
            unsafe {
                libc::madvise(a as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(n, Slot { key: EMPTY, value: filler });
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longest probe run of a table: a merge in slot order must not build long runs.
    fn longest_run<V: Copy>(t: &IdTable<V>) -> usize {
        let (mut best, mut run) = (0, 0);
        for s in &t.slots {
            if s.key != EMPTY {
                run += 1;
                best = best.max(run);
            } else {
                run = 0;
            }
        }
        best
    }

    #[test]
    fn merging_in_slot_order_keeps_probe_runs_short() {
        let mut a: IdTable<u32> = IdTable::new(0);
        let mut b: IdTable<u32> = IdTable::new(0);
        for id in 0..200_000i64 {
            *b.get_or_insert(id * 7, || 0).unwrap() += 1;
        }
        for id in 0..1000i64 {
            *a.get_or_insert(id, || 0).unwrap() += 1;
        }
        let ids: Vec<i64> = b.iter().map(|(id, _)| id).collect();
        let before = a.probes.get();
        for id in &ids {
            *a.get_or_insert(*id, || 0).unwrap() += 1;
        }
        let per_insert = (a.probes.get() - before) as f64 / ids.len() as f64;
        assert!(per_insert < 8.0, "{per_insert} slots inspected per insert");
        assert!(longest_run(&a) < 200, "probe run of {}", longest_run(&a));
    }

    #[test]
    fn behaves_like_a_map() {
        let mut t: IdTable<u64> = IdTable::new(0);
        let mut m = std::collections::HashMap::new();
        let mut next = crate::test_rng(12345);
        for _ in 0..50_000 {
            let x = next();
            // ids with shared low bits, negative ids and i64::MIN too
            let id = match x % 4 {
                0 => (x % 1000) as i64 * 1024,
                1 => -((x % 5000) as i64),
                2 => i64::MIN + (x % 2) as i64,
                _ => (x % 100_000) as i64,
            };
            *t.get_or_insert(id, || 0).unwrap() += 1;
            *m.entry(id).or_insert(0u64) += 1;
            t.prefetch(id);
        }
        assert_eq!(t.len(), m.len());
        for (id, n) in &m {
            assert_eq!(t.get(*id), Some(n), "id {id}");
        }
        assert_eq!(t.iter().count(), m.len());
        assert_eq!(t.iter().map(|(_, v)| *v).sum::<u64>(), 50_000);
        assert!(t.get(777_777_777).is_none() && !t.contains(42_000_001));
        assert!(t.bytes() >= t.len() * std::mem::size_of::<Slot<u64>>());
    }

    /// The inverse of the id mixer of [`hash`], to build ids with chosen hashes.
    fn unmix(h: u64) -> u64 {
        fn inv(c: u64) -> u64 {
            // Newton's iteration for the inverse of an odd number modulo 2^64
            let mut x = c;
            for _ in 0..6 {
                x = x.wrapping_mul(2u64.wrapping_sub(c.wrapping_mul(x)));
            }
            x
        }
        fn unshift(y: u64, s: u32) -> u64 {
            let mut x = y;
            for _ in 0..64 / s + 1 {
                x = y ^ (x >> s);
            }
            x
        }
        let mut x = unshift(h, 31);
        x = unshift(x.wrapping_mul(inv(0x94D0_49BB_1331_11EB)), 27);
        unshift(x.wrapping_mul(inv(0xBF58_476D_1CE4_E5B9)), 30)
    }

    /// The seed the first table of every fresh backend had before seeds were random.
    const OLD_FIRST_SEED: u64 = 0x2545_F491_4F6C_DD1D;

    /// Ids that all share one home slot under the old fixed seed, in every table of up to 2^24
    /// slots: the top 24 bits of their hashes are equal.
    fn adversarial_ids(n: u64) -> Vec<i64> {
        (0..n).map(|j| (unmix((0xA5A5A5u64 << 40) | j) ^ OLD_FIRST_SEED) as i64).collect()
    }

    #[test]
    fn ids_chosen_against_the_old_fixed_seed_no_longer_collide() {
        let ids = adversarial_ids(20_000);
        // they really are adversarial for the old scheme: one home slot for all of them
        assert!(ids.iter().all(|&id| hash(id, OLD_FIRST_SEED) >> 40 == 0xA5A5A5), "the crafted ids do not collide");
        // under the old seed each insert would probe past all earlier ones: about n^2 / 2 = 2e8 slots
        // a fresh table (random seed): a few slots per insert
        let mut t: IdTable<u32> = IdTable::new(0);
        for &id in &ids {
            *t.get_or_insert(id, || 0).unwrap() += 1;
        }
        let per_insert = t.probes.get() as f64 / ids.len() as f64;
        assert!(per_insert < 8.0, "{per_insert} slots inspected per insert in a randomly seeded table");
        assert_eq!((t.len(), t.rehashes), (ids.len(), 0));
        // even a table that had the old seed stops the attack: the first insert that probes too
        // far makes it rebuild under a fresh seed
        let mut old: IdTable<u32> = IdTable::with_seed(0, OLD_FIRST_SEED);
        for &id in &ids {
            *old.get_or_insert(id, || 0).unwrap() += 1;
        }
        assert!(old.rehashes >= 1 && old.seed != OLD_FIRST_SEED);
        assert!(old.probes.get() < 2_000_000, "{} slots inspected: the probe bound did not help", old.probes.get());
        for &id in &ids {
            assert_eq!(old.get(id), Some(&1));
        }
        assert_eq!(old.len(), ids.len());
    }

    #[test]
    fn seeds_are_random_per_table() {
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|_| IdTable::<u8>::new(0).seed).collect();
        assert_eq!(seeds.len(), 1000);
        // none is a seed of the old fixed sequence
        let mut old = OLD_FIRST_SEED;
        for _ in 0..1000 {
            assert!(!seeds.contains(&old));
            old = old.wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
    }

    #[test]
    fn forced_rebuilds_are_bounded() {
        let mut t: IdTable<u8> = IdTable::new(0);
        for id in 0..100 {
            t.get_or_insert(id, || 0).unwrap();
        }
        for _ in 0..MAX_REHASHES {
            t.rehash = true;
            t.try_reserve(t.len() + 1).unwrap();
        }
        t.rehash = true;
        assert_eq!(t.try_reserve(t.len() + 1).unwrap_err().code, crate::ErrCode::LimitExceeded);
        assert!((0..100).all(|id| t.contains(id)));
        // an impossible size is an error, not an abort
        let mut big: IdTable<[u8; 56]> = IdTable::new([0; 56]);
        assert_eq!(big.try_reserve(usize::MAX / 128).unwrap_err().code, crate::ErrCode::LimitExceeded);
        assert!(big.is_empty());
        // slot indices are u32: one slot is one 64-byte line
        assert_eq!(std::mem::size_of::<Slot<[u8; 56]>>(), 64);
        assert_eq!(std::mem::align_of::<Slot<[u8; 56]>>(), 64);
    }
}
