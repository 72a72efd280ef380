//! pg_segment: customer segmentation inside PostgreSQL.
//!
//! `core` holds the pgrx-free logic; `rfm`, `segment`, `population`, `cluster`, `tags`,
//! `profile` and `sample` are the SQL surface; the files in `sql/` declare every SQL object by
//! hand.

pub mod cluster;
pub mod clv;
pub mod fmgr;
pub mod limits;
pub mod population;
pub mod profile;
pub mod registry;
pub mod rfm;
pub mod sample;
pub mod segment;
pub mod tags;

::pgrx::pg_module_magic!();

/// Runs when the library is loaded: defines the GUCs and gives the core its cancellation point.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    limits::init();
    pg_segment_core::cancel::set_hook(check_for_interrupts);
}

/// CHECK_FOR_INTERRUPTS(): a pending cancel or terminate raises its ERROR here, which pgrx turns
/// into an unwind up to the SQL function's guard.
fn check_for_interrupts() {
    pgrx::check_for_interrupts!();
}

::pgrx::extension_sql_file!("../sql/pg_segment.sql", name = "pg_segment_objects", bootstrap);
::pgrx::extension_sql_file!("../sql/population.sql", name = "pg_segment_population", requires = ["pg_segment_objects"]);
::pgrx::extension_sql_file!("../sql/views.sql", name = "pg_segment_views", requires = ["pg_segment_population"]);
::pgrx::extension_sql_file!("../sql/sample.sql", name = "pg_segment_sample", finalize);
::pgrx::extension_sql_file!("../sql/cluster.sql", name = "pg_segment_cluster", requires = ["pg_segment_objects"]);
::pgrx::extension_sql_file!("../sql/tags.sql", name = "pg_segment_tags", requires = ["pg_segment_objects", with_high_end_sql]);
::pgrx::extension_sql_file!("../sql/profile.sql", name = "pg_segment_profile", requires = ["pg_segment_objects", provinces]);
::pgrx::extension_sql_file!("../sql/clv.sql", name = "pg_segment_clv", requires = ["pg_segment_objects"]);

#[cfg(any(test, feature = "pg_test"))]
mod tests;
#[cfg(any(test, feature = "pg_test"))]
mod tests_states;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["timezone = 'UTC'"]
    }
}
