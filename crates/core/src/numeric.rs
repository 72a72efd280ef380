//! Exact money arithmetic without per-row allocation.
//!
//! Amounts are kept as `i64` counts of 1/10000 of the currency unit ("micro-units" below,
//! `SCALE` = 10^4). PostgreSQL `numeric` values are decoded straight from their on-disk form
//! (base-10000 digits, see PostgreSQL's `src/backend/utils/adt/numeric.c` for the layout), so the
//! transition function never calls `numeric_out` or allocates. Digits beyond 4 decimals are
//! rounded half away from zero, as PostgreSQL's `round()` does.
//!
//! Why ours: a decimal crate (or pgrx's `AnyNumeric`) would copy the value and go through text
//! or its own representation on every row; this decoder reads the on-disk digits in place, and
//! its rounding and range rules are the ones every stored summary was built with.

use super::Error;

/// 10^4: amounts are stored in units of 0.0001.
pub const SCALE: i64 = 10_000;

const NUMERIC_SIGN_MASK: u16 = 0xC000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_SPECIAL: u16 = 0xC000;
const NUMERIC_EXT_SIGN_MASK: u16 = 0xF000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
const NUMERIC_SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;

/// Decodes the payload of a `numeric` varlena (the bytes after the varlena header) into
/// micro-units. `arg` names the SQL argument in error messages.
#[inline]
pub fn decode_numeric(payload: &[u8], arg: &str) -> Result<i64, Error> {
    if payload.len() < 2 {
        return Err(Error::internal(format!("{arg}: truncated numeric value")));
    }
    let header = u16::from_ne_bytes([payload[0], payload[1]]);
    let flags = header & NUMERIC_SIGN_MASK;
    let (negative, weight, digits_at): (bool, i32, usize) = if flags == NUMERIC_SPECIAL {
        return Err(if header & NUMERIC_EXT_SIGN_MASK == NUMERIC_NAN {
            Error::invalid_text(format!("{arg} must not be NaN"))
        } else {
            Error::out_of_range(format!("{arg} must be finite, got infinity"))
        });
    } else if flags == NUMERIC_SHORT {
        let neg = header & NUMERIC_SHORT_SIGN_MASK != 0;
        let mut w = (header & NUMERIC_SHORT_WEIGHT_MASK) as i32;
        if header & NUMERIC_SHORT_WEIGHT_SIGN_MASK != 0 {
            w |= !(NUMERIC_SHORT_WEIGHT_MASK as i32);
        }
        (neg, w, 2)
    } else {
        if payload.len() < 4 {
            return Err(Error::internal(format!("{arg}: truncated numeric value")));
        }
        let w = i16::from_ne_bytes([payload[2], payload[3]]) as i32;
        (flags == NUMERIC_NEG, w, 4)
    };
    let digits = &payload[digits_at..];
    let ndigits = digits.len() / 2;
    let mut acc: i128 = 0;
    let mut round_up = false;
    for i in 0..ndigits {
        let d = u16::from_ne_bytes([digits[2 * i], digits[2 * i + 1]]) as i128;
        // digit i stands for d * 10000^(weight - i); in micro-units, times 10000 more
        let exp = weight - i as i32 + 1;
        if exp >= 0 {
            if exp > 5 {
                return Err(Error::out_of_range(format!("{arg} is too large (at most 10^14)")));
            }
            acc += d * 10_000i128.pow(exp as u32);
        } else {
            if exp == -1 {
                round_up = d >= 5000;
            }
            break;
        }
    }
    if round_up {
        acc += 1;
    }
    if acc > MAX_AMOUNT as i128 {
        return Err(Error::out_of_range(format!("{arg} is too large (at most 10^14)")));
    }
    let v = acc as i64;
    Ok(if negative { -v } else { v })
}

/// Largest absolute single amount accepted, in micro-units (10^14 currency units).
pub const MAX_AMOUNT: i64 = 100_000_000_000_000 * SCALE;

