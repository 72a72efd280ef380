//! Brand loyalty from one customer's order rows with a brand (or any key): the top brand, its
//! share of the orders and of the spend, and a level 无 none / 一般 moderate / 强烈 strong /
//! 绝对 absolute.
//!
//! Refund rows (negative amounts) lower their brand's spend and never count as orders. The level
//! is read from the top brand's share of the orders (or of the spend, `"by": "spend"`) against
//! thresholds; below `min_orders` orders no level is given (NULL: too little evidence).

use super::codec::{Reader, Writer};
use super::config::{Lang, Obj};
use super::fallible::{self as fa, Limit};
use super::{Error, Result};
use foldhash::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// the level reads the share of the spend rather than of the orders
    pub by_spend: bool,
    pub moderate: f64,
    pub strong: f64,
    pub absolute: f64,
    pub min_orders: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { by_spend: false, moderate: 0.4, strong: 0.7, absolute: 1.0, min_orders: 3 }
    }
}

impl Rules {
    pub fn parse(json: &str) -> Result<Rules> {
        let mut o = Obj::parse("rules", json)?;
        let d = Rules::default();
        let by = o.string("by", "orders")?;
        let r = Rules {
            by_spend: match by.as_str() {
                "orders" => false,
                "spend" => true,
                other => return Err(Error::invalid(format!("rules: key \"by\" must be 'orders' or 'spend', got '{other}'"))),
            },
            moderate: o.f64("moderate", d.moderate)?,
            strong: o.f64("strong", d.strong)?,
            absolute: o.f64("absolute", d.absolute)?,
            min_orders: o.i64("min_orders", d.min_orders)?,
        };
        o.finish()?;
        if !(0.0 < r.moderate && r.moderate <= r.strong && r.strong <= r.absolute && r.absolute <= 1.0) {
            return Err(Error::invalid(format!(
                "rules: keys \"moderate\", \"strong\" and \"absolute\" must satisfy 0 < moderate <= strong <= absolute <= 1, got {}, {} and {}",
                r.moderate, r.strong, r.absolute
            )));
        }
        if !(1..=1_000_000).contains(&r.min_orders) {
            return Err(Error::invalid(format!(
                "rules: key \"min_orders\" must be a whole number between 1 and 1000000, got {}",
                r.min_orders
            )));
        }
        Ok(r)
    }
}

/// The levels: code, 中文, English.
pub const LEVELS: [(&str, &str, &str); 4] =
    [("none", "无", "None"), ("moderate", "一般", "Moderate"), ("strong", "强烈", "Strong"), ("absolute", "绝对", "Absolute")];

pub fn level_label(code: &str, lang: Lang) -> Option<&'static str> {
    LEVELS.iter().find(|l| l.0 == code).map(|l| lang.pick(l.0, l.1, l.2))
}

/// Orders and spend (amount × 10^4) of each brand, in first-seen order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Brands {
    pub brands: Vec<(String, i64, i128)>,
    index: HashMap<String, usize>,
    name_bytes: usize,
}

/// What the aggregate returns.
#[derive(Clone, Debug, PartialEq)]
pub struct Loyalty<'a> {
    pub brand: &'a str,
    pub orders: i64,
    pub order_share: f64,
    /// None without positive spend
    pub spend_share: Option<f64>,
    /// brands with at least one order
    pub brands: i64,
    /// None below `min_orders` orders
    pub level: Option<&'static str>,
}

impl Brands {
    /// Bytes held: names, entries and the index.
    pub fn bytes(&self) -> usize {
        self.name_bytes.saturating_mul(2).saturating_add(fa::bytes_of::<(String, i64, i128, String, usize)>(self.brands.capacity()))
    }

    /// One row (amount in 10^-4 units; negative: a refund).
    pub fn add(&mut self, brand: &str, amount: i64, limit: Limit) -> Result<()> {
        let (orders, spend) = if amount < 0 { (0, amount as i128) } else { (1, amount as i128) };
        self.add_totals(brand, orders, spend, limit)
    }

