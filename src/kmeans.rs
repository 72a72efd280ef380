//! The kmeans family's SQL surface: the `kmeans_fit`, `kmeans_silhouette` and `kmeans_elbow` aggregates
//! (one `internal` state: the points as a compact `Vec<f64>`, parallel safe through
//! combine/serialize/deserialize) and `kmeans_assign`. Math in `pg_segment_core::kmeans`; declared
//! in `sql/kmeans.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::kmeans::{fit, silhouette, KState, Kind, Model, Options, ELBOW_SILHOUETTE_SAMPLE, MAX_K, SILHOUETTE_DEFAULT_SAMPLE};
use pg_segment_core::Error;
use pgrx::pg_sys::{Datum, FunctionCallInfo};
use serde_json::json;

unsafe fn new_kstate(fc: FunctionCallInfo, s: KState) -> *mut KState {
    new_state(fc, s.what(), s)
}

unsafe fn opt_bytes<'a>(fc: FunctionCallInfo, n: usize) -> &'a [u8] {
    if n < nargs(fc) && !is_null(fc, n) {
        arg_bytes(fc, n)
    } else {
        &[]
    }
}

unsafe fn json_of(fc: FunctionCallInfo, n: usize) -> String {
    if n < nargs(fc) {
        arg_json(fc, n, "options")
    } else {
        "{}".into()
    }
}

/// Checks that a constant argument did not change between rows.
fn same<T: PartialEq>(a: T, b: T, name: &str, what: &str) {
    if a != b {
        raise(Error::invalid(format!("{what}: {name} must be the same in every row of the aggregate")));
    }
}

unsafe fn int_arg(fc: FunctionCallInfo, n: usize, name: &str, default: i64, is_i64: bool) -> i64 {
    if n >= nargs(fc) {
        return default;
    }
    if is_null(fc, n) {
        raise(Error::invalid(format!("{name} must not be NULL")));
    }
    if is_i64 {
        arg_i64(fc, n)
    } else {
        arg_i32(fc, n) as i64
    }
}

/// The frame of the three transitions: a row whose features (argument `features`) are NULL
/// leaves the state as it is; otherwise `args` reads the other arguments, `same_as` checks
/// them against the state of the rows before, or `first` makes the state of the first row, and
/// the row's features are added.
unsafe fn transition<A>(
    fc: FunctionCallInfo,
    features: usize,
    args: impl FnOnce() -> A,
    same_as: impl FnOnce(&KState, &A),
    first: impl FnOnce(A) -> KState,
) -> Datum {
    let state = state_arg::<KState>(fc, 0);
    if is_null(fc, features) {
        return state_or_null(fc, state);
    }
    let a = args();
    let st = match state {
        Some(s) => {
            same_as(&*s, &a);
            s
        }
        None => new_kstate(fc, first(a)),
    };
    add_features(fc, &mut *st, features);
    Datum::from(st)
}

// kmeans_fit transition: (state, features float8[], k int [, seed bigint [, options jsonb]])
pg_fn!(fn pgseg_kmeans_fit_trans(fc) {
    transition(
        fc,
        1,
        || (int_arg(fc, 2, "k", 0, false), int_arg(fc, 3, "seed", 42, true), opt_bytes(fc, 4)),
        |s, &(k, seed, params)| {
            same(s.a, k, "k", "kmeans_fit");
            same(s.seed, seed, "seed", "kmeans_fit");
            same(s.params.as_slice(), params, "options", "kmeans_fit");
        },
        |(k, seed, params)| {
            if !(1..=MAX_K).contains(&k) {
                raise(Error::invalid(format!("k must be between 1 and {MAX_K}, got {k}")));
            }
            let limit = Options::parse(&json_of(fc, 4), crate::pg::guc::memory_limit_mb()).or_raise();
            let params = fa::copy_of(params, "kmeans_fit").or_raise();
            KState { kind: Kind::Fit, dims: 0, a: k, b: 0, seed, params, limit, points: Vec::new() }
        },
    )
});

// kmeans_silhouette transition: (state, model jsonb, features float8[] [, sample_size int])
pg_fn!(fn pgseg_kmeans_silhouette_trans(fc) {
    transition(
        fc,
        2,
        || {
            if is_null(fc, 1) {
                raise(Error::invalid("model must not be NULL"));
            }
            (int_arg(fc, 3, "sample_size", SILHOUETTE_DEFAULT_SAMPLE, false), arg_bytes(fc, 1))
        },
        |s, &(sample, params)| {
            same(s.a, sample, "sample_size", "kmeans_silhouette");
            same(s.params.as_slice(), params, "model", "kmeans_silhouette");
        },
        |(sample, params)| {
            if !(2..=pg_segment_core::kmeans::MAX_SILHOUETTE_SAMPLE).contains(&sample) {
                raise(Error::invalid(format!("sample_size must be between 2 and {}, got {sample}", pg_segment_core::kmeans::MAX_SILHOUETTE_SAMPLE)));
            }
            let model = Model::from_json(&arg_json(fc, 1, "model")).or_raise();
            // the server's limit: the options recorded in a (possibly hand-made) model are not
            // trusted to raise it
            let limit = Options { memory_limit_mb: crate::pg::guc::memory_limit_mb(), ..Options::default() };
            let params = fa::copy_of(params, "kmeans_silhouette").or_raise();
            KState { kind: Kind::Silhouette, dims: model.dims, a: sample, b: 0, seed: model.seed, params, limit, points: Vec::new() }
        },
    )
});

