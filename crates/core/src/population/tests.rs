use super::finish::Interner;
use super::run::Run;
use super::value::ROW;
use super::*;
use crate::labels::{Cadence, Lifecycle};
use crate::numeric::MAX_TOTAL;
use crate::numeric::SCALE;
use crate::score::{quantile_breaks, Breaks, Rfm, Score};
use crate::summary::{purchase_days, signed_amount, Summary, SummaryView};
use crate::time::{day_of, USECS_PER_DAY};
use crate::ErrCode;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const AS_OF: i64 = 800 * USECS_PER_DAY + 12 * 3_600_000_000;

/// (customer, instant, amount, refund flag) rows: ties, same-day orders, refunds by sign and
/// by flag, orders after as_of, customers with only refunds or only future orders.
fn rows(seed: u64, customers: i64) -> Vec<(i64, i64, i64, bool)> {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
    let mut out = Vec::new();
    for c in 1..=customers {
        let n = rng.gen_range(0..12);
        for _ in 0..n {
            let day = rng.gen_range(0..900i64);
            let at = day * USECS_PER_DAY + rng.gen_range(0..4) * 6 * 3_600_000_000;
            let amount = rng.gen_range(0..50i64) * 10_000 + if rng.gen_bool(0.3) { 5_000 } else { 0 };
            let refund = rng.gen_bool(0.1);
            out.push((c * 7919, at, if rng.gen_bool(0.05) { -amount } else { amount }, refund));
        }
    }
    out.push((-5, AS_OF - 3 * USECS_PER_DAY, 10_000, true)); // only a refund
    out.push((-6, AS_OF + USECS_PER_DAY, 10_000, false)); // only a future order
    out
}

/// A state counting days in UTC (the zone the tests' `day_of` counts in).
fn new_state(json: &str, window_days: Option<i64>, limit: usize) -> State {
    // the zone a state records: its tz option, else the session's (UTC here)
    let zone = parse_options(json).ok().and_then(|o| o.tz).unwrap_or_else(|| "UTC".into());
    State::new(AS_OF, day_of(AS_OF), window_days, json.into(), zone, limit)
}

fn state(rows: &[(i64, i64, i64, bool)], opts: &Options, json: &str) -> State {
    let mut st = new_state(json, opts.window_days(), usize::MAX);
    for &(c, at, amount, flag) in rows {
        if let Some(a) = signed_amount(amount, flag) {
            st.add(c, at, a, day_of(at)).unwrap();
        }
    }
    st
}

/// The composable path, computed from per-customer summaries with the core functions the
/// SQL functions call.
fn composable(
    rows: &[(i64, i64, i64, bool)],
    opts: &Options,
) -> Vec<(i64, Option<Score>, String, Option<String>, String, Option<String>, i64, i64)> {
    let mut by: std::collections::BTreeMap<i64, Summary> = Default::default();
    for &(c, at, amount, flag) in rows {
        by.entry(c).or_insert_with(Summary::new).push(at, amount, flag);
    }
    let enc: Vec<(i64, Vec<u8>)> = by.into_iter().map(|(c, mut s)| (c, s.encode())).collect();
    let local = |t: i64| t;
    let window = opts.window_days();
    let mut values = Vec::new();
    let mut per = Vec::new();
    for (c, b) in &enc {
        let v = SummaryView::new(b).unwrap();
        let all = v.metrics(Some(AS_OF));
        let w = match window {
            Some(d) => v.window_metrics(AS_OF, d, &local),
            None => all,
        };
        let x = all.last_order.map(|l| Rfm {
            recency: (day_of(AS_OF) - day_of(l)) as f64,
            frequency: w.orders as f64,
            monetary: w.monetary as f64 / SCALE as f64,
        });
        if let Some(x) = x {
            values.push(x);
        }
        per.push((*c, v, all, w, x));
    }
    let breaks = match &opts.fixed {
        Some((b, _)) => b.clone(),
        None => Breaks::from_json(&quantile_breaks(&values, opts.bins, &opts.breaks, "x").unwrap().to_json().to_string()).unwrap(),
    };
    let mut spend: Vec<i64> = per.iter().filter(|p| p.4.is_some()).map(|p| p.3.monetary as i64).collect();
    spend.sort_unstable_by(|a, b| b.cmp(a));
    per.iter()
        .map(|(c, v, all, w, x)| {
            let score = x.map(|x| breaks.score(&x));
            let seg = score.as_ref().map_or(String::new(), |s| opts.scheme.classify(s).get(opts.lang).to_string());
            let tier = x.map(|_| {
                let pos = spend.iter().filter(|&&s| s >= w.monetary as i64).count();
                opts.tiers.tier(pos as f64 / spend.len() as f64).unwrap().get(opts.lang).to_string()
            });
            let rec = all.last_order.map(|l| day_of(AS_OF) - day_of(l));
            let ten = all.first_order.map(|f| day_of(AS_OF) - day_of(f));
            let stage = opts.lifecycle.stage(rec, ten).get(opts.lang).to_string();
            let cad = opts.cadence.classify(&purchase_days(v, AS_OF, &local).unwrap()).map(|l| l.get(opts.lang).to_string());
            (*c, score, seg, tier, stage, cad, all.monetary as i64, all.future_orders)
        })
        .collect()
}

