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

/// The value last parsed from `key` in this backend, for each type `T`: the partial states of
/// one parallel query arrive one per worker, all carrying the same options text, which is then
/// parsed once per backend rather than once per partial state.
pub fn per_backend<T: Clone + 'static>(key: &[u8], parse: impl FnOnce() -> T) -> T {
    use std::any::{Any, TypeId};
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<Vec<(TypeId, Vec<u8>, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
    }
    let kind = TypeId::of::<T>();
    let hit = LAST.with(|l| {
        l.borrow().iter().find(|(k, bytes, _)| *k == kind && bytes.as_slice() == key).and_then(|(_, _, v)| v.downcast_ref::<T>().cloned())
    });
    if let Some(v) = hit {
        return v;
    }
    let value = parse();
    let copy = pg_segment_core::fallible::copy_of(key, "cached options").or_raise();
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        l.retain(|(k, _, _)| *k != kind);
        l.push((kind, copy, Box::new(value.clone())));
    });
    value
}
