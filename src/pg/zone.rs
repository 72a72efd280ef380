//! Time zones from PostgreSQL's own time-zone database (every zone and POSIX specification the
//! server knows, with its own rules, rather than a second copy of the tz data in Rust), and a
//! per-day cache of their offsets so that per-row calls cost an array lookup.

use super::fmgr::{arg_str, is_null, nargs, raise};
use pg_segment_core::time::{day_of, USECS_PER_DAY};
use pg_segment_core::Error;
use pgrx::pg_sys::{self, FunctionCallInfo};
use std::ffi::CString;

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
        let d = us.div_euclid(USECS_PER_DAY);
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
        day_of(self.local_us(us))
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }
}

/// The name of the session's `TimeZone` (an IANA name such as `Asia/Shanghai`, or the POSIX
/// form PostgreSQL gives a numeric offset), which states record when no zone was given.
pub unsafe fn session_zone_name() -> String {
    let p = pg_sys::pg_get_timezone_name(pg_sys::session_timezone);
    if p.is_null() {
        return "UTC".into();
    }
    std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
}

/// The zone named by an option (`"tz"` of options or breaks), else the session's.
pub unsafe fn zone_or_session(tz: Option<&str>) -> Zone {
    match tz {
        Some(t) => Zone::named(t),
        None => Zone::session(),
    }
}

/// Local calendar days between two instants.
pub fn days_between(zone: &Zone, from: i64, to: i64) -> i64 {
    day_of(zone.local(to)) - day_of(zone.local(from))
}