/// Converts a float8 amount into micro-units, rejecting NaN and infinities.
#[inline]
pub fn from_f64(x: f64, arg: &str) -> Result<i64, Error> {
    if x.is_nan() {
        return Err(Error::invalid_text(format!("{arg} must not be NaN")));
    }
    if !x.is_finite() || x.abs() > 1e14 {
        return Err(Error::out_of_range(format!("{arg} must be finite and at most 10^14 in absolute value")));
    }
    Ok((x * SCALE as f64).round() as i64)
}

/// Formats micro-units as a decimal string with at least 2 and at most 4 decimals
/// (`12.5` -> `"12.50"`, `0.1234` -> `"0.1234"`). Works for sums up to i128.
pub fn format_micro(v: i128) -> String {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let int = a / SCALE as u128;
    let mut frac = format!("{:04}", a % SCALE as u128);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{}{}.{}", if neg { "-" } else { "" }, int, frac)
}

/// Why a decimal text is not an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadAmount {
    /// not a plain decimal with at most 4 fractional digits
    Syntax,
    /// a decimal beyond ±10^14 ([`MAX_AMOUNT`])
    OutOfRange,
}

/// Parses a decimal string (as written by [`format_micro`], or any plain decimal with up to 4
/// fractional digits) into micro-units, telling bad syntax from a value out of range.
pub fn parse_amount(s: &str) -> Result<i64, BadAmount> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (ip, fp) = body.split_once('.').unwrap_or((body, ""));
    let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
    if ip.is_empty() || fp.len() > 4 || !digits(ip) || !digits(fp) || body.ends_with('.') {
        return Err(BadAmount::Syntax);
    }
    let ip = ip.trim_start_matches('0');
    // more than 15 integer digits is beyond 10^14 whatever they are
    if ip.len() > 15 {
        return Err(BadAmount::OutOfRange);
    }
    let int: i64 = if ip.is_empty() { 0 } else { ip.parse().map_err(|_| BadAmount::Syntax)? };
    let mut frac: i64 = if fp.is_empty() { 0 } else { fp.parse().map_err(|_| BadAmount::Syntax)? };
    for _ in fp.len()..4 {
        frac *= 10;
    }
    let v = int * SCALE + frac;
    if v > MAX_AMOUNT {
        return Err(BadAmount::OutOfRange);
    }
    Ok(if neg { -v } else { v })
}

/// [`parse_amount`] as an `Option`.
pub fn parse_micro(s: &str) -> Option<i64> {
    parse_amount(s).ok()
}

/// The most one customer's orders may total, and the most its refunds may total, in
/// micro-units: 922,337,203,685,477.5807 currency units, so that every net figure (orders minus
/// refunds, over any period) fits in 64 bits whatever the order of the rows. `rfm_agg`, `rollup`,
/// the `rfm_summary` inputs and `population_agg` apply the same limit, with SQLSTATE 22003.
pub const MAX_TOTAL: i64 = i64::MAX;

/// The error of totals beyond [`MAX_TOTAL`]; `whose` names the customer or the value.
pub fn total_error(what: &str, whose: &str) -> Error {
    Error::out_of_range(format!(
        "monetary: the {what} of {whose} total more than {}, the most one customer's orders or refunds may total",
        format_micro(MAX_TOTAL as i128)
    ))
    .with_hint("amounts are summed per customer: check for duplicated or mis-scaled amounts")
}

/// Checks one customer's totals of orders (non-negative amounts) and of refunds (as a positive
/// number) against [`MAX_TOTAL`].
pub fn check_totals(orders: i128, refunds: i128, whose: &str) -> Result<(), Error> {
    if orders > MAX_TOTAL as i128 {
        return Err(total_error("orders", whose));
    }
    if refunds > MAX_TOTAL as i128 {
        return Err(total_error("refunds", whose));
    }
    Ok(())
}

/// The display scale `numeric_in` gives [`format_micro`]'s text: 2 to 4 decimals.
fn display_scale(frac: u64) -> u16 {
    if frac % 100 == 0 {
        2
    } else if frac % 10 == 0 {
        3
    } else {
        4
    }
}