    fn add_totals(&mut self, brand: &str, orders: i64, spend: i128, limit: Limit) -> Result<()> {
        match self.index.get(brand) {
            Some(&i) => {
                let e = &mut self.brands[i];
                e.1 += orders;
                e.2 += spend;
            }
            None => {
                let grow = if self.brands.len() == self.brands.capacity() { (self.brands.len() + 1) * 96 } else { 0 };
                limit.check(self.bytes().saturating_add(2 * brand.len() + grow))?;
                fa::reserve(&mut self.brands, 1, limit.what)?;
                self.index.try_reserve(1).map_err(|_| fa::alloc_failed(limit.what, self.bytes()))?;
                self.brands.push((fa::string_of(brand, limit.what)?, orders, spend));
                self.index.insert(fa::string_of(brand, limit.what)?, self.brands.len() - 1);
                self.name_bytes += brand.len();
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Brands, limit: Limit) -> Result<()> {
        for (b, o, s) in &other.brands {
            self.add_totals(b, *o, *s, limit)?;
        }
        Ok(())
    }

    /// The top brand by the rules' measure (orders, then spend, then the first name in byte
    /// order; by spend: spend, then orders, then name). None without an order (or, by spend,
    /// without positive spend).
    pub fn loyalty(&self, r: &Rules) -> Option<Loyalty<'_>> {
        let total_orders: i64 = self.brands.iter().map(|b| b.1).sum();
        let total_spend: i128 = self.brands.iter().map(|b| b.2.max(0)).sum();
        let key = |b: &&(String, i64, i128)| if r.by_spend { (b.2, b.1 as i128) } else { (b.1 as i128, b.2) };
        let top = self
            .brands
            .iter()
            .filter(|b| if r.by_spend { b.2 > 0 } else { b.1 > 0 })
            .max_by(|a, b| key(a).cmp(&key(b)).then_with(|| b.0.cmp(&a.0)))?;
        let order_share = if total_orders > 0 { top.1 as f64 / total_orders as f64 } else { 0.0 };
        let spend_share = (total_spend > 0).then(|| top.2.max(0) as f64 / total_spend as f64);
        let share = if r.by_spend { spend_share.unwrap_or(0.0) } else { order_share };
        let level = (total_orders >= r.min_orders).then(|| {
            if share >= r.absolute {
                "absolute"
            } else if share >= r.strong {
                "strong"
            } else if share >= r.moderate {
                "moderate"
            } else {
                "none"
            }
        });
        Some(Loyalty {
            brand: &top.0,
            orders: top.1,
            order_share,
            spend_share,
            brands: self.brands.iter().filter(|b| b.1 > 0).count() as i64,
            level,
        })
    }
}

// ---- the aggregate's state ----

/// The state of `brand_loyalty`: the rules (jsonb bytes of the first row, compared on every row,
/// and parsed) and the brands, bounded by `pg_segment.memory_limit`.
///
/// Partial state (little endian): `[version u8 = 1][rules length u32][rules][brands u32]
/// [each: length u32, UTF-8 name, orders i64, spend i128]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoyaltyState {
    pub rules_bytes: Vec<u8>,
    pub rules: Rules,
    pub brands: Brands,
    pub limit: Limit,
}

impl LoyaltyState {
    pub fn try_clone(&self) -> Result<LoyaltyState> {
        let mut brands = Brands::default();
        brands.merge(&self.brands, self.limit)?;
        Ok(LoyaltyState {
            rules_bytes: fa::copy_of(&self.rules_bytes, self.limit.what)?,
            rules: self.rules.clone(),
            brands,
            limit: self.limit,
        })
    }

    pub fn merge(&mut self, other: &LoyaltyState) -> Result<()> {
        if self.rules_bytes != other.rules_bytes {
            return Err(Error::invalid("brand_loyalty: rules must be the same in every row of the aggregate"));
        }
        self.brands.merge(&other.brands, self.limit)
    }

