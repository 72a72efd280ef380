//! The one glue layer between PostgreSQL and the core (`pg_segment_core`). Every surface file
//! (`src/<family>.rs`) imports only this and the core:
//!
//! | file | what |
//! |---|---|
//! | `fmgr.rs` | `pg_fn!` (raw V1 functions), arguments, results, errors raised as ERRORs |
//! | `json.rs` | jsonb arguments as bounded text, jsonb results |
//! | `array.rs` | `float8[]` arguments read in place; the feature vectors of the model aggregates; `float8[]` and `bigint[]` values, composite fields, intervals in days |
//! | `aggregate.rs` | the aggregate's memory context; reading and making `internal` states |
//! | `zone.rs` | time zones from PostgreSQL's database, the per-day offset cache |
//! | `cache.rs` | the per-call cache (`fn_extra`) and the per-backend cache of parsed values |
//! | `tuple.rs` | composite results, materialized set-returning functions |
//! | `spi.rs` | SPI with a pinned `search_path`, as another role (the views' registry writers) |
//! | `guc.rs` | the GUCs |
//!
//! and [`init`], which runs when the library is loaded.

pub mod aggregate;
pub mod array;
pub mod cache;
pub mod fmgr;
pub mod guc;
pub mod json;
pub mod spi;
pub mod tuple;
pub mod zone;

pub use aggregate::*;
pub use array::*;
pub use cache::*;
pub use fmgr::*;
pub use json::*;
pub use tuple::*;
pub use zone::*;

/// Library load: defines the GUCs and gives the core its cancellation point.
pub fn init() {
    guc::define();
    pg_segment_core::cancel::set_hook(check_for_interrupts);
}

/// CHECK_FOR_INTERRUPTS(): a pending cancel or terminate raises its ERROR here, which pgrx turns
/// into an unwind up to the SQL function's guard.
fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}
