//! `rfm_agg(order_id, ordered_at, amount [, is_refund])`: the state of one group's order rows
//! when they carry an order id. Rows repeating an order id (with the same kind, order or refund)
//! count once, by the rule `population_agg` applies ([`dedup_order_rows`]: the earliest instant,
//! then the smallest amount, is the row that counts); rows with a NULL order id always count.
//! The result is the `rfm_summary` that `rfm_agg(ordered_at, amount)` gives over the rows that
//! count, byte for byte.
//!
//! Partial state of parallel plans (little endian): `[magic u32][n events u64][n id rows u64]
//! [n × (instant i64, amount i64)][n id rows × 48 bytes]`. The rows with an order id travel as
//! they are (deduplicated within the writer), so that repeats across partial states still count
//! once. Memory is bounded by `pg_segment.memory_limit` (53200).

use crate::codec::{Reader, Writer};
use crate::fallible::{self as fa, Limit};
use crate::population::{dedup_order_rows, IdRow, ID_ROW_BYTES};
use crate::summary::Event;
use crate::{Error, Result};

const MAGIC: u32 = 0x5253_4f31; // "RSO1"
const EVENT_BYTES: usize = std::mem::size_of::<Event>();
const WHAT: &str = "rfm_agg";

/// One group's rows: those without an order id as events, those with one kept until the end.
pub struct OrderRows {
    events: Vec<Event>,
    rows: Vec<IdRow>,
    limit: Limit,
}

fn bad(what: &str) -> Error {
    Error::binary(format!("rfm_agg partial state: {what}"))
}

impl OrderRows {
    /// `limit_bytes`: `pg_segment.memory_limit` in bytes.
    pub fn new(limit_bytes: usize) -> OrderRows {
        OrderRows { events: Vec::new(), rows: Vec::new(), limit: Limit { bytes: limit_bytes, what: WHAT } }
    }

    /// Bytes held (capacity, what the allocator gave).
    pub fn bytes(&self) -> usize {
        fa::bytes_of::<Event>(self.events.capacity()).saturating_add(fa::bytes_of::<IdRow>(self.rows.capacity()))
    }

    fn grow<T>(v: &mut Vec<T>, held: usize, limit: Limit, extra: usize) -> Result<()> {
        if v.len() + extra > v.capacity() {
            let cap = (v.len() + extra).max(v.capacity() * 2).max(16);
            limit.check(held.saturating_add(fa::bytes_of::<T>(cap - v.capacity())))?;
            fa::reserve_total(v, cap, WHAT)?;
        }
        Ok(())
    }

    /// One row; `amount` is signed (refunds negative, see [`crate::summary::signed_amount`]).
    pub fn add(&mut self, order: Option<i64>, at: i64, amount: i64) -> Result<()> {
        let held = self.bytes();
        match order {
            None => {
                Self::grow(&mut self.events, held, self.limit, 1)?;
                self.events.push(Event { at, amount });
            }
            Some(order) => {
                Self::grow(&mut self.rows, held, self.limit, 1)?;
                self.rows.push(IdRow { customer: 0, order, refund: (amount < 0) as i64, at, amount, day: 0 });
            }
        }
        Ok(())
    }

    /// The combine step: `other`'s rows are taken over (repeats are dropped at the end).
    pub fn merge(&mut self, other: &mut OrderRows) -> Result<()> {
        let held = self.bytes();
        Self::grow(&mut self.events, held, self.limit, other.events.len())?;
        let held = self.bytes();
        Self::grow(&mut self.rows, held, self.limit, other.rows.len())?;
        self.events.append(&mut other.events);
        self.rows.append(&mut other.rows);
        Ok(())
    }

    /// Drops repeated order ids now (before serialization: less to send).
    pub fn dedup(&mut self) {
        dedup_order_rows(&mut self.rows);
    }

    /// (Call [`OrderRows::dedup`] first.)
    pub fn serialized_len(&self) -> usize {
        4 + 16 + self.events.len() * EVENT_BYTES + self.rows.len() * ID_ROW_BYTES
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(MAGIC);
        w.record(self.events.len() as u64);
        w.record(self.rows.len() as u64);
        w.records(&self.events);
        w.records(&self.rows);
        w.finish();
    }

    /// Reads a partial state; `limit_bytes` is the reader's own limit.
    pub fn deserialize(bytes: &[u8], limit_bytes: usize) -> Result<OrderRows> {
        let mut r = Reader::new(bytes, "rfm_agg partial state is truncated");
        if r.u32()? != MAGIC {
            return Err(bad("bad magic number"));
        }
        let ne = r.u64()? as usize;
        let ni = r.u64()? as usize;
        let want = ne.saturating_mul(EVENT_BYTES).saturating_add(ni.saturating_mul(ID_ROW_BYTES));
        if want != r.remaining() {
            return Err(bad("truncated"));
        }
        let mut st = OrderRows::new(limit_bytes);
        st.limit.check(want)?;
        st.events = r.records(ne, WHAT)?;
        st.rows = fa::vec_with_capacity(ni, WHAT)?;
        for _ in 0..ni {
            let row: IdRow = r.record()?;
            if row.refund != (row.amount < 0) as i64 || row.customer != 0 || row.day != 0 {
                return Err(bad("inconsistent row with an order id"));
            }
            st.rows.push(row);
        }
        Ok(st)
    }

