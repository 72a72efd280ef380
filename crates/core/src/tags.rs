//! Behaviour tags from order rows: price-sensitive, promotion buyer, new-arrival buyer,
//! category-focused, weekly or monthly buyer; high-end as a second step against a population
//! threshold. Codes are stable; labels in 中文 and English.

use super::cancel;
use super::codec::{Reader, Writer};
use super::config::{Lang, Obj};
use super::fallible::{self as fa, Limit};
use super::{Error, Result};

use super::time::USECS_PER_DAY;

/// Rules with their documented defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// an order is discounted when its discount (a fraction: 0.15 = 15% off) is at least this
    pub discount_threshold: f64,
    pub price_sensitive_share: f64,
    pub promotion_share: f64,
    pub promotion_min_orders: i64,
    pub new_arrival_days: f64,
    pub new_arrival_share: f64,
    pub category_share: f64,
    pub weekly_max_days: f64,
    pub monthly_max_days: f64,
    pub interval_min_purchases: i64,
    /// share-based tags need at least this many orders
    pub min_orders: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            discount_threshold: 0.10,
            price_sensitive_share: 0.5,
            promotion_share: 0.5,
            promotion_min_orders: 2,
            new_arrival_days: 30.0,
            new_arrival_share: 0.5,
            category_share: 0.6,
            weekly_max_days: 10.0,
            monthly_max_days: 45.0,
            interval_min_purchases: 3,
            min_orders: 2,
        }
    }
}

impl Rules {
    pub fn parse(json: &str) -> Result<Rules> {
        let mut o = Obj::parse("rules", json)?;
        let d = Rules::default();
        let r = Rules {
            discount_threshold: o.f64("discount_threshold", d.discount_threshold)?,
            price_sensitive_share: o.f64("price_sensitive_share", d.price_sensitive_share)?,
            promotion_share: o.f64("promotion_share", d.promotion_share)?,
            promotion_min_orders: o.i64("promotion_min_orders", d.promotion_min_orders)?,
            new_arrival_days: o.f64("new_arrival_days", d.new_arrival_days)?,
            new_arrival_share: o.f64("new_arrival_share", d.new_arrival_share)?,
            category_share: o.f64("category_share", d.category_share)?,
            weekly_max_days: o.f64("weekly_max_days", d.weekly_max_days)?,
            monthly_max_days: o.f64("monthly_max_days", d.monthly_max_days)?,
            interval_min_purchases: o.i64("interval_min_purchases", d.interval_min_purchases)?,
            min_orders: o.i64("min_orders", d.min_orders)?,
        };
        o.finish()?;
        let share = |k: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(format!("rules: key \"{k}\" must be between 0 and 1, got {v}")))
            }
        };
        share("discount_threshold", r.discount_threshold)?;
        share("price_sensitive_share", r.price_sensitive_share)?;
        share("promotion_share", r.promotion_share)?;
        share("new_arrival_share", r.new_arrival_share)?;
        share("category_share", r.category_share)?;
        let count = |k: &str, v: i64, min: i64| {
            if (min..=1_000_000).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(format!("rules: key \"{k}\" must be a whole number between {min} and 1000000, got {v}")))
            }
        };
        count("promotion_min_orders", r.promotion_min_orders, 1)?;
        count("min_orders", r.min_orders, 1)?;
        count("interval_min_purchases", r.interval_min_purchases, 2)?;
        if !(r.new_arrival_days >= 0.0 && r.new_arrival_days <= 3650.0) {
            return Err(Error::invalid(format!("rules: key \"new_arrival_days\" must be between 0 and 3650, got {}", r.new_arrival_days)));
        }
        if !(r.weekly_max_days > 0.0 && r.weekly_max_days <= r.monthly_max_days && r.monthly_max_days <= 3650.0) {
            return Err(Error::invalid(
                "rules: keys \"weekly_max_days\" and \"monthly_max_days\" must satisfy 0 < weekly_max_days <= monthly_max_days <= 3650",
            ));
        }
        Ok(r)
    }
}

