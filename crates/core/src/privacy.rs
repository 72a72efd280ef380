//! Privacy-safe exports: keyed pseudonyms of customer keys and small-group suppression.
//!
//! **Pseudonyms.** HMAC-SHA-256 (RFC 2104, FIPS 180-4) of the customer key under a secret key the
//! DBA holds (the setting `pg_segment.pseudonym_key`), written as 64 lowercase hex digits. The
//! same key and customer give the same pseudonym in every refresh and every database; without
//! the key nobody can compute one from a customer key or go back. An optional `purpose` (say
//! `'sms'` or `'ads'`) gives each recipient pseudonyms of its own, so that two exports cannot be
//! joined with each other: the message is then `purpose`, a NUL byte, and the customer key (text
//! cannot hold NUL, so no two inputs share a message). The maintained RustCrypto crates `hmac`
//! and `sha2` do the work.
//!
//! **Suppression.** A KPI or report row that describes fewer than `min_group_size` customers
//! tells too much about each of them, so it is suppressed. Suppressing only those rows is not
//! enough when the output also gives totals or shares: the figures of a single suppressed row are
//! then the total minus the rows shown. So more groups are suppressed, smallest first, until the
//! suppressed groups hold at least `min_group_size` customers together (or every group is
//! suppressed): what can be derived by subtraction is then a sum over at least that many
//! customers. Groups of equal size are suppressed together, which makes the rule depend on the
//! sizes alone (not on an order of the rows). Empty groups describe nobody and stay shown.

use super::{Error, Result};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The setting that holds the pseudonym key (named in messages).
pub const KEY_SETTING: &str = "pg_segment.pseudonym_key";

/// The shortest key accepted: 16 bytes, 128 bits when they are random (RFC 2104 asks for at least
/// the hash output's length of good randomness; a shorter key is refused rather than weakened).
pub const MIN_KEY_BYTES: usize = 16;

/// The pseudonym of `customer` under `key` for `purpose` ('' for none): HMAC-SHA-256 as 64 hex digits.
pub fn pseudonym(key: &[u8], purpose: &str, customer: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
    if !purpose.is_empty() {
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
    }
    mac.update(customer.as_bytes());
    let digest = mac.finalize().into_bytes();
    // 32 bytes written as hex: a format! per byte is all it takes
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `key` may be the pseudonym key ('' clears it); the reason otherwise. The value itself
/// never appears in the reason.
pub fn check_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() || key.len() >= MIN_KEY_BYTES {
        Ok(())
    } else {
        Err(format!("{KEY_SETTING} must be at least {MIN_KEY_BYTES} bytes long (it has {})", key.len()))
    }
}

/// The error of a pseudonym asked for while no key is set.
pub fn no_key() -> Error {
    Error::invalid(format!("{KEY_SETTING} is not set: pseudonyms need the key the DBA holds"))
        .with_hint(format!(
            "A superuser sets it in postgresql.conf or with ALTER SYSTEM SET {KEY_SETTING} = '...' and SELECT pg_reload_conf(), or with SET in a superuser's session; at least {MIN_KEY_BYTES} random bytes, e.g. from SELECT encode(gen_random_bytes(32), 'hex') (pgcrypto)"
        ))
}

/// The error (SQLSTATE 55000, raised by the glue) of a session whose key had a value before
/// pg_segment was loaded (other than by shared_preload_libraries): until then it was an ordinary
/// placeholder setting that any role could read with SHOW, so such a key is not used. Message
/// and hint.
pub fn exposed_key() -> (String, String) {
    (
        format!("{KEY_SETTING} had a value before pg_segment was loaded in this session, when any role could read it; it is not used"),
        format!(
            "A key in postgresql.conf needs shared_preload_libraries = 'pg_segment' (then restart the server). A key SET in a session is safe after pg_segment is loaded: LOAD 'pg_segment' first."
        ),
    )
}

/// Which groups of an output are suppressed, from the sizes of all of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppression {
    /// the sizes, ascending
    sizes: Vec<i64>,
    /// groups of 1 to `threshold` customers are suppressed; None: none is
    threshold: Option<i64>,
}

impl Suppression {
    /// `sizes`: the number of customers in each group of the output; `min_group_size` at least 1.
    pub fn new(mut sizes: Vec<i64>, min_group_size: i64) -> Result<Suppression> {
        if min_group_size < 1 {
            return Err(Error::invalid(format!("min_group_size must be at least 1, got {min_group_size}")));
        }
        if let Some((i, s)) = sizes.iter().enumerate().find(|(_, &s)| s < 0) {
            return Err(Error::invalid(format!("group_sizes[{}] must be a number of customers (0 or more), got {s}", i + 1)));
        }
        sizes.sort_unstable();
        let mut threshold = None;
        // the largest group that is too small on its own
        if let Some(&small) = sizes.iter().rev().find(|&&s| s > 0 && s < min_group_size) {
            let mut t = small;
            let mut next = sizes.partition_point(|&s| s <= t);
            let mut together: i128 = sizes[..next].iter().map(|&s| s as i128).sum();
            // then the smallest others, until the suppressed groups hold min_group_size together
            while together < min_group_size as i128 && next < sizes.len() {
                t = sizes[next];
                let end = sizes.partition_point(|&s| s <= t);
                together += sizes[next..end].iter().map(|&s| s as i128).sum::<i128>();
                next = end;
            }
            threshold = Some(t);
        }
        Ok(Suppression { sizes, threshold })
    }

