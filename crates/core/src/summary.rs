//! The per-customer RFM summary: every order and refund of one customer as (instant, amount).
//!
//! Keeping the events (16 bytes each) rather than running totals is deliberate: accessors take an
//! `as_of` and must exclude later orders exactly, BTYD figures need distinct purchase periods in a
//! time unit chosen at read time, cadence needs the gaps, and rollups of partial summaries stay
//! exact. Amounts are micro-units (see [`super::numeric`]); an amount below zero is a refund.
//!
//! Binary layout of a stored summary (little endian), after the varlena header:
//! `[version u8][flags u8][reserved u16][count u32][count × (instant i64, amount i64)]`,
//! events sorted by (instant, amount).
//!
//! A valid summary (what `rfm_agg` and `rollup` produce, and exactly what the text and binary
//! inputs accept, see [`check_events`]): flags and reserved bytes zero, at most [`MAX_EVENTS`]
//! events in (instant, amount) order, every instant inside `timestamptz`'s range, every amount
//! within ±10^14. `rfm_agg` and `rollup` also limit one customer's orders and refunds to
//! [`MAX_TOTAL`](super::numeric::MAX_TOTAL) each ([`check_totals_of`]), as `population_agg`
//! does; the inputs do not, so that summaries pg_segment 0.1.0 built with larger totals (it
//! summed without a limit) still restore from a dump.

use super::codec::written_by_newer;
use super::numeric::{check_totals, format_micro, parse_amount, BadAmount, MAX_AMOUNT};
pub use super::time::Unit;
use super::time::{day_of, format_instant, is_valid_instant, parse_instant_any};
use super::{Error, Result};

pub const SUMMARY_VERSION: u8 = 1;
const HEADER: usize = 8;
const EVENT: usize = 16;
/// The longest text of one event: a 29-character instant (`294276-12-31T23:59:59.999999Z`), a
/// space, a 20-character amount (`-99999999999999.9999`) and the `|` before the next one.
const MAX_EVENT_TEXT: usize = 29 + 1 + 20 + 1;
/// The most events one summary holds: its text form, which pg_dump writes, must stay within
/// [`MAX_TEXT_BYTES`](super::MAX_TEXT_BYTES) (19.6 million events; the binary value is then
/// about 300 MB, well within PostgreSQL's 1 GB limit on a value).
pub const MAX_EVENTS: usize = (super::MAX_TEXT_BYTES - 4) / MAX_EVENT_TEXT;

/// Checks that `events` form a valid summary (see the module documentation). `binary` picks the
/// SQLSTATE of a misordered list: 22P03 for the binary input, 22P02 for the text input; values out
/// of range are 22008 (instants) and 22003 (amounts) either way.
pub fn check_events(events: &[Event], binary: bool) -> Result<()> {
    check_event_seq(events.len(), events.iter().copied(), binary)
}

/// [`check_events`] over `n` events read one by one (no copy of a received value).
fn check_event_seq(n: usize, events: impl Iterator<Item = Event>, binary: bool) -> Result<()> {
    if n > MAX_EVENTS {
        return Err(Error::limit(format!(
            "rfm_summary: {n} events are more than the {MAX_EVENTS} one value may hold (its text form, which pg_dump writes, is limited to 1 GB)"
        )));
    }
    let mut prev: Option<Event> = None;
    for (i, e) in events.enumerate() {
        if !is_valid_instant(e.at) {
            return Err(Error::datetime(format!(
                "rfm_summary: event {} has an instant out of range ({} microseconds; timestamptz runs from 4714-11-24 BC to 294276-12-31 AD)",
                i + 1,
                e.at
            )));
        }
        if e.amount.unsigned_abs() > MAX_AMOUNT as u64 {
            return Err(Error::out_of_range(format!(
                "rfm_summary: event {} has an amount beyond ±10^14 ({} micro-units)",
                i + 1,
                e.amount
            )));
        }
        if prev.is_some_and(|p| p > e) {
            let msg = format!("rfm_summary: event {} is out of order: events are sorted by instant, then amount", i + 1);
            return Err(if binary { Error::binary(msg) } else { Error::invalid_text(msg) });
        }
        prev = Some(e);
    }
    Ok(())
}

