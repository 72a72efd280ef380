//! The partial state of parallel and partitionwise aggregation (little endian):
//! `[magic u32][as_of i64][window_first_day i64 (MIN = none)][as_of_day i64][rows u64]
//! [duplicates u64][limit u64][options length u32][options text][zone length u32][zone text]
//! [n customers u64][n days u64][n id rows u64][n × id i64][n × entry 56 bytes]
//! [n × distinct days u32][n days × day i32][n id rows × 48 bytes]`.
//!
//! The customers are one sorted run (see [`super::run`]): ascending ids, each customer's
//! distinct purchase days ascending. The writer sorts (in the worker or partition that read the
//! rows); the reader checks the order while it copies and does no hashing, and the leader merges
//! runs by concatenation. The rows that carry an order id travel as they are (deduplicated
//! within the writer), so that repeats across partial states still count once.

use super::finish::finish_bytes;
use super::run::{Merged, Run};
use super::state::{Entry, IdRow, State, ENTRY_BYTES, ID_ROW_BYTES};
use crate::codec::{Reader, Record, Writer};
use crate::fallible as fa;
use crate::{Error, Result};

const MAGIC: u32 = 0x5053_4732; // "PSG2"

impl Record for Entry {
    fn to_le(self) -> Self {
        Entry {
            first: self.first.to_le(),
            last: self.last.to_le(),
            monetary: self.monetary.to_le(),
            refunded: self.refunded.to_le(),
            w_monetary: self.w_monetary.to_le(),
            orders: self.orders.to_le(),
            refunds: self.refunds.to_le(),
            future: self.future.to_le(),
            w_orders: self.w_orders.to_le(),
        }
    }
}

impl Record for IdRow {
    fn to_le(self) -> Self {
        IdRow {
            customer: self.customer.to_le(),
            order: self.order.to_le(),
            refund: self.refund.to_le(),
            at: self.at.to_le(),
            amount: self.amount.to_le(),
            day: self.day.to_le(),
        }
    }
}

fn bad(what: &str) -> Error {
    Error::binary(format!("population partial state: {what}"))
}

impl State {
    /// Sorts the state for serialization: its table becomes a run, several runs become one,
    /// repeated order ids are dropped. Call before [`State::serialized_len`].
    pub fn prepare_serialize(&mut self) -> Result<()> {
        self.sort_table()?;
        self.dedup_id_rows()?;
        if self.runs.len() > 1 {
            let merged = {
                let m = Merged::new(&self.runs)?;
                let mut run = Run { start: vec![0], ..Run::default() };
                for i in 0..m.len() {
                    let (id, e, days) = m.get(i);
                    fa::push(&mut run.ids, id, "population partial state")?;
                    fa::push(&mut run.entries, *e, "population partial state")?;
                    fa::extend_from_slice(&mut run.days, days, "population partial state")?;
                    fa::push(&mut run.start, run.days.len() as u32, "population partial state")?;
                }
                run
            };
            self.runs = vec![merged];
        }
        Ok(())
    }

    fn run(&self) -> Option<&Run> {
        self.runs.first()
    }

    /// (Call [`State::prepare_serialize`] first.)
    pub fn serialized_len(&self) -> usize {
        let (n, nd) = self.run().map_or((0, 0), |r| (r.len(), r.days.len()));
        4 + 8 * 6
            + 4
            + self.options_json.len()
            + 4
            + self.zone.len()
            + 24
            + n * (8 + ENTRY_BYTES + 4)
            + nd * 4
            + self.id_rows.len() * ID_ROW_BYTES
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(MAGIC);
        w.record(self.as_of);
        w.record(self.window_first_day.unwrap_or(i64::MIN));
        w.record(self.as_of_day);
        w.record(self.rows);
        w.record(self.duplicates);
        w.record(self.limit as u64);
        w.bytes_u32(self.options_json.as_bytes());
        w.bytes_u32(self.zone.as_bytes());
        let empty = Run { start: vec![0], ..Run::default() };
        let run = self.run().unwrap_or(&empty);
        w.record(run.len() as u64);
        w.record(run.days.len() as u64);
        w.record(self.id_rows.len() as u64);
        w.records(&run.ids);
        w.records(&run.entries);
        for k in 0..run.len() {
            w.record(run.start[k + 1] - run.start[k]);
        }
        w.records(&run.days);
        w.records(&self.id_rows);
        w.finish();
    }

