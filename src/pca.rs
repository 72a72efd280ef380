//! The pca family's SQL surface: the `pca_fit` aggregate (the k-means state of kind `Pca`: its
//! combine, serialize and deserialize functions are the k-means ones) and `pca_transform`. Math
//! in `pg_segment_core::pca`; declared in `sql/pca.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::kmeans::{self, KState, Kind};
use pg_segment_core::pca::{fit, Model, Options};
use pg_segment_core::Error;
use pgrx::pg_sys::Datum;
use pgrx::IntoDatum;

const WHAT: &str = "pca_fit";

/// The options of a state (its jsonb bytes, empty for none), the server's limit as the cap.
unsafe fn options_of(params: &[u8]) -> Options {
    let text = if params.is_empty() { "{}".to_string() } else { jsonb_bytes_text(params, "options") };
    Options::parse(&text, crate::pg::guc::memory_limit_mb()).or_raise()
}

// pca_fit transition: (state, features float8[] [, options jsonb])
pg_fn!(fn pgseg_pca_fit_trans(fc) {
    let state = state_arg::<KState>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let params = same_options(fc, 2, state.map(|s| (*s).params.as_slice()), WHAT, "options");
    let st = match state {
        Some(s) => s,
        None => {
            let opts = options_of(params);
            let limit = kmeans::Options { memory_limit_mb: opts.memory_limit_mb, ..kmeans::Options::default() };
            let params = fa::copy_of(params, WHAT).or_raise();
            new_state(fc, WHAT, KState { kind: Kind::Pca, dims: 0, a: 0, b: 0, seed: 0, params, limit, points: Vec::new() })
        }
    };
    add_features(fc, &mut *st, 1);
    Datum::from(st)
});

pg_fn!(fn pgseg_pca_fit_final(fc) {
    let st = match state_arg::<KState>(fc, 0) {
        None => raise(Error::invalid("pca_fit: no rows with features")),
        Some(s) => &mut *s,
    };
    let mut opts = options_of(&st.params);
    // a partial state's recorded limit never raises the server's (KState::deserialize caps it)
    opts.memory_limit_mb = opts.memory_limit_mb.min(st.limit.memory_limit_mb);
    let model = fit(&mut st.points, st.dims, &opts).or_raise();
    ret_jsonb(&model.to_json().to_string())
});

// pca_transform(model jsonb, features float8[]) -> float8[]
pg_fn!(fn pgseg_pca_transform(fc) {
    let model = cached(fc, arg_bytes(fc, 0), || Model::from_json(&arg_json(fc, 0, "model")).or_raise());
    let y = with_features(fc, 1, |x| model.transform(x).or_raise());
    y.into_datum().unwrap()
});