/// The limit `rfm_agg` and `rollup` share with `population_agg`: one customer's orders, and its
/// refunds, total at most [`MAX_TOTAL`](super::numeric::MAX_TOTAL) each (22003 naming monetary).
pub fn check_totals_of(events: &[Event]) -> Result<()> {
    let (mut orders, mut refunds) = (0i128, 0i128);
    for e in events {
        if e.amount < 0 {
            refunds -= e.amount as i128;
        } else {
            orders += e.amount as i128;
        }
    }
    check_totals(orders, refunds, "one rfm_summary")
}

/// One order or refund. As a [`crate::codec::Record`] (the partial state of
/// `rfm_agg(order_id, ...)`): 16 bytes, `at` then `amount`, each little endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Event {
    /// timestamptz microseconds
    pub at: i64,
    /// micro-units; negative for a refund
    pub amount: i64,
}

impl crate::codec::Record for Event {
    fn to_le(self) -> Self {
        Event { at: self.at.to_le(), amount: self.amount.to_le() }
    }
}

impl Event {
    #[inline]
    pub fn is_refund(&self) -> bool {
        self.amount < 0
    }
}

/// The stored amount of an order row: refunds negative. `None` for a flagged refund of zero,
/// which changes nothing and is skipped.
#[inline]
pub fn signed_amount(amount: i64, refund_flag: bool) -> Option<i64> {
    if refund_flag {
        if amount == 0 {
            None
        } else {
            Some(-amount.abs())
        }
    } else {
        Some(amount)
    }
}

/// An aggregate transition state, also the decoded form of a stored summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub events: Vec<Event>,
    sorted: bool,
}

impl Summary {
    pub fn new() -> Self {
        Summary { events: Vec::new(), sorted: true }
    }

    pub fn from_events(mut events: Vec<Event>) -> Self {
        super::cancel::sort_unstable_by(&mut events, |a, b| a.cmp(b));
        Summary { events, sorted: true }
    }

    /// Adds one order row. `refund_flag` marks a refund whatever the sign of `amount`.
    /// A flagged refund of amount zero changes nothing and is skipped.
    #[inline]
    pub fn push(&mut self, at: i64, amount: i64, refund_flag: bool) {
        let Some(amount) = signed_amount(amount, refund_flag) else { return };
        if let Some(last) = self.events.last() {
            if (at, amount) < (last.at, last.amount) {
                self.sorted = false;
            }
        }
        self.events.push(Event { at, amount });
    }

    /// Merges another summary (the combine and rollup step). Order independent.
    pub fn merge(&mut self, other: &Summary) {
        self.events.extend_from_slice(&other.events);
        self.sorted = false;
    }

    pub fn sort(&mut self) {
        if !self.sorted {
            super::cancel::sort_unstable_by(&mut self.events, |a, b| a.cmp(b));
            self.sorted = true;
        }
    }

    pub fn encoded_len(&self) -> usize {
        HEADER + EVENT * self.events.len()
    }

    /// Writes the binary layout into `out` (which must be `encoded_len()` long). Sorts first.
    pub fn encode_into(&mut self, out: &mut [u8]) {
        self.sort();
        write_events(&self.events, out);
    }

    pub fn encode(&mut self) -> Vec<u8> {
        let mut v = vec![0u8; self.encoded_len()];
        self.encode_into(&mut v);
        v
    }

    /// Reads a binary value from outside (the binary input): everything [`check_events`] checks,
    /// and zero flags and reserved bytes. Exactly what [`Summary::encode`] can write is accepted.
    pub fn decode_checked(bytes: &[u8]) -> Result<Summary> {
        check_binary(bytes)?;
        Summary::decode(bytes)
    }

    /// Reads the binary layout, checking version and length.
    pub fn decode(bytes: &[u8]) -> Result<Summary> {
        let view = SummaryView::new(bytes)?;
        let events: Vec<Event> = super::fallible::collect(view.iter(), "rfm_summary")?;
        let sorted = events.windows(2).all(|w| w[0] <= w[1]);
        Ok(Summary { events, sorted })
    }

    /// Text form: `v1:` then `instant amount` pairs separated by `|`, e.g.
    /// `v1:2024-01-05T10:00:00Z 199.00|2024-02-01T08:30:00Z -20.00`.
    pub fn to_text(&mut self) -> String {
        self.sort();
        let mut s = String::new();
        write_text(self.events.iter().copied(), &mut |piece| s.push_str(piece));
        s
    }