// kmeans_elbow transition: (state, features float8[], k_min int, k_max int [, seed bigint [, options jsonb]])
pg_fn!(fn pgseg_kmeans_elbow_trans(fc) {
    transition(
        fc,
        1,
        || (int_arg(fc, 2, "k_min", 0, false), int_arg(fc, 3, "k_max", 0, false), int_arg(fc, 4, "seed", 42, true), opt_bytes(fc, 5)),
        |s, &(k_min, k_max, seed, params)| {
            same((s.a, s.b), (k_min, k_max), "k_min and k_max", "kmeans_elbow");
            same(s.seed, seed, "seed", "kmeans_elbow");
            same(s.params.as_slice(), params, "options", "kmeans_elbow");
        },
        |(k_min, k_max, seed, params)| {
            if k_min < 1 || k_max < k_min || k_max - k_min >= 20 || k_max > MAX_K {
                raise(Error::invalid(format!("k_min and k_max must satisfy 1 <= k_min <= k_max <= {MAX_K} with at most 20 values of k, got {k_min} and {k_max}")));
            }
            let limit = Options::parse(&json_of(fc, 5), crate::pg::guc::memory_limit_mb()).or_raise();
            let params = fa::copy_of(params, "kmeans_elbow").or_raise();
            KState { kind: Kind::Elbow, dims: 0, a: k_min, b: k_max, seed, params, limit, points: Vec::new() }
        },
    )
});

pg_fn!(fn pgseg_kmeans_combine(fc) {
    combine::<KState>(fc, |b| new_kstate(fc, b.try_clone().or_raise()), |a, b| a.merge(b).or_raise())
});

pg_fn!(fn pgseg_kmeans_serialize(fc) {
    let s = &*arg(fc, 0).cast_mut_ptr::<KState>();
    varlena_from(s.serialized_len(), |out| s.serialize_into(out))
});

pg_fn!(fn pgseg_kmeans_deserialize(fc) {
    deserialized(KState::deserialize(arg_bytes(fc, 0), crate::pg::guc::memory_limit_mb()).or_raise())
});

unsafe fn opts_of(s: &KState) -> Options {
    if s.params.is_empty() {
        Options { memory_limit_mb: crate::pg::guc::memory_limit_mb(), ..Options::default() }
    } else {
        // the bytes are a jsonb value: parse them through jsonb_out
        let text = jsonb_bytes_text(&s.params, "options");
        Options::parse(&text, crate::pg::guc::memory_limit_mb()).or_raise()
    }
}

pg_fn!(fn pgseg_kmeans_fit_final(fc) {
    let st = match state_arg::<KState>(fc, 0) {
        None => raise(Error::invalid("kmeans_fit: no rows with features to cluster")),
        Some(s) => &mut *s,
    };
    let opts = opts_of(st);
    let model = fit(&mut st.points, st.dims, st.a, st.seed, &opts).or_raise();
    ret_jsonb(&model.to_json().to_string())
});

pg_fn!(fn pgseg_kmeans_silhouette_final(fc) {
    let st = match state_arg::<KState>(fc, 0) {
        None => return ret_null(fc),
        Some(s) => &mut *s,
    };
    let model = Model::from_json(&jsonb_bytes_text(&st.params, "model")).or_raise();
    match silhouette(&model, &mut st.points, st.a, &st.limit).or_raise() {
        Some(s) => ret_f64(s),
        None => ret_null(fc),
    }
});

pg_fn!(fn pgseg_kmeans_elbow_final(fc) {
    let st = match state_arg::<KState>(fc, 0) {
        None => raise(Error::invalid("kmeans_elbow: no rows with features to cluster")),
        Some(s) => &mut *s,
    };
    let opts = opts_of(st);
    let mut rows = Vec::new();
    for k in st.a..=st.b {
        let model = fit(&mut st.points, st.dims, k, st.seed, &opts).or_raise();
        let sil = if k >= 2 { silhouette(&model, &mut st.points, ELBOW_SILHOUETTE_SAMPLE, &opts).or_raise() } else { None };
        rows.push(json!({"k": k, "inertia": model.inertia, "iterations": model.iterations, "converged": model.converged, "silhouette": sil}));
    }
    ret_jsonb(&serde_json::Value::Array(rows).to_string())
});

// kmeans_assign(model jsonb, features float8[]) -> int
pg_fn!(fn pgseg_kmeans_assign(fc) {
    let model = cached(fc, arg_bytes(fc, 0), || Model::from_json(&arg_json(fc, 0, "model")).or_raise());
    let id = with_features(fc, 1, |x| model.assign(x).or_raise());
    ret_i32(id as i32)
});
