//! The stored `rfm_population` value: its rows in customer-id order, the label texts they index
//! and the breaks used; written once by the final step, read in place by the accessors and
//! validated by the text and binary inputs.
//!
//! Encoded value (little endian):
//! `[magic u32][version u8][pad 3][as_of i64][rows_read u64][state_bytes u64][n u64]
//! [info length u32][info json][labels: count u32, (length u32, bytes)*][n × ROW bytes]`.
//!
//! Version 1 (pg_segment 0.1.0) has the info `{"breaks": ...}`; version 2 records the time zone
//! its days were counted in and the rows dropped as repeated order ids:
//! `{"breaks": ..., "duplicate_rows": n, "tz": "..."}`. Both are read; version 2 is written.

use super::state::Entry;
use crate::codec::{written_by_newer, Reader, Writer};
use crate::fallible as fa;
use crate::score::{Breaks, Score};
use crate::time::check_instant;
use crate::{Error, Result};
use serde_json::{json, Value};

/// The most labels one population value can index (u16 indices, [`NO_LABEL`] excluded).
pub const MAX_LABELS: usize = NO_LABEL as usize;

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
    pub(super) fn from_entry(id: i64, e: &Entry, windowed: bool) -> OutRow {
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
    pub version: u8,
    pub as_of: i64,
    pub rows: Vec<OutRow>,
    pub labels: Vec<String>,
    pub breaks: Value,
    /// the zone days were counted in (version 2)
    pub tz: Option<String>,
    /// rows dropped as repeated order ids (version 2)
    pub duplicates: u64,
    pub rows_read: u64,
    pub state_bytes: usize,
}

const POP_MAGIC: u32 = 0x5053_5031; // "PSP1"
/// Largest info document a reader accepts: the JSON a writer can put there (a breaks document
/// from the options, themselves at most MAX_JSON_TEXT) and a little framing.
const MAX_INFO: usize = fa::MAX_JSON_TEXT + 64;
/// The version written now (version 1 values, from pg_segment 0.1.0, are still read).
pub const POPULATION_VERSION: u8 = 2;
pub(super) const ROW: usize = 8 * 6 + 4 * 4 + 4 * 2 + 4 + 4 * 2 + 8; // = 92

/// The info document of a value of `version`.
pub(super) fn info_json(version: u8, breaks: &Value, tz: Option<&str>, duplicates: u64) -> String {
    if version == 1 {
        json!({"breaks": breaks}).to_string()
    } else {
        json!({"breaks": breaks, "duplicate_rows": duplicates, "tz": tz}).to_string()
    }
}

/// Bytes of a value's head (everything before the rows).
pub(super) fn head_len(info: &str, labels: &[String]) -> usize {
    let labels: usize = labels.iter().map(|l| 4 + l.len()).sum();
    4 + 4 + 8 * 4 + 4 + info.len() + 4 + labels
}

/// Writes a value's head into `out` (exactly [`head_len`] bytes).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_head(
    out: &mut [u8],
    version: u8,
    as_of: i64,
    rows_read: u64,
    state_bytes: u64,
    n: usize,
    info: &str,
    labels: &[String],
) {
    let mut w = Writer::new(out);
    w.put(&POP_MAGIC.to_le_bytes());
    w.put(&[version, 0, 0, 0]);
    w.put(&as_of.to_le_bytes());
    w.put(&rows_read.to_le_bytes());
    w.put(&state_bytes.to_le_bytes());
    w.put(&(n as u64).to_le_bytes());
    w.put(&(info.len() as u32).to_le_bytes());
    w.put(info.as_bytes());
    w.put(&(labels.len() as u32).to_le_bytes());
    for l in labels {
        w.put(&(l.len() as u32).to_le_bytes());
        w.put(l.as_bytes());
    }
    w.finish();
}

/// Writes one row into `out` (exactly [`ROW`] bytes).
#[inline]
pub(super) fn write_row(r: &OutRow, out: &mut [u8]) {
    let mut w = Writer::new(out);
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
    w.finish();
}

/// Byte offset of the tier label index within a row.
pub(super) const ROW_TIER_AT: usize = 86;

impl Output {
    fn info_json(&self) -> String {
        info_json(self.version, &self.breaks, self.tz.as_deref(), self.duplicates)
    }

    pub fn encoded_len(&self) -> usize {
        head_len(&self.info_json(), &self.labels) + self.rows.len() * ROW
    }

    pub fn encode_into(&self, out: &mut [u8]) {
        let info = self.info_json();
        let head = head_len(&info, &self.labels);
        write_head(
            &mut out[..head],
            self.version,
            self.as_of,
            self.rows_read,
            self.state_bytes as u64,
            self.rows.len(),
            &info,
            &self.labels,
        );
        for (r, o) in self.rows.iter().zip(out[head..].chunks_exact_mut(ROW)) {
            write_row(r, o);
        }
    }