fn check_equal(json: &str, seed: u64) {
    let opts = parse_options(json).unwrap();
    let rows = rows(seed, 400);
    let out = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
    let expect = composable(&rows, &opts);
    assert_eq!(out.rows.len(), expect.len());
    let mut bytes = vec![0u8; out.encoded_len()];
    out.encode_into(&mut bytes);
    let view = PopulationView::new(&bytes).unwrap();
    assert_eq!(view.len, expect.len());
    for (i, (r, e)) in out.rows.iter().zip(&expect).enumerate() {
        let name = |k: u16| view.label(k).map(String::from);
        assert_eq!(r.id, e.0);
        assert_eq!(r.score, e.1, "score of {}", r.id);
        assert_eq!(name(r.segment).unwrap_or_default(), e.2, "segment of {}", r.id);
        assert_eq!(name(r.tier), e.3, "tier of {}", r.id);
        assert_eq!(name(r.stage).unwrap(), e.4, "stage of {}", r.id);
        assert_eq!(name(r.cadence), e.5, "cadence of {}", r.id);
        assert_eq!(r.monetary, e.6);
        assert_eq!(r.future as i64, e.7);
        let v = view.row(i);
        assert_eq!(
            (v.id, v.monetary, v.orders, v.recency, v.tenure, v.score.clone(), v.segment, v.tier, v.stage, v.cadence),
            (r.id, r.monetary, r.orders, r.recency, r.tenure, r.score.clone(), r.segment, r.tier, r.stage, r.cadence)
        );
    }
}

