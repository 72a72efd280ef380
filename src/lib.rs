//! pg_segment: customer segmentation inside PostgreSQL.
//!
//! One family name finds every part of a function: its math in `crates/core/src/<family>.rs`
//! (package `pg_segment_core`, pgrx-free), its SQL shim in `src/<family>.rs` (SQL arguments ->
//! core call -> datum, importing only `crate::pg` and the core), its declaration in
//! `sql/<family>.sql`, its regression file `pg_test/sql/NN_<family>.sql` and its README section.
//! `crate::pg` is the one glue layer; `sql/schema.sql` creates the schema.

pub mod clv;
pub mod kmeans;
pub mod labels;
pub mod pg;
pub mod population;
pub mod privacy;
pub mod profile;
pub mod report;
pub mod sample;
pub mod score;
pub mod service;
pub mod summary;
pub mod tags;
pub mod views;

::pgrx::pg_module_magic!();

/// Runs when the library is loaded.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    pg::init();
}

::pgrx::extension_sql_file!("../sql/schema.sql", name = "pg_segment_schema", bootstrap);
::pgrx::extension_sql_file!("../sql/summary.sql", name = "pg_segment_summary", requires = ["pg_segment_schema"]);
::pgrx::extension_sql_file!("../sql/score.sql", name = "pg_segment_score", requires = ["pg_segment_summary"]);
::pgrx::extension_sql_file!("../sql/labels.sql", name = "pg_segment_labels", requires = ["pg_segment_score"]);
::pgrx::extension_sql_file!("../sql/population.sql", name = "pg_segment_population", requires = ["pg_segment_labels"]);
::pgrx::extension_sql_file!("../sql/views.sql", name = "pg_segment_views", requires = ["pg_segment_population"]);
::pgrx::extension_sql_file!("../sql/sample.sql", name = "pg_segment_sample", finalize);
::pgrx::extension_sql_file!("../sql/kmeans.sql", name = "pg_segment_kmeans", requires = ["pg_segment_labels"]);
::pgrx::extension_sql_file!("../sql/tags.sql", name = "pg_segment_tags", requires = ["pg_segment_labels", with_high_end_sql]);
::pgrx::extension_sql_file!("../sql/profile.sql", name = "pg_segment_profile", requires = ["pg_segment_labels", provinces]);
::pgrx::extension_sql_file!("../sql/clv.sql", name = "pg_segment_clv", requires = ["pg_segment_labels"]);
::pgrx::extension_sql_file!("../sql/service.sql", name = "pg_segment_service", requires = ["pg_segment_views"]);
::pgrx::extension_sql_file!("../sql/privacy.sql", name = "pg_segment_privacy", requires = ["pg_segment_service"]);
::pgrx::extension_sql_file!("../sql/report.sql", name = "pg_segment_report", requires = ["pg_segment_views"]);

#[cfg(any(test, feature = "pg_test"))]
mod pg_tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["timezone = 'UTC'"]
    }
}
