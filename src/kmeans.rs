//! The kmeans family's SQL surface: the `kmeans_fit`, `kmeans_silhouette` and `kmeans_elbow` aggregates
//! (one `internal` state: the points as a compact `Vec<f64>`, parallel safe through
//! combine/serialize/deserialize) and `kmeans_assign`. Math in `pg_segment_core::kmeans`; declared
//! in `sql/kmeans.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::kmeans::{
    check_dims, check_vector, fit, silhouette, KState, Kind, Model, Options, ELBOW_SILHOUETTE_SAMPLE, MAX_K, SILHOUETTE_DEFAULT_SAMPLE,
};
use pg_segment_core::Error;
use pgrx::pg_sys::{Datum, FunctionCallInfo};
use serde_json::json;

/// Appends the elements of the float8[] argument `n` to `out`; checks shape, length, NULLs and
/// finiteness (the length before anything is copied).
unsafe fn read_features(fc: FunctionCallInfo, n: usize, out: &mut Vec<f64>) -> usize {
    let a = F64Array::arg(fc, n);
    if a.ndim == 0 {
        raise(Error::invalid("features must not be an empty array"));
    }
    if a.ndim != 1 {
        raise(Error::invalid(format!("features must be a one-dimensional array, got {} dimensions", a.ndim)));
    }
    check_dims(a.len, "features").or_raise();
    if let Some(i) = (0..a.len).find(|&i| a.is_null(i)) {
        raise(Error::invalid(format!("features[{}] must not be NULL", i + 1)));
    }
    let start = out.len();
    out.extend(a.values());
    check_vector(&out[start..], "features").or_raise();
    a.len
}

unsafe fn new_kstate(fc: FunctionCallInfo, s: KState) -> *mut KState {
    new_state(fc, s.what(), s)
}

thread_local! {
    static ROW: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Adds the features of argument `fpos` to the state (NULL arrays are skipped).
unsafe fn add_row(fc: FunctionCallInfo, st: *mut KState, fpos: usize) {
    ROW.with(|row| {
        let mut row = row.borrow_mut();
        row.clear();
        let len = read_features(fc, fpos, &mut row);
        let s = &mut *st;
        if s.dims == 0 {
            s.dims = len;
        } else if s.dims != len {
            raise(Error::invalid(format!("features must have the same length in every row: {} and {len}", s.dims)));
        }
        s.reserve(len).or_raise();
        s.points.extend_from_slice(&row);
    });
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

// kmeans_fit transition: (state, features float8[], k int [, seed bigint [, options jsonb]])
pg_fn!(fn pgseg_kmeans_fit_trans(fc) {
    let state = state_arg::<KState>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let k = int_arg(fc, 2, "k", 0, false);
    let seed = int_arg(fc, 3, "seed", 42, true);
    let params = opt_bytes(fc, 4);
    let st = match state {
        Some(s) => {
            same((*s).a, k, "k", "kmeans_fit");
            same((*s).seed, seed, "seed", "kmeans_fit");
            same((*s).params.as_slice(), params, "options", "kmeans_fit");
            s
        }
        None => {
            if !(1..=MAX_K).contains(&k) {
                raise(Error::invalid(format!("k must be between 1 and {MAX_K}, got {k}")));
            }
            let limit = Options::parse(&json_of(fc, 4), crate::pg::guc::memory_limit_mb()).or_raise();
            let params = fa::copy_of(params, "kmeans_fit").or_raise();
            new_kstate(fc, KState { kind: Kind::Fit, dims: 0, a: k, b: 0, seed, params, limit, points: Vec::new() })
        }
    };
    add_row(fc, st, 1);
    Datum::from(st)
});

// kmeans_silhouette transition: (state, model jsonb, features float8[] [, sample_size int])
pg_fn!(fn pgseg_kmeans_silhouette_trans(fc) {
    let state = state_arg::<KState>(fc, 0);
    if is_null(fc, 2) {
        return state_or_null(fc, state);
    }
    if is_null(fc, 1) {
        raise(Error::invalid("model must not be NULL"));
    }
    let sample = int_arg(fc, 3, "sample_size", SILHOUETTE_DEFAULT_SAMPLE, false);
    let params = arg_bytes(fc, 1);
    let st = match state {
        Some(s) => {
            same((*s).a, sample, "sample_size", "kmeans_silhouette");
            same((*s).params.as_slice(), params, "model", "kmeans_silhouette");
            s
        }
        None => {
            if !(2..=pg_segment_core::kmeans::MAX_SILHOUETTE_SAMPLE).contains(&sample) {
                raise(Error::invalid(format!("sample_size must be between 2 and {}, got {sample}", pg_segment_core::kmeans::MAX_SILHOUETTE_SAMPLE)));
            }
            let model = Model::from_json(&arg_json(fc, 1, "model")).or_raise();
            // the server's limit: the options recorded in a (possibly hand-made) model are not
            // trusted to raise it
            let limit = Options { memory_limit_mb: crate::pg::guc::memory_limit_mb(), ..Options::default() };
            let params = fa::copy_of(params, "kmeans_silhouette").or_raise();
            new_kstate(fc, KState { kind: Kind::Silhouette, dims: model.dims, a: sample, b: 0, seed: model.seed, params, limit, points: Vec::new() })
        }
    };
    add_row(fc, st, 2);
    Datum::from(st)
});

// kmeans_elbow transition: (state, features float8[], k_min int, k_max int [, seed bigint [, options jsonb]])
pg_fn!(fn pgseg_kmeans_elbow_trans(fc) {
    let state = state_arg::<KState>(fc, 0);
    if is_null(fc, 1) {
        return state_or_null(fc, state);
    }
    let k_min = int_arg(fc, 2, "k_min", 0, false);
    let k_max = int_arg(fc, 3, "k_max", 0, false);
    let seed = int_arg(fc, 4, "seed", 42, true);
    let params = opt_bytes(fc, 5);
    let st = match state {
        Some(s) => {
            same(((*s).a, (*s).b), (k_min, k_max), "k_min and k_max", "kmeans_elbow");
            same((*s).seed, seed, "seed", "kmeans_elbow");
            same((*s).params.as_slice(), params, "options", "kmeans_elbow");
            s
        }
        None => {
            if k_min < 1 || k_max < k_min || k_max - k_min >= 20 || k_max > MAX_K {
                raise(Error::invalid(format!("k_min and k_max must satisfy 1 <= k_min <= k_max <= {MAX_K} with at most 20 values of k, got {k_min} and {k_max}")));
            }
            let limit = Options::parse(&json_of(fc, 5), crate::pg::guc::memory_limit_mb()).or_raise();
            let params = fa::copy_of(params, "kmeans_elbow").or_raise();
            new_kstate(fc, KState { kind: Kind::Elbow, dims: 0, a: k_min, b: k_max, seed, params, limit, points: Vec::new() })
        }
    };
    add_row(fc, st, 1);
    Datum::from(st)
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
    let id = ROW.with(|row| {
        let mut row = row.borrow_mut();
        row.clear();
        read_features(fc, 1, &mut row);
        model.assign(&row).or_raise()
    });
    ret_i32(id as i32)
});