/// What the aggregate accumulates for one customer (additive, so partial states merge). It
/// grows with rows (8 bytes per order, one entry per category): [`Evidence::bytes`] is checked
/// against a limit whenever it grows, and the growth is fallible.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    pub orders: i64,
    pub discounted: i64,
    pub promotion: i64,
    /// orders with a launch date, and those within new_arrival_days of it
    pub with_launch: i64,
    pub new_arrival: i64,
    /// spend per category (amount × 10^4), in first-seen order
    pub categories: Vec<(String, i128)>,
    pub spend: i128,
    /// order instants (µs), unsorted
    pub instants: Vec<i64>,
    /// bytes of the category names
    pub category_bytes: usize,
}

impl Evidence {
    /// Bytes held (the final step's sorted copy of the instants comes on top, see
    /// [`Evidence::check`]).
    pub fn bytes(&self) -> usize {
        fa::bytes_of::<i64>(self.instants.capacity())
            .saturating_add(fa::bytes_of::<(String, i128)>(self.categories.capacity()))
            .saturating_add(self.category_bytes)
    }

    /// Checks that `extra` more bytes, plus the final step's copy of the instants, fit in `limit`.
    fn check(&self, extra: usize, limit: Limit) -> Result<()> {
        limit.check(self.bytes().saturating_add(extra).saturating_add(fa::bytes_of::<i64>(self.instants.len())))
    }

    fn push_instant(&mut self, at: i64, limit: Limit) -> Result<()> {
        if self.instants.len() == self.instants.capacity() {
            let want = (self.instants.capacity() * 2).max(8);
            self.check(fa::bytes_of::<i64>(want - self.instants.capacity()), limit)?;
            fa::reserve_total(&mut self.instants, want, limit.what)?;
        }
        self.instants.push(at);
        Ok(())
    }

    /// Adds `amount` to the spend of category `c`.
    pub fn add_category(&mut self, c: &str, amount: i128, limit: Limit) -> Result<()> {
        match self.categories.iter_mut().find(|(n, _)| n == c) {
            Some(e) => e.1 += amount,
            None => {
                let slot = if self.categories.len() == self.categories.capacity() { (self.categories.len() + 1) * 40 } else { 0 };
                self.check(c.len() + slot, limit)?;
                fa::reserve(&mut self.categories, 1, limit.what)?;
                self.categories.push((fa::string_of(c, limit.what)?, amount));
                self.category_bytes += c.len();
            }
        }
        Ok(())
    }

