//! An open-addressing hash table from integer customer ids to fixed-size values, built for the
//! whole-population aggregate: values live inline in the slots (one cache line per customer),
//! the slot of an id can be computed ahead of time so that a batch of rows prefetches its slots
//! before touching them (memory misses overlap instead of queueing), and the slot array asks
//! the kernel for transparent huge pages (fewer TLB misses over a table of hundreds of MB).

/// Marks an empty slot; the id `i64::MIN` itself is kept outside the slots.
const EMPTY: i64 = i64::MIN;

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot<V: Copy> {
    key: i64,
    value: V,
}

pub struct IdTable<V: Copy> {
    slots: Vec<Slot<V>>,
    /// log2 of the slot count
    bits: u32,
    len: usize,
    /// the value of id i64::MIN, if seen
    min_key: Option<V>,
    filler: V,
    seed: u64,
    /// slots inspected by lookups so far (a cheap measure of clustering, for tests)
    probes: std::cell::Cell<u64>,
}

/// A well-mixed hash of an id under a per-table seed. The seed matters: merging one table
/// into another walks the first in slot order, and with one hash function for both that order
/// is the second table's home order too, which piles the inserted ids into one long probe run
/// (quadratic time). Different seeds make the two orders unrelated.
#[inline]
fn hash(id: i64, seed: u64) -> u64 {
    let mut h = (id as u64) ^ seed;
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// Seeds for new tables: distinct per table within a process.
fn next_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0x2545_F491_4F6C_DD1D);
    NEXT.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
}

impl<V: Copy> IdTable<V> {
    /// `filler` is any value (stored in empty slots, never read).
    pub fn new(filler: V) -> IdTable<V> {
        IdTable { slots: Vec::new(), bits: 0, len: 0, min_key: None, filler, seed: next_seed(), probes: std::cell::Cell::new(0) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of the slot array.
    pub fn bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<Slot<V>>()
    }

    /// Bytes the slot array would take after growing to hold `len` ids.
    pub fn bytes_for(len: usize) -> usize {
        Self::slots_for(len) * std::mem::size_of::<Slot<V>>()
    }

    fn slots_for(len: usize) -> usize {
        // at most 3/4 full
        (len * 4 / 3 + 1).next_power_of_two().max(1024)
    }

    /// Whether inserting one more id would grow the slot array.
    #[inline]
    pub fn full(&self) -> bool {
        (self.len + 1) * 4 > self.slots.len() * 3
    }

    /// Grows the slot array to hold `len` ids.
    pub fn reserve(&mut self, len: usize) {
        let want = Self::slots_for(len);
        if want <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, alloc_slots(want, self.filler));
        self.bits = want.trailing_zeros();
        for s in old {
            if s.key != EMPTY {
                let i = self.find(s.key);
                self.slots[i] = s;
            }
        }
    }

    #[inline]
    fn home(&self, id: i64) -> usize {
        (hash(id, self.seed) >> (64 - self.bits)) as usize
    }

    /// The slot holding `id`, or the empty slot where it would go.
    #[inline]
    fn find(&self, id: i64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        loop {
            self.probes.set(self.probes.get() + 1);
            let k = self.slots[i].key;
            if k == id || k == EMPTY {
                return i;
            }
            i = (i + 1) & mask;
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
        if id == EMPTY {
            return self.min_key.as_ref();
        }
        if self.slots.is_empty() {
            return None;
        }
        let s = &self.slots[self.find(id)];
        (s.key == id).then_some(&s.value)
    }

    /// The value of `id`, inserted with `make()` when absent. The caller grows the table first
    /// when [`IdTable::full`] says so.
    #[inline]
    pub fn get_or_insert(&mut self, id: i64, make: impl FnOnce() -> V) -> &mut V {
        if id == EMPTY {
            if self.min_key.is_none() {
                self.min_key = Some(make());
                self.len += 1;
            }
            return self.min_key.as_mut().unwrap();
        }
        if self.full() {
            self.reserve(self.len + 1);
        }
        let i = self.find(id);
        if self.slots[i].key == EMPTY {
            self.slots[i] = Slot { key: id, value: make() };
            self.len += 1;
        }
        &mut self.slots[i].value
    }

    /// Whether `id` is present.
    pub fn contains(&self, id: i64) -> bool {
        self.get(id).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, &V)> + '_ {
        self.min_key.iter().map(|v| (EMPTY, v)).chain(self.slots.iter().filter(|s| s.key != EMPTY).map(|s| (s.key, &s.value)))
    }
}

/// A slot array of `n` empty slots; on Linux the kernel is asked to back it with huge pages
/// (it is touched only after the advice, so the pages are faulted in as huge pages).
fn alloc_slots<V: Copy>(n: usize, filler: V) -> Vec<Slot<V>> {
    let mut v: Vec<Slot<V>> = Vec::with_capacity(n);
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
    v
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
            *b.get_or_insert(id * 7, || 0) += 1;
        }
        for id in 0..1000i64 {
            *a.get_or_insert(id, || 0) += 1;
        }
        let ids: Vec<i64> = b.iter().map(|(id, _)| id).collect();
        let before = a.probes.get();
        for id in &ids {
            *a.get_or_insert(*id, || 0) += 1;
        }
        let per_insert = (a.probes.get() - before) as f64 / ids.len() as f64;
        assert!(per_insert < 8.0, "{per_insert} slots inspected per insert");
        assert!(longest_run(&a) < 200, "probe run of {}", longest_run(&a));
    }

    #[test]
    fn behaves_like_a_map() {
        let mut t: IdTable<u64> = IdTable::new(0);
        let mut m = std::collections::HashMap::new();
        let mut x: u64 = 12345;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // ids with shared low bits, negative ids and i64::MIN too
            let id = match x % 4 {
                0 => (x % 1000) as i64 * 1024,
                1 => -((x % 5000) as i64),
                2 => i64::MIN + (x % 2) as i64,
                _ => (x % 100_000) as i64,
            };
            *t.get_or_insert(id, || 0) += 1;
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
}