/// Writes the payload of a `numeric` (the bytes after the varlena header) equal, byte for byte,
/// to what `numeric_in(format_micro(v))` stores, without parsing text: micro-units are exactly
/// one base-10000 digit after the decimal point. Returns the payload length (at most 12 bytes).
pub fn encode_numeric(v: i64, out: &mut [u8; 12]) -> usize {
    let a = v.unsigned_abs();
    let frac = a % SCALE as u64;
    let mut int = a / SCALE as u64;
    let dscale = display_scale(frac);
    // base-10000 digits, most significant first: the integer part, then the fraction digit
    let mut digits = [0u16; 6];
    let mut n = 0;
    let mut int_digits = [0u16; 5];
    let mut ni = 0;
    while int > 0 {
        int_digits[ni] = (int % 10_000) as u16;
        int /= 10_000;
        ni += 1;
    }
    for i in (0..ni).rev() {
        digits[n] = int_digits[i];
        n += 1;
    }
    let mut weight = ni as i32 - 1;
    digits[n] = frac as u16;
    n += 1;
    // strip leading and trailing zero digits, as PostgreSQL's strip_var does
    let mut start = 0;
    while start < n && digits[start] == 0 {
        start += 1;
        weight -= 1;
    }
    while n > start && digits[n - 1] == 0 {
        n -= 1;
    }
    let negative = v < 0 && n > start;
    if n == start {
        weight = 0;
    }
    let mut header = NUMERIC_SHORT | (dscale << 7) | (weight as u16 & NUMERIC_SHORT_WEIGHT_MASK);
    if weight < 0 {
        header |= NUMERIC_SHORT_WEIGHT_SIGN_MASK;
    }
    if negative {
        header |= NUMERIC_SHORT_SIGN_MASK;
    }
    out[0..2].copy_from_slice(&header.to_ne_bytes());
    let mut len = 2;
    for d in &digits[start..n] {
        out[len..len + 2].copy_from_slice(&d.to_ne_bytes());
        len += 2;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a long-format numeric payload: sign/dscale word, weight, digits.
    fn long(neg: bool, weight: i16, digits: &[u16]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(if neg { NUMERIC_NEG } else { 0 } | 2).to_ne_bytes());
        v.extend_from_slice(&weight.to_ne_bytes());
        for d in digits {
            v.extend_from_slice(&d.to_ne_bytes());
        }
        v
    }

    fn short(neg: bool, weight: i8, digits: &[u16]) -> Vec<u8> {
        let mut h = NUMERIC_SHORT | (2 << 7);
        if neg {
            h |= NUMERIC_SHORT_SIGN_MASK;
        }
        h |= (weight as i16 as u16) & (NUMERIC_SHORT_WEIGHT_MASK | NUMERIC_SHORT_WEIGHT_SIGN_MASK);
        let mut v = h.to_ne_bytes().to_vec();
        for d in digits {
            v.extend_from_slice(&d.to_ne_bytes());
        }
        v
    }

    #[test]
    fn decodes_short_and_long_forms() {
        // 199.99 = 199 * 10000^0 + 9900 * 10000^-1
        assert_eq!(decode_numeric(&short(false, 0, &[199, 9900]), "a").unwrap(), 1_999_900);
        assert_eq!(decode_numeric(&long(true, 0, &[199, 9900]), "a").unwrap(), -1_999_900);
        // 12345678.5 = 1234 * 10000 + 5678 + 0.5
        assert_eq!(decode_numeric(&short(false, 1, &[1234, 5678, 5000]), "a").unwrap(), 123_456_785_000);
        // 0.00005 rounds half away from zero to 0.0001; weight -2 => first digit is 10^-8 group
        assert_eq!(decode_numeric(&short(false, -2, &[5000]), "a").unwrap(), 1);
        assert_eq!(decode_numeric(&short(true, -2, &[4999]), "a").unwrap(), 0);
        // zero has no digits
        assert_eq!(decode_numeric(&short(false, 0, &[]), "a").unwrap(), 0);
    }

    #[test]
    fn rejects_special_and_huge() {
        let nan = NUMERIC_NAN.to_ne_bytes();
        let e = decode_numeric(&nan, "amount").unwrap_err();
        assert_eq!(e.code, crate::ErrCode::InvalidText);
        assert!(e.message.contains("amount"));
        let pinf = 0xD000u16.to_ne_bytes();
        assert_eq!(decode_numeric(&pinf, "amount").unwrap_err().code, crate::ErrCode::OutOfRange);
        assert!(decode_numeric(&long(false, 4, &[1]), "amount").is_err()); // 10^16
        assert!(from_f64(f64::NAN, "amount").is_err());
        assert!(from_f64(f64::INFINITY, "amount").is_err());
        assert_eq!(from_f64(19.99, "amount").unwrap(), 199_900);
    }

    #[test]
    fn format_and_parse_round_trip() {
        for v in [0i64, 1, 100, 199_900, -5_000, 123_456_789, MAX_AMOUNT, -MAX_AMOUNT] {
            assert_eq!(parse_micro(&format_micro(v as i128)), Some(v), "{v}");
        }
        assert_eq!(format_micro(199_900), "19.99");
        assert_eq!(format_micro(1), "0.0001");
        assert_eq!(format_micro(-50_000), "-5.00");
        assert_eq!(parse_micro("1.23456"), None);
        assert_eq!(parse_micro("abc"), None);
        assert_eq!(parse_amount("100000000000000"), Ok(MAX_AMOUNT));
        assert_eq!(parse_amount("-100000000000000.0000"), Ok(-MAX_AMOUNT));
        assert_eq!(parse_amount("000000000000000000000001.5"), Ok(15_000));
        for big in ["100000000000000.0001", "-100000000000001", "99999999999999999999999"] {
            assert_eq!(parse_amount(big), Err(BadAmount::OutOfRange), "{big}");
        }
        for bad in ["", "-", ".5", "5.", "1e5", "+5", "1.23456", "١٢", " 5", "--5", "5-"] {
            assert_eq!(parse_amount(bad), Err(BadAmount::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn totals_are_checked_against_one_limit() {
        assert!(check_totals(MAX_TOTAL as i128, MAX_TOTAL as i128, "x").is_ok());
        let e = check_totals(MAX_TOTAL as i128 + 1, 0, "customer 7").unwrap_err();
        assert_eq!(e.code, crate::ErrCode::OutOfRange);
        assert!(e.message.starts_with("monetary: the orders of customer 7") && e.message.contains("922337203685477.5807"), "{}", e.message);
        assert!(check_totals(0, MAX_TOTAL as i128 + 1, "x").unwrap_err().message.contains("refunds"));
    }

    #[test]
    fn encoded_numerics_decode_back_and_keep_the_text_scale() {
        let cases =
            [0i64, 1, -1, 5_000, 1_005_000, -1_005_000, 10_000, 100_000_000, 123_456_789_012_345, -9_999, 12_340, 999_999_999_999_999_999];
        for v in cases {
            let mut buf = [0u8; 12];
            let n = encode_numeric(v, &mut buf);
            assert_eq!(decode_numeric(&buf[..n], "v").unwrap(), v, "value {v}");
            let dscale = (u16::from_ne_bytes([buf[0], buf[1]]) >> 7) & 0x3F;
            let text = format_micro(v as i128);
            assert_eq!(dscale as usize, text.split('.').nth(1).unwrap().len(), "scale of {text}");
        }
        // 100.50 is numeric_in's {weight 0, digits [100, 5000], dscale 2}
        let mut buf = [0u8; 12];
        assert_eq!(encode_numeric(1_005_000, &mut buf), 6);
        assert_eq!(u16::from_ne_bytes([buf[2], buf[3]]), 100);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 5000);
    }
}