    /// One order row: amount in 10^-4 units (refund rows never reach here); memory bounded by
    /// `limit` bytes.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        at: i64,
        amount: i64,
        discount: Option<f64>,
        promotion: Option<bool>,
        category: Option<&str>,
        launched_at: Option<i64>,
        rules: &Rules,
        limit: Limit,
    ) -> Result<()> {
        self.orders += 1;
        if discount.is_some_and(|d| d >= rules.discount_threshold && d > 0.0) {
            self.discounted += 1;
        }
        if promotion == Some(true) {
            self.promotion += 1;
        }
        if let Some(l) = launched_at {
            self.with_launch += 1;
            let days = (at - l) as f64 / USECS_PER_DAY as f64;
            if days >= 0.0 && days <= rules.new_arrival_days {
                self.new_arrival += 1;
            }
        }
        if let Some(c) = category {
            self.add_category(c, amount as i128, limit)?;
        }
        self.spend += amount as i128;
        self.push_instant(at, limit)
    }

    pub fn merge(&mut self, o: &Evidence, limit: Limit) -> Result<()> {
        self.orders += o.orders;
        self.discounted += o.discounted;
        self.promotion += o.promotion;
        self.with_launch += o.with_launch;
        self.new_arrival += o.new_arrival;
        for (c, s) in &o.categories {
            self.add_category(c, *s, limit)?;
        }
        self.spend += o.spend;
        if self.instants.capacity() - self.instants.len() < o.instants.len() {
            self.check(fa::bytes_of::<i64>(o.instants.len()), limit)?;
        }
        fa::extend_from_slice(&mut self.instants, &o.instants, limit.what)
    }

    /// Top category by spend (ties: the smaller name) and its share of the spend on categorised
    /// orders; None without a category with positive spend.
    pub fn preferred_category(&self) -> Option<(&str, f64)> {
        let total: i128 = self.categories.iter().map(|c| c.1.max(0)).sum();
        if total <= 0 {
            return None;
        }
        let best = self.categories.iter().filter(|c| c.1 > 0).max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
        Some((&best.0, best.1 as f64 / total as f64))
    }

    /// Mean days between purchases: orders less than a day after the previous kept purchase are
    /// one purchase. None with fewer than `min` purchases.
    pub fn mean_interval_days(&self, min: i64) -> Result<Option<f64>> {
        let mut t = fa::copy_of(&self.instants, "behaviour_tags")?;
        cancel::sort_unstable_by(&mut t, |a, b| a.cmp(b));
        // the kept purchases: the first, then each at least a day after the previous kept one
        let (mut kept, mut first, mut last) = (0i64, 0i64, 0i64);
        for x in t {
            if kept == 0 || x - last >= USECS_PER_DAY {
                if kept == 0 {
                    first = x;
                }
                last = x;
                kept += 1;
            }
        }
        if kept < min {
            return Ok(None);
        }
        Ok(Some((last - first) as f64 / USECS_PER_DAY as f64 / (kept - 1) as f64))
    }

    /// The tags, in a fixed order.
    pub fn tags(&self, r: &Rules) -> Result<Vec<&'static str>> {
        let mut out = Vec::new();
        let n = self.orders as f64;
        let enough = self.orders >= r.min_orders;
        if enough && self.discounted as f64 >= r.price_sensitive_share * n {
            out.push("price_sensitive");
        }
        if self.promotion >= r.promotion_min_orders && self.promotion as f64 >= r.promotion_share * n {
            out.push("promotion_buyer");
        }
        if self.new_arrival >= 1 && self.new_arrival as f64 >= r.new_arrival_share * self.with_launch as f64 {
            out.push("new_arrival_buyer");
        }
        if enough && self.preferred_category().is_some_and(|(_, s)| s >= r.category_share) {
            out.push("category_focused");
        }
        match self.mean_interval_days(r.interval_min_purchases)? {
            Some(g) if g <= r.weekly_max_days => out.push("weekly_buyer"),
            Some(g) if g <= r.monthly_max_days => out.push("monthly_buyer"),
            _ => {}
        }
        Ok(out)
    }
}

/// All tag codes with their labels.
pub const TAGS: [(&str, &str, &str); 7] = [
    ("price_sensitive", "价格敏感", "Price-sensitive"),
    ("promotion_buyer", "大促活动型", "Promotion buyer"),
    ("new_arrival_buyer", "新品尝鲜型", "New-arrival buyer"),
    ("high_end", "高端消费", "High-end"),
    ("category_focused", "品类专注", "Category-focused"),
    ("weekly_buyer", "周购型", "Weekly buyer"),
    ("monthly_buyer", "月购型", "Monthly buyer"),
];

pub fn tag_label(code: &str, lang: Lang) -> Option<&'static str> {
    TAGS.iter().find(|t| t.0 == code).map(|t| lang.pick(t.0, t.1, t.2))
}

/// Second step: adds `high_end` for a promotion buyer (when `require_promotion`) whose average
/// unit price is at least the population threshold (e.g. the 75th percentile). Tag order is kept.
/// Works in place on the caller's copy of the tags (the one extra slot is taken fallibly).
pub fn with_high_end(mut tags: Vec<String>, avg_unit_price: f64, threshold: f64, require_promotion: bool) -> Result<Vec<String>> {
    let promo = tags.iter().any(|t| t == "promotion_buyer");
    tags.retain(|t| t != "high_end");
    if avg_unit_price >= threshold && (promo || !require_promotion) {
        // after promotion_buyer / new_arrival_buyer, before category_focused: the TAGS order
        let pos = tags
            .iter()
            .position(|t| TAGS.iter().position(|x| x.0 == t) > TAGS.iter().position(|x| x.0 == "high_end"))
            .unwrap_or(tags.len());
        fa::reserve(&mut tags, 1, "with_high_end")?;
        tags.insert(pos, "high_end".into());
    }
    Ok(tags)
}

