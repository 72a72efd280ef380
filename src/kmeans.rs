//! The kmeans family's SQL surface: the `kmeans_fit`, `kmeans_silhouette` and `kmeans_elbow` aggregates
//! (one `internal` state: the points as a compact `Vec<f64>`, parallel safe through
//! combine/serialize/deserialize) and `kmeans_assign`. Math in `pg_segment_core::kmeans`; declared
//! in `sql/kmeans.sql`.

use crate::pg::*;
use crate::pg_fn;
use pg_segment_core::fallible as fa;
use pg_segment_core::kmeans::{
    check_dims, check_vector, fit, out_of_memory, silhouette, silhouette_bytes, working_bytes, Model, Options, MAX_DIMS, MAX_K,
};
use pg_segment_core::Error;
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Kind {
    Fit = 1,
    Silhouette = 2,
    Elbow = 3,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Fit),
            2 => Some(Kind::Silhouette),
            3 => Some(Kind::Elbow),
            _ => None,
        }
    }
}

/// Aggregate state: the constant arguments of the first row and every feature vector.
struct KState {
    kind: Kind,
    dims: usize,
    /// fit: k; silhouette: sample_size; elbow: k_min
    a: i64,
    /// elbow: k_max
    b: i64,
    seed: i64,
    /// options jsonb (fit, elbow) or model jsonb (silhouette), as raw bytes for comparison
    params: Vec<u8>,
    limit: Options,
    points: Vec<f64>,
}

const SILHOUETTE_DEFAULT_SAMPLE: i64 = 10_000;
const ELBOW_SILHOUETTE_SAMPLE: i64 = 2_000;

impl KState {
    /// Memory the final step will need for `values` feature values, state included: the check
    /// runs while rows arrive, so that an input too large for the limit fails early.
    fn need(&self, values: usize) -> f64 {
        let d = self.dims.max(1);
        let n = values / d;
        let work = match self.kind {
            Kind::Fit => working_bytes(n, d, self.a as usize),
            Kind::Elbow => {
                working_bytes(n, d, self.b as usize).max(silhouette_bytes(n, d, ELBOW_SILHOUETTE_SAMPLE as usize, self.b as usize))
            }
            Kind::Silhouette => silhouette_bytes(n, d, self.a as usize, MAX_K as usize),
        };
        (values * 8) as f64 + work
    }

    /// Grows the points, checking the memory bound on each reallocation; the allocation itself
    /// is fallible (ERROR 53200 when the server cannot provide it).
    fn reserve(&mut self, extra: usize) {
        let need = self.points.len() + extra;
        if need > self.points.capacity() {
            let cap = need.max(self.points.capacity() * 2).max(1024);
            let what = self.what();
            let want = if self.need(cap) > self.limit.memory_limit_bytes() {
                // the exact need, not the doubled capacity
                let exact = self.need(need);
                if exact > self.limit.memory_limit_bytes() {
                    raise(out_of_memory(what, exact, &self.limit));
                }
                need
            } else {
                cap
            };
            fa::reserve_total(&mut self.points, want, what).or_raise();
        }
    }

    fn what(&self) -> &'static str {
        match self.kind {
            Kind::Fit => "kmeans_fit",
            Kind::Silhouette => "kmeans_silhouette",
            Kind::Elbow => "kmeans_elbow",
        }
    }
}