    pub fn serialized_len(&self) -> usize {
        1 + 4 + self.rules_bytes.len() + 4 + self.brands.brands.iter().map(|b| 4 + b.0.len() + 8 + 16).sum::<usize>()
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(1u8);
        w.bytes_u32(&self.rules_bytes);
        w.record(self.brands.brands.len() as u32);
        for (b, o, s) in &self.brands.brands {
            w.bytes_u32(b.as_bytes());
            w.record(*o);
            w.put(&s.to_le_bytes());
        }
        w.finish();
    }

    /// Reads a partial state bounded by `limit`; `parse_rules` reads the rules' jsonb bytes,
    /// called only when the state has rules of its own.
    pub fn deserialize(bytes: &[u8], limit: Limit, parse_rules: impl FnOnce(&[u8]) -> Result<Rules>) -> Result<LoyaltyState> {
        let mut r = Reader::new(bytes, "brand_loyalty partial state is truncated");
        if r.u8()? != 1 {
            return Err(Error::binary("brand_loyalty partial state has an unknown version"));
        }
        let rules_bytes = fa::copy_of(r.bytes_u32()?, limit.what)?;
        let n = r.u32()? as usize;
        let mut brands = Brands::default();
        for _ in 0..n {
            let name = std::str::from_utf8(r.bytes_u32()?).map_err(|e| {
                Error::encoding(format!(
                    "brand_loyalty partial state: brand is not valid UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ))
            })?;
            let orders = r.i64()?;
            let spend = r.i128()?;
            brands.add_totals(name, orders, spend, limit)?;
        }
        let rules = if rules_bytes.is_empty() { Rules::default() } else { parse_rules(&rules_bytes)? };
        Ok(LoyaltyState { rules_bytes, rules, brands, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrCode;

    fn brands(rows: &[(&str, i64)]) -> Brands {
        let mut b = Brands::default();
        for &(name, yuan) in rows {
            b.add(name, yuan * 10_000, Limit::UNLIMITED).unwrap();
        }
        b
    }

    /// The result with the brand owned.
    #[derive(Debug, PartialEq)]
    struct Top {
        brand: String,
        orders: i64,
        order_share: f64,
        spend_share: Option<f64>,
        brands: i64,
        level: Option<&'static str>,
    }

    fn top(rows: &[(&str, i64)], r: &Rules) -> Option<Top> {
        brands(rows).loyalty(r).map(|l| Top {
            brand: l.brand.to_string(),
            orders: l.orders,
            order_share: l.order_share,
            spend_share: l.spend_share,
            brands: l.brands,
            level: l.level,
        })
    }

    #[test]
    fn levels_at_their_thresholds() {
        let r = Rules::default();
        let l = top(&[("A", 10), ("A", 10), ("A", 10)], &r).unwrap();
        assert_eq!(
            (l.brand.as_str(), l.orders, l.order_share, l.spend_share, l.brands, l.level),
            ("A", 3, 1.0, Some(1.0), 1, Some("absolute"))
        );
        // 7 of 10 orders: strong; 4 of 10: moderate; 3 of 10: none
        let mut rows = vec![("A", 1); 7];
        rows.extend([("B", 1), ("C", 1), ("D", 100)]);
        let l = top(&rows, &r).unwrap();
        assert_eq!((l.brand.as_str(), l.level), ("A", Some("strong")));
        assert!((l.order_share - 0.7).abs() < 1e-15 && (l.spend_share.unwrap() - 7.0 / 109.0).abs() < 1e-15);
        // by spend the top brand is D, with 100 of 109
        let s = Rules { by_spend: true, ..Rules::default() };
        let l = top(&rows, &s).unwrap();
        assert_eq!((l.brand.as_str(), l.orders, l.level), ("D", 1, Some("strong")));
        let l = top(&[("A", 1), ("A", 1), ("A", 1), ("A", 1), ("B", 1), ("B", 1), ("C", 1), ("C", 1), ("D", 1), ("E", 1)], &r).unwrap();
        assert_eq!((l.brand.as_str(), l.level), ("A", Some("moderate")));
        let l = top(&[("A", 1), ("A", 1), ("A", 1), ("B", 1), ("B", 1), ("C", 1), ("C", 1), ("D", 1), ("D", 1), ("E", 1)], &r).unwrap();
        assert_eq!(l.level, Some("none"));
        // fewer than min_orders: the brand and shares, no level
        let l = top(&[("A", 5), ("A", 5)], &r).unwrap();
        assert_eq!((l.brand.as_str(), l.level), ("A", None));
        assert!(Brands::default().loyalty(&r).is_none());
    }

    #[test]
    fn refunds_lower_spend_and_ties_go_to_the_first_name() {
        let r = Rules::default();
        let l = top(&[("B", 10), ("A", 10), ("A", -10), ("B", 10), ("A", 10)], &r).unwrap();
        // orders tie 2 to 2; B has more spend (20 against 10)
        assert_eq!((l.brand.as_str(), l.orders, l.brands), ("B", 2, 2));
        assert!((l.spend_share.unwrap() - 20.0 / 30.0).abs() < 1e-15);
        let l = top(&[("B", 10), ("A", 10)], &r).unwrap();
        assert_eq!(l.brand.as_str(), "A");
        // only refunds: no order, no top brand
        assert_eq!(top(&[("A", -5)], &r), None);
        // zero spend: no spend share
        assert_eq!(top(&[("A", 0), ("A", 0), ("A", 0)], &r).unwrap().spend_share, None);
    }

    #[test]
    fn rules_labels_state_and_limit() {
        assert_eq!(Rules::parse("{}").unwrap(), Rules::default());
        for (j, needle) in [
            (r#"{"by": "value"}"#, "\"by\""),
            (r#"{"moderate": 0.8}"#, "moderate"),
            (r#"{"absolute": 1.5}"#, "absolute"),
            (r#"{"moderate": 0}"#, "moderate"),
            (r#"{"min_orders": 0}"#, "min_orders"),
            (r#"{"level": 1}"#, "unknown key \"level\""),
        ] {
            let e = Rules::parse(j).unwrap_err();
            assert_eq!(e.code, ErrCode::InvalidParameter, "{j}");
            assert!(e.message.contains(needle), "{j}: {}", e.message);
        }
        for (code, zh, en) in LEVELS {
            assert_eq!(
                (level_label(code, Lang::Zh), level_label(code, Lang::En), level_label(code, Lang::Code)),
                (Some(zh), Some(en), Some(code))
            );
        }
        assert_eq!(level_label("loyal", Lang::En), None);
        let limit = Limit { bytes: usize::MAX, what: "brand_loyalty" };
        let st = LoyaltyState {
            rules_bytes: b"jsonb".to_vec(),
            rules: Rules::default(),
            brands: brands(&[("品牌", 3), ("x", -1), ("品牌", 4)]),
            limit,
        };
        let mut b = vec![0u8; st.serialized_len()];
        st.serialize_into(&mut b);
        let back = LoyaltyState::deserialize(&b, limit, |bytes| {
            assert_eq!(bytes, b"jsonb");
            Ok(Rules::default())
        })
        .unwrap();
        assert_eq!(back.brands.brands, st.brands.brands);
        let mut merged = back.try_clone().unwrap();
        merged.merge(&back).unwrap();
        assert_eq!(merged.brands.brands[0], ("品牌".to_string(), 4, 140_000));
        let mut cut = b.clone();
        cut.truncate(b.len() - 1);
        assert!(LoyaltyState::deserialize(&cut, limit, |_| Ok(Rules::default())).unwrap_err().message.contains("truncated"));
        let tiny = Limit { bytes: 4096, what: "brand_loyalty" };
        let mut many = Brands::default();
        let e = (0..10_000).try_for_each(|i| many.add(&format!("brand {i}"), 1, tiny)).unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfMemory);
        assert!(many.bytes() <= 4096);
    }
}
