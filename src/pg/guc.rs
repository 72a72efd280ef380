//! The GUCs: the memory limits that protect the server. Both are `PGC_SUSET`: only a superuser
//! may set them (in postgresql.conf, with ALTER SYSTEM, ALTER ROLE/DATABASE ... SET, or SET in a
//! superuser's session), so a plain role can neither raise them nor lift them for itself; the
//! per-call `memory_limit_mb` option of k-means may only lower `pg_segment.memory_limit`.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// The highest value either limit accepts: 1 TB (in MB).
const MAX_MB: i32 = 1 << 20;

/// `pg_segment.population_memory_limit`: the most memory one population state may hold.
static POPULATION_LIMIT_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);
/// `pg_segment.memory_limit`: the most memory any other aggregate state or call may use.
static MEMORY_LIMIT_MB: GucSetting<i32> = GucSetting::<i32>::new(1024);

/// Defines the GUCs (called from `_PG_init` through [`super::init`]: only there, see DEVELOPERS.md).
pub fn define() {
    GucRegistry::define_int_guc(
        c"pg_segment.population_memory_limit",
        c"Largest memory one population_agg state may use (per backend; parallel workers each have their own).",
        c"Beyond it population_agg raises ERROR 53200 instead of growing further. Only superusers can change this setting.",
        &POPULATION_LIMIT_MB,
        1,
        MAX_MB,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
    GucRegistry::define_int_guc(
        c"pg_segment.memory_limit",
        c"Largest memory one pg_segment aggregate state or call may use, population_agg aside (k-means, CLV fits, rfm_breaks, behaviour tags).",
        c"Beyond it the call raises ERROR 53200. The k-means option memory_limit_mb defaults to it and may not exceed it. Only superusers can change this setting.",
        &MEMORY_LIMIT_MB,
        1,
        MAX_MB,
        GucContext::Suset,
        GucFlags::UNIT_MB,
    );
}

pub fn population_limit_bytes() -> usize {
    (POPULATION_LIMIT_MB.get().max(1) as usize) << 20
}

pub fn memory_limit_mb() -> f64 {
    MEMORY_LIMIT_MB.get().max(1) as f64
}

pub fn memory_limit_bytes() -> usize {
    (MEMORY_LIMIT_MB.get().max(1) as usize) << 20
}
