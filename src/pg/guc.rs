//! The GUCs: the memory limits that protect the server. Both are `PGC_SUSET`: only a superuser
//! may set them (in postgresql.conf, with ALTER SYSTEM, ALTER ROLE/DATABASE ... SET, or SET in a
//! superuser's session), so a plain role can neither raise them nor lift them for itself; the
//! per-call `memory_limit_mb` option of k-means may only lower `pg_segment.memory_limit`.
//!
//! `pg_segment.pseudonym_key`, the secret of the keyed pseudonyms, is `PGC_SUSET` too, and hidden:
//! only a superuser may read it (`GUC_SUPERUSER_ONLY`: SHOW and `current_setting()` refuse other
//! roles, and its show hook masks it from members of `pg_read_all_settings`), it is never listed
//! (`GUC_NO_SHOW_ALL`: not in `pg_settings`, `SHOW ALL` or the sample file), and it is never
//! stored where every role can read it: the check hook refuses `ALTER ROLE`/`ALTER DATABASE ...
//! SET` and a function's `SET` clause (which land in `pg_db_role_setting` and `pg_proc`) and
//! ignores, with a warning, a value that got there while the library was not loaded.
//!
//! Those flags only protect a setting PostgreSQL knows, that is after `_PG_init`: before it, a
//! value from postgresql.conf (or a `SET` in the session) is a placeholder that any role can
//! `SHOW`, in every backend and background worker that has not loaded pg_segment. So a key from
//! the server's configuration is only safe with `shared_preload_libraries = 'pg_segment'`
//! (`session_preload_libraries` is not enough: background workers, pg_cron's among them, do not
//! load it). [`key_exposed`] tells the pseudonym function whether this process's key had a value
//! when the library was loaded other than at server start, that is while it may have been
//! readable: then it refuses, so that an unsafe configuration never goes unnoticed.

use pg_segment_core::privacy::{check_key, KEY_SETTING};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys::{self, GucSource};
use std::ffi::{c_char, c_void, CString};

/// The highest value either limit accepts: 1 TB (in MB).
const MAX_MB: i32 = 1 << 20;

/// `pg_segment.population_memory_limit`: the most memory one population state may hold.
static POPULATION_LIMIT_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);
/// `pg_segment.memory_limit`: the most memory any other aggregate state or call may use.
static MEMORY_LIMIT_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// `pg_segment.pseudonym_key`: the HMAC key of `segment.pseudonym()` (empty: not set).
static PSEUDONYM_KEY: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Set when the library was loaded after server start in a process in which the key already had
/// a value (a placeholder any role could read until then).
static KEY_EXPOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets the message of a refused value (the value itself is never part of it).
unsafe fn refuse(message: &str, detail: Option<&str>, hint: Option<&str>) -> bool {
    let copy = |s: &str| pg_sys::pstrdup(CString::new(s).unwrap_or_default().as_ptr());
    pg_sys::GUC_check_errmsg_string = copy(message);
    if let Some(d) = detail {
        pg_sys::GUC_check_errdetail_string = copy(d);
    }
    if let Some(h) = hint {
        pg_sys::GUC_check_errhint_string = copy(h);
    }
    false
}

/// Refuses a key bound for a catalog every role reads, or one too short.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_pseudonym_key(newval: *mut *mut c_char, _extra: *mut *mut c_void, source: GucSource::Type) -> bool {
    // PGC_S_TEST: the validation of ALTER ROLE/DATABASE ... SET and of a function's SET clause;
    // the others: such a stored value being applied when a session starts
    let catalog =
        [GucSource::PGC_S_TEST, GucSource::PGC_S_GLOBAL, GucSource::PGC_S_DATABASE, GucSource::PGC_S_USER, GucSource::PGC_S_DATABASE_USER];
    if catalog.contains(&source) {
        return refuse(
            &format!("{KEY_SETTING} must not be stored with ALTER ROLE, ALTER DATABASE or a function's SET clause"),
            Some("Every role can read those settings (pg_db_role_setting, pg_proc.proconfig); a value stored there is ignored."),
            Some("Set it in postgresql.conf or with ALTER SYSTEM, or with SET in a superuser's session; remove a stored one with ALTER ROLE ... RESET or ALTER DATABASE ... RESET."),
        );
    }
    if newval.is_null() || (*newval).is_null() {
        return true;
    }
    match std::ffi::CStr::from_ptr(*newval).to_str().map_err(|_| format!("{KEY_SETTING} must be valid UTF-8")).and_then(check_key) {
        Ok(()) => true,
        Err(message) => refuse(&message, None, Some("Use at least 16 random bytes, e.g. 64 hex digits.")),
    }
}