// ---- the aggregates' state ----

/// The state of `behaviour_tags` and `preferred_category`: the rules (as the jsonb bytes of the
/// first row, compared on every row, and parsed), the evidence, and the memory bound.
///
/// Partial state (little endian): `[version u8 = 1][rules length u32][rules: jsonb bytes]
/// [orders, discounted, promotion, with_launch, new_arrival: i64][spend i128][categories u32]
/// [each: length u32, UTF-8 name, spend i128][instants u64][each i64]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TagState {
    pub rules_bytes: Vec<u8>,
    pub rules: Rules,
    pub ev: Evidence,
    /// `pg_segment.memory_limit` when the state was made, with the aggregate's name
    pub limit: Limit,
}

const STATE: &str = "behaviour_tags";

impl TagState {
    /// A copy (the combine step's first partial state), allocated fallibly within its limit.
    pub fn try_clone(&self) -> Result<TagState> {
        let mut ev = Evidence::default();
        ev.merge(&self.ev, self.limit)?;
        let rules_bytes = fa::copy_of(&self.rules_bytes, STATE)?;
        Ok(TagState { rules_bytes, rules: self.rules.clone(), ev, limit: self.limit })
    }

    /// Merges `other`, a state of the same call (the combine step).
    pub fn merge(&mut self, other: &TagState) -> Result<()> {
        if self.rules_bytes != other.rules_bytes {
            return Err(Error::invalid("behaviour_tags: rules must be the same in every row of the aggregate"));
        }
        self.ev.merge(&other.ev, self.limit)
    }

    pub fn serialized_len(&self) -> usize {
        let e = &self.ev;
        1 + 4
            + self.rules_bytes.len()
            + 5 * 8
            + 16
            + 4
            + e.categories.iter().map(|(c, _)| 4 + c.len() + 16).sum::<usize>()
            + 8
            + e.instants.len() * 8
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let e = &self.ev;
        let mut w = Writer::new(out);
        w.record(1u8);
        w.bytes_u32(&self.rules_bytes);
        for v in [e.orders, e.discounted, e.promotion, e.with_launch, e.new_arrival] {
            w.record(v);
        }
        w.put(&e.spend.to_le_bytes());
        w.record(e.categories.len() as u32);
        for (c, v) in &e.categories {
            w.bytes_u32(c.as_bytes());
            w.put(&v.to_le_bytes());
        }
        w.record(e.instants.len() as u64);
        w.records(&e.instants);
        w.finish();
    }

