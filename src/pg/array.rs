//! `float8[]` arguments read in place (no copy, no per-element datum); the feature vectors of the
//! model aggregates and functions (k-means, principal components): checked, appended to an
//! aggregate state; `float8[]` and `bigint[]` results and values (the CLV family's summaries and
//! model covariances), and the other composite-field and interval arguments of its functions.

use super::fmgr::{arg, raise, OrRaise};
use pg_segment_core::kmeans::{check_dims, check_vector, KState};
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

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
        Self::of(arg(fc, n))
    }

    /// A `float8[]` datum (not NULL), detoasted.
    pub unsafe fn of(d: Datum) -> F64Array {
        let p = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *const u8;
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

/// A `float8[]` of `values`, one-dimensional, or `rows` × `values.len() / rows` when `rows` > 1.
pub unsafe fn ret_f64_array(values: &[f64], rows: usize) -> Datum {
    let mut datums: Vec<Datum> = values.iter().map(|v| Datum::from(v.to_bits())).collect();
    let mut nulls = vec![false; datums.len()];
    let (mut dims, mut lbs) = ([rows.max(1) as i32, (values.len() / rows.max(1)) as i32], [1i32, 1]);
    let ndims = if rows > 1 { 2 } else { 1 };
    if ndims == 1 {
        dims[0] = values.len() as i32;
    }
    let a = pg_sys::construct_md_array(
        datums.as_mut_ptr(),
        nulls.as_mut_ptr(),
        ndims,
        dims.as_mut_ptr(),
        lbs.as_mut_ptr(),
        pg_sys::FLOAT8OID,
        8,
        true,
        b'd' as std::ffi::c_char,
    );
    Datum::from(a)
}

/// A one-dimensional `bigint[]`.
pub unsafe fn ret_i64_array(values: &[i64]) -> Datum {
    let mut datums: Vec<Datum> = values.iter().map(|v| Datum::from(*v)).collect();
    Datum::from(pg_sys::construct_array(datums.as_mut_ptr(), datums.len() as i32, pg_sys::INT8OID, 8, true, b'd' as std::ffi::c_char))
}

/// The elements of a `bigint[]` value in storage order, whatever its dimensions; 22023 naming
/// `what` when one is NULL.
unsafe fn elements(d: Datum, elem: pg_sys::Oid, what: &str) -> Vec<u64> {
    let a = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
    let (mut elems, mut nulls, mut n): (*mut Datum, *mut bool, i32) = (std::ptr::null_mut(), std::ptr::null_mut(), 0);
    pg_sys::deconstruct_array(a, elem, 8, true, b'd' as std::ffi::c_char, &mut elems, &mut nulls, &mut n);
    let n = n as usize;
    if n > 0 && std::slice::from_raw_parts(nulls, n).iter().any(|x| *x) {
        raise(Error::invalid(format!("{what} must not contain NULL")));
    }
    if n == 0 {
        return Vec::new();
    }
    std::slice::from_raw_parts(elems, n).iter().map(|d| d.value() as u64).collect()
}

/// The elements of a `float8[]` value in storage order, whatever its dimensions; 22023 naming
/// `what` when one is NULL.
pub unsafe fn f64_elements(d: Datum, what: &str) -> Vec<f64> {
    let a = F64Array::of(d);
    if a.has_nulls() {
        raise(Error::invalid(format!("{what} must not contain NULL")));
    }
    a.values().collect()
}

pub unsafe fn i64_elements(d: Datum, what: &str) -> Vec<i64> {
    elements(d, pg_sys::INT8OID, what).into_iter().map(|v| v as i64).collect()
}

/// Field `attno` (1-based) of a composite datum; `None` when it is NULL or missing (a value stored
/// before the type gained the attribute).
pub unsafe fn composite_field(d: Datum, attno: i16) -> Option<Datum> {
    let tup = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let mut isnull = false;
    let v = pg_sys::GetAttributeByNum(tup, attno, &mut isnull);
    (!isnull).then_some(v)
}

/// An `interval` as days; 22023 naming `what` when it has months or years (their length in days
/// is not fixed) or is negative.
pub unsafe fn interval_days(d: Datum, what: &str) -> f64 {
    let iv = &*(d.cast_mut_ptr::<pg_sys::Interval>());
    if iv.month != 0 {
        raise(
            Error::invalid(format!("{what} must be given in days, hours or smaller units, not months or years"))
                .with_hint("write '365 days' rather than '1 year': a month has no fixed length"),
        );
    }
    let days = iv.day as f64 + iv.time as f64 / pg_segment_core::time::USECS_PER_DAY as f64;
    if !(days.is_finite() && days >= 0.0) {
        raise(Error::invalid(format!("{what} must not be negative")));
    }
    days
}
