//! pg_segment: customer segmentation inside PostgreSQL.
//!
//! `core` holds the pgrx-free logic; `rfm`, `segment`, `population` and `sample` are the SQL
//! surface;
//! `sql/pg_segment.sql` declares every SQL object by hand.

pub mod core;
pub mod fmgr;
pub mod population;
pub mod rfm;
pub mod sample;
pub mod segment;

::pgrx::pg_module_magic!();

/// Runs when the library is loaded: defines the GUCs.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    population::init();
}

::pgrx::extension_sql_file!("../sql/pg_segment.sql", name = "pg_segment_objects", bootstrap);
::pgrx::extension_sql_file!("../sql/population.sql", name = "pg_segment_population", requires = ["pg_segment_objects"]);
::pgrx::extension_sql_file!("../sql/views.sql", name = "pg_segment_views", requires = ["pg_segment_population"]);
::pgrx::extension_sql_file!("../sql/sample.sql", name = "pg_segment_sample", finalize);

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["timezone = 'UTC'"]
    }
}