    /// Reads a partial state bounded by `limit`; `parse_rules` reads the rules' jsonb bytes (the
    /// glue's jsonb_out), called only when the state has rules of its own.
    pub fn deserialize(bytes: &[u8], limit: Limit, parse_rules: impl FnOnce(&[u8]) -> Result<Rules>) -> Result<TagState> {
        let mut r = Reader::new(bytes, "behaviour_tags partial state is truncated");
        if r.u8()? != 1 {
            return Err(Error::binary("behaviour_tags partial state has an unknown version"));
        }
        let rules_bytes = fa::copy_of(r.bytes_u32()?, STATE)?;
        let mut ev = Evidence::default();
        let mut counts = [0i64; 5];
        for c in counts.iter_mut() {
            *c = r.i64()?;
        }
        let spend = r.i128()?;
        let ncat = r.u32()? as usize;
        for _ in 0..ncat {
            let name = r.bytes_u32()?;
            let name = std::str::from_utf8(name).map_err(|e| {
                Error::encoding(format!(
                    "behaviour_tags partial state: category is not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ))
            })?;
            let v = r.i128()?;
            ev.add_category(name, v, limit)?;
        }
        let ni = r.u64()? as usize;
        // the count is checked against the bytes present before anything is sized from it
        let instants = r.records::<i64>(ni, STATE)?;
        let rules = if rules_bytes.is_empty() { Rules::default() } else { parse_rules(&rules_bytes)? };
        let [orders, discounted, promotion, with_launch, new_arrival] = counts;
        ev.merge(&Evidence { orders, discounted, promotion, with_launch, new_arrival, spend, instants, ..Evidence::default() }, limit)?;
        Ok(TagState { rules_bytes, rules, ev, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partial state round-trips byte for byte and merges; counts its bytes do not hold are
    /// refused before anything is sized from them; the rules are parsed only when present.
    #[test]
    fn state_round_trips() {
        let limit = Limit { bytes: usize::MAX, what: "behaviour_tags" };
        let rules = Rules { min_orders: 3, ..Rules::default() };
        let mut st = TagState { rules_bytes: b"\x01\x02jsonb".to_vec(), rules: rules.clone(), ev: Evidence::default(), limit };
        for (i, c) in ["书籍", "shoes", "书籍"].iter().enumerate() {
            st.ev.add(i as i64 * USECS_PER_DAY, 10_000 * (i as i64 + 1), Some(0.2), Some(i == 1), Some(c), Some(0), &rules, limit).unwrap();
        }
        let mut b = vec![0u8; st.serialized_len()];
        st.serialize_into(&mut b);
        assert_eq!(&b[..5], &[1, 7, 0, 0, 0]);
        let mut parsed = 0;
        let back = TagState::deserialize(&b, limit, |bytes| {
            parsed += 1;
            assert_eq!(bytes, b"\x01\x02jsonb");
            Ok(rules.clone())
        })
        .unwrap();
        assert_eq!((back.clone(), parsed), (st.clone(), 1));
        let mut again = vec![0u8; back.serialized_len()];
        back.serialize_into(&mut again);
        assert_eq!(again, b);
        let plain = TagState { rules_bytes: Vec::new(), rules: Rules::default(), ..st.clone() };
        let mut pb = vec![0u8; plain.serialized_len()];
        plain.serialize_into(&mut pb);
        assert_eq!(TagState::deserialize(&pb, limit, |_| panic!("no rules to parse")).unwrap(), plain);
        let cut = pb.len() - 3 * 8 - 8;
        let mut claim = pb[..cut + 8].to_vec();
        claim[cut..].copy_from_slice(&(1u64 << 61).to_le_bytes());
        let e = TagState::deserialize(&claim, limit, |_| unreachable!()).unwrap_err();
        assert_eq!(e.message, "behaviour_tags partial state is truncated");
        let mut newer = pb.clone();
        newer[0] = 2;
        assert!(TagState::deserialize(&newer, limit, |_| unreachable!()).unwrap_err().message.contains("unknown version"));
    }

    const DAY: i64 = USECS_PER_DAY;

    fn ev(rows: &[(i64, i64, f64, bool, &str, Option<i64>)]) -> Evidence {
        let r = Rules::default();
        let mut e = Evidence::default();
        for &(at, amt, d, p, c, l) in rows {
            e.add(at, amt * 10_000, Some(d), Some(p), Some(c), l, &r, Limit::UNLIMITED).unwrap();
        }
        e
    }

    #[test]
    fn each_tag_at_its_threshold() {
        let r = Rules::default();
        // 2 of 4 orders at 10% off: exactly the default share 0.5
        let e = ev(&[
            (0, 10, 0.10, false, "a", None),
            (100 * DAY, 10, 0.0, false, "b", None),
            (200 * DAY, 10, 0.3, false, "c", None),
            (300 * DAY, 10, 0.05, false, "d", None),
        ]);
        assert_eq!(e.tags(&r).unwrap(), vec!["price_sensitive"]);
        // 1 of 4 discounted: not
        let e = ev(&[
            (0, 10, 0.10, false, "a", None),
            (100 * DAY, 10, 0.0, false, "b", None),
            (200 * DAY, 10, 0.09, false, "c", None),
            (300 * DAY, 10, 0.05, false, "d", None),
        ]);
        assert!(e.tags(&r).unwrap().is_empty());
        // promotion: 2 of 3 orders
        let e = ev(&[(0, 10, 0.0, true, "a", None), (100 * DAY, 10, 0.0, true, "b", None), (200 * DAY, 10, 0.0, false, "c", None)]);
        assert_eq!(e.tags(&r).unwrap(), vec!["promotion_buyer"]);
        // one promotion order only: below promotion_min_orders
        let e = ev(&[(0, 10, 0.0, true, "a", None)]);
        assert!(e.tags(&r).unwrap().is_empty());
        // new arrivals: within 30 days of launch for 1 of 2 launched orders
        let e = ev(&[(40 * DAY, 10, 0.0, false, "a", Some(10 * DAY)), (200 * DAY, 10, 0.0, false, "b", Some(100 * DAY))]);
        assert_eq!(e.tags(&r).unwrap(), vec!["new_arrival_buyer"]);
        let e = ev(&[(41 * DAY, 10, 0.0, false, "a", Some(10 * DAY)), (200 * DAY, 10, 0.0, false, "b", Some(100 * DAY))]);
        assert!(e.tags(&r).unwrap().is_empty());
        // bought before the launch (pre-order) is not a new-arrival purchase
        let e = ev(&[(5 * DAY, 10, 0.0, false, "a", Some(10 * DAY))]);
        assert!(e.tags(&r).unwrap().is_empty());
        // no launch date: no evidence
        let e = ev(&[(0, 10, 0.0, false, "a", None), (100 * DAY, 10, 0.0, false, "a", None)]);
        assert_eq!(e.tags(&r).unwrap(), vec!["category_focused"]);
        // interval classes (3 purchases)
        let weekly = ev(&[(0, 10, 0.0, false, "a", None), (7 * DAY, 10, 0.0, false, "b", None), (14 * DAY, 10, 0.0, false, "c", None)]);
        assert_eq!(weekly.tags(&r).unwrap(), vec!["weekly_buyer"]);
        let monthly = ev(&[(0, 10, 0.0, false, "a", None), (30 * DAY, 10, 0.0, false, "b", None), (75 * DAY, 10, 0.0, false, "c", None)]);
        assert_eq!(monthly.mean_interval_days(3).unwrap(), Some(37.5));
        assert_eq!(monthly.tags(&r).unwrap(), vec!["monthly_buyer"]);
        // orders within a day are one purchase
        let same_day = ev(&[(0, 10, 0.0, false, "a", None), (DAY / 2, 10, 0.0, false, "b", None), (DAY, 10, 0.0, false, "c", None)]);
        assert_eq!(same_day.mean_interval_days(3).unwrap(), None);
        assert_eq!(same_day.mean_interval_days(2).unwrap(), Some(1.0));
    }

    #[test]
    fn preferred_category_by_spend_ties_by_name() {
        let e = ev(&[(0, 30, 0.0, false, "food", None), (DAY, 50, 0.0, false, "beauty", None), (2 * DAY, 20, 0.0, false, "food", None)]);
        assert_eq!(e.preferred_category(), Some(("beauty", 0.5)));
        let e = ev(&[(0, 50, 0.0, false, "food", None), (DAY, 50, 0.0, false, "beauty", None)]);
        assert_eq!(e.preferred_category(), Some(("beauty", 0.5)));
        assert_eq!(Evidence::default().preferred_category(), None);
    }

    #[test]
    fn merge_equals_one_pass() {
        let r = Rules::default();
        let rows: Vec<(i64, i64, f64, bool, &str, Option<i64>)> = (0..20)
            .map(|i| {
                (
                    i * 3 * DAY,
                    10 + i,
                    if i % 3 == 0 { 0.2 } else { 0.0 },
                    i % 2 == 0,
                    ["a", "b", "c"][i as usize % 3],
                    if i % 4 == 0 { Some(i * 3 * DAY - DAY) } else { None },
                )
            })
            .collect();
        let all = ev(&rows);
        let mut a = ev(&rows[..7]);
        a.merge(&ev(&rows[7..]), Limit::UNLIMITED).unwrap();
        assert_eq!(a.tags(&r).unwrap(), all.tags(&r).unwrap());
        assert_eq!(a.preferred_category(), all.preferred_category());
        assert_eq!(
            (a.orders, a.discounted, a.promotion, a.with_launch, a.new_arrival, a.spend),
            (all.orders, all.discounted, all.promotion, all.with_launch, all.new_arrival, all.spend)
        );
    }

    #[test]
    fn memory_is_bounded() {
        let r = Rules::default();
        let mut e = Evidence::default();
        let limit = Limit { bytes: 64 << 10, what: "behaviour_tags" };
        let mut err = None;
        for i in 0..100_000 {
            let cat = format!("category {i}");
            if let Err(x) = e.add(i * DAY, 10, None, None, Some(&cat), None, &r, limit) {
                err = Some(x);
                break;
            }
        }
        let x = err.expect("64 kB cannot hold 100,000 orders in distinct categories");
        assert_eq!(x.code, crate::ErrCode::OutOfMemory);
        assert!(x.message.contains("pg_segment.memory_limit"), "{}", x.message);
        assert!(x.message.starts_with("behaviour_tags: "), "{}", x.message);
        assert!(e.bytes() <= limit.bytes);
        let mut big = Evidence::default();
        assert!(big.merge(&e, Limit { bytes: 1024, what: "behaviour_tags" }).is_err());
    }

    #[test]
    fn rules_are_strict_and_labels_complete() {
        assert_eq!(Rules::parse("{}").unwrap(), Rules::default());
        assert_eq!(Rules::parse(r#"{"discount_threshold": 0.2}"#).unwrap().discount_threshold, 0.2);
        assert!(Rules::parse(r#"{"discount_threshold": 2}"#).unwrap_err().message.contains("discount_threshold"));
        assert!(Rules::parse(r#"{"weekly_max_days": 50}"#).unwrap_err().message.contains("weekly_max_days"));
        assert!(Rules::parse(r#"{"min_orders": 0}"#).unwrap_err().message.contains("min_orders"));
        assert!(Rules::parse(r#"{"price_sensitive": 1}"#).unwrap_err().message.contains("unknown key"));
        for (code, zh, en) in TAGS {
            assert_eq!(tag_label(code, Lang::Zh), Some(zh));
            assert_eq!(tag_label(code, Lang::En), Some(en));
            assert_eq!(tag_label(code, Lang::Code), Some(code));
        }
        assert_eq!(tag_label("vip", Lang::En), None);
    }

    #[test]
    fn high_end_is_a_second_step() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_high_end(t(&["promotion_buyer", "weekly_buyer"]), 300.0, 250.0, true).unwrap(),
            t(&["promotion_buyer", "high_end", "weekly_buyer"])
        );
        assert_eq!(with_high_end(t(&["weekly_buyer"]), 300.0, 250.0, true).unwrap(), t(&["weekly_buyer"]));
        assert_eq!(with_high_end(t(&["weekly_buyer"]), 300.0, 250.0, false).unwrap(), t(&["high_end", "weekly_buyer"]));
        assert_eq!(with_high_end(t(&["promotion_buyer"]), 200.0, 250.0, true).unwrap(), t(&["promotion_buyer"]));
        assert_eq!(with_high_end(t(&["promotion_buyer", "high_end"]), 200.0, 250.0, true).unwrap(), t(&["promotion_buyer"]));
        assert_eq!(with_high_end(vec![], 300.0, 250.0, false).unwrap(), t(&["high_end"]));
    }
}
