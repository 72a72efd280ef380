//! The whole-population path: one aggregate over all order rows that groups by customer itself
//! (a hash map keyed by customer id, fixed-size entries, purchase days in one shared arena) and
//! then segments every customer at once: summary figures, quantile or fixed breaks, R/F/M
//! scores, named segment, tier, lifecycle stage and cadence.
//!
//! It computes exactly what the composable functions compute (`rfm_agg` + `rfm_breaks` +
//! `rfm_score` + `rfm_segment` + `customer_tier` + `lifecycle_stage` + `purchase_cadence`), but
//! keeps 64 bytes per customer and 8 bytes per purchase instead of 16 bytes per row, and spares
//! PostgreSQL's hash aggregation. Its memory is bounded by a limit the caller gives; exceeding
//! it is an [`crate::Error`] with SQLSTATE 53200, never an out-of-memory kill.
//!
//! | file | what |
//! |---|---|
//! | `state.rs` | the aggregate state: per-customer entries, purchase days, rows in, merge |
//! | `run.rs` | sorted runs of customers: how partial states merge by concatenation |
//! | `partial.rs` | the partial state of parallel and partitionwise plans (serialize, deserialize) |
//! | `options.rs` | the options, parsed once into typed values |
//! | `finish.rs` | the final step, in named steps |
//! | `value.rs` | the stored `rfm_population` value: encode, read in place, validate |

mod finish;
mod options;
mod partial;
mod run;
mod state;
mod value;

pub use finish::{finish_bytes, ValueBuf};
pub use options::{parse_options, Options};
pub use state::{dedup_order_rows, Entry, IdRow, State, ID_ROW_BYTES};
pub use value::{OutRow, Output, PopulationView, MAX_LABELS, NO_LABEL, POPULATION_VERSION};

#[cfg(test)]
mod tests;
