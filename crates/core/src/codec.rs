//! The one binary codec of pg_segment's stored values and partial aggregate states: little-endian
//! writers and readers, fixed-size records copied as bytes ([`Record`], with `bytemuck`), and the
//! version check every stored format makes.
//!
//! A reader never trusts a count: [`Reader::records`] checks that the bytes are there before it
//! allocates anything from a count, and allocates fallibly (see [`crate::fallible`]). Each format
//! keeps its own messages (its truncation error names the value or state), which the tests pin.

use crate::fallible as fa;
use crate::{Error, Result};

/// The hint of every "written by a newer pg_segment" error.
pub const NEWER_HINT: &str = "the value was written by a newer pg_segment: run ALTER EXTENSION pg_segment UPDATE";

/// A value of a format version this release cannot read (SQLSTATE 0A000); `message` says which.
pub fn written_by_newer(message: String) -> Error {
    Error::not_supported(message).with_hint(NEWER_HINT)
}

/// A fixed-size record stored little endian: a `Pod` whose byte image, after [`Record::to_le`],
/// is its stored form. `to_le` swaps each field to little endian (a no-op on little-endian
/// machines, where writing a slice of records is one copy); applied to stored bytes it reads
/// them back.
pub trait Record: bytemuck::Pod {
    fn to_le(self) -> Self;
}

macro_rules! int_record {
    ($($t:ty),*) => {$(
        impl Record for $t {
            #[inline]
            fn to_le(self) -> Self {
                <$t>::to_le(self)
            }
        }
    )*};
}
int_record!(u8, u16, u32, u64, i32, i64);

impl Record for f64 {
    #[inline]
    fn to_le(self) -> Self {
        f64::from_bits(self.to_bits().to_le())
    }
}