/// Appends the elements of the float8[] argument `n` to `out`; checks shape, length, NULLs and
/// finiteness (the length before anything is copied).
unsafe fn read_features(fc: FunctionCallInfo, n: usize, out: &mut Vec<f64>) -> usize {
    let p = pg_sys::pg_detoast_datum(arg(fc, n).cast_mut_ptr()) as *const u8;
    let ndim = *(p.add(4) as *const i32);
    let dataoffset = *(p.add(8) as *const i32);
    if ndim == 0 {
        raise(Error::invalid("features must not be an empty array"));
    }
    if ndim != 1 {
        raise(Error::invalid(format!("features must be a one-dimensional array, got {ndim} dimensions")));
    }
    let len = *(p.add(16) as *const i32) as usize;
    check_dims(len, "features").or_raise();
    let header = 16 + 8 * ndim as usize;
    if dataoffset != 0 {
        let bitmap = p.add(header);
        for i in 0..len {
            if *bitmap.add(i / 8) & (1 << (i % 8)) == 0 {
                raise(Error::invalid(format!("features[{}] must not be NULL", i + 1)));
            }
        }
    }
    let data = p.add(if dataoffset != 0 { dataoffset as usize } else { (header + 7) & !7 });
    let start = out.len();
    for i in 0..len {
        out.push(f64::from_ne_bytes(std::ptr::read_unaligned(data.add(i * 8) as *const [u8; 8])));
    }
    check_vector(&out[start..], "features").or_raise();
    len
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
        s.reserve(len);
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
    match (state_arg::<KState>(fc, 0), state_arg::<KState>(fc, 1)) {
        (None, None) => ret_null(fc),
        (Some(a), None) => Datum::from(a),
        (None, Some(b)) => {
            let b = &*b;
            let what = b.what();
            let points = fa::copy_of(&b.points, what).or_raise();
            let params = fa::copy_of(&b.params, what).or_raise();
            let copy = KState { kind: b.kind, dims: b.dims, a: b.a, b: b.b, seed: b.seed, params, limit: b.limit.clone(), points };
            Datum::from(new_kstate(fc, copy))
        }
        (Some(a), Some(b)) => {
            let (sa, sb) = (&mut *a, &*b);
            let what = sa.what();
            same((sa.kind, sa.a, sa.b, sa.seed), (sb.kind, sb.a, sb.b, sb.seed), "every argument but features", what);
            same(&sa.params, &sb.params, "options", what);
            if sa.dims != 0 && sb.dims != 0 && sa.dims != sb.dims {
                raise(Error::invalid(format!("features must have the same length in every row: {} and {}", sa.dims, sb.dims)));
            }
            if sa.dims == 0 {
                sa.dims = sb.dims;
            }
            sa.reserve(sb.points.len());
            sa.points.extend_from_slice(&sb.points);
            Datum::from(a)
        }
    }
});

// serialized: u8 version 1, u8 kind, u32 dims, i64 a, i64 b, i64 seed, u32 params length, params,
// f64 memory limit (MB), u64 number of values, values (little endian)
pg_fn!(fn pgseg_kmeans_serialize(fc) {
    let s = &*arg(fc, 0).cast_mut_ptr::<KState>();
    let len = 1 + 1 + 4 + 24 + 4 + s.params.len() + 8 + 8 + s.points.len() * 8;
    varlena_from(len, |out| {
        let mut pos = 0;
        let mut put = |b: &[u8]| {
            out[pos..pos + b.len()].copy_from_slice(b);
            pos += b.len();
        };
        put(&[1, s.kind as u8]);
        put(&(s.dims as u32).to_le_bytes());
        put(&s.a.to_le_bytes());
        put(&s.b.to_le_bytes());
        put(&s.seed.to_le_bytes());
        put(&(s.params.len() as u32).to_le_bytes());
        put(&s.params);
        put(&s.limit.memory_limit_mb.to_le_bytes());
        put(&(s.points.len() as u64).to_le_bytes());
        for x in &s.points {
            put(&x.to_le_bytes());
        }
    })
});

pg_fn!(fn pgseg_kmeans_deserialize(fc) {
    let b = arg_bytes(fc, 0);
    let mut pos = 0usize;
    let mut take = |n: usize| -> &[u8] {
        if n > b.len() - pos {
            raise(Error::binary("kmeans partial state is truncated"));
        }
        let s = &b[pos..pos + n];
        pos += n;
        s
    };
    let head = take(2);
    let kind = match (head[0], Kind::from_u8(head[1])) {
        (1, Some(k)) => k,
        _ => raise(Error::binary("kmeans partial state has an unknown version or kind")),
    };
    let dims = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    if dims > MAX_DIMS {
        raise(Error::binary("kmeans partial state has an impossible vector length"));
    }
    let a = i64::from_le_bytes(take(8).try_into().unwrap());
    let bb = i64::from_le_bytes(take(8).try_into().unwrap());
    let seed = i64::from_le_bytes(take(8).try_into().unwrap());
    let plen = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let params = fa::copy_of(take(plen), "kmeans partial state").or_raise();
    // never above the server's limit, whatever the partial state says
    let recorded = f64::from_le_bytes(take(8).try_into().unwrap());
    let cap = crate::pg::guc::memory_limit_mb();
    let limit = Options { memory_limit_mb: if recorded > 0.0 && recorded <= cap { recorded } else { cap }, ..Options::default() };
    let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
    // the count is checked against the bytes present before anything is sized from it
    let raw = take(n.saturating_mul(8));
    if (dims == 0) != (n == 0) || (dims != 0 && !n.is_multiple_of(dims)) {
        raise(Error::binary("kmeans partial state: the values do not make whole feature vectors"));
    }
    let points: Vec<f64> = fa::collect(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())), "kmeans partial state").or_raise();
    let st = KState { kind, dims, a, b: bb, seed, params, limit, points };
    deserialized(st)
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
