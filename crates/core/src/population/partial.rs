//! The partial state of parallel aggregation (little endian):
//! `[magic u32][as_of i64][window_first_day i64 (MIN = none)][as_of_day i64][rows u64]
//! [limit u64][options length u32][options text][n customers u64][n days u64]
//! [n × (id i64, entry 64 bytes)][n days × (day i32, seq u32)]`
//! (an entry as [`Entry`] lays it out: five i64 then six u32, the last one zero).

use super::finish::finish_bytes;
use super::state::{Entry, IdMap, State};
use crate::codec::{Reader, Record, Writer};
use crate::fallible as fa;
use crate::{Error, Result};

const MAGIC: u32 = 0x5053_4731; // "PSG1"

/// One customer of a partial state: its id and its entry, copied as bytes.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct CustomerRecord {
    id: i64,
    entry: Entry,
}

const RECORD: usize = std::mem::size_of::<CustomerRecord>();
const _: () = assert!(RECORD == 72);

impl Record for CustomerRecord {
    fn to_le(self) -> Self {
        let e = self.entry;
        let entry = Entry {
            first: e.first.to_le(),
            last: e.last.to_le(),
            monetary: e.monetary.to_le(),
            refunded: e.refunded.to_le(),
            w_monetary: e.w_monetary.to_le(),
            orders: e.orders.to_le(),
            refunds: e.refunds.to_le(),
            future: e.future.to_le(),
            w_orders: e.w_orders.to_le(),
            seq: e.seq.to_le(),
            _pad: 0,
        };
        CustomerRecord { id: self.id.to_le(), entry }
    }
}

impl State {
    /// (Call [`State::flush`] first: buffered rows are not serialized.)
    pub fn serialized_len(&self) -> usize {
        4 + 8 * 5 + 4 + self.options_json.len() + 16 + self.map.len() * RECORD + self.days.len() * 8
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(MAGIC);
        w.record(self.as_of);
        w.record(self.window_first_day.unwrap_or(i64::MIN));
        w.record(self.as_of_day);
        w.record(self.rows);
        w.record(self.limit as u64);
        w.bytes_u32(self.options_json.as_bytes());
        w.record(self.map.len() as u64);
        w.record(self.days.len() as u64);
        for (id, &entry) in self.map.iter() {
            w.record(CustomerRecord { id, entry });
        }
        for &(d, seq) in &self.days {
            w.record(d);
            w.record(seq);
        }
        w.finish();
    }

    /// Reads a partial state; `limit` is the reader's own memory limit (the one recorded by the
    /// writer is not trusted).
    pub fn deserialize(bytes: &[u8], limit: usize) -> Result<State> {
        let mut r = Reader::new(bytes, "population value is truncated");
        if r.u32()? != MAGIC {
            return Err(Error::binary("population partial state: bad magic number"));
        }
        let as_of = r.i64()?;
        let wf = r.i64()?;
        let as_of_day = r.i64()?;
        let rows = r.u64()?;
        let _writer_limit = r.u64()?;
        let options_json =
            String::from_utf8(r.bytes_u32()?.to_vec()).map_err(|_| Error::binary("population partial state: options are not UTF-8"))?;
        let n = r.u64()? as usize;
        let nd = r.u64()? as usize;
        if n.saturating_mul(RECORD).saturating_add(nd.saturating_mul(8)) != r.remaining() {
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
            let CustomerRecord { id, entry: e } = r.record()?;
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
            let d = r.i32()?;
            let seq = r.u32()?;
            if seq as usize >= n {
                return Err(Error::binary("population partial state: bad customer sequence"));
            }
            st.days.push((d, seq));
        }
        Ok(st)
    }
}
