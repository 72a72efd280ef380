//! Fallible allocation and memory limits.
//!
//! Rust's ordinary collections abort the process when the allocator refuses memory, and a
//! backend that aborts makes the postmaster restart every backend of the server. So every
//! allocation whose size comes from input or grows with rows goes through these helpers
//! (`try_reserve`): a refusal becomes an [`Error`] with SQLSTATE 53200, the statement fails and
//! the server goes on. Small fixed-size allocations (a few labels, one row's buffer) stay
//! ordinary.
//!
//! Two different 53200 errors exist: [`limit_exceeded`] when a configured limit would be passed
//! (checked before the memory is asked for), and [`alloc_failed`] when the server itself could
//! not provide the memory.

use super::{Error, Result};

/// The most JSON text pg_segment parses from one argument or stored value (options, rules, a
/// model, a population's info): parsing takes a few times its size in memory that PostgreSQL
/// does not account for. The largest k-means model (1000 clusters of 1000 values) takes about
/// 45 MB.
pub const MAX_JSON_TEXT: usize = 64 << 20;

/// The setting that bounds every state and call but population_agg's (named in messages).
pub const MEMORY_SETTING: &str = "pg_segment.memory_limit";

/// Megabytes, rounded up, for messages.
pub fn mb(bytes: usize) -> usize {
    bytes.div_ceil(1 << 20)
}

/// The server could not provide `bytes` bytes.
pub fn alloc_failed(what: &str, bytes: usize) -> Error {
    Error::out_of_memory(format!("{what}: out of memory: the server could not provide {} MB", mb(bytes)))
        .with_hint("process fewer rows per call (a sample, or one call per customer range), or run it when the server has memory to spare")
}

/// Holding `need` bytes would pass the limit of `limit` bytes set by `setting`.
pub fn limit_exceeded(what: &str, need: usize, limit: usize, setting: &str) -> Error {
    Error::out_of_memory(format!("{what}: needs {} MB, above the memory limit of {} MB ({setting})", mb(need), mb(limit)))
        .with_hint(format!("process fewer rows per call (a sample, or one call per customer range); only a superuser may raise {setting}"))
}

/// A bound of `pg_segment.memory_limit` and the name of the call it bounds (for messages).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub bytes: usize,
    pub what: &'static str,
}

impl Limit {
    pub const UNLIMITED: Limit = Limit { bytes: usize::MAX, what: "pg_segment" };

    /// Checks that `need` bytes fit.
    pub fn check(&self, need: usize) -> Result<()> {
        check_limit(self.what, need, self.bytes, MEMORY_SETTING)
    }
}

/// Checks that `need` bytes fit under `limit`.
#[inline]
pub fn check_limit(what: &str, need: usize, limit: usize, setting: &str) -> Result<()> {
    if need > limit {
        Err(limit_exceeded(what, need, limit, setting))
    } else {
        Ok(())
    }
}

/// Bytes of `n` values of `T` (saturating: an absurd count compares as too large, never wraps).
#[inline]
pub fn bytes_of<T>(n: usize) -> usize {
    n.saturating_mul(std::mem::size_of::<T>())
}

/// An empty vector with room for `n` values.
pub fn vec_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| alloc_failed(what, bytes_of::<T>(n)))?;
    Ok(v)
}

/// `vec![value; n]`, fallibly.
pub fn vec_filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = vec_with_capacity(n, what)?;
    v.resize(n, value);
    Ok(v)
}

/// Room for `extra` more values (amortized growth, as `Vec::reserve`).
#[inline]
pub fn reserve<T>(v: &mut Vec<T>, extra: usize, what: &str) -> Result<()> {
    if v.capacity() - v.len() >= extra {
        return Ok(());
    }
    v.try_reserve(extra).map_err(|_| alloc_failed(what, bytes_of::<T>(v.len().saturating_add(extra))))
}

/// Room for exactly `extra` more values.
pub fn reserve_exact<T>(v: &mut Vec<T>, extra: usize, what: &str) -> Result<()> {
    v.try_reserve_exact(extra).map_err(|_| alloc_failed(what, bytes_of::<T>(v.len().saturating_add(extra))))
}

/// Room for `total` values in all (exactly, when it must grow).
pub fn reserve_total<T>(v: &mut Vec<T>, total: usize, what: &str) -> Result<()> {
    let extra = total.saturating_sub(v.len());
    reserve_exact(v, extra, what)
}

/// Appends `x`, growing fallibly.
#[inline]
pub fn push<T>(v: &mut Vec<T>, x: T, what: &str) -> Result<()> {
    if v.len() == v.capacity() {
        reserve(v, 1, what)?;
    }
    v.push(x);
    Ok(())
}

/// Appends a copy of `s`.
pub fn extend_from_slice<T: Copy>(v: &mut Vec<T>, s: &[T], what: &str) -> Result<()> {
    reserve(v, s.len(), what)?;
    v.extend_from_slice(s);
    Ok(())
}

/// A copy of `s`.
pub fn copy_of<T: Copy>(s: &[T], what: &str) -> Result<Vec<T>> {
    let mut v = vec_with_capacity(s.len(), what)?;
    v.extend_from_slice(s);
    Ok(v)
}

/// An owned copy of `s`.
pub fn string_of(s: &str, what: &str) -> Result<String> {
    let mut out = String::new();
    out.try_reserve_exact(s.len()).map_err(|_| alloc_failed(what, s.len()))?;
    out.push_str(s);
    Ok(out)
}

/// Collects an iterator of known length.
pub fn collect<T>(it: impl ExactSizeIterator<Item = T>, what: &str) -> Result<Vec<T>> {
    let mut v = vec_with_capacity(it.len(), what)?;
    v.extend(it);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrCode;

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        // more than the address space: the allocator refuses, the helper reports 53200
        let e = vec_with_capacity::<u64>(usize::MAX / 4, "test").unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfMemory);
        assert!(e.message.starts_with("test: out of memory"), "{}", e.message);
        assert!(vec_filled(1 << 60, 0u8, "test").is_err());
        let mut v = vec![1u32];
        assert!(reserve(&mut v, usize::MAX / 2, "test").is_err());
        assert!(reserve_exact(&mut v, usize::MAX / 8, "test").is_err());
        assert_eq!(v, vec![1]);
        push(&mut v, 2, "test").unwrap();
        extend_from_slice(&mut v, &[3, 4], "test").unwrap();
        assert_eq!(copy_of(&v, "test").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(collect(v.iter().map(|x| x * 2), "test").unwrap(), vec![2, 4, 6, 8]);
        assert_eq!(string_of("abc", "test").unwrap(), "abc");
        assert_eq!(bytes_of::<u64>(usize::MAX), usize::MAX);
    }

    #[test]
    fn limits_name_the_setting() {
        assert!(check_limit("x", 10, 10, "pg_segment.memory_limit").is_ok());
        let e = check_limit("kmeans_fit", 3 << 20, 1 << 20, "pg_segment.memory_limit").unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfMemory);
        assert_eq!(e.message, "kmeans_fit: needs 3 MB, above the memory limit of 1 MB (pg_segment.memory_limit)");
        assert!(e.hint.unwrap().contains("only a superuser may raise pg_segment.memory_limit"));
    }
}
