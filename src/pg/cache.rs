//! The per-call cache: a value parsed from an argument (a config, rules or breaks jsonb), kept in
//! `fn_extra` for the life of the query so that per-row calls parse it once.

use super::fmgr::OrRaise;
use pgrx::pg_sys::FunctionCallInfo;

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