/// Writes into a buffer of exactly the encoded length (the caller computes it, so that the
/// buffer can be PostgreSQL memory).
pub struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut [u8]) -> Writer<'a> {
        Writer { out, pos: 0 }
    }

    #[inline]
    pub fn put(&mut self, b: &[u8]) {
        self.out[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    #[inline]
    pub fn record<T: Record>(&mut self, v: T) {
        self.put(bytemuck::bytes_of(&v.to_le()));
    }

    /// Every record of `values`, in order.
    pub fn records<T: Record>(&mut self, values: &[T]) {
        if cfg!(target_endian = "little") {
            self.put(bytemuck::cast_slice(values));
        } else {
            values.iter().for_each(|v| self.record(*v));
        }
    }

    /// A `u32` length, then the bytes.
    pub fn bytes_u32(&mut self, b: &[u8]) {
        self.record(b.len() as u32);
        self.put(b);
    }

    /// Bytes written so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Checks (in debug builds) that the computed length was exact.
    pub fn finish(self) {
        debug_assert_eq!(self.pos, self.out.len(), "encoded length");
    }
}

/// Reads what a [`Writer`] wrote; a read past the end is `Error::binary(truncated)`.
pub struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    truncated: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8], truncated: &'static str) -> Reader<'a> {
        Reader { b, pos: 0, truncated }
    }

    pub fn truncated(&self) -> Error {
        Error::binary(self.truncated)
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.b.len() - self.pos {
            return Err(self.truncated());
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn record<T: Record>(&mut self) -> Result<T> {
        Ok(bytemuck::pod_read_unaligned::<T>(self.take(std::mem::size_of::<T>())?).to_le())
    }

    pub fn u8(&mut self) -> Result<u8> {
        self.record()
    }
    pub fn u32(&mut self) -> Result<u32> {
        self.record()
    }
    pub fn i32(&mut self) -> Result<i32> {
        self.record()
    }
    pub fn u64(&mut self) -> Result<u64> {
        self.record()
    }
    pub fn i64(&mut self) -> Result<i64> {
        self.record()
    }
    pub fn f64(&mut self) -> Result<f64> {
        self.record()
    }
    pub fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(self.take(16)?.try_into().unwrap()))
    }

    /// A `u32` length, then that many bytes.
    pub fn bytes_u32(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// `n` records: the bytes are checked to be there before anything is allocated, and the
    /// vector is allocated fallibly (`what` names it in an allocation error).
    pub fn records<T: Record>(&mut self, n: usize, what: &str) -> Result<Vec<T>> {
        let raw = self.take(n.saturating_mul(std::mem::size_of::<T>()))?;
        let mut v = fa::vec_with_capacity(n, what)?;
        v.extend(raw.chunks_exact(std::mem::size_of::<T>()).map(|c| bytemuck::pod_read_unaligned::<T>(c).to_le()));
        Ok(v)
    }

    /// Appends `n` records to `out` (the bytes are checked to be there first; `out` grows
    /// fallibly).
    pub fn records_into<T: Record>(&mut self, out: &mut Vec<T>, n: usize, what: &str) -> Result<()> {
        let raw = self.take(n.saturating_mul(std::mem::size_of::<T>()))?;
        fa::reserve(out, n, what)?;
        out.extend(raw.chunks_exact(std::mem::size_of::<T>()).map(|c| bytemuck::pod_read_unaligned::<T>(c).to_le()));
        Ok(())
    }

    /// Fails as a read past the end would unless `n` more bytes are there (a count is checked
    /// against the bytes present before anything is sized from it).
    pub fn ensure(&self, n: usize) -> Result<()> {
        if n > self.remaining() {
            return Err(self.truncated());
        }
        Ok(())
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet, all of them (the reader is then at the end).
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.b[self.pos..];
        self.pos = self.b.len();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Pair {
        a: i64,
        b: u32,
        c: i32,
    }

    impl Record for Pair {
        fn to_le(self) -> Self {
            Pair { a: self.a.to_le(), b: self.b.to_le(), c: self.c.to_le() }
        }
    }

    #[test]
    fn round_trip_little_endian_and_counts_checked_before_allocation() {
        let pairs = [Pair { a: -2, b: 7, c: -9 }, Pair { a: i64::MAX, b: u32::MAX, c: 0 }];
        let mut out = vec![0u8; 1 + 4 + 3 + 8 + 16 + 8 + 16 * 2 + 8 * 2];
        let mut w = Writer::new(&mut out);
        w.record(9u8);
        w.bytes_u32(b"abc");
        w.record(-5i64);
        w.put(&(-7i128).to_le_bytes());
        w.record(1.5f64);
        w.records(&pairs);
        w.records(&[1.0f64, -0.0]);
        w.finish();
        // the documented little-endian layout, field by field
        assert_eq!(&out[..8], &[9, 3, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(&out[8..16], &(-5i64).to_le_bytes());
        assert_eq!(&out[40..48], &(-2i64).to_le_bytes());
        assert_eq!(&out[48..52], &7u32.to_le_bytes());
        let mut r = Reader::new(&out, "test value is truncated");
        assert_eq!(r.u8().unwrap(), 9);
        assert_eq!(r.bytes_u32().unwrap(), b"abc");
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.i128().unwrap(), -7);
        assert_eq!(r.f64().unwrap(), 1.5);
        assert_eq!(r.records::<Pair>(2, "test").unwrap(), pairs);
        assert_eq!(r.records::<f64>(2, "test").unwrap(), [1.0, -0.0]);
        assert_eq!(r.remaining(), 0);
        // a count of 2^61 records is refused before anything is sized from it
        let mut r = Reader::new(&out, "test value is truncated");
        let e = r.records::<u64>(1 << 61, "test").unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (crate::ErrCode::InvalidBinary, "test value is truncated"));
        assert_eq!(r.pos(), 0);
        let e = written_by_newer("x version 9 is not supported".into());
        assert_eq!(e.code, crate::ErrCode::NotSupported);
        assert_eq!(e.hint.as_deref(), Some(NEWER_HINT));
    }
}
