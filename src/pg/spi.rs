//! SPI as the views' glue uses it: statements with `search_path` pinned to `pg_catalog, pg_temp`,
//! run with the rights of another role, and the catalog helpers around them.

use super::fmgr::raise_code;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, Oid};
use pgrx::spi::{Spi, SpiClient};
use pgrx::{FromDatum, IntoDatum, PgSqlErrorCode};
use std::ffi::{CStr, CString};

/// Runs `f` with `search_path = pg_catalog, pg_temp`, as a function's SET clause would.
pub unsafe fn pinned<R>(f: impl FnOnce() -> R) -> R {
    let level = pg_sys::NewGUCNestLevel();
    pg_sys::set_config_option(
        c"search_path".as_ptr(),
        c"pg_catalog, pg_temp".as_ptr(),
        pg_sys::GucContext::PGC_USERSET,
        pg_sys::GucSource::PGC_S_SESSION,
        pg_sys::GucAction::GUC_ACTION_SAVE,
        true,
        0,
        false,
    );
    let r = f();
    pg_sys::AtEOXact_GUC(true, level);
    r
}

/// Runs `f` with the rights of `role` (see `crate::views` for how errors undo it).
pub unsafe fn as_role<R>(role: Oid, f: impl FnOnce() -> R) -> R {
    let mut user = Oid::INVALID;
    let mut context = 0;
    pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
    let restricted = (pg_sys::SECURITY_LOCAL_USERID_CHANGE | pg_sys::SECURITY_RESTRICTED_OPERATION) as i32;
    pg_sys::SetUserIdAndSecContext(role, context | restricted);
    let r = f();
    pg_sys::SetUserIdAndSecContext(user, context);
    r
}

/// An SPI connection with the pinned search_path.
pub unsafe fn spi<R>(f: impl FnOnce(&mut SpiClient<'_>) -> R) -> R {
    pinned(|| Spi::connect_mut(f))
}

/// The first column of the first row of a query (pinned search_path), NULL or no row: None.
pub unsafe fn value<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> Option<T> {
    spi(|c| c.select(sql, None, args).expect(sql).into_iter().next().and_then(|r| r.get::<T>(1).expect(sql)))
}

/// `s` quoted as an identifier where needed (PostgreSQL's `quote_identifier`).
pub unsafe fn quote(s: &str) -> String {
    let c = CString::new(s).unwrap_or_else(|_| raise_code(PgSqlErrorCode::ERRCODE_INVALID_NAME, format!("invalid name {s:?}"), None));
    CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())).to_string_lossy().into_owned()
}

/// The name of a role, or `(role N)` for one that no longer exists.
pub unsafe fn role_name(role: Oid) -> String {
    let p = pg_sys::GetUserNameFromId(role, true);
    if p.is_null() {
        format!("(role {})", role.to_u32())
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