    /// Reads a partial state; `limit` is the reader's own memory limit (the one recorded by the
    /// writer is not trusted).
    pub fn deserialize(bytes: &[u8], limit: usize) -> Result<State> {
        let mut r = Reader::new(bytes, "population value is truncated");
        if r.u32()? != MAGIC {
            return Err(bad("bad magic number"));
        }
        let as_of = r.i64()?;
        let wf = r.i64()?;
        let as_of_day = r.i64()?;
        let rows = r.u64()?;
        let duplicates = r.u64()?;
        let _writer_limit = r.u64()?;
        let text = |b: &[u8], what: &str| String::from_utf8(b.to_vec()).map_err(|_| bad(&format!("{what} is not UTF-8")));
        let options_json = text(r.bytes_u32()?, "options")?;
        let zone = text(r.bytes_u32()?, "zone")?;
        let n = r.u64()? as usize;
        let nd = r.u64()? as usize;
        let ni = r.u64()? as usize;
        let want =
            n.saturating_mul(8 + ENTRY_BYTES + 4).saturating_add(nd.saturating_mul(4)).saturating_add(ni.saturating_mul(ID_ROW_BYTES));
        if want != r.remaining() {
            return Err(bad("truncated"));
        }
        let mut st = State::new(as_of, as_of_day, None, options_json, zone, limit);
        st.window_first_day = (wf != i64::MIN).then_some(wf);
        st.rows = rows;
        st.duplicates = duplicates;
        // counts were checked against the bytes present; memory against the limit
        let need = want.saturating_add(n * 4).saturating_add(finish_bytes(n, nd + ni, 0));
        if need > limit {
            return Err(st.over_limit(n, nd + ni));
        }
        let mut run = Run {
            ids: fa::vec_with_capacity(n, "population partial state")?,
            entries: fa::vec_with_capacity(n, "population partial state")?,
            start: fa::vec_with_capacity(n + 1, "population partial state")?,
            days: fa::vec_with_capacity(nd, "population partial state")?,
        };
        for _ in 0..n {
            let id = r.i64()?;
            if run.ids.last().is_some_and(|&p| p >= id) {
                return Err(bad(if run.ids.last() == Some(&id) { "duplicate customer" } else { "customers out of order" }));
            }
            run.ids.push(id);
        }
        for _ in 0..n {
            let e: Entry = r.record()?;
            if (e.orders == 0) != (e.last == i64::MIN) || e.w_orders > e.orders {
                return Err(bad("inconsistent customer entry"));
            }
            run.entries.push(e);
        }
        run.start.push(0);
        let mut total = 0u64;
        for k in 0..n {
            let c = r.u32()?;
            if c > run.entries[k].orders || (c == 0) != (run.entries[k].orders == 0) {
                return Err(bad("more purchase days than orders"));
            }
            total += c as u64;
            if total > nd as u64 {
                return Err(bad("day counts do not add up"));
            }
            run.start.push(total as u32);
        }
        if total != nd as u64 {
            return Err(bad("day counts do not add up"));
        }
        for k in 0..n {
            let (a, b) = (run.start[k], run.start[k + 1]);
            for _ in a..b {
                let d = r.i32()?;
                if run.days.len() > a as usize && run.days.last().is_some_and(|&p| p >= d) {
                    return Err(bad("purchase days out of order"));
                }
                run.days.push(d);
            }
        }
        st.id_rows = fa::vec_with_capacity(ni, "population partial state")?;
        for _ in 0..ni {
            let row: IdRow = r.record()?;
            if row.refund != (row.amount < 0) as i64 {
                return Err(bad("inconsistent row with an order id"));
            }
            st.id_rows.push(row);
        }
        if n > 0 {
            st.runs.push(run);
        }
        Ok(st)
    }
}