    /// Reads the text form: exactly the values [`Summary::to_text`] can write (the same checks as
    /// the binary input, see [`check_events`]).
    pub fn parse_text(text: &str) -> Result<Summary> {
        let bad = |what: &str| {
            Error::invalid_text(format!("invalid input syntax for type rfm_summary: {what}"))
                .with_hint("the text form is v1: followed by 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z amount' pairs separated by |")
        };
        let text = text.trim();
        let rest = text.strip_prefix('v').ok_or_else(|| bad("missing version prefix"))?;
        let (ver, body) = rest.split_once(':').ok_or_else(|| bad("missing ':' after the version"))?;
        if ver.is_empty() || ver.len() > 9 || !ver.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("version is not a number"));
        }
        let ver: u32 = ver.parse().map_err(|_| bad("version is not a number"))?;
        if ver == 0 {
            return Err(bad("there is no version 0"));
        }
        check_version(ver)?;
        let mut events = Vec::new();
        if !body.is_empty() {
            for (i, item) in body.split('|').enumerate() {
                if events.len() >= MAX_EVENTS {
                    return Err(Error::limit(format!("rfm_summary: more than the {MAX_EVENTS} events one value may hold")));
                }
                let (at, amount) = item.trim().split_once(' ').ok_or_else(|| bad(item))?;
                let at = match parse_instant_any(at) {
                    None => return Err(bad(item)),
                    Some(us) => i64::try_from(us).ok().filter(|&us| is_valid_instant(us)).ok_or_else(|| {
                        Error::datetime(format!(
                            "rfm_summary: event {} has an instant out of range: {at} (timestamptz runs from -4713-11-24T00:00:00Z, 4714 BC, to 294276-12-31T23:59:59.999999Z)",
                            i + 1
                        ))
                    })?,
                };
                let amount = match parse_amount(amount) {
                    Ok(v) => v,
                    Err(BadAmount::Syntax) => return Err(bad(item)),
                    Err(BadAmount::OutOfRange) => {
                        return Err(Error::out_of_range(format!("rfm_summary: event {} has an amount beyond ±10^14: {amount}", i + 1)))
                    }
                };
                super::fallible::push(&mut events, Event { at, amount }, "rfm_summary input")?;
            }
        }
        check_events(&events, false)?;
        Ok(Summary { events, sorted: true })
    }
}

/// The checks of [`Summary::decode_checked`] without decoding (the binary input).
pub fn check_binary(bytes: &[u8]) -> Result<()> {
    let view = SummaryView::new(bytes)?;
    if bytes[1..4] != [0, 0, 0] {
        return Err(Error::binary("rfm_summary value is corrupt: flags and reserved bytes must be zero"));
    }
    check_event_seq(view.len(), view.iter(), true)
}

/// Writes the text form of sorted `events` piece by piece (so that a caller can write it
/// straight into PostgreSQL memory).
pub fn write_text(events: impl Iterator<Item = Event>, out: &mut dyn FnMut(&str)) {
    out(&format!("v{SUMMARY_VERSION}:"));
    for (i, e) in events.enumerate() {
        if i > 0 {
            out("|");
        }
        out(&format_instant(e.at));
        out(" ");
        out(&format_micro(e.amount as i128));
    }
}

/// Size of the binary layout for `n` events.
pub fn encoded_len(n: usize) -> usize {
    HEADER + EVENT * n
}

/// Writes the binary layout without sorting (serialization of partial aggregate states).
pub fn write_events(events: &[Event], out: &mut [u8]) {
    out[0] = SUMMARY_VERSION;
    out[1..4].fill(0);
    out[4..8].copy_from_slice(&(events.len() as u32).to_le_bytes());
    for (i, e) in events.iter().enumerate() {
        let o = HEADER + i * EVENT;
        out[o..o + 8].copy_from_slice(&e.at.to_le_bytes());
        out[o + 8..o + 16].copy_from_slice(&e.amount.to_le_bytes());
    }
}

fn check_version(ver: u32) -> Result<()> {
    if ver > SUMMARY_VERSION as u32 {
        return Err(written_by_newer(format!(
            "rfm_summary format version {ver} is not supported by this pg_segment (it reads versions 1 to {SUMMARY_VERSION})"
        )));
    }
    Ok(())
}

