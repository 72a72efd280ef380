//! Thin glue between PostgreSQL's function manager and `crate::core`.
//!
//! Functions are written as raw version-1 C functions (`pg_fn!`) so that transition functions
//! read their arguments in place (no copy of a `numeric` per row) and so that the SQL objects
//! are declared by hand, with deliberate markings, in `sql/pg_segment.sql`. Every body runs
//! under `#[pg_guard]`: a Rust panic becomes a PostgreSQL ERROR, never a crash.

use pg_segment_core::{ErrCode, Error};
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::PgSqlErrorCode;
use std::ffi::{CStr, CString};

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
    let mut report = pgrx::pg_sys::panic::ErrorReport::new(code, e.message, "pg_segment");
    if let Some(h) = e.hint {
        report = report.set_hint(h);
    }
    report.report(pgrx::PgLogLevel::ERROR);
    unreachable!()
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

/// The payload of a varlena argument, detoasted but not copied when it is stored inline.
#[inline]
pub unsafe fn bytes_of<'a>(d: Datum) -> &'a [u8] {
    let p = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
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

use pg_segment_core::fallible::MAX_JSON_TEXT;

/// A jsonb argument as JSON text (`{}` when NULL or absent), at most [`MAX_JSON_TEXT`] bytes;
/// `name` names it in errors.
pub unsafe fn arg_json(fc: FunctionCallInfo, n: usize, name: &str) -> String {
    if is_null(fc, n) {
        return "{}".into();
    }
    jsonb_datum_text(arg(fc, n), name)
}

/// The JSON text of a jsonb datum: checked to be UTF-8, at most [`MAX_JSON_TEXT`] bytes, copied
/// fallibly.
pub unsafe fn jsonb_datum_text(d: Datum, name: &str) -> String {
    let out = pgrx::direct_function_call_as_datum(pg_sys::jsonb_out, &[Some(d)]).unwrap();
    let text = CStr::from_ptr(out.cast_mut_ptr()).to_bytes();
    if text.len() > MAX_JSON_TEXT {
        raise(
            Error::limit(format!(
                "{name} is {} MB of JSON text, more than the {} MB pg_segment reads",
                text.len() >> 20,
                MAX_JSON_TEXT >> 20
            ))
            .with_hint("options, rules and models are small documents: check that the right value is passed"),
        );
    }
    pg_segment_core::fallible::string_of(utf8(text, name), name).or_raise()
}

/// The JSON text of raw jsonb bytes (a jsonb value without its varlena header).
pub unsafe fn jsonb_bytes_text(bytes: &[u8], name: &str) -> String {
    jsonb_datum_text(varlena_from(bytes.len(), |out| out.copy_from_slice(bytes)), name)
}

/// A jsonb argument of a `#[pg_extern]` function, as its JSON text within [`MAX_JSON_TEXT`]
/// (pgrx's own `JsonB` parses a value of any size before the function can look at it).
pub struct JsonText(pub String);

pgrx::impl_sql_translatable!(JsonText, arg_only = "jsonb");

fn nth_argument(index: usize) -> String {
    format!("jsonb argument {}", index + 1)
}

impl pgrx::FromDatum for JsonText {
    unsafe fn from_polymorphic_datum(datum: Datum, is_null: bool, _: pg_sys::Oid) -> Option<JsonText> {
        if is_null {
            None
        } else {
            Some(JsonText(jsonb_datum_text(datum, &nth_argument(0))))
        }
    }
}

/// The datum itself, to read it knowing the argument's position.
struct RawDatum(Datum);

impl pgrx::FromDatum for RawDatum {
    unsafe fn from_polymorphic_datum(datum: Datum, is_null: bool, _: pg_sys::Oid) -> Option<RawDatum> {
        (!is_null).then_some(RawDatum(datum))
    }
}

unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonText {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        match arg.unbox_arg_using_from_datum::<RawDatum>() {
            Some(d) => JsonText(jsonb_datum_text(d.0, &nth_argument(index))),
            None => raise(Error::invalid(format!("argument {} must not be NULL", index + 1))),
        }
    }
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

pub unsafe fn ret_text(s: &str) -> Datum {
    varlena_from(s.len(), |b| b.copy_from_slice(s.as_bytes()))
}

/// A NUL-terminated copy of `s` in PostgreSQL memory (no Rust copy on the way).
unsafe fn pg_cstring(s: &str) -> *mut std::ffi::c_char {
    if s.as_bytes().contains(&0) {
        raise(Error::internal("NUL byte in output"));
    }
    let p = pg_sys::palloc(s.len() + 1) as *mut u8;
    std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
    *p.add(s.len()) = 0;
    p as *mut std::ffi::c_char
}

pub unsafe fn ret_cstring(s: &str) -> Datum {
    Datum::from(pg_cstring(s))
}

pub unsafe fn ret_jsonb(json: &str) -> Datum {
    let c = pg_cstring(json);
    pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(Datum::from(c))]).unwrap()
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

