//! `float8[]` arguments read in place (no copy, no per-element datum).

use super::fmgr::arg;
use pgrx::pg_sys::{self, FunctionCallInfo};

/// A `float8[]` argument: its dimensions, its elements and its NULL bitmap, read in place.
pub struct F64Array {
    pub ndim: i32,
    /// the number of elements (all dimensions)
    pub len: usize,
    bitmap: *const u8,
    data: *const u8,
}

impl F64Array {
    /// Argument `n` (not NULL), detoasted.
    pub unsafe fn arg(fc: FunctionCallInfo, n: usize) -> F64Array {
        let p = pg_sys::pg_detoast_datum(arg(fc, n).cast_mut_ptr()) as *const u8;
        // ArrayType: vl_len_, ndim, dataoffset (0 without NULLs), elemtype, then dims[ndim],
        // lbounds[ndim], the NULL bitmap and the (8-aligned) data
        let ndim = *(p.add(4) as *const i32);
        let dataoffset = *(p.add(8) as *const i32);
        let dims = std::slice::from_raw_parts(p.add(16) as *const i32, ndim.max(0) as usize);
        let len = if ndim <= 0 { 0 } else { dims.iter().map(|&d| d.max(0) as usize).product() };
        let header = 16 + 8 * ndim.max(0) as usize;
        let bitmap = if dataoffset != 0 { p.add(header) } else { std::ptr::null() };
        let data = p.add(if dataoffset != 0 { dataoffset as usize } else { (header + 7) & !7 });
        F64Array { ndim, len, bitmap, data }
    }

    /// Whether element `i` (from 0) is NULL.
    #[inline]
    pub unsafe fn is_null(&self, i: usize) -> bool {
        !self.bitmap.is_null() && *self.bitmap.add(i / 8) & (1 << (i % 8)) == 0
    }

    pub fn has_nulls(&self) -> bool {
        !self.bitmap.is_null()
    }

    /// The elements in storage order, NULLs skipped (the data holds only the non-NULL ones).
    pub unsafe fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let stored = if self.bitmap.is_null() { self.len } else { (0..self.len).filter(|&i| !self.is_null(i)).count() };
        (0..stored).map(move |k| f64::from_ne_bytes(std::ptr::read_unaligned(self.data.add(k * 8) as *const [u8; 8])))
    }
}
