//! Aggregate support: the aggregate's memory context, and the one way every `internal` state is
//! read from an argument and made.
//!
//! A state is a Rust value owned by a PostgreSQL memory context (pgrx's
//! `leak_and_drop_on_delete`): PostgreSQL accounts for the context and frees it with the
//! aggregate, and the value's `Drop` runs then, so the `Vec`s inside it are freed too.

use super::fmgr::{arg, is_null, raise, ret_null};
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

/// The largest varlena payload PostgreSQL stores: partial states and values beyond it fail.
pub const MAX_VARLENA_PAYLOAD: usize = 0x3FFF_FFFF - pg_sys::VARHDRSZ;

/// The aggregate's memory context; an ERROR naming `what` outside an aggregate.
pub unsafe fn agg_context(fc: FunctionCallInfo, what: &str) -> pg_sys::MemoryContext {
    let mut cx: pg_sys::MemoryContext = std::ptr::null_mut();
    if pg_sys::AggCheckCallContext(fc, &mut cx) == 0 {
        raise(Error::internal(format!("{what} called in non-aggregate context")));
    }
    cx
}

/// The state in `internal` argument `n`; `None` while it is NULL (before the first row).
#[inline]
pub unsafe fn state_arg<T>(fc: FunctionCallInfo, n: usize) -> Option<*mut T> {
    if is_null(fc, n) {
        None
    } else {
        Some(arg(fc, n).cast_mut_ptr::<T>())
    }
}

/// `value` as a state owned by memory context `cx`.
pub unsafe fn state_in<T>(cx: pg_sys::MemoryContext, value: T) -> *mut T {
    pgrx::PgMemoryContexts::For(cx).leak_and_drop_on_delete(value)
}

/// `value` as a new state in the aggregate's context (`what` names the aggregate in errors).
pub unsafe fn new_state<T>(fc: FunctionCallInfo, what: &str, value: T) -> *mut T {
    state_in(agg_context(fc, what), value)
}

/// `value` as the state a deserialize function returns (in the current context, which
/// PostgreSQL sets to the aggregate's).
pub unsafe fn deserialized<T>(value: T) -> Datum {
    Datum::from(state_in(pg_sys::CurrentMemoryContext, value))
}

/// The combine step of an `internal` state: NULL and NULL is NULL, a state and NULL that state,
/// NULL and a state a new state of the aggregate's from `first` (the partial state itself lives
/// in a shorter-lived context), two states the first with the second merged in by `merge`.
pub unsafe fn combine<T>(fc: FunctionCallInfo, first: impl FnOnce(&mut T) -> *mut T, merge: impl FnOnce(&mut T, &mut T)) -> Datum {
    match (state_arg::<T>(fc, 0), state_arg::<T>(fc, 1)) {
        (None, None) => ret_null(fc),
        (Some(a), None) => Datum::from(a),
        (None, Some(b)) => Datum::from(first(&mut *b)),
        (Some(a), Some(b)) => {
            merge(&mut *a, &mut *b);
            Datum::from(a)
        }
    }
}

/// An aggregate transition that skips its row: the state unchanged, or NULL before the first row.
#[inline]
pub unsafe fn state_or_null<T>(fc: FunctionCallInfo, state: Option<*mut T>) -> Datum {
    match state {
        Some(s) => Datum::from(s),
        None => ret_null(fc),
    }
}

/// Whether aggregate arguments `fc_args` (indices among the transition function's arguments,
/// the state being 0) are constants of the aggregate call (`Const` nodes in its `Aggref`): then
/// they are the same on every row, and a transition function need not compare them row by row.
pub unsafe fn args_are_constant(fc: FunctionCallInfo, fc_args: &[usize]) -> bool {
    let aggref = pg_sys::AggGetAggref(fc);
    if aggref.is_null() {
        return false;
    }
    let args = pgrx::PgList::<pg_sys::TargetEntry>::from_pg((*aggref).args);
    fc_args.iter().all(|&n| match n.checked_sub(1).and_then(|k| args.get_ptr(k)) {
        Some(te) => {
            let e = (*te).expr;
            !e.is_null() && (*e).type_ == pg_sys::NodeTag::T_Const
        }
        None => false,
    })
}