    /// The events that count (unsorted), in a vector of their own: the rows without an order id
    /// and one row per order id and kind. The state stays whole (repeats dropped), because a
    /// final function may be called again on it: `rfm_agg(...) OVER (ORDER BY ...)` finishes
    /// the growing state after every row.
    pub fn events(&mut self) -> Result<Vec<Event>> {
        self.dedup();
        let mut events = Vec::new();
        Self::grow(&mut events, self.bytes(), self.limit, self.events.len() + self.rows.len())?;
        events.extend_from_slice(&self.events);
        events.extend(self.rows.iter().map(|r| Event { at: r.at, amount: r.amount }));
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(mut v: Vec<Event>) -> Vec<Event> {
        v.sort();
        v
    }

    #[test]
    fn repeats_count_once_and_null_ids_always_count() {
        let mut s = OrderRows::new(1 << 20);
        s.add(Some(7), 100, 5_000_000).unwrap();
        s.add(Some(7), 100, 5_000_000).unwrap();
        // a conflicting repeat: the earliest instant counts
        s.add(Some(7), 90, 9_000_000).unwrap();
        // its refund shares the order id and counts too, once
        s.add(Some(7), 200, -1_000_000).unwrap();
        s.add(Some(7), 200, -1_000_000).unwrap();
        s.add(None, 50, 1_000_000).unwrap();
        s.add(None, 50, 1_000_000).unwrap();
        let got = sorted(s.events().unwrap());
        let want = vec![
            Event { at: 50, amount: 1_000_000 },
            Event { at: 50, amount: 1_000_000 },
            Event { at: 90, amount: 9_000_000 },
            Event { at: 200, amount: -1_000_000 },
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn repeats_across_partial_states_count_once() {
        let mut a = OrderRows::new(1 << 20);
        let mut b = OrderRows::new(1 << 20);
        for s in [&mut a, &mut b] {
            s.add(Some(1), 10, 2_000_000).unwrap();
            s.add(None, 11, 3_000_000).unwrap();
        }
        b.add(Some(2), 12, 4_000_000).unwrap();
        b.dedup();
        let mut bytes = vec![0u8; b.serialized_len()];
        b.serialize_into(&mut bytes);
        let mut b2 = OrderRows::deserialize(&bytes, 1 << 20).unwrap();
        a.merge(&mut b2).unwrap();
        let got = sorted(a.events().unwrap());
        assert_eq!(got.len(), 4);
        assert_eq!(got.iter().filter(|e| e.at == 10).count(), 1);
        assert!(OrderRows::deserialize(&bytes[..bytes.len() - 1], 1 << 20).is_err());
        assert_eq!(OrderRows::deserialize(&bytes, 10).err().unwrap().code, crate::ErrCode::OutOfMemory);
    }

    /// The stored layout of a partial state, byte for byte: the header, the events as (instant,
    /// amount) pairs, then the id rows, all little endian; it reads back to the same state.
    #[test]
    fn partial_state_bytes_are_pinned() {
        let mut s = OrderRows::new(1 << 20);
        s.add(None, 11, -3_000_000).unwrap();
        s.add(Some(5), 12, 4_000_000).unwrap();
        s.add(None, -7, 1).unwrap();
        s.dedup();
        let mut bytes = vec![0u8; s.serialized_len()];
        s.serialize_into(&mut bytes);
        let mut want = Vec::new();
        want.extend(MAGIC.to_le_bytes());
        want.extend(2u64.to_le_bytes());
        want.extend(1u64.to_le_bytes());
        for v in [11i64, -3_000_000, -7, 1, 0, 5, 0, 12, 4_000_000, 0] {
            want.extend(v.to_le_bytes());
        }
        assert_eq!(bytes, want);
        let back = OrderRows::deserialize(&bytes, 1 << 20).unwrap();
        assert_eq!(back.events, s.events);
        assert_eq!(back.rows, s.rows);
    }

    #[test]
    fn finishing_leaves_the_state_whole() {
        // a window aggregate finishes the growing state after every row
        let mut s = OrderRows::new(1 << 20);
        s.add(Some(1), 10, 2_000_000).unwrap();
        s.add(None, 11, 3_000_000).unwrap();
        assert_eq!(s.events().unwrap().len(), 2);
        s.add(Some(2), 12, 4_000_000).unwrap();
        s.add(Some(1), 10, 2_000_000).unwrap();
        assert_eq!(sorted(s.events().unwrap()).len(), 3);
        assert_eq!(s.events().unwrap().len(), 3);
    }

    #[test]
    fn the_memory_limit_is_an_error() {
        let mut s = OrderRows::new(1024);
        let e = (0..1000).try_for_each(|i| s.add(Some(i), i, 1)).unwrap_err();
        assert_eq!(e.code, crate::ErrCode::OutOfMemory);
        assert!(e.message.contains("pg_segment.memory_limit"), "{e:?}");
    }
}
