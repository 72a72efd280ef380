//! pg_segment: customer segmentation inside PostgreSQL.
//!
//! `core` holds the pgrx-free logic; `rfm`, `segment` and `sample` are the SQL surface;
//! `sql/pg_segment.sql` declares every SQL object by hand.

pub mod clv;
pub mod core;
pub mod fmgr;
pub mod rfm;
pub mod sample;
pub mod segment;

::pgrx::pg_module_magic!();

::pgrx::extension_sql_file!("../sql/pg_segment.sql", name = "pg_segment_objects", bootstrap);
::pgrx::extension_sql_file!("../sql/sample.sql", name = "pg_segment_sample", finalize);
::pgrx::extension_sql_file!("../sql/clv.sql", name = "pg_segment_clv", requires = ["pg_segment_objects"]);

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
