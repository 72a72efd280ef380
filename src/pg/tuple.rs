//! Composite results and set-returning functions.

use super::fmgr::raise;
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

/// Builds a composite result of the function's declared row type.
pub unsafe fn ret_tuple(fc: FunctionCallInfo, values: &[Datum], nulls: &[bool]) -> Datum {
    let mut tupdesc: pg_sys::TupleDesc = std::ptr::null_mut();
    if pg_sys::get_call_result_type(fc, std::ptr::null_mut(), &mut tupdesc) != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE {
        raise(Error::internal("function returning a row called in a context that cannot accept one"));
    }
    let tupdesc = pg_sys::BlessTupleDesc(tupdesc);
    let tuple = pg_sys::heap_form_tuple(tupdesc, values.as_ptr() as *mut Datum, nulls.as_ptr() as *mut bool);
    pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
}

/// The rows of a set-returning function in materialize mode: each [`Rows::put`] stores one row
/// in the tuple store PostgreSQL reads after the call (it copies what it stores).
pub struct Rows {
    store: *mut pg_sys::Tuplestorestate,
    desc: pg_sys::TupleDesc,
}

impl Rows {
    /// Starts the result set of `fc`, whose declared rows have `columns` columns.
    pub unsafe fn materialize(fc: FunctionCallInfo, columns: usize, what: &str) -> Rows {
        pg_sys::InitMaterializedSRF(fc, 0);
        let rsinfo = (*fc).resultinfo as *mut pg_sys::ReturnSetInfo;
        let rows = Rows { store: (*rsinfo).setResult, desc: (*rsinfo).setDesc };
        if (*rows.desc).natts as usize != columns {
            raise(Error::internal(format!("{what}: unexpected result columns")));
        }
        rows
    }

    /// [`Rows::materialize`] with a tuple store that keeps up to `max_bytes` in memory (at
    /// least `work_mem`, as PostgreSQL's own stores) before it writes to a temporary file: for
    /// results whose size a memory limit of ours already bounds (`population_rows` under
    /// `pg_segment.population_memory_limit`), where writing them out and reading them back
    /// would cost more than making them.
    pub unsafe fn materialize_in_memory(fc: FunctionCallInfo, columns: usize, what: &str, max_bytes: usize) -> Rows {
        let mut rows = Rows::materialize(fc, columns, what);
        let kbytes = (max_bytes >> 10).min(i32::MAX as usize) as i32;
        if kbytes > pg_sys::work_mem {
            let rsinfo = (*fc).resultinfo as *mut pg_sys::ReturnSetInfo;
            let random = ((*rsinfo).allowedModes & pg_sys::SetFunctionReturnMode::SFRM_Materialize_Random as i32) != 0;
            let old = pg_sys::MemoryContextSwitchTo((*(*rsinfo).econtext).ecxt_per_query_memory);
            // the store InitMaterializedSRF made is still empty
            pg_sys::tuplestore_end(rows.store);
            rows.store = pg_sys::tuplestore_begin_heap(random, false, kbytes);
            (*rsinfo).setResult = rows.store;
            pg_sys::MemoryContextSwitchTo(old);
        }
        rows
    }

    #[inline]
    pub unsafe fn put(&self, values: &mut [Datum], nulls: &mut [bool]) {
        pg_sys::tuplestore_putvalues(self.store, self.desc, values.as_mut_ptr(), nulls.as_mut_ptr());
    }
}