#[test]
fn equals_the_composable_functions() {
    check_equal("{}", 1);
    check_equal(r#"{"scheme": "cn8", "lang": "en", "bins": 4, "center": "median"}"#, 2);
    check_equal(r#"{"window_days": 365, "lang": "code", "tiers": [{"label": "top", "share": 20}, {"label": "rest", "share": 80}]}"#, 3);
    let fixed = crate::score::thresholds(r#"{"monetary": [100, 200]}"#).unwrap();
    check_equal(&json!({"breaks": fixed, "lang": "en"}).to_string(), 4);
}

fn serialized(st: &mut State) -> Vec<u8> {
    st.prepare_serialize().unwrap();
    let mut b = vec![0u8; st.serialized_len()];
    st.serialize_into(&mut b);
    b
}

#[test]
fn partial_states_merge_and_serialize_to_the_same_result() {
    let json = r#"{"window_days": 200}"#;
    let opts = parse_options(json).unwrap();
    let rows = rows(9, 300);
    let whole = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
    // overlapping partial states (rows interleaved: every customer in several states) and
    // disjoint ones (customers split by id, as hash partitions are), each through
    // serialize/deserialize, merged in either order, and once without serialization
    let interleaved: Vec<Vec<_>> = (0..3).map(|k| rows.iter().enumerate().filter(|(i, _)| i % 3 == k).map(|(_, r)| *r).collect()).collect();
    let disjoint: Vec<Vec<_>> = (0..4).map(|k| rows.iter().filter(|r| r.0.rem_euclid(4) == k).copied().collect()).collect();
    for (parts, serialize) in [(&interleaved, true), (&disjoint, true), (&disjoint, false), (&interleaved, false)] {
        for reverse in [false, true] {
            let mut merged: Option<State> = None;
            let order: Vec<&Vec<_>> = if reverse { parts.iter().rev().collect() } else { parts.iter().collect() };
            for p in order {
                let mut st = state(p, &opts, json);
                let mut back = if serialize { State::deserialize(&serialized(&mut st), usize::MAX).unwrap() } else { st };
                match merged.as_mut() {
                    None => merged = Some(back),
                    Some(m) => m.merge(&mut back).unwrap(),
                }
            }
            let mut merged = merged.unwrap();
            let out = merged.finish(&opts, &mut |t| day_of(t)).unwrap();
            assert_eq!(out.rows, whole.rows, "serialize {serialize}, reverse {reverse}");
            assert_eq!((out.breaks.clone(), out.rows_read), (whole.breaks.clone(), whole.rows_read));
            // a finished state takes more rows and finishes again: the new rows join their customers
            let more = super::tests::rows(10, 300);
            for &(c, at, amount, flag) in &more {
                if let Some(a) = signed_amount(amount, flag) {
                    merged.add(c, at, a, day_of(at)).unwrap();
                }
            }
            let all: Vec<_> = rows.iter().chain(&more).copied().collect();
            assert_eq!(
                merged.finish(&opts, &mut |t| day_of(t)).unwrap().rows,
                state(&all, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap().rows
            );
        }
    }
    // disjoint partial states merge by concatenation: their runs are taken over as they are
    let mut a = State::deserialize(&serialized(&mut state(&disjoint[0], &opts, json)), usize::MAX).unwrap();
    let mut b = State::deserialize(&serialized(&mut state(&disjoint[1], &opts, json)), usize::MAX).unwrap();
    let (na, nb) = (a.runs[0].len(), b.runs[0].len());
    a.merge(&mut b).unwrap();
    assert_eq!((a.runs.len(), a.runs[0].len(), a.runs[1].len()), (2, na, nb));
    assert!(b.runs.is_empty());
    // a truncated partial state is an error, not a crash
    let mut st = state(&interleaved[0], &opts, json);
    let mut b = serialized(&mut st);
    assert!(State::deserialize(&b[..b.len() - 3], usize::MAX).is_err());
    assert!(State::deserialize(&b[..10], usize::MAX).is_err());
    // the reader's limit applies, not the one the writer recorded
    assert_eq!(State::deserialize(&b, 1 << 10).err().unwrap().code, crate::ErrCode::OutOfMemory);
    // two records for one customer: rejected, not merged into one entry
    let hdr = 4 + 8 * 6 + 4 + json.len() + 4 + "UTC".len() + 24;
    let first_id: [u8; 8] = b[hdr..hdr + 8].try_into().unwrap();
    b[hdr + 8..hdr + 16].copy_from_slice(&first_id);
    let e = State::deserialize(&b, usize::MAX).err().expect("a duplicate customer must be rejected");
    assert!(e.message.contains("duplicate customer"), "{}", e.message);
    let o = parse_options("{}").unwrap();
    let mut other = state(&rows, &opts, json);
    assert!(state(&rows, &o, "{}").merge(&mut other).is_err(), "different options must not merge");
}

/// States that counted days in different zones never combine: the error names both zones.
#[test]
fn states_of_different_zones_do_not_merge() {
    let mut a = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), "Asia/Shanghai".into(), usize::MAX);
    let mut b = State::new(AS_OF, day_of(AS_OF), None, "{}".into(), "UTC".into(), usize::MAX);
    a.add(1, AS_OF - USECS_PER_DAY, 10_000, day_of(AS_OF) - 1).unwrap();
    b.add(2, AS_OF - USECS_PER_DAY, 10_000, day_of(AS_OF) - 1).unwrap();
    let mut back = State::deserialize(&serialized(&mut b), usize::MAX).unwrap();
    assert_eq!(back.zone, "UTC");
    let e = a.merge(&mut back).unwrap_err();
    assert_eq!(e.code, ErrCode::InvalidParameter);
    assert!(e.message.starts_with("population_agg: ") && e.message.contains("\"Asia/Shanghai\" and \"UTC\""), "{}", e.message);
    assert!(e.hint.unwrap().contains("tz"));
    // the stored value records its zone (in its info; the breaks carry only a tz given, as in 0.1.0)
    let opts = parse_options("{}").unwrap();
    let out = a.finish(&opts, &mut |t| day_of(t)).unwrap();
    assert_eq!((out.version, out.tz.as_deref()), (POPULATION_VERSION, Some("Asia/Shanghai")));
    assert_eq!(out.breaks.get("tz"), None);
}

/// A population over per-customer summaries equals the one over the order rows the summaries
/// were made from, also when one customer's rows come in several summaries (per month, say).
#[test]
fn summaries_give_what_order_rows_give() {
    for json in ["{}", r#"{"window_days": 120, "scheme": "cn8"}"#] {
        let opts = parse_options(json).unwrap();
        let rows = rows(21, 500);
        let whole = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
        for parts in [1i64, 3] {
            let mut by: std::collections::BTreeMap<(i64, i64), Summary> = Default::default();
            for &(c, at, amount, flag) in &rows {
                by.entry((c, at.rem_euclid(parts))).or_insert_with(Summary::new).push(at, amount, flag);
            }
            let mut st = new_state(json, opts.window_days(), usize::MAX);
            for ((c, _), mut s) in by {
                let b = s.encode();
                st.add_summary(c, &SummaryView::new(&b).unwrap(), &mut |t| day_of(t)).unwrap();
            }
            // an empty summary holds no row: no customer
            st.add_summary(77, &SummaryView::new(&Summary::new().encode()).unwrap(), &mut |t| day_of(t)).unwrap();
            let out = st.finish(&opts, &mut |t| day_of(t)).unwrap();
            assert_eq!(out.rows, whole.rows, "{json}, {parts} summaries per customer");
            assert_eq!((out.breaks.clone(), out.rows_read), (whole.breaks.clone(), whole.rows_read));
        }
    }
}

/// Rows carrying an order id count once per customer, order id and kind, whatever their order
/// and however they are split into partial states; the earliest of differing repeats counts.
#[test]
fn repeated_order_ids_count_once() {
    let opts = parse_options("{}").unwrap();
    let rows = rows(31, 300);
    let whole = state(&rows, &opts, "{}").finish(&opts, &mut |t| day_of(t)).unwrap();
    // every row gets an order id (a refund shares the id of the order before it: another kind,
    // so both count); then every third row is repeated, and one repeat differs (a later instant,
    // another amount): the earlier row counts
    let mut unique: Vec<(i64, i64, i64, i64)> = Vec::new();
    for &(c, at, amount, flag) in &rows {
        let Some(a) = signed_amount(amount, flag) else { continue };
        let order = if a < 0 { unique.len() as i64 - 1 } else { unique.len() as i64 };
        unique.push((c, order, at, a));
    }
    let mut with_repeats = unique.clone();
    with_repeats.extend(unique.iter().step_by(3).copied());
    let first = *unique.iter().find(|r| r.3 >= 0).unwrap();
    with_repeats.push((first.0, first.1, first.2 + USECS_PER_DAY, first.3 + 10_000));
    with_repeats.reverse();
    let n_repeats = with_repeats.len() - unique.len();
    for split in [1, 4] {
        let mut merged: Option<State> = None;
        for k in 0..split {
            let mut st = new_state("{}", None, usize::MAX);
            for (i, &(c, order, at, a)) in with_repeats.iter().enumerate() {
                if i % split == k {
                    st.add_with_order(c, order, at, a, day_of(at)).unwrap();
                }
            }
            let mut back = State::deserialize(&serialized(&mut st), usize::MAX).unwrap();
            match merged.as_mut() {
                None => merged = Some(back),
                Some(m) => m.merge(&mut back).unwrap(),
            }
        }
        let out = merged.unwrap().finish(&opts, &mut |t| day_of(t)).unwrap();
        assert_eq!(out.rows, whole.rows, "split in {split}");
        assert_eq!(out.duplicates as usize, n_repeats);
        // rows read: every row, repeats included
        assert_eq!(out.rows_read as usize, with_repeats.len());
    }
}

#[test]
fn memory_limit_is_an_error_with_sqlstate_53200() {
    let mut st = new_state("{}", None, 1 << 20);
    let mut err = None;
    for c in 0..100_000 {
        if let Err(e) = st.add(c, AS_OF - USECS_PER_DAY, 10_000, day_of(AS_OF) - 1).and_then(|_| st.flush()) {
            err = Some(e);
            break;
        }
    }
    let e = err.expect("1 MB cannot hold 100,000 customers");
    assert_eq!(e.code, crate::ErrCode::OutOfMemory);
    assert!(e.message.contains("memory limit of 1 MB") && e.hint.unwrap().contains("pg_segment.population_memory_limit"));
    assert!(st.bytes() <= 1 << 20);
}

/// The final step's working memory counts against the limit, and the final step stops on
/// cancel (leaving the state as it was: the same state finishes afterwards).
#[test]
fn final_step_is_bounded_and_cancellable() {
    use crate::cancel::testing::{cancel_after, count_checks};
    let opts = parse_options("{}").unwrap();
    let rows = rows(5, 60_000);
    let mut st = state(&rows, &opts, "{}");
    st.flush().unwrap();
    let want = st.finish(&opts, &mut |t| day_of(t)).unwrap();
    st.limit = st.bytes() + finish_bytes(st.customers(), st.day_count(), st.map.slot_count()) - 1;
    let e = st.finish(&opts, &mut |t| day_of(t)).err().expect("the final step must count against the limit");
    assert_eq!(e.code, crate::ErrCode::OutOfMemory);
    st.limit = usize::MAX;
    let (_, checks) = count_checks(|| st.finish(&opts, &mut |t| day_of(t)).unwrap());
    assert!(checks >= 2, "{checks} interrupt checks in the final step of 60,000 customers");
    for after in [0, checks - 1] {
        assert!(cancel_after(after, || st.finish(&opts, &mut |t| day_of(t))).0.is_err(), "cancel at check {after} ignored");
    }
    assert_eq!(st.finish(&opts, &mut |t| day_of(t)).unwrap().rows, want.rows);
}

#[test]
fn options_are_strict() {
    for (json, needle) in [
        (r#"{"bins": 11}"#, "bins"),
        (r#"{"scheme": "rfm12"}"#, "scheme"),
        (r#"{"tier_by": "age"}"#, "tier_by"),
        (r#"{"lang": "fr"}"#, "lang"),
        (r#"{"colour": 1}"#, "colour"),
        (r#"{"breaks": {"recency": [1], "frequency": [1], "monetary": [1]}, "window_days": 30}"#, "window_days"),
        (r#"{"lifecycle": {"active_days": 400}}"#, "lifecycle"),
    ] {
        let e = parse_options(json).err().unwrap_or_else(|| panic!("{json} should fail"));
        assert_eq!(e.code, crate::ErrCode::InvalidParameter, "{json}");
        assert!(e.message.contains(needle), "{json}: {}", e.message);
    }
}

/// Label indices are u16 in the stored value: options that could name more labels are refused
/// up front, and the interner itself never wraps.
#[test]
fn label_indices_never_wrap() {
    let n = MAX_LABELS - Lifecycle::STAGES - Cadence::CLASSES;
    let tiers = |n: usize| {
        let t: Vec<Value> = (0..n).map(|i| json!({"label": format!("t{i}"), "share": 100.0 / n as f64})).collect();
        json!({ "tiers": t }).to_string()
    };
    // 11 rules of rfm11 plus n tiers: one too many
    let e = parse_options(&tiers(n - 10)).err().expect("too many labels");
    assert_eq!(e.code, crate::ErrCode::InvalidParameter);
    assert!(e.message.contains("\"tiers\"") && e.message.contains(&MAX_LABELS.to_string()), "{}", e.message);
    assert!(parse_options(&tiers(n - 11)).is_ok());
    let mut i = Interner::default();
    for k in 0..MAX_LABELS {
        assert_eq!(i.add("x").unwrap() as usize, k);
    }
    assert_eq!(i.add("x").unwrap_err().code, crate::ErrCode::LimitExceeded);
}

/// The inputs accept what population_agg produces and refuse values it cannot produce.
#[test]
fn validation_accepts_produced_values_and_refuses_crafted_ones() {
    let json = r#"{"window_days": 90}"#;
    let opts = parse_options(json).unwrap();
    let mut rows = rows(5, 60);
    rows.push((1_000_000, AS_OF - 1, MAX_TOTAL - 5, false)); // at the limit with the next row
    rows.push((1_000_000, AS_OF - 2, 5, false));
    let out = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
    let mut bytes = vec![0u8; out.encoded_len()];
    out.encode_into(&mut bytes);
    PopulationView::new(&bytes).unwrap().validate(&bytes).unwrap();
    let empty = new_state("{}", None, usize::MAX).finish(&opts, &mut |t| day_of(t)).unwrap();
    let mut eb = vec![0u8; empty.encoded_len()];
    empty.encode_into(&mut eb);
    PopulationView::new(&eb).unwrap().validate(&eb).unwrap();
    let rows_at = bytes.len() - out.rows.len() * ROW;
    let check = |b: &[u8]| PopulationView::new(b).and_then(|v| v.validate(b));
    let patched = |at: usize, v: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + v.len()].copy_from_slice(v);
        b
    };
    let k = out.rows.iter().position(|r| r.orders > 0 && r.id > out.rows[0].id).unwrap();
    let row1 = rows_at + k * ROW; // a customer with orders after the first one
    for (what, b) in [
        ("version 0", patched(4, &[0])),
        ("padding", patched(5, &[1])),
        ("first order out of range", patched(row1 + 32, &i64::MIN.to_le_bytes())),
        ("last order after as_of", patched(row1 + 40, &(AS_OF + 1).to_le_bytes())),
        ("ids out of order", patched(row1, &i64::MIN.to_le_bytes())),
        ("negative refunds", patched(row1 + 16, &(-1i64).to_le_bytes())),
        ("score beyond its bins", patched(row1 + 72, &[9])),
        ("bins beyond 10", patched(row1 + 76, &[11])),
        ("unknown flag", patched(row1 + 75, &[0x28])),
        ("segment index out of range", patched(row1 + 84, &(out.labels.len() as u16).to_le_bytes())),
        ("stage without label", patched(row1 + 88, &NO_LABEL.to_le_bytes())),
        ("window beyond the customer", patched(row1 + 60, &u32::MAX.to_le_bytes())),
    ] {
        let e = check(&b).err().unwrap_or_else(|| panic!("{what} must be refused"));
        assert!(matches!(e.code, ErrCode::InvalidBinary | ErrCode::DatetimeOverflow), "{what}: {e:?}");
    }
    assert!(check(&bytes[..bytes.len() - 1]).is_err());
    // pg_segment 0.1.0 limited the running net only: its values may hold orders totalling
    // more than MAX_TOTAL, and they still load (their dumps must restore)
    let mut legacy = Output {
        version: 1,
        tz: None,
        duplicates: 0,
        as_of: out.as_of,
        rows: out.rows.clone(),
        labels: out.labels.clone(),
        breaks: out.breaks.clone(),
        rows_read: 0,
        state_bytes: 0,
    };
    let r = legacy.rows.iter_mut().find(|r| r.orders > 0 && r.refunds > 0).unwrap();
    r.monetary = i64::MAX;
    let mut lb = vec![0u8; legacy.encoded_len()];
    legacy.encode_into(&mut lb);
    check(&lb).unwrap();
    // a value whose info is not {"breaks": ...}
    let mut other = Output {
        version: 1,
        tz: None,
        duplicates: 0,
        as_of: out.as_of,
        rows: vec![],
        labels: vec![],
        breaks: json!([1]),
        rows_read: 0,
        state_bytes: 0,
    };
    let mut ob = vec![0u8; other.encoded_len()];
    other.encode_into(&mut ob);
    assert!(check(&ob).is_err());
    other.breaks = json!({"recency": [1]});
    let mut ob = vec![0u8; other.encoded_len()];
    other.encode_into(&mut ob);
    assert!(check(&ob).unwrap_err().message.contains("info.breaks"));
}

/// Orders and refunds are limited separately, so the limit does not depend on row order: a
/// refund arriving first does not make room for orders beyond the limit.
#[test]
fn totals_limit_is_independent_of_row_order() {
    let whole = |rows: &[(i64, i64)]| {
        let mut st = new_state("{}", None, usize::MAX);
        rows.iter().try_for_each(|&(at, a)| st.add(1, at, a, day_of(at)))?;
        st.flush()
    };
    let big = MAX_TOTAL / 2 + 1;
    let rows = [(0, big), (1, -big), (2, big)];
    let mut orders: Vec<Vec<(i64, i64)>> = vec![rows.to_vec(), vec![rows[1], rows[0], rows[2]], vec![rows[2], rows[0], rows[1]]];
    for r in orders.drain(..) {
        let e = whole(&r).unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfRange);
        assert!(e.message.starts_with("monetary: the orders of customer 1"), "{}", e.message);
    }
    assert!(whole(&[(0, big), (1, -big), (2, big - 2)]).is_ok());
}

/// Customers without any order by as_of are prospects, as lifecycle_stage says (0.1.0 left
/// their stage empty); values 0.1.0 wrote that way still validate.
#[test]
fn populations_without_orders_are_prospects() {
    let opts = parse_options(r#"{"lang": "code"}"#).unwrap();
    let rows = [(7, AS_OF - USECS_PER_DAY, 10_000, true), (8, AS_OF + USECS_PER_DAY, 10_000, false)];
    let out = state(&rows, &opts, "{}").finish(&opts, &mut |t| day_of(t)).unwrap();
    let mut bytes = vec![0u8; out.encoded_len()];
    out.encode_into(&mut bytes);
    let view = PopulationView::new(&bytes).unwrap();
    view.validate(&bytes).unwrap();
    for i in 0..view.len {
        let r = view.row(i);
        assert_eq!((view.label(r.stage), view.label(r.segment), view.label(r.tier)), (Some("prospect"), None, None));
    }
    assert!(out.breaks.is_null());
    // the 0.1.0 form of the same population: no labels, no stage
    let mut legacy = out;
    legacy.labels.clear();
    legacy.rows.iter_mut().for_each(|r| r.stage = NO_LABEL);
    let mut old = vec![0u8; legacy.encoded_len()];
    legacy.encode_into(&mut old);
    PopulationView::new(&old).unwrap().validate(&old).unwrap();
}

#[test]
fn empty_population_and_bad_values() {
    let opts = parse_options("{}").unwrap();
    let mut st = new_state("{}", None, usize::MAX);
    let out = st.finish(&opts, &mut |t| day_of(t)).unwrap();
    assert!(out.rows.is_empty() && out.breaks.is_null());
    assert!(PopulationView::new(b"garbage").is_err());
    let mut st = new_state("{}", None, usize::MAX);
    st.add(1, 0, i64::MAX, 0).unwrap();
    st.add(1, 0, 1, 0).unwrap();
    assert_eq!(st.flush().unwrap_err().code, crate::ErrCode::OutOfRange);
}

/// The info document inside a stored value, byte for byte: keys in serde_json's sorted order,
/// numbers in its shortest form, `tz` beside the breakpoints. A stored format: if a dependency
/// ever switched serde_json to insertion order (its `preserve_order` feature), values written
/// from then on would differ from those of earlier releases, and this test says so. Version 2
/// adds the zone and the count of repeated rows beside the breaks; version 1 (0.1.0's form,
/// checked against the code before version 2: the same bytes) is still what it was.
#[test]
fn stored_info_is_byte_for_byte_the_released_form() {
    let json = r#"{"tz": "Asia/Shanghai", "bins": 3}"#;
    let opts = parse_options(json).unwrap();
    let rows: Vec<(i64, i64, i64, bool)> = (1..=6)
        .map(|c| (c, AS_OF - (c * 17) * USECS_PER_DAY, c * 12_345, false))
        .chain([(2, AS_OF - USECS_PER_DAY, 5_000, false)])
        .collect();
    let out = state(&rows, &opts, json).finish(&opts, &mut |t| day_of(t)).unwrap();
    let mut bytes = vec![0u8; out.encoded_len()];
    out.encode_into(&mut bytes);
    let view = PopulationView::new(&bytes).unwrap();
    let breaks = r#"{"as_of":"2002-03-11T12:00:00Z","bins":3,"center":{"basis":"mean","frequency":1.166667,"monetary":4.404083,"recency":54.0},"customers":6,"frequency":[1.0,1.0],"mean":{"frequency":1.166667,"monetary":4.404083,"recency":54.0},"median":{"frequency":1.0,"monetary":4.32075,"recency":59.5},"method":"quantile","monetary":[3.458667,5.3495],"recency":[39.666667,73.666667],"tz":"Asia/Shanghai","version":1,"window_days":null}"#;
    assert_eq!(view.info, format!(r#"{{"breaks":{breaks},"duplicate_rows":0,"tz":"Asia/Shanghai"}}"#));
    assert_eq!(view.version, 2);
    let v1 = Output { version: 1, tz: None, ..out };
    let mut bytes = vec![0u8; v1.encoded_len()];
    v1.encode_into(&mut bytes);
    let view = PopulationView::new(&bytes).unwrap();
    assert_eq!(view.info, format!(r#"{{"breaks":{breaks}}}"#));
    view.validate(&bytes).unwrap();
}

/// The days of a run, grouped through groups of 1, 2, 8 or 128 customers (many groups, and
/// pairs carried across several of them), are the customers' sorted distinct purchase days
/// computed directly from the rows, whatever the group size; the id `i64::MIN` (kept outside
/// the table) included.
#[test]
fn purchase_days_group_the_same_in_groups_of_any_size() {
    let mut rows = rows(23, 3000);
    rows.push((i64::MIN, AS_OF - 10 * USECS_PER_DAY, 10_000, false));
    rows.push((i64::MIN, AS_OF - 10 * USECS_PER_DAY + 5, 20_000, false));
    rows.push((i64::MIN, AS_OF - 40 * USECS_PER_DAY, 10_000, false));
    let mut want: std::collections::BTreeMap<i64, std::collections::BTreeSet<i32>> = Default::default();
    for &(c, at, amount, flag) in &rows {
        // a row the state skips (a refund of nothing) makes no customer
        let Some(a) = signed_amount(amount, flag) else { continue };
        let days = want.entry(c).or_default();
        if a >= 0 && at <= AS_OF {
            days.insert(day_of(at) as i32);
        }
    }
    let opts = parse_options("{}").unwrap();
    for bits in [0, 1, 3, 7, 31] {
        let mut st = state(&rows, &opts, "{}");
        st.flush().unwrap();
        let run = Run::from_table_in(&st.map, &mut st.days, bits).unwrap();
        assert_eq!(run.len(), want.len(), "group bits {bits}");
        for (k, (id, days)) in want.iter().enumerate() {
            assert_eq!(run.ids[k], *id, "group bits {bits}");
            assert_eq!(run.days_of(k), days.iter().copied().collect::<Vec<_>>().as_slice(), "customer {id}, group bits {bits}");
        }
    }
}