/// An aggregate transition that skips its row: the state unchanged, or NULL before the first row.
#[inline]
pub unsafe fn state_or_null<T>(fc: FunctionCallInfo, state: Option<*mut T>) -> Datum {
    match state {
        Some(s) => Datum::from(s),
        None => ret_null(fc),
    }
}

/// Checks a timestamptz argument is finite.
pub unsafe fn arg_instant(fc: FunctionCallInfo, n: usize, name: &str) -> i64 {
    let t = arg_i64(fc, n);
    if t == i64::MAX || t == i64::MIN {
        raise(Error::datetime(format!("{name} must be a finite timestamp, got infinity")));
    }
    t
}

/// A time zone in which calendar days are counted: the session's `TimeZone`, or a named zone.
pub struct Zone(*mut pg_sys::pg_tz);

impl Zone {
    pub unsafe fn session() -> Zone {
        Zone(pg_sys::session_timezone)
    }

    /// A zone by IANA name (`Asia/Shanghai`) or POSIX specification, as PostgreSQL knows it.
    pub unsafe fn named(name: &str) -> Zone {
        // per-row callers pass the same name again and again: remember the last one
        if let Some(tz) = LAST_ZONE.with(|l| l.borrow().as_ref().filter(|(n, _)| n == name).map(|(_, tz)| *tz)) {
            return Zone(tz as *mut pg_sys::pg_tz);
        }
        if name.len() > 255 {
            raise(
                Error::invalid("tz: a time zone name has at most 255 bytes").with_hint("use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
            );
        }
        let c = CString::new(name).unwrap_or_else(|_| raise(Error::invalid("tz contains a NUL byte")));
        let tz = pg_sys::pg_tzset(c.as_ptr());
        if tz.is_null() {
            raise(
                Error::invalid(format!("tz: time zone \"{name}\" is not recognized"))
                    .with_hint("use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
            );
        }
        LAST_ZONE.with(|l| *l.borrow_mut() = Some((name.to_string(), tz as usize)));
        Zone(tz)
    }

    /// The zone from argument `n` when the function has it, else the session's.
    pub unsafe fn from_arg(fc: FunctionCallInfo, n: usize) -> Zone {
        if n < nargs(fc) && !is_null(fc, n) {
            Zone::named(arg_str(fc, n, "tz"))
        } else {
            Zone::session()
        }
    }

    /// Local wall-clock microseconds of an instant. Offsets are remembered per UTC day (see
    /// [`DayCache`]), so repeated calls cost an array lookup, not a time-zone computation.
    pub fn local(&self, us: i64) -> i64 {
        DAY_CACHES.with(|c| {
            let mut c = c.borrow_mut();
            let key = self.0 as usize;
            let i = match c.iter().position(|e| e.0 == key) {
                Some(i) => i,
                None => {
                    if c.len() >= 8 {
                        c.remove(0);
                    }
                    c.push((key, DayCache::new(Zone(self.0))));
                    c.len() - 1
                }
            };
            c[i].1.local_us(us)
        })
    }

    /// [`Zone::local`] computed by PostgreSQL's time-zone library every time.
    pub fn exact_local(&self, us: i64) -> i64 {
        unsafe {
            let mut tz: std::ffi::c_int = 0;
            let mut tm: pg_sys::pg_tm = std::mem::zeroed();
            let mut fsec: pg_sys::fsec_t = 0;
            if pg_sys::timestamp2tm(us, &mut tz, &mut tm, &mut fsec, std::ptr::null_mut(), self.0) != 0 {
                raise(Error::datetime("timestamp out of range"));
            }
            us - tz as i64 * 1_000_000
        }
    }
}

thread_local! {
    /// (pg_tz address, its cache): a backend's zones live as long as the backend
    static DAY_CACHES: std::cell::RefCell<Vec<(usize, DayCache)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// the last zone name looked up, and its pg_tz
    static LAST_ZONE: std::cell::RefCell<Option<(String, usize)>> = const { std::cell::RefCell::new(None) };
}

/// Local days of instants at the cost of an array lookup: for each UTC day seen, the zone's
/// UTC offset if it is constant over that day (asked once of PostgreSQL's time zone library
/// with `pg_next_dst_boundary`); days with a transition fall back to [`Zone::local`].
pub struct DayCache {
    zone: Zone,
    slots: Vec<(i64, i64)>,
}

const DAY_US: i64 = 86_400_000_000;
const NO_SLOT: i64 = i64::MIN;
/// seconds from 1970-01-01 (pg_time_t) to 2000-01-01 (PostgreSQL's timestamp epoch)
const PG_EPOCH_UNIX: i64 = 946_684_800;

impl DayCache {
    pub fn new(zone: Zone) -> DayCache {
        DayCache { zone, slots: vec![(NO_SLOT, 0); 4096] }
    }

    fn offset_for(&self, utc_day: i64) -> i64 {
        unsafe {
            let start: pg_sys::pg_time_t = utc_day * 86_400 + PG_EPOCH_UNIX;
            let mut before_gmtoff: std::ffi::c_long = 0;
            let mut before_isdst: std::ffi::c_int = 0;
            let mut boundary: pg_sys::pg_time_t = 0;
            let mut after_gmtoff: std::ffi::c_long = 0;
            let mut after_isdst: std::ffi::c_int = 0;
            let r = pg_sys::pg_next_dst_boundary(
                &start,
                &mut before_gmtoff,
                &mut before_isdst,
                &mut boundary,
                &mut after_gmtoff,
                &mut after_isdst,
                self.zone.0,
            );
            if r == 0 || (r == 1 && boundary >= start + 86_400) {
                before_gmtoff as i64 * 1_000_000
            } else {
                NO_SLOT
            }
        }
    }

    /// Local wall-clock microseconds of an instant.
    #[inline]
    pub fn local_us(&mut self, us: i64) -> i64 {
        let d = us.div_euclid(DAY_US);
        let slot = (d & 4095) as usize;
        if self.slots[slot].0 != d {
            self.slots[slot] = (d, self.offset_for(d));
        }
        let off = self.slots[slot].1;
        if off != NO_SLOT {
            us + off
        } else {
            self.zone.exact_local(us)
        }
    }

    /// Local day (days since 2000-01-01) of an instant.
    #[inline]
    pub fn day(&mut self, us: i64) -> i64 {
        self.local_us(us).div_euclid(DAY_US)
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }
}

/// Cache of a value parsed from argument bytes (a config or breaks jsonb), kept in
/// `fn_extra` for the life of the query so that per-row calls parse it once.
pub unsafe fn cached<T: 'static>(fc: FunctionCallInfo, key: &[u8], parse: impl FnOnce() -> T) -> &'static T {
    struct Slot<T> {
        key: Vec<u8>,
        value: T,
    }
    let flinfo = (*fc).flinfo;
    let slot = (*flinfo).fn_extra as *mut Slot<T>;
    if !slot.is_null() && (*slot).key == key {
        return &(*slot).value;
    }
    let value = parse();
    let key = pg_segment_core::fallible::copy_of(key, "cached argument").or_raise();
    if slot.is_null() {
        let ptr = pgrx::PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(Slot { key, value });
        (*flinfo).fn_extra = ptr as *mut std::ffi::c_void;
        &(*ptr).value
    } else {
        (*slot).key = key;
        (*slot).value = value;
        &(*slot).value
    }
}