    /// The value a view reads, decoded back (for tests and tools).
    pub fn decode(bytes: &[u8]) -> Result<Output> {
        let v = PopulationView::new(bytes)?;
        let info: Value = serde_json::from_str(v.info).map_err(|e| Error::binary(format!("rfm_population: info is not JSON: {e}")))?;
        Ok(Output {
            version: v.version,
            as_of: v.as_of,
            rows: (0..v.len).map(|i| v.row(i)).collect(),
            labels: v.labels.iter().map(|l| l.to_string()).collect(),
            breaks: info["breaks"].clone(),
            tz: info.get("tz").and_then(|t| t.as_str()).map(String::from),
            duplicates: info.get("duplicate_rows").and_then(|d| d.as_u64()).unwrap_or(0),
            rows_read: v.rows_read,
            state_bytes: v.state_bytes as usize,
        })
    }
}

/// Zero-copy reader of an encoded population value.
pub struct PopulationView<'a> {
    pub version: u8,
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
        let mut r = Reader::new(bytes, "population value is truncated");
        if r.u32()? != POP_MAGIC {
            return Err(Error::binary("not an rfm_population value"));
        }
        let version = r.take(4)?[0];
        if version == 0 {
            return Err(Error::binary("rfm_population value is corrupt: there is no version 0"));
        }
        if version > POPULATION_VERSION {
            return Err(written_by_newer(format!(
                "rfm_population version {version} is not supported (this pg_segment reads version {POPULATION_VERSION})"
            )));
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
        if nl > r.remaining() / 4 {
            return Err(Error::binary("rfm_population value is truncated"));
        }
        let mut labels = fa::vec_with_capacity(nl, "rfm_population")?;
        for _ in 0..nl {
            let l = r.u32()? as usize;
            labels.push(std::str::from_utf8(r.take(l)?).map_err(|_| Error::binary("rfm_population: label is not UTF-8"))?);
        }
        let rows = r.rest();
        if rows.len() != len.saturating_mul(ROW) {
            return Err(Error::binary("rfm_population value is truncated"));
        }
        Ok(PopulationView { version, as_of, rows_read, state_bytes, len, info, labels, rows })
    }

    /// Checks everything `population_agg` guarantees of a value, so that the text and binary
    /// inputs accept exactly the values it can produce: version 1 (0.1.0) or 2 with zero
    /// padding, an info document holding valid breaks (and in version 2 the zone and the count
    /// of repeated rows), labels without NUL, and rows in strictly ascending customer order
    /// whose instants, totals, scores and label indices are consistent. `bytes` is the value the
    /// view was made from.
    pub fn validate(&self, bytes: &[u8]) -> Result<()> {
        let bad = |what: String| Error::binary(format!("rfm_population value is corrupt: {what}"));
        if !(1..=POPULATION_VERSION).contains(&bytes[4]) || bytes[5..8] != [0, 0, 0] {
            return Err(bad(format!(
                "version {} with padding {:?} (this pg_segment writes version {POPULATION_VERSION} and reads 1 to {POPULATION_VERSION})",
                bytes[4],
                &bytes[5..8]
            )));
        }
        check_instant(self.as_of, "rfm_population as_of")?;
        let info: Value = serde_json::from_str(self.info).map_err(|e| bad(format!("info is not JSON: {e}")))?;
        let keys: &[&str] = if self.version == 1 { &["breaks"] } else { &["breaks", "duplicate_rows", "tz"] };
        let form = if self.version == 1 {
            "info must be {\"breaks\": null or a breaks object}"
        } else {
            "info must be {\"breaks\": null or a breaks object, \"duplicate_rows\": a count, \"tz\": a time zone name}"
        };
        match info.as_object() {
            Some(o) if o.len() == keys.len() && keys.iter().all(|k| o.contains_key(*k)) => {
                match o.get("breaks") {
                    Some(Value::Null) => {}
                    Some(b @ Value::Object(_)) => {
                        Breaks::from_json_with_tz(b.clone()).map_err(|e| bad(format!("info.breaks: {}", e.message)))?;
                    }
                    _ => return Err(bad(form.into())),
                }
                if self.version >= 2 {
                    let tz_ok = o["tz"].as_str().is_some_and(|t| !t.is_empty() && t.len() <= 255);
                    if !tz_ok || !o["duplicate_rows"].is_u64() {
                        return Err(bad(form.into()));
                    }
                }
            }
            _ => return Err(bad(form.into())),
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
