//! `float8[]` arguments read in place (no copy, no per-element datum), and the feature vectors of
//! the model aggregates and functions (k-means, principal components): checked, appended to an
//! aggregate state.

use super::fmgr::{arg, raise, OrRaise};
use pg_segment_core::kmeans::{check_dims, check_vector, KState};
use pg_segment_core::Error;
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

/// Appends the elements of the float8[] argument `n` to `out`; checks shape, length, NULLs and
/// finiteness (the length before anything is copied).
pub unsafe fn read_features(fc: FunctionCallInfo, n: usize, out: &mut Vec<f64>) -> usize {
    let a = F64Array::arg(fc, n);
    if a.ndim == 0 {
        raise(Error::invalid("features must not be an empty array"));
    }
    if a.ndim != 1 {
        raise(Error::invalid(format!("features must be a one-dimensional array, got {} dimensions", a.ndim)));
    }
    check_dims(a.len, "features").or_raise();
    if let Some(i) = (0..a.len).find(|&i| a.is_null(i)) {
        raise(Error::invalid(format!("features[{}] must not be NULL", i + 1)));
    }
    let start = out.len();
    out.extend(a.values());
    check_vector(&out[start..], "features").or_raise();
    a.len
}

thread_local! {
    static ROW: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with the checked feature vector of argument `n` (one reused buffer per backend).
pub unsafe fn with_features<R>(fc: FunctionCallInfo, n: usize, f: impl FnOnce(&[f64]) -> R) -> R {
    ROW.with(|row| {
        let mut row = row.borrow_mut();
        row.clear();
        read_features(fc, n, &mut row);
        f(&row)
    })
}

/// Adds the features of argument `fpos` to the state: every row's vector has the length of the
/// first, and the state grows within its memory limit.
pub unsafe fn add_features(fc: FunctionCallInfo, s: &mut KState, fpos: usize) {
    with_features(fc, fpos, |row| {
        let len = row.len();
        if s.dims == 0 {
            s.dims = len;
        } else if s.dims != len {
            raise(Error::invalid(format!("features must have the same length in every row: {} and {len}", s.dims)));
        }
        s.reserve(len).or_raise();
        s.points.extend_from_slice(row);
    })
}