/// Zero-copy view of a stored summary.
#[derive(Clone, Copy)]
pub struct SummaryView<'a> {
    body: &'a [u8],
    n: usize,
}

impl<'a> SummaryView<'a> {
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER {
            return Err(Error::binary("rfm_summary value is truncated"));
        }
        if bytes[0] == 0 {
            return Err(Error::binary("rfm_summary value is corrupt: there is no version 0"));
        }
        check_version(bytes[0] as u32)?;
        let n = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        if bytes.len() != HEADER + n * EVENT {
            return Err(Error::binary(format!(
                "rfm_summary value is corrupt: {n} events need {} bytes, found {}",
                HEADER + n * EVENT,
                bytes.len()
            )));
        }
        Ok(SummaryView { body: &bytes[HEADER..], n })
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    #[inline]
    pub fn get(&self, i: usize) -> Event {
        let o = i * EVENT;
        Event {
            at: i64::from_le_bytes(self.body[o..o + 8].try_into().unwrap()),
            amount: i64::from_le_bytes(self.body[o + 8..o + 16].try_into().unwrap()),
        }
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Event> + '_ {
        (0..self.n).map(move |i| self.get(i))
    }

    /// Whether the events are in (instant, amount) order, as every stored summary is.
    pub fn is_sorted(&self) -> bool {
        (1..self.n).all(|i| self.get(i - 1) <= self.get(i))
    }

