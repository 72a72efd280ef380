//! Function-manager calls: raw version-1 C functions (`pg_fn!`), their arguments and results,
//! and errors raised as PostgreSQL ERRORs.
//!
//! Functions are written as raw version-1 C functions so that transition functions read their
//! arguments in place (no copy of a `numeric` per row) and so that the SQL objects are declared
//! by hand, with deliberate markings, in `sql/<family>.sql`. Every body runs under pgrx's guard:
//! a Rust panic becomes a PostgreSQL ERROR, never a crash.

use pg_segment_core::config::Lang;
use pg_segment_core::numeric::{decode_numeric, from_f64};
use pg_segment_core::summary::SummaryView;
use pg_segment_core::{ErrCode, Error};
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::PgSqlErrorCode;
use std::ffi::CString;

/// Declares `extern "C" fn NAME(fcinfo) -> Datum` plus its `pg_finfo_NAME` record.
#[macro_export]
macro_rules! pg_fn {
    ($(#[$m:meta])* fn $name:ident($fc:ident) $body:block) => {
        paste::paste! {
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> &'static pgrx::pg_sys::Pg_finfo_record {
                const V1: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
            $(#[$m])*
            #[unsafe(no_mangle)]
            pub unsafe extern "C-unwind" fn $name($fc: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
                // a Rust panic or a PostgreSQL error becomes a proper ERROR, never a crash
                unsafe { pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(move || { #[allow(unused_unsafe)] unsafe { $body } }) }
            }
        }
    };
}

/// Raises an ERROR with any SQLSTATE (the views' privilege and catalog errors have codes of their
/// own, outside [`ErrCode`]).
pub fn raise_code(code: PgSqlErrorCode, message: String, hint: Option<String>) -> ! {
    let mut report = pgrx::pg_sys::panic::ErrorReport::new(code, message, "pg_segment");
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(pgrx::PgLogLevel::ERROR);
    unreachable!()
}

/// Raises `e` as a PostgreSQL ERROR.
pub fn raise(e: Error) -> ! {
    let code = match e.code {
        ErrCode::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        ErrCode::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrCode::OutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        ErrCode::DatetimeOverflow => PgSqlErrorCode::ERRCODE_DATETIME_FIELD_OVERFLOW,
        ErrCode::InvalidBinary => PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
        ErrCode::BadEncoding => PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
        ErrCode::NotSupported => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        ErrCode::OutOfMemory => PgSqlErrorCode::ERRCODE_OUT_OF_MEMORY,
        ErrCode::LimitExceeded => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrCode::Internal => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
    };
    raise_code(code, e.message, e.hint)
}

pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, Error> {
    #[inline]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(e),
        }
    }
}

#[inline]
pub unsafe fn nargs(fc: FunctionCallInfo) -> usize {
    (*fc).nargs as usize
}

#[inline]
pub unsafe fn is_null(fc: FunctionCallInfo, n: usize) -> bool {
    n >= nargs(fc) || (*(*fc).args.as_ptr().add(n)).isnull
}

#[inline]
pub unsafe fn arg(fc: FunctionCallInfo, n: usize) -> Datum {
    (*(*fc).args.as_ptr().add(n)).value
}

#[inline]
pub unsafe fn arg_i64(fc: FunctionCallInfo, n: usize) -> i64 {
    arg(fc, n).value() as i64
}

#[inline]
pub unsafe fn arg_i32(fc: FunctionCallInfo, n: usize) -> i32 {
    arg(fc, n).value() as i32
}

#[inline]
pub unsafe fn arg_f64(fc: FunctionCallInfo, n: usize) -> f64 {
    f64::from_bits(arg(fc, n).value() as u64)
}

#[inline]
pub unsafe fn arg_bool(fc: FunctionCallInfo, n: usize) -> bool {
    arg(fc, n).value() != 0
}

/// The payload of a varlena argument, detoasted but not copied when it is stored inline. A
/// value that is neither compressed nor stored out of line (every per-row argument of an
/// ordinary scan) is read in place without calling into PostgreSQL: that call, like every call
/// into PostgreSQL from Rust, sets up an error trap (a `sigsetjmp`), which per-row functions
/// pay for each row.
#[inline]
pub unsafe fn bytes_of<'a>(d: Datum) -> &'a [u8] {
    let mut p: *const pg_sys::varlena = d.cast_mut_ptr();
    if pgrx::varlena::varatt_is_1b_e(p) || pgrx::varlena::varatt_is_4b_c(p) {
        p = pg_sys::pg_detoast_datum_packed(p as *mut pg_sys::varlena);
    }
    std::slice::from_raw_parts(pgrx::varlena::vardata_any(p) as *const u8, pgrx::varlena::varsize_any_exhdr(p))
}

#[inline]
pub unsafe fn arg_bytes<'a>(fc: FunctionCallInfo, n: usize) -> &'a [u8] {
    bytes_of(arg(fc, n))
}

/// `bytes` as UTF-8 text; 22021 naming `name` when they are not (a SQL_ASCII database stores
/// any bytes in text and jsonb), never a lossy replacement.
pub fn utf8<'a>(bytes: &'a [u8], name: &str) -> &'a str {
    std::str::from_utf8(bytes)
        .unwrap_or_else(|e| raise(Error::encoding(format!("{name} is not valid UTF-8 (invalid byte at offset {})", e.valid_up_to()))))
}

pub unsafe fn arg_str<'a>(fc: FunctionCallInfo, n: usize, name: &str) -> &'a str {
    utf8(arg_bytes(fc, n), name)
}

/// The unread bytes of a binary-receive argument (a StringInfo), marked as read.
pub unsafe fn recv_bytes<'a>(fc: FunctionCallInfo) -> &'a [u8] {
    let buf = arg(fc, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
    let rest = ((*buf).len - (*buf).cursor) as usize;
    let bytes = std::slice::from_raw_parts(((*buf).data as *const u8).add((*buf).cursor as usize), rest);
    (*buf).cursor = (*buf).len;
    bytes
}

/// A copy of `bytes` as a new varlena in the current memory context.
pub unsafe fn varlena_from(len: usize, fill: impl FnOnce(&mut [u8])) -> Datum {
    let total = len + pg_sys::VARHDRSZ;
    let p = pg_sys::palloc(total) as *mut u8;
    pgrx::varlena::set_varsize_4b(p as *mut pg_sys::varlena, total as i32);
    fill(std::slice::from_raw_parts_mut(p.add(pg_sys::VARHDRSZ), len));
    Datum::from(p)
}

/// A new varlena of `len` payload bytes in the current memory context, and its payload to
/// fill (not zeroed).
pub unsafe fn varlena_alloc<'a>(len: usize) -> (Datum, &'a mut [u8]) {
    let total = len + pg_sys::VARHDRSZ;
    let p = pg_sys::palloc(total) as *mut u8;
    pgrx::varlena::set_varsize_4b(p as *mut pg_sys::varlena, total as i32);
    (Datum::from(p), std::slice::from_raw_parts_mut(p.add(pg_sys::VARHDRSZ), len))
}

/// A copy of `bytes` as a new varlena (a bytea, or a type stored as its bytes).
pub unsafe fn ret_bytes(bytes: &[u8]) -> Datum {
    varlena_from(bytes.len(), |out| out.copy_from_slice(bytes))
}

/// The binary send function of a type whose binary form is its stored bytes.
pub unsafe fn send_stored(fc: FunctionCallInfo) -> Datum {
    ret_bytes(arg_bytes(fc, 0))
}

/// The binary receive function of such a type: the received bytes, accepted only when `check`
/// passes (exactly what the send function can write).
pub unsafe fn recv_stored(fc: FunctionCallInfo, check: impl FnOnce(&[u8]) -> Result<(), Error>) -> Datum {
    let bytes = recv_bytes(fc);
    check(bytes).or_raise();
    ret_bytes(bytes)
}

pub unsafe fn ret_text(s: &str) -> Datum {
    varlena_from(s.len(), |b| b.copy_from_slice(s.as_bytes()))
}

/// A NUL-terminated copy of `s` in PostgreSQL memory (no Rust copy on the way).
pub(super) unsafe fn pg_cstring(s: &str) -> *mut std::ffi::c_char {
    if s.as_bytes().contains(&0) {
        raise(Error::internal("NUL byte in output"));
    }
    let p = pg_sys::palloc(s.len() + 1) as *mut u8;
    std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
    *p.add(s.len()) = 0;
    p as *mut std::ffi::c_char
}

/// A text result, NULL for `None`.
pub unsafe fn ret_text_or_null(fc: FunctionCallInfo, s: Option<&str>) -> Datum {
    match s {
        Some(s) => ret_text(s),
        None => ret_null(fc),
    }
}

pub unsafe fn ret_cstring(s: &str) -> Datum {
    Datum::from(pg_cstring(s))
}

/// A `numeric` from its decimal text.
pub unsafe fn ret_numeric(text: &str) -> Datum {
    let c = CString::new(text).unwrap();
    pgrx::direct_function_call_as_datum(
        pg_sys::numeric_in,
        &[Some(Datum::from(c.as_ptr())), Some(Datum::from(pg_sys::InvalidOid)), Some(Datum::from(-1i32))],
    )
    .unwrap()
}

#[inline]
pub fn ret_i64(v: i64) -> Datum {
    Datum::from(v)
}

#[inline]
pub fn ret_i32(v: i32) -> Datum {
    Datum::from(v)
}

#[inline]
pub fn ret_f64(v: f64) -> Datum {
    Datum::from(v.to_bits())
}

#[inline]
pub unsafe fn ret_null(fc: FunctionCallInfo) -> Datum {
    (*fc).isnull = true;
    Datum::from(0usize)
}

/// Checks a timestamptz argument is finite.
pub unsafe fn arg_instant(fc: FunctionCallInfo, n: usize, name: &str) -> i64 {
    let t = arg_i64(fc, n);
    if t == i64::MAX || t == i64::MIN {
        raise(Error::datetime(format!("{name} must be a finite timestamp, got infinity")));
    }
    t
}

/// A `numeric` argument in 10^-4 units (core's amounts); ERROR naming it when out of range.
pub unsafe fn arg_numeric(fc: FunctionCallInfo, n: usize, name: &str) -> i64 {
    decode_numeric(arg_bytes(fc, n), name).or_raise()
}

/// The `amount` argument of an aggregate that has a `numeric` and a `double precision` form.
pub unsafe fn arg_amount(fc: FunctionCallInfo, n: usize, numeric: bool) -> i64 {
    if numeric {
        arg_numeric(fc, n, "amount")
    } else {
        from_f64(arg_f64(fc, n), "amount").or_raise()
    }
}

/// A finite `date` argument as a day number since 2000-01-01.
pub unsafe fn arg_day(fc: FunctionCallInfo, n: usize, name: &str) -> i64 {
    let d = arg_i32(fc, n);
    if d == i32::MIN || d == i32::MAX {
        raise(Error::datetime(format!("{name} must be a finite date, got infinity")));
    }
    d as i64
}

/// The language argument `n` of a label function; NULL is an error.
pub unsafe fn arg_lang(fc: FunctionCallInfo, n: usize) -> Lang {
    if is_null(fc, n) {
        raise(Error::invalid("lang must be 'zh', 'en' or 'code', got NULL"));
    }
    Lang::parse(arg_str(fc, n, "lang")).or_raise()
}

/// An `rfm_summary` argument, read in place.
pub unsafe fn arg_summary<'a>(fc: FunctionCallInfo, n: usize) -> SummaryView<'a> {
    SummaryView::new(arg_bytes(fc, n)).or_raise()
}
