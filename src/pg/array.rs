//! Feature-vector arguments (`float8[]`) of the model aggregates and functions (k-means,
//! principal components): read in place, checked, appended to an aggregate state.

use super::fmgr::{arg, raise, OrRaise};
use pg_segment_core::kmeans::{check_dims, check_vector, KState};
use pg_segment_core::Error;
use pgrx::pg_sys::{self, FunctionCallInfo};

/// Appends the elements of the float8[] argument `n` to `out`; checks shape, length, NULLs and
/// finiteness (the length before anything is copied).
pub unsafe fn read_features(fc: FunctionCallInfo, n: usize, out: &mut Vec<f64>) -> usize {
    let p = pg_sys::pg_detoast_datum(arg(fc, n).cast_mut_ptr()) as *const u8;
    let ndim = *(p.add(4) as *const i32);
    let dataoffset = *(p.add(8) as *const i32);
    if ndim == 0 {
        raise(Error::invalid("features must not be an empty array"));
    }
    if ndim != 1 {
        raise(Error::invalid(format!("features must be a one-dimensional array, got {ndim} dimensions")));
    }
    let len = *(p.add(16) as *const i32) as usize;
    check_dims(len, "features").or_raise();
    let header = 16 + 8 * ndim as usize;
    if dataoffset != 0 {
        let bitmap = p.add(header);
        for i in 0..len {
            if *bitmap.add(i / 8) & (1 << (i % 8)) == 0 {
                raise(Error::invalid(format!("features[{}] must not be NULL", i + 1)));
            }
        }
    }
    let data = p.add(if dataoffset != 0 { dataoffset as usize } else { (header + 7) & !7 });
    let start = out.len();
    for i in 0..len {
        out.push(f64::from_ne_bytes(std::ptr::read_unaligned(data.add(i * 8) as *const [u8; 8])));
    }
    check_vector(&out[start..], "features").or_raise();
    len
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