    /// Number of events at or before `as_of` (events are sorted).
    #[inline]
    pub fn cut(&self, as_of: Option<i64>) -> usize {
        match as_of {
            None => self.n,
            Some(t) => {
                let (mut lo, mut hi) = (0usize, self.n);
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.get(mid).at <= t {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                lo
            }
        }
    }

    /// Totals over the events at or before `as_of`.
    #[inline]
    pub fn metrics(&self, as_of: Option<i64>) -> Metrics {
        // the hot loop of scoring stored summaries: plain sums over the raw bytes, first and
        // last order kept as bounds and turned into Options once at the end
        let cut = self.cut(as_of);
        let (done, future) = self.body.split_at(cut * EVENT);
        let mut m = Metrics::default();
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for e in done.chunks_exact(EVENT) {
            let at = i64::from_le_bytes(e[..8].try_into().unwrap());
            let amount = i64::from_le_bytes(e[8..].try_into().unwrap());
            m.monetary += amount as i128;
            if amount < 0 {
                m.refunds += 1;
                m.refunded -= amount as i128;
            } else {
                m.orders += 1;
                first = first.min(at);
                last = last.max(at);
            }
        }
        if m.orders > 0 {
            m.first_order = Some(first);
            m.last_order = Some(last);
        }
        m.future_orders = future.chunks_exact(EVENT).filter(|e| i64::from_le_bytes(e[8..].try_into().unwrap()) >= 0).count() as i64;
        m
    }

    /// Totals over the events whose local day lies in the `window_days` days ending with the
    /// local day of `as_of` (both ends inclusive of that day), and not after `as_of`.
    pub fn window_metrics(&self, as_of: i64, window_days: i64, local: &dyn Fn(i64) -> i64) -> Metrics {
        let cut = self.cut(Some(as_of));
        let first_day = day_of(local(as_of)) - window_days + 1;
        let mut m = Metrics::default();
        for i in (0..cut).rev() {
            let e = self.get(i);
            if day_of(local(e.at)) < first_day {
                break;
            }
            m.add(e);
        }
        m
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    pub orders: i64,
    pub refunds: i64,
    /// net spend in micro-units
    pub monetary: i128,
    pub refunded: i128,
    pub first_order: Option<i64>,
    pub last_order: Option<i64>,
    pub future_orders: i64,
}

impl Metrics {
    #[inline]
    fn add(&mut self, e: Event) {
        self.monetary += e.amount as i128;
        if e.is_refund() {
            self.refunds += 1;
            self.refunded -= e.amount as i128;
        } else {
            self.orders += 1;
            self.first_order = Some(self.first_order.map_or(e.at, |f| f.min(e.at)));
            self.last_order = Some(self.last_order.map_or(e.at, |l| l.max(e.at)));
        }
    }
}

/// BTYD summary in the convention of the buy-till-you-die literature and of lifetimes'
/// `summary_data_from_transaction_data`: purchases are grouped into periods of `unit` (local
/// days, or Monday-to-Sunday weeks); `frequency` = number of purchase periods - 1; `recency` =
/// periods from the first to the last purchase period; `t` = periods from the first purchase
/// period to the period of `as_of`; `monetary_value` = mean spend of the repeat periods (0 when
/// there are none). Refund rows are ignored. `None` when there is no purchase by `as_of`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Btyd {
    pub frequency: f64,
    pub recency: f64,
    pub t: f64,
    pub monetary_value: f64,
}

pub fn btyd(view: &SummaryView, as_of: i64, unit: Unit, local: &dyn Fn(i64) -> i64) -> Option<Btyd> {
    let cut = view.cut(Some(as_of));
    let mut first: Option<i64> = None;
    let mut current: Option<i64> = None;
    let mut periods = 0i64;
    let mut repeat_sum = 0i128;
    let mut current_sum = 0i128;
    let close = |current: Option<i64>, sum: i128, periods: i64, repeat_sum: &mut i128| {
        if current.is_some() && periods > 1 {
            *repeat_sum += sum;
        }
    };
    for i in 0..cut {
        let e = view.get(i);
        if e.is_refund() {
            continue;
        }
        let p = unit.period(day_of(local(e.at)));
        if current != Some(p) {
            close(current, current_sum, periods, &mut repeat_sum);
            current = Some(p);
            current_sum = 0;
            periods += 1;
            if first.is_none() {
                first = Some(p);
            }
        }
        current_sum += e.amount as i128;
    }
    close(current, current_sum, periods, &mut repeat_sum);
    let first = first?;
    let last = current.unwrap();
    let now = unit.period(day_of(local(as_of)));
    let frequency = (periods - 1) as f64;
    Some(Btyd {
        frequency,
        recency: (last - first) as f64,
        t: (now - first) as f64,
        monetary_value: if periods > 1 { repeat_sum as f64 / (periods - 1) as f64 / super::numeric::SCALE as f64 } else { 0.0 },
    })
}

/// Distinct local purchase days at or before `as_of`, ascending (grown fallibly: a stored
/// summary may hold tens of millions of orders).
pub fn purchase_days(view: &SummaryView, as_of: i64, local: &dyn Fn(i64) -> i64) -> Result<Vec<i64>> {
    let cut = view.cut(Some(as_of));
    let mut days: Vec<i64> = Vec::new();
    for i in 0..cut {
        let e = view.get(i);
        if e.is_refund() {
            continue;
        }
        let d = day_of(local(e.at));
        if days.last() != Some(&d) {
            super::fallible::push(&mut days, d, "purchase days")?;
        }
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{pg_day, USECS_PER_DAY};

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        pg_day(y, m, d) * USECS_PER_DAY + h * 3_600_000_000
    }

    fn sample() -> Summary {
        let mut s = Summary::new();
        s.push(at(2024, 3, 1, 10), 1_000_000, false); // 100.00
        s.push(at(2024, 1, 1, 9), 500_000, false); // 50.00
        s.push(at(2024, 3, 5, 9), 200_000, true); // refund 20.00
        s.push(at(2024, 6, 1, 9), -100_000, false); // refund 10.00 by sign
        s.push(at(2025, 1, 1, 9), 300_000, false); // future for as_of 2024-12-31
        s
    }

    #[test]
    fn metrics_exclude_future_and_count_refunds() {
        let bytes = sample().encode();
        let v = SummaryView::new(&bytes).unwrap();
        let m = v.metrics(Some(at(2024, 12, 31, 0)));
        assert_eq!(m.orders, 2);
        assert_eq!(m.refunds, 2);
        assert_eq!(m.monetary, 1_200_000); // 150 - 30
        assert_eq!(m.first_order, Some(at(2024, 1, 1, 9)));
        assert_eq!(m.last_order, Some(at(2024, 3, 1, 10)));
        assert_eq!(m.future_orders, 1);
        let all = v.metrics(None);
        assert_eq!(all.orders, 3);
        assert_eq!(all.future_orders, 0);
    }

    /// The byte-level metrics loop equals event-by-event accumulation, for any cut.
    #[test]
    fn metrics_equal_event_by_event_totals() {
        let mut next = crate::test_rng(0xD1B54A32D192ED03);
        for _ in 0..300 {
            let mut s = Summary::new();
            for _ in 0..(next() % 30) {
                s.push((next() % 2000) as i64 * 3_600_000_000, (next() % 50_000) as i64 - 5_000, next() % 5 == 0);
            }
            let bytes = s.encode();
            let v = SummaryView::new(&bytes).unwrap();
            for as_of in [None, Some((next() % 2000) as i64 * 3_600_000_000), Some(-1)] {
                let cut = v.cut(as_of);
                let mut want = Metrics::default();
                v.iter().take(cut).for_each(|e| want.add(e));
                want.future_orders = v.iter().skip(cut).filter(|e| !e.is_refund()).count() as i64;
                assert_eq!(v.metrics(as_of), want);
            }
        }
    }

    #[test]
    fn encode_decode_and_text_round_trip() {
        let mut s = sample();
        let bytes = s.encode();
        let mut d = Summary::decode(&bytes).unwrap();
        assert_eq!(d.events, s.events);
        let text = d.to_text();
        assert!(text.starts_with("v1:2024-01-01T09:00:00Z 50.00|"), "{text}");
        let mut p = Summary::parse_text(&text).unwrap();
        assert_eq!(p.encode(), bytes);
        assert_eq!(Summary::parse_text("v1:").unwrap().events.len(), 0);
    }

    #[test]
    fn rejects_newer_versions_and_corruption() {
        let e = Summary::parse_text("v2:").unwrap_err();
        assert_eq!(e.code, crate::ErrCode::NotSupported);
        assert!(e.hint.unwrap().contains("ALTER EXTENSION"));
        let mut bytes = sample().encode();
        bytes[0] = 9;
        assert_eq!(SummaryView::new(&bytes).err().unwrap().code, crate::ErrCode::NotSupported);
        bytes[0] = 1;
        bytes.pop();
        assert_eq!(SummaryView::new(&bytes).err().unwrap().code, crate::ErrCode::InvalidBinary);
        assert!(Summary::parse_text("v1:2024-01-01T00:00:00Z abc").is_err());
        assert!(Summary::parse_text("1:").is_err());
    }

    /// The text and the binary input accept the same values, exactly those the outputs write:
    /// edge instants and amounts round-trip, anything beyond them is refused with its SQLSTATE.
    #[test]
    fn inputs_accept_exactly_what_outputs_write() {
        use crate::numeric::MAX_AMOUNT;
        use crate::time::{END_INSTANT, MIN_INSTANT};
        use crate::ErrCode::*;
        let edge = vec![
            Event { at: MIN_INSTANT, amount: -MAX_AMOUNT },
            Event { at: MIN_INSTANT, amount: 0 },
            Event { at: at(-1, 12, 31, 23), amount: 1 },
            Event { at: 0, amount: MAX_AMOUNT },
            Event { at: END_INSTANT - 1, amount: -1 },
        ];
        let mut s = Summary::from_events(edge.clone());
        let bytes = s.encode();
        let text = s.to_text();
        assert!(
            text.starts_with("v1:-4713-11-24T00:00:00Z -100000000000000.00|-4713-11-24T00:00:00Z 0.00|-0001-12-31T23:00:00Z 0.0001|"),
            "{text}"
        );
        assert_eq!(Summary::parse_text(&text).unwrap().events, edge);
        assert_eq!(Summary::decode_checked(&bytes).unwrap().events, edge);
        let code = |r: Result<Summary>| r.unwrap_err().code;
        // binary: one event changed at a time, each refused with its own SQLSTATE
        let with = |i: usize, e: Event| {
            let mut v = edge.clone();
            v[i] = e;
            let mut b = vec![0u8; encoded_len(v.len())];
            write_events(&v, &mut b);
            b
        };
        assert_eq!(code(Summary::decode_checked(&with(0, Event { at: MIN_INSTANT - 1, amount: 0 }))), DatetimeOverflow);
        assert_eq!(code(Summary::decode_checked(&with(4, Event { at: END_INSTANT, amount: 0 }))), DatetimeOverflow);
        assert_eq!(code(Summary::decode_checked(&with(4, Event { at: i64::MAX, amount: 0 }))), DatetimeOverflow);
        assert_eq!(code(Summary::decode_checked(&with(3, Event { at: 0, amount: MAX_AMOUNT + 1 }))), OutOfRange);
        assert_eq!(code(Summary::decode_checked(&with(0, Event { at: MIN_INSTANT, amount: i64::MIN }))), OutOfRange);
        assert_eq!(code(Summary::decode_checked(&with(1, Event { at: END_INSTANT - 1, amount: 0 }))), InvalidBinary);
        let mut flagged = bytes.clone();
        flagged[1] = 1;
        assert_eq!(code(Summary::decode_checked(&flagged)), InvalidBinary);
        let mut v0 = bytes.clone();
        v0[0] = 0;
        assert_eq!(code(Summary::decode_checked(&v0)), InvalidBinary);
        let mut huge_count = bytes.clone();
        huge_count[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(code(Summary::decode_checked(&huge_count)), InvalidBinary);
        assert_eq!(code(Summary::decode_checked(&bytes[..bytes.len() - 1])), InvalidBinary);
        assert_eq!(code(Summary::decode_checked(&bytes[..3])), InvalidBinary);
        // text: the same values refused, out of order is bad syntax there
        for (t, want) in [
            ("v1:-4713-11-23T23:59:59.999999Z 1.00", DatetimeOverflow),
            ("v1:294277-01-01T00:00:00Z 1.00", DatetimeOverflow),
            ("v1:300000000-01-01T00:00:00Z 1.00", DatetimeOverflow),
            ("v1:2024-01-01T00:00:00Z 100000000000000.0001", OutOfRange),
            ("v1:2024-01-01T00:00:00Z -1000000000000000000000", OutOfRange),
            ("v1:2024-01-02T00:00:00Z 1.00|2024-01-01T00:00:00Z 1.00", InvalidText),
            ("v1:2024-01-01T00:00:00Z 2.00|2024-01-01T00:00:00Z 1.00", InvalidText),
            ("v0:", InvalidText),
            ("v+1:", InvalidText),
            ("v99999999999:", InvalidText),
            ("v1:|", InvalidText),
            ("v1:2024-01-01T00:00:00Z 1.", InvalidText),
            ("v2:", NotSupported),
        ] {
            assert_eq!(code(Summary::parse_text(t)), want, "{t}");
        }
        // totals: 10 orders of 10^14 are more than rfm_agg lets one customer's orders total
        let many: Vec<Event> = (0..10).map(|i| Event { at: i, amount: MAX_AMOUNT }).collect();
        let e = check_totals_of(&many).unwrap_err();
        assert_eq!(e.code, OutOfRange);
        assert!(e.message.starts_with("monetary: the orders of one rfm_summary"), "{}", e.message);
        let refunds: Vec<Event> = (0..10).map(|i| Event { at: i, amount: -MAX_AMOUNT }).collect();
        assert!(check_totals_of(&refunds).unwrap_err().message.contains("refunds"));
        // nine are within the limit, and refunds only or no event at all are valid summaries
        assert!(check_totals_of(&many[..9]).is_ok() && check_totals_of(&refunds[..1]).is_ok() && check_totals_of(&[]).is_ok());
        // such a summary written by pg_segment 0.1.0 (which summed without a limit) still loads,
        // through both inputs, so that its dumps restore
        let mut old = Summary::from_events(many.clone());
        assert_eq!(Summary::parse_text(&old.to_text()).unwrap().events, many);
        assert_eq!(Summary::decode_checked(&old.encode()).unwrap().events, many);
    }

    /// No event's text is longer than MAX_EVENT_TEXT, so MAX_EVENTS events always print within
    /// the text limit pg_dump can write.
    #[test]
    fn the_longest_summary_prints_within_the_text_limit() {
        use crate::numeric::MAX_AMOUNT;
        use crate::time::{END_INSTANT, MIN_INSTANT};
        let instants = [MIN_INSTANT, MIN_INSTANT + 1, END_INSTANT - 1, -1, pg_day(-1000, 1, 1) * USECS_PER_DAY + 1];
        let amounts = [-MAX_AMOUNT, MAX_AMOUNT, -MAX_AMOUNT + 1, MAX_AMOUNT - 1, -1];
        let longest = instants
            .iter()
            .flat_map(|&at| {
                amounts.iter().map(move |&amount| Summary::from_events(vec![Event { at, amount }, Event { at, amount }]).to_text())
            })
            .map(|t| (t.len() - 3 + 1) / 2)
            .max()
            .unwrap();
        assert_eq!(longest, MAX_EVENT_TEXT, "the longest event text, with its separator");
        assert!(3 + MAX_EVENTS * MAX_EVENT_TEXT < crate::MAX_TEXT_BYTES);
        assert!(encoded_len(MAX_EVENTS) + 4 < 0x3FFF_FFFF);
    }

    /// combine is associative and order-independent: any split and merge order of the same
    /// rows gives byte-identical summaries.
    #[test]
    fn merge_is_associative_and_order_independent() {
        let mut next = crate::test_rng(0x2545F4914F6CDD1Du64);
        for _ in 0..200 {
            let n = (next() % 40) as usize;
            let rows: Vec<(i64, i64, bool)> =
                (0..n).map(|_| ((next() % 1000) as i64 * 3_600_000_000, (next() % 20_000) as i64 - 2_000, next() % 7 == 0)).collect();
            let mut whole = Summary::new();
            rows.iter().for_each(|r| whole.push(r.0, r.1, r.2));
            let cut1 = if n == 0 { 0 } else { (next() as usize) % (n + 1) };
            let cut2 = cut1 + if n == cut1 { 0 } else { (next() as usize) % (n - cut1 + 1) };
            let part = |a: usize, b: usize| {
                let mut s = Summary::new();
                rows[a..b].iter().rev().for_each(|r| s.push(r.0, r.1, r.2));
                s
            };
            let (a, b, c) = (part(0, cut1), part(cut1, cut2), part(cut2, n));
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut right = b.clone();
            right.merge(&c);
            let mut assoc = a.clone();
            assoc.merge(&right);
            let mut other = c.clone();
            other.merge(&a);
            other.merge(&b);
            assert_eq!(left.encode(), whole.encode());
            assert_eq!(assoc.encode(), whole.encode());
            assert_eq!(other.encode(), whole.encode());
        }
    }

    #[test]
    fn btyd_matches_lifetimes_convention() {
        // purchases on days 0, 0, 3, 10 (two orders on day 0 form one period), as_of day 20
        let base = at(2024, 1, 1, 8);
        let mut s = Summary::new();
        s.push(base, 100_000, false);
        s.push(base + 3_600_000_000, 50_000, false);
        s.push(base + 3 * USECS_PER_DAY, 200_000, false);
        s.push(base + 3 * USECS_PER_DAY + 1, 100_000, true); // refund ignored
        s.push(base + 10 * USECS_PER_DAY, 400_000, false);
        let bytes = s.encode();
        let v = SummaryView::new(&bytes).unwrap();
        let utc = |x: i64| x;
        let b = btyd(&v, base + 20 * USECS_PER_DAY, Unit::Days, &utc).unwrap();
        assert_eq!(b, Btyd { frequency: 2.0, recency: 10.0, t: 20.0, monetary_value: 30.0 });
        // weeks: 2024-01-01 is a Monday; days 0 and 3 share week 0, day 10 is week 1, day 20 week 2
        let w = btyd(&v, base + 20 * USECS_PER_DAY, Unit::Weeks, &utc).unwrap();
        assert_eq!(w, Btyd { frequency: 1.0, recency: 1.0, t: 2.0, monetary_value: 40.0 });
        // before any purchase: none
        assert!(btyd(&v, base - 1, Unit::Days, &utc).is_none());
    }

    #[test]
    fn window_metrics_counts_local_days() {
        let bytes = sample().encode();
        let v = SummaryView::new(&bytes).unwrap();
        let utc = |x: i64| x;
        // 2024-03-01..2024-03-05 window of 5 days ending 2024-03-05 includes the 100.00 order and a refund
        let m = v.window_metrics(at(2024, 3, 5, 23), 5, &utc);
        assert_eq!((m.orders, m.refunds, m.monetary), (1, 1, 800_000));
        let m = v.window_metrics(at(2024, 3, 5, 23), 4, &utc);
        assert_eq!((m.orders, m.refunds), (0, 1));
    }
}