    /// Whether the group of `customers` customers (one of the sizes) is suppressed.
    pub fn suppressed(&self, customers: i64) -> Result<bool> {
        if self.sizes.binary_search(&customers).is_err() {
            return Err(Error::invalid(format!(
                "customers ({customers}) must be one of group_sizes, the sizes of every group of the output (array_agg(count(*)) OVER ())"
            )));
        }
        Ok(customers > 0 && self.threshold.is_some_and(|t| customers <= t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test cases 1 and 2 (no purpose: the message is the customer key itself)
        assert_eq!(pseudonym(&[0x0b; 20], "", "Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!(
            pseudonym(b"Jefe", "", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // test case 6: a key longer than the block is hashed first
        assert_eq!(
            pseudonym(&[0xaa; 131], "", "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn a_purpose_gives_other_pseudonyms() {
        let key = b"0123456789abcdef0123456789abcdef";
        let plain = pseudonym(key, "", "42");
        assert_eq!(plain.len(), 64);
        assert!(plain.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(pseudonym(key, "", "42"), plain, "deterministic");
        assert_ne!(pseudonym(key, "sms", "42"), plain);
        assert_ne!(pseudonym(key, "sms", "42"), pseudonym(key, "ads", "42"));
        // purpose and key are separated: ("sm", "s42") is another message than ("sms", "42")
        assert_ne!(pseudonym(key, "sm", "s42"), pseudonym(key, "sms", "42"));
        assert_eq!(pseudonym(key, "sms", "42"), pseudonym(key, "", "sms\u{0}42"));
        assert_ne!(pseudonym(b"another key of 16+ bytes", "", "42"), plain);
    }

    #[test]
    fn keys_shorter_than_16_bytes_are_refused_without_echo() {
        assert!(check_key("").is_ok() && check_key("0123456789abcdef").is_ok());
        let e = check_key("short secret").unwrap_err();
        assert!(e.contains("at least 16 bytes") && e.contains("has 12") && !e.contains("short secret"), "{e}");
        assert_eq!(no_key().code, crate::ErrCode::InvalidParameter);
        assert!(no_key().message.contains(KEY_SETTING));
    }

    fn suppressed(sizes: &[i64], k: i64) -> Vec<bool> {
        let s = Suppression::new(sizes.to_vec(), k).unwrap();
        sizes.iter().map(|&c| s.suppressed(c).unwrap()).collect()
    }

    #[test]
    fn small_groups_and_their_complement() {
        // nothing small: nothing suppressed
        assert_eq!(suppressed(&[5, 6, 100], 5), [false, false, false]);
        assert_eq!(suppressed(&[1, 2, 3], 1), [false, false, false]);
        // one small group alone would be the total minus the rest: the next smallest goes too
        assert_eq!(suppressed(&[100, 50, 3], 5), [false, true, true]);
        // two small groups that hold 5 together are enough
        assert_eq!(suppressed(&[100, 50, 3, 4], 5), [false, false, true, true]);
        assert_eq!(suppressed(&[100, 50, 1, 1, 1], 5), [false, true, true, true, true]);
        // ties go together; a population under the size is suppressed whole
        assert_eq!(suppressed(&[10, 10, 2], 5), [true, true, true]);
        assert_eq!(suppressed(&[3], 5), [true]);
        assert_eq!(suppressed(&[2, 1], 5), [true, true]);
        // empty groups describe nobody
        assert_eq!(suppressed(&[0, 7, 8], 5), [false, false, false]);
        assert_eq!(suppressed(&[0, 2, 9, 30], 5), [false, true, true, false]);
    }

    #[test]
    fn the_suppressed_groups_always_hold_min_group_size_together() {
        let mut rng = crate::test_rng(16);
        let mut below = |n: u64| (rng() % n) as i64;
        for _ in 0..2000 {
            let k = 1 + below(19);
            let sizes: Vec<i64> = (0..1 + below(7)).map(|_| below(30)).collect();
            let flags = suppressed(&sizes, k);
            let held: i64 = sizes.iter().zip(&flags).filter(|(_, &f)| f).map(|(s, _)| s).sum();
            let total: i64 = sizes.iter().sum();
            for (s, f) in sizes.iter().zip(&flags) {
                assert!(!(*s > 0 && *s < k) || *f, "{sizes:?} k={k}: a small group is shown");
            }
            assert!(held == 0 || held >= k || held == total, "{sizes:?} k={k}: suppressed groups hold {held}");
            // equal sizes, equal fate
            for (a, fa) in sizes.iter().zip(&flags) {
                for (b, fb) in sizes.iter().zip(&flags) {
                    assert!(a != b || fa == fb);
                }
            }
        }
    }

    #[test]
    fn bad_arguments_name_themselves() {
        assert!(Suppression::new(vec![1], 0).unwrap_err().message.contains("min_group_size must be at least 1, got 0"));
        assert!(Suppression::new(vec![1, -2], 5).unwrap_err().message.contains("group_sizes[2] must be a number of customers"));
        let s = Suppression::new(vec![4, 9], 5).unwrap();
        assert!(s.suppressed(5).unwrap_err().message.contains("customers (5) must be one of group_sizes"));
    }
}