/// SHOW and current_setting() give the key to superusers only; members of pg_read_all_settings,
/// whom GUC_SUPERUSER_ONLY lets through, see that it is set, not what it is.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn show_pseudonym_key() -> *const c_char {
    let value = *PSEUDONYM_KEY.as_ptr();
    if value.is_null() || *value == 0 {
        c"".as_ptr()
    } else if pg_sys::superuser() {
        value
    } else {
        c"(hidden)".as_ptr()
    }
}

/// Defines the GUCs (called from `_PG_init` through [`super::init`]: only there, see DEVELOPERS.md).
pub fn define() {
    // loaded by the postmaster (shared_preload_libraries): no process had a placeholder before
    let at_start = unsafe { pg_sys::process_shared_preload_libraries_in_progress };
    unsafe {
        GucRegistry::define_string_guc_with_hooks(
            c"pg_segment.pseudonym_key",
            c"Secret key of segment.pseudonym() (HMAC-SHA-256), at least 16 bytes; only superusers can read or change it.",
            c"Set it in postgresql.conf or with ALTER SYSTEM (ALTER ROLE/DATABASE ... SET and function SET clauses are refused: every role can read those). Empty: not set.",
            &PSEUDONYM_KEY,
            GucContext::Suset,
            GucFlags::SUPERUSER_ONLY | GucFlags::NO_SHOW_ALL,
            Some(check_pseudonym_key),
            None,
            Some(show_pseudonym_key),
        );
    }
    // the definition took over the placeholder's value, if there was one
    if !at_start && pseudonym_key().is_some() {
        KEY_EXPOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    GucRegistry::define_int_guc(
        c"pg_segment.population_memory_limit",
        c"Largest memory one population_agg state may use (per backend; parallel workers each have their own).",
        c"Beyond it population_agg raises ERROR 53200 instead of growing further. Only superusers can change this setting.",
        &POPULATION_LIMIT_MB,
        1,
        MAX_MB,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"pg_segment.memory_limit",
        c"Largest memory one pg_segment aggregate state or call may use, population_agg aside (k-means, CLV fits, rfm_breaks, behaviour tags).",
        c"Beyond it the call raises ERROR 53200. The k-means option memory_limit_mb defaults to it and may not exceed it. Only superusers can change this setting.",
        &MEMORY_LIMIT_MB,
        1,
        MAX_MB,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
}

pub fn population_limit_bytes() -> usize {
    (POPULATION_LIMIT_MB.get().max(1) as usize) << 20
}

pub fn memory_limit_mb() -> f64 {
    MEMORY_LIMIT_MB.get().max(1) as f64
}

pub fn memory_limit_bytes() -> usize {
    (MEMORY_LIMIT_MB.get().max(1) as usize) << 20
}

/// The pseudonym key, None when it is not set.
pub fn pseudonym_key() -> Option<CString> {
    PSEUDONYM_KEY.get().filter(|k| !k.as_bytes().is_empty())
}

/// Whether this process's key had a value before the library was loaded (see the module's
/// comment): it may have been read by any role then, and it is not used.
pub fn key_exposed() -> bool {
    KEY_EXPOSED.load(std::sync::atomic::Ordering::Relaxed)
}
