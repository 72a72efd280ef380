//! k-means over per-customer feature vectors: standardization, greedy k-means++ seeding,
//! Lloyd iterations, assignment, exact silhouette on a deterministic sample.
//!
//! Reproducibility: `fit` first sorts the points (lexicographically, `f64::total_cmp`), so the
//! result depends only on the multiset of points, the seed and the options, never on the order in
//! which rows arrived (serial and parallel plans give the same model, bit for bit).

use super::cancel::{self, Ticker};
use super::codec::{Reader, Writer};
use super::config::{model_doc, Obj};
use super::fallible::{self as fa, bytes_of};
use super::{ErrCode, Error, Result};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standardization {
    /// (x - mean) / std
    Zscore,
    /// ln(1 + x), then z-score; needs x > -1
    LogZscore,
    None,
}

impl Standardization {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "zscore" => Ok(Self::Zscore),
            "log_zscore" => Ok(Self::LogZscore),
            "none" => Ok(Self::None),
            other => Err(Error::invalid(format!("options: key \"standardize\" must be 'zscore', 'log_zscore' or 'none', got '{other}'"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Zscore => "zscore",
            Self::LogZscore => "log_zscore",
            Self::None => "none",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub standardize: Standardization,
    pub max_iterations: usize,
    /// relative: the run stops when the squared centre shift is at most tolerance × the mean
    /// variance of the standardized features (scikit-learn's rule)
    pub tolerance: f64,
    /// seeding runs; the one of least inertia is kept
    pub n_init: usize,
    /// bound on the points kept plus the working memory of the fit; at most the server's
    /// `pg_segment.memory_limit`, which is also the default
    pub memory_limit_mb: f64,
}

pub const DEFAULT_MEMORY_LIMIT_MB: f64 = 1024.0;
/// Largest k of a fit (and of a model read back).
pub const MAX_K: i64 = 1_000;
/// Largest length of a feature vector.
pub const MAX_DIMS: usize = 1_000;
/// The setting that caps `memory_limit_mb` (named in messages).
pub const LIMIT_SETTING: &str = fa::MEMORY_SETTING;

impl Default for Options {
    fn default() -> Self {
        Options {
            standardize: Standardization::Zscore,
            max_iterations: 300,
            tolerance: 1e-4,
            n_init: 1,
            memory_limit_mb: DEFAULT_MEMORY_LIMIT_MB,
        }
    }
}

impl Options {
    /// Reads the options; `memory_limit_mb` defaults to `cap_mb` (the server's
    /// `pg_segment.memory_limit`) and may not exceed it.
    pub fn parse(json: &str, cap_mb: f64) -> Result<Options> {
        let mut o = Obj::parse("options", json)?;
        let d = Options::default();
        let standardize = Standardization::parse(&o.string("standardize", d.standardize.name())?)?;
        let max_iterations = o.i64("max_iterations", d.max_iterations as i64)?;
        let tolerance = o.f64("tolerance", d.tolerance)?;
        let n_init = o.i64("n_init", d.n_init as i64)?;
        let memory_limit_mb = o.f64("memory_limit_mb", cap_mb)?;
        o.finish()?;
        if !(1..=10_000).contains(&max_iterations) {
            return Err(Error::invalid(format!("options: key \"max_iterations\" must be between 1 and 10000, got {max_iterations}")));
        }
        if !(0.0..=1.0).contains(&tolerance) {
            return Err(Error::invalid(format!("options: key \"tolerance\" must be between 0 and 1, got {tolerance}")));
        }
        if !(1..=100).contains(&n_init) {
            return Err(Error::invalid(format!("options: key \"n_init\" must be between 1 and 100, got {n_init}")));
        }
        if !(memory_limit_mb > 0.0 && memory_limit_mb <= cap_mb) {
            return Err(Error::invalid(format!(
                "options: key \"memory_limit_mb\" must be above 0 and at most {LIMIT_SETTING} ({cap_mb} MB), got {memory_limit_mb}"
            ))
            .with_hint(format!("only a superuser may raise {LIMIT_SETTING}")));
        }
        Ok(Options { standardize, max_iterations: max_iterations as usize, tolerance, n_init: n_init as usize, memory_limit_mb })
    }

    pub fn memory_limit_bytes(&self) -> f64 {
        self.memory_limit_mb * 1_048_576.0
    }
}

pub fn out_of_memory(what: &str, needed: f64, opts: &Options) -> Error {
    Error {
        code: ErrCode::OutOfMemory,
        message: format!(
            "{what}: the feature vectors and the working memory of the fit need {needed:.0} bytes, above options.memory_limit_mb = {} ({:.0} bytes)",
            opts.memory_limit_mb,
            opts.memory_limit_bytes()
        ),
        hint: Some(format!("fit on a sample (e.g. TABLESAMPLE or WHERE hashtext(id::text) % 10 = 0), or raise options.memory_limit_mb up to {LIMIT_SETTING} (which only a superuser may raise)")),
    }
}

/// Bytes a fit of `n` points of `dims` values with `k` clusters needs beyond the points
/// themselves, at its peak: the standardized copy, the four per-point arrays of the seeding
/// (the sort's index and copy, taken earlier, are smaller) and the centres of the runs.
pub fn working_bytes(n: usize, dims: usize, k: usize) -> f64 {
    let (n, d, k) = (n as f64, dims as f64, k as f64);
    8.0 * n * d + 32.0 * n + 32.0 * k * d + 64.0 * d
}

/// Bytes a silhouette over `n` points needs beyond the points, with a sample of `s`.
pub fn silhouette_bytes(n: usize, dims: usize, s: usize, k: usize) -> f64 {
    let (n, d, s, k) = (n as f64, dims as f64, s.min(n) as f64, k as f64);
    (8.0 * n * d + 4.0 * n).max(8.0 * n + 8.0 * s * d + 8.0 * s + 16.0 * k) + 8.0 * d
}

/// Checks one feature vector: the `what` argument's elements must be finite (log_zscore: > -1).
pub fn check_vector(xs: &[f64], what: &str) -> Result<()> {
    if xs.is_empty() {
        return Err(Error::invalid(format!("{what} must not be an empty array")));
    }
    check_dims(xs.len(), what)?;
    for (i, x) in xs.iter().enumerate() {
        if !x.is_finite() {
            return Err(Error::invalid(format!("{what}[{}] must be a finite number, got {x}", i + 1)));
        }
    }
    Ok(())
}

/// Checks the length of a feature vector before anything is copied.
pub fn check_dims(len: usize, what: &str) -> Result<()> {
    if len > MAX_DIMS {
        return Err(Error::invalid(format!("{what} has {len} elements, at most {MAX_DIMS} are supported")));
    }
    Ok(())
}

/// Standardization parameters: z = (t(x) - mean) / scale, t = ln(1 + x) for log_zscore.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaler {
    pub kind: Standardization,
    pub mean: Vec<f64>,
    pub scale: Vec<f64>,
}

impl Scaler {
    fn transform1(&self, x: f64) -> f64 {
        match self.kind {
            Standardization::LogZscore => x.ln_1p(),
            _ => x,
        }
    }

    /// Standardizes one value of feature `j`. When `t - mean` overflows (features near ±f64::MAX
    /// have a scale of the same size), the quotients are taken first; the result is non-finite only
    /// for a value far outside the data the scaler was fitted on.
    #[inline]
    fn z1(&self, j: usize, x: f64) -> f64 {
        self.z_of_t(j, self.transform1(x))
    }

    /// [`Scaler::z1`] of a value already transformed (ln(1 + x) for log_zscore).
    #[inline]
    fn z_of_t(&self, j: usize, t: f64) -> f64 {
        let z = (t - self.mean[j]) / self.scale[j];
        if z.is_finite() {
            z
        } else {
            t / self.scale[j] - self.mean[j] / self.scale[j]
        }
    }

    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        for j in 0..x.len() {
            out[j] = self.z1(j, x[j]);
        }
    }

    /// The standardized form of a feature vector given to a fitted model (`kmeans_assign`,
    /// `pca_transform`): its length, finiteness and domain checked, and an error for a value too
    /// far outside the fitted data to standardize.
    pub fn standardize_input(&self, x: &[f64]) -> Result<Vec<f64>> {
        let dims = self.mean.len();
        if x.len() != dims {
            return Err(Error::invalid(format!("features has {} elements, the model was fitted on {dims}", x.len())));
        }
        check_vector(x, "features")?;
        if self.kind == Standardization::LogZscore {
            if let Some(i) = x.iter().position(|v| *v <= -1.0) {
                return Err(Error::invalid(format!("features[{}] must be above -1 for a log_zscore model, got {}", i + 1, x[i])));
            }
        }
        let mut z = vec![0.0; dims];
        self.apply(x, &mut z);
        if let Some(j) = z.iter().position(|v| !v.is_finite()) {
            return Err(Error::out_of_range(format!(
                "features[{}] = {} is too far outside the data the model was fitted on to standardize",
                j + 1,
                x[j]
            )));
        }
        Ok(z)
    }

    /// Back to original units. A centroid lies within its points, so a result that rounds past
    /// ±f64::MAX is that bound.
    pub fn invert(&self, z: &[f64]) -> Vec<f64> {
        z.iter()
            .enumerate()
            .map(|(j, &v)| {
                let (scale, mean) = (self.scale[j], self.mean[j]);
                let mut t = v * scale + mean;
                if !t.is_finite() {
                    t = scale * (v + mean / scale);
                }
                let x = match self.kind {
                    Standardization::LogZscore => t.exp_m1(),
                    _ => t,
                };
                if x.is_infinite() && t.is_finite() {
                    f64::MAX.copysign(x)
                } else {
                    x
                }
            })
            .collect()
    }

    /// Fits on `points` (n × dims, row-major) and returns the standardized copy.
    pub fn fit(kind: Standardization, points: &[f64], dims: usize) -> Result<(Scaler, Vec<f64>)> {
        Self::fit_with(kind, points, dims, false)
    }

    /// [`Scaler::fit`] that also centres unstandardized features (`none`: mean = the data's
    /// mean, scale 1), as principal components need.
    pub fn fit_centred(kind: Standardization, points: &[f64], dims: usize) -> Result<(Scaler, Vec<f64>)> {
        Self::fit_with(kind, points, dims, true)
    }

    fn fit_with(kind: Standardization, points: &[f64], dims: usize, centre_none: bool) -> Result<(Scaler, Vec<f64>)> {
        let n = points.len() / dims;
        let mut t = fa::copy_of(points, "kmeans: standardized features")?;
        let mut tick = Ticker::new();
        if kind == Standardization::LogZscore {
            for (i, v) in t.iter_mut().enumerate() {
                tick.tick(1);
                if *v <= -1.0 {
                    return Err(Error::invalid(format!(
                        "features[{}] is {} in some row: log_zscore needs every value above -1 (it uses ln(1 + x))",
                        i % dims + 1,
                        *v
                    )));
                }
                *v = v.ln_1p();
            }
        }
        let mut mean = vec![0.0; dims];
        let mut scale = vec![1.0; dims];
        let centre = kind != Standardization::None || centre_none;
        if centre {
            for row in t.chunks_exact(dims) {
                tick.tick(dims as u64);
                for j in 0..dims {
                    mean[j] += row[j];
                }
            }
            for m in mean.iter_mut() {
                *m /= n as f64;
            }
            let mut var = vec![0.0; dims];
            for row in t.chunks_exact(dims) {
                tick.tick(dims as u64);
                for j in 0..dims {
                    let d = row[j] - mean[j];
                    var[j] += d * d;
                }
            }
            for j in 0..dims {
                let mut sd = (var[j] / n as f64).sqrt();
                if !(mean[j].is_finite() && sd.is_finite()) {
                    // the sums overflowed (features beyond about 1e154): the same figures from
                    // the values divided by the largest magnitude, which cannot overflow
                    (mean[j], sd) = scaled_moments(&t, dims, j);
                }
                // a constant feature is left unscaled (as scikit-learn's StandardScaler does)
                scale[j] = if sd > 0.0 && kind != Standardization::None { sd } else { 1.0 };
            }
        }
        let scaler = Scaler { kind, mean, scale };
        if centre {
            for row in t.chunks_exact_mut(dims) {
                tick.tick(dims as u64);
                for j in 0..dims {
                    row[j] = scaler.z_of_t(j, row[j]);
                }
            }
        }
        Ok((scaler, t))
    }
}

/// Mean and standard deviation of column `j` of `t` (n × dims), computed on the values divided
/// by their largest magnitude M and scaled back: every intermediate stays within [-2, 4], so the
/// figures are finite for any finite input (the mean within [-M, M], the deviation at most M).
fn scaled_moments(t: &[f64], dims: usize, j: usize) -> (f64, f64) {
    let big = t.chunks_exact(dims).fold(0.0f64, |m, r| m.max(r[j].abs()));
    if big == 0.0 {
        return (0.0, 0.0);
    }
    let n = (t.len() / dims) as f64;
    let mean = t.chunks_exact(dims).map(|r| r[j] / big).sum::<f64>() / n;
    let var = t.chunks_exact(dims).map(|r| (r[j] / big - mean).powi(2)).sum::<f64>() / n;
    (mean * big, var.sqrt() * big)
}

#[inline]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for j in 0..a.len() {
        let d = a[j] - b[j];
        s += d * d;
    }
    s
}

/// Index and squared distance of the nearest centre (ties: lowest index).
#[inline]
pub fn nearest(x: &[f64], centres: &[f64], dims: usize) -> (usize, f64) {
    let mut best = (0usize, f64::INFINITY);
    for (c, ctr) in centres.chunks_exact(dims).enumerate() {
        let d = dist2(x, ctr);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

/// Sorts the rows of `points` lexicographically (total order on f64) and returns how many
/// distinct rows there are.
pub fn sort_points(points: &mut Vec<f64>, dims: usize) -> Result<usize> {
    let n = points.len() / dims;
    if n > u32::MAX as usize {
        return Err(Error::limit(format!("kmeans: {n} feature vectors, at most {} are supported", u32::MAX)));
    }
    let cmp = |a: &[f64], b: &[f64]| {
        for j in 0..dims {
            let o = a[j].total_cmp(&b[j]);
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    };
    let mut idx: Vec<u32> = fa::collect(0..n as u32, "kmeans: sort order")?;
    cancel::sort_unstable_by(&mut idx, |&a, &b| cmp(&points[a as usize * dims..][..dims], &points[b as usize * dims..][..dims]));
    let mut sorted = fa::vec_with_capacity(points.len(), "kmeans: sorted features")?;
    for &i in &idx {
        sorted.extend_from_slice(&points[i as usize * dims..][..dims]);
    }
    drop(idx);
    *points = sorted;
    let mut distinct = if n > 0 { 1 } else { 0 };
    let mut tick = Ticker::new();
    for i in 1..n {
        tick.tick(dims as u64);
        if cmp(&points[(i - 1) * dims..][..dims], &points[i * dims..][..dims]) != std::cmp::Ordering::Equal {
            distinct += 1;
        }
    }
    Ok(distinct)
}

fn rng_for(seed: i64, run: u64) -> Pcg64Mcg {
    // nearby seeds give unrelated streams
    Pcg64Mcg::seed_from_u64(super::mix::mix64((seed as u64) ^ run.wrapping_mul(super::mix::GOLDEN)))
}

/// Greedy k-means++ (Arthur & Vassilvitskii 2007, with 2 + ln k local trials per centre).
fn seed_centres(z: &[f64], dims: usize, k: usize, rng: &mut Pcg64Mcg) -> Result<Vec<f64>> {
    let n = z.len() / dims;
    let trials = 2 + (k as f64).ln() as usize;
    let what = "kmeans: seeding";
    let mut centres = fa::vec_with_capacity(k * dims, what)?;
    let first = rng.gen_range(0..n);
    centres.extend_from_slice(&z[first * dims..][..dims]);
    let mut closest: Vec<f64> = fa::collect(z.chunks_exact(dims).map(|x| dist2(x, &centres[..dims])), what)?;
    let mut cum = fa::vec_filled(n, 0.0, what)?;
    let mut cand = fa::vec_filled(n, 0.0, what)?;
    let mut best = fa::vec_filled(n, 0.0, what)?;
    let mut tick = Ticker::new();
    for _ in 1..k {
        tick.tick(n as u64);
        let mut acc = 0.0;
        for i in 0..n {
            acc += closest[i];
            cum[i] = acc;
        }
        let pot = acc;
        let mut best_pot = f64::INFINITY;
        let mut best_id = 0usize;
        for _ in 0..trials {
            let r = rng.gen::<f64>() * pot;
            // first point whose cumulative weight exceeds r: never one at distance 0
            let id = cum.partition_point(|&c| c <= r).min(n - 1);
            let c = &z[id * dims..][..dims];
            let mut p = 0.0;
            for (i, x) in z.chunks_exact(dims).enumerate() {
                tick.tick(dims as u64);
                let d = dist2(x, c).min(closest[i]);
                cand[i] = d;
                p += d;
            }
            if p < best_pot {
                best_pot = p;
                best_id = id;
                std::mem::swap(&mut best, &mut cand);
            }
        }
        centres.extend_from_slice(&z[best_id * dims..][..dims]);
        std::mem::swap(&mut closest, &mut best);
    }
    Ok(centres)
}

/// Result of one k-means run in standardized space.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub centres: Vec<f64>,
    pub sizes: Vec<u64>,
    pub inertia: f64,
    pub iterations: usize,
    pub converged: bool,
}

fn lloyd(z: &[f64], dims: usize, mut centres: Vec<f64>, opts: &Options, tol_abs: f64) -> Result<Run> {
    let n = z.len() / dims;
    let k = centres.len() / dims;
    let what = "kmeans: iterations";
    let mut labels = fa::vec_filled(n, u32::MAX, what)?;
    let mut dists = fa::vec_filled(n, 0.0, what)?;
    let mut sums = fa::vec_filled(k * dims, 0.0, what)?;
    let mut counts = fa::vec_filled(k, 0u64, what)?;
    // nearest() costs k × dims per point
    let per_point = (k * dims) as u64;
    let mut tick = Ticker::new();
    let mut iterations = 0;
    let mut converged = false;
    while iterations < opts.max_iterations {
        iterations += 1;
        sums.iter_mut().for_each(|s| *s = 0.0);
        counts.iter_mut().for_each(|c| *c = 0);
        let mut changed = 0usize;
        for (i, x) in z.chunks_exact(dims).enumerate() {
            tick.tick(per_point);
            let (c, d) = nearest(x, &centres, dims);
            if labels[i] != c as u32 {
                changed += 1;
                labels[i] = c as u32;
            }
            dists[i] = d;
            counts[c] += 1;
            for j in 0..dims {
                sums[c * dims + j] += x[j];
            }
        }
        // an empty cluster takes the point farthest from its centre (ties: lowest index)
        for c in 0..k {
            if counts[c] == 0 {
                tick.tick(n as u64);
                let (far, _) = dists.iter().enumerate().fold((0usize, -1.0), |b, (i, &d)| if d > b.1 { (i, d) } else { b });
                let old = labels[far] as usize;
                let x = &z[far * dims..][..dims];
                counts[old] -= 1;
                for j in 0..dims {
                    sums[old * dims + j] -= x[j];
                    sums[c * dims + j] = x[j];
                }
                counts[c] = 1;
                labels[far] = c as u32;
                dists[far] = 0.0;
                changed += 1;
            }
        }
        let mut shift = 0.0;
        for c in 0..k {
            for j in 0..dims {
                let v = sums[c * dims + j] / counts[c] as f64;
                let d = v - centres[c * dims + j];
                shift += d * d;
                centres[c * dims + j] = v;
            }
        }
        if changed == 0 || shift <= tol_abs {
            converged = true;
            break;
        }
    }
    // final assignment to the final centres
    let mut inertia = 0.0;
    counts.iter_mut().for_each(|c| *c = 0);
    for x in z.chunks_exact(dims) {
        tick.tick(per_point);
        let (c, d) = nearest(x, &centres, dims);
        counts[c] += 1;
        inertia += d;
    }
    Ok(Run { centres, sizes: counts, inertia, iterations, converged })
}

/// A fitted model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub k: usize,
    pub dims: usize,
    pub seed: i64,
    pub scaler: Scaler,
    /// k × dims, standardized space, cluster 1 first
    pub centres: Vec<f64>,
    pub sizes: Vec<u64>,
    pub inertia: f64,
    pub iterations: usize,
    pub converged: bool,
    pub points: usize,
    pub state_bytes: f64,
    pub work_bytes: f64,
    pub options: Options,
}

/// Checks k against the points; `points` is sorted in place.
pub fn fit(points: &mut Vec<f64>, dims: usize, k: i64, seed: i64, opts: &Options) -> Result<Model> {
    let n = if dims == 0 { 0 } else { points.len() / dims };
    if n == 0 {
        return Err(Error::invalid("kmeans_fit: no rows with features to cluster"));
    }
    if k < 1 {
        return Err(Error::invalid(format!("k must be at least 1, got {k}")));
    }
    if k > MAX_K {
        return Err(Error::invalid(format!("k must be between 1 and {MAX_K}, got {k}")));
    }
    check_dims(dims, "features")?;
    let state_bytes = bytes_of::<f64>(points.len()) as f64;
    let work_bytes = working_bytes(n, dims, k as usize);
    if state_bytes + work_bytes > opts.memory_limit_bytes() {
        return Err(out_of_memory("kmeans_fit", state_bytes + work_bytes, opts));
    }
    let distinct = sort_points(points, dims)?;
    if k as usize > distinct {
        return Err(Error::invalid(format!("k ({k}) is larger than the number of distinct feature vectors ({distinct})"))
            .with_hint("choose a smaller k"));
    }
    let k = k as usize;
    let (scaler, z) = Scaler::fit(opts.standardize, points, dims)?;
    // tolerance relative to the mean variance of the standardized features
    let mut mean_var = 0.0;
    for j in 0..dims {
        cancel::check();
        let m: f64 = z.chunks_exact(dims).map(|r| r[j]).sum::<f64>() / n as f64;
        mean_var += z.chunks_exact(dims).map(|r| (r[j] - m) * (r[j] - m)).sum::<f64>() / n as f64;
    }
    let tol_abs = opts.tolerance * mean_var / dims as f64;
    let mut best: Option<Run> = None;
    for run in 0..opts.n_init {
        let mut rng = rng_for(seed, run as u64);
        let centres = seed_centres(&z, dims, k, &mut rng)?;
        let r = lloyd(&z, dims, centres, opts, tol_abs)?;
        if best.as_ref().map_or(true, |b| r.inertia < b.inertia) {
            best = Some(r);
        }
    }
    let run = best.unwrap();
    // clusters numbered by size, largest first (ties: centre order)
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        run.sizes[b].cmp(&run.sizes[a]).then_with(|| {
            let (ca, cb) = (&run.centres[a * dims..][..dims], &run.centres[b * dims..][..dims]);
            ca.iter().zip(cb).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let centres: Vec<f64> = order.iter().flat_map(|&c| run.centres[c * dims..][..dims].to_vec()).collect();
    let sizes = order.iter().map(|&c| run.sizes[c]).collect();
    // kmeans_assign refuses a model with a non-finite figure: never write one. With zscore and
    // log_zscore every standardized value is bounded (see Scaler::fit); unstandardized features
    // can be large enough for their squared distances to overflow.
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    let originals: Vec<f64> = centres.chunks_exact(dims).flat_map(|c| scaler.invert(c)).collect();
    if !(run.inertia.is_finite() && finite(&centres) && finite(&originals) && finite(&scaler.mean) && finite(&scaler.scale)) {
        return Err(Error::out_of_range(
            "kmeans_fit: features are too large to cluster without standardizing (their squared distances overflow float8)",
        )
        .with_hint("use options {\"standardize\": \"zscore\"} (the default), which clusters values of any size"));
    }
    Ok(Model {
        k,
        dims,
        seed,
        scaler,
        centres,
        sizes,
        inertia: run.inertia,
        iterations: run.iterations,
        converged: run.converged,
        points: n,
        state_bytes,
        work_bytes,
        options: opts.clone(),
    })
}

impl Model {
    /// Cluster id 1..k of a feature vector in original units.
    pub fn assign(&self, x: &[f64]) -> Result<usize> {
        let z = self.scaler.standardize_input(x)?;
        let (c, d) = nearest(&z, &self.centres, self.dims);
        if !d.is_finite() {
            return Err(Error::out_of_range("features: the squared distance to every cluster centre overflows float8"));
        }
        Ok(c + 1)
    }

    pub fn to_json(&self) -> Value {
        let d = self.dims;
        let clusters: Vec<Value> = (0..self.k)
            .map(|c| {
                let z = &self.centres[c * d..][..d];
                json!({"id": c + 1, "size": self.sizes[c], "centroid": self.scaler.invert(z), "centroid_standardized": z})
            })
            .collect();
        json!({
            "kind": "pg_segment.kmeans", "version": 1,
            "k": self.k, "dims": self.dims, "seed": self.seed,
            "standardize": self.scaler.kind.name(), "mean": self.scaler.mean, "scale": self.scaler.scale,
            "clusters": clusters,
            "inertia": self.inertia, "iterations": self.iterations, "converged": self.converged,
            "points": self.points, "state_bytes": self.state_bytes, "work_bytes": self.work_bytes,
            "options": {"max_iterations": self.options.max_iterations, "tolerance": self.options.tolerance,
                        "n_init": self.options.n_init, "memory_limit_mb": self.options.memory_limit_mb},
        })
    }

    /// Reads a model written by `to_json` (what `assign` and `silhouette` need).
    pub fn from_json(text: &str) -> Result<Model> {
        let bad = |what: &str| Error::invalid(format!("model is not a kmeans_fit model: {what}"));
        let v = model_doc(text, "pg_segment.kmeans", bad)?;
        let num = |key: &str| v.get(key).and_then(Value::as_f64).ok_or_else(|| bad(key));
        // a whole number (3 or 3.0), never a truncated 2.5
        let whole = |x: &Value| x.as_u64().or_else(|| x.as_f64().filter(|f| f.fract() == 0.0 && (0.0..9e15).contains(f)).map(|f| f as u64));
        let count =
            |key: &str| v.get(key).and_then(whole).map(|n| n as usize).ok_or_else(|| bad(&format!("\"{key}\" must be a whole number")));
        // informational keys may be absent; present, they must have their type
        let optional = |key: &str, read: &dyn Fn(&Value) -> bool| match v.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(x) if read(x) => Ok(true),
            Some(x) => Err(bad(&format!("key \"{key}\" has the wrong type: {x}"))),
        };
        let floats = |x: Option<&Value>, key: &str| -> Result<Vec<f64>> {
            x.and_then(Value::as_array).ok_or_else(|| bad(key))?.iter().map(|e| e.as_f64().ok_or_else(|| bad(key))).collect()
        };
        // sizes are checked against the model's own arrays before anything is sized from them
        let count = |key: &str, max: usize| -> Result<usize> {
            let n = count(key)?;
            if !(1..=max).contains(&n) {
                return Err(Error::invalid(format!(
                    "model is not a kmeans_fit model: \"{key}\" must be a whole number from 1 to {max}, got {n}"
                )));
            }
            Ok(n)
        };
        let k = count("k", MAX_K as usize)?;
        let dims = count("dims", MAX_DIMS)?;
        let kind = Standardization::parse(v.get("standardize").and_then(Value::as_str).ok_or_else(|| bad("standardize"))?)?;
        let clusters = v.get("clusters").and_then(Value::as_array).ok_or_else(|| bad("clusters"))?;
        let arrays = |key: &str| v.get(key).and_then(Value::as_array).map(Vec::len);
        if clusters.len() != k || arrays("mean") != Some(dims) || arrays("scale") != Some(dims) {
            return Err(bad("inconsistent k, dims, mean, scale or clusters"));
        }
        let mean = floats(v.get("mean"), "mean")?;
        let scale = floats(v.get("scale"), "scale")?;
        let mut centres = Vec::with_capacity(k * dims);
        let mut sizes = Vec::with_capacity(k);
        for c in clusters {
            let z = floats(c.get("centroid_standardized"), "centroid_standardized")?;
            if z.len() != dims || z.iter().any(|x| !x.is_finite()) {
                return Err(bad("centroid_standardized"));
            }
            centres.extend(z);
            sizes.push(match c.get("size") {
                None | Some(Value::Null) => 0,
                Some(x) => whole(x).ok_or_else(|| bad(&format!("cluster \"size\" must be a whole number, got {x}")))?,
            });
        }
        if k == 0 || dims == 0 || clusters.len() != k || mean.len() != dims || scale.len() != dims || scale.iter().any(|s| !(*s > 0.0)) {
            return Err(bad("inconsistent k, dims, mean, scale or clusters"));
        }
        optional("seed", &|x| x.as_i64().is_some())?;
        optional("inertia", &|x| x.is_number())?;
        optional("iterations", &|x| whole(x).is_some())?;
        optional("points", &|x| whole(x).is_some())?;
        optional("converged", &|x| x.is_boolean())?;
        // the fit's options are informational here (assign and silhouette use the session's
        // limit), but a present key must still have its type
        match v.pointer("/options/memory_limit_mb") {
            None | Some(Value::Null) => {}
            Some(x) if x.as_f64().is_some_and(|m| m > 0.0) => {}
            Some(x) => {
                return Err(Error::invalid(format!(
                    "model: key \"options.memory_limit_mb\" must be a number of megabytes above 0, got {x}"
                )))
            }
        }
        Ok(Model {
            k,
            dims,
            seed: v.get("seed").and_then(Value::as_i64).unwrap_or(0),
            scaler: Scaler { kind, mean, scale },
            centres,
            sizes,
            inertia: num("inertia").unwrap_or(f64::NAN),
            iterations: v.get("iterations").and_then(whole).unwrap_or(0) as usize,
            converged: v.get("converged").and_then(Value::as_bool).unwrap_or(false),
            points: v.get("points").and_then(whole).unwrap_or(0) as usize,
            state_bytes: 0.0,
            work_bytes: 0.0,
            options: Options::default(),
        })
    }
}

pub const MAX_SILHOUETTE_SAMPLE: i64 = 50_000;

/// Mean silhouette (Rousseeuw 1987) of the model's clusters, exact over a deterministic sample of
/// at most `sample_size` points (all when fewer), in standardized space. `points` is sorted in
/// place; None when the sample holds fewer than two clusters. The points and the working memory
/// must fit in `limit.memory_limit_mb`.
pub fn silhouette(model: &Model, points: &mut Vec<f64>, sample_size: i64, limit: &Options) -> Result<Option<f64>> {
    if !(2..=MAX_SILHOUETTE_SAMPLE).contains(&sample_size) {
        return Err(Error::invalid(format!("sample_size must be between 2 and {MAX_SILHOUETTE_SAMPLE}, got {sample_size}")));
    }
    let d = model.dims;
    let n = points.len() / d;
    if n == 0 {
        return Ok(None);
    }
    let need = bytes_of::<f64>(points.len()) as f64 + silhouette_bytes(n, d, sample_size as usize, model.k);
    if need > limit.memory_limit_bytes() {
        return Err(out_of_memory("kmeans_silhouette", need, limit));
    }
    sort_points(points, d)?;
    let s = (sample_size as usize).min(n);
    let what = "kmeans_silhouette";
    let mut idx: Vec<usize> = fa::collect(0..n, what)?;
    if s < n {
        let mut rng = rng_for(model.seed, 0x5111_0E77E);
        for i in 0..s {
            let j = rng.gen_range(i..n);
            idx.swap(i, j);
        }
        idx.truncate(s);
        idx.sort_unstable();
    }
    let mut z = fa::vec_filled(s * d, 0.0, what)?;
    let mut labels = fa::vec_filled(s, 0usize, what)?;
    let mut tick = Ticker::new();
    for (r, &i) in idx.iter().enumerate() {
        tick.tick((d * model.k) as u64);
        let x = &points[i * d..][..d];
        labels[r] = model.assign(x)? - 1;
        let (zr, _) = z.split_at_mut((r + 1) * d);
        model.scaler.apply(x, &mut zr[r * d..]);
    }
    let k = model.k;
    let mut counts = vec![0usize; k];
    for &l in &labels {
        counts[l] += 1;
    }
    if counts.iter().filter(|&&c| c > 0).count() < 2 {
        return Ok(None);
    }
    let mut total = 0.0;
    let mut sums = vec![0.0; k];
    for i in 0..s {
        // all pairs: s × d per point
        tick.tick((s * d) as u64);
        sums.iter_mut().for_each(|x| *x = 0.0);
        let zi = &z[i * d..][..d];
        for j in 0..s {
            sums[labels[j]] += dist2(zi, &z[j * d..][..d]).sqrt();
        }
        let own = labels[i];
        if counts[own] <= 1 {
            continue; // a singleton's silhouette is 0
        }
        let a = sums[own] / (counts[own] - 1) as f64;
        let b = (0..k).filter(|&c| c != own && counts[c] > 0).map(|c| sums[c] / counts[c] as f64).fold(f64::INFINITY, f64::min);
        let m = a.max(b);
        if m > 0.0 {
            total += (b - a) / m;
        }
    }
    Ok(Some(total / s as f64))
}

// ---- the aggregates' state ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    Fit = 1,
    Silhouette = 2,
    Elbow = 3,
    /// `pca_fit` (crate::pca): the same points, another final step
    Pca = 4,
}

impl Kind {
    pub fn from_u8(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Fit),
            2 => Some(Kind::Silhouette),
            3 => Some(Kind::Elbow),
            4 => Some(Kind::Pca),
            _ => None,
        }
    }
}

/// The state of the k-means aggregates and of `pca_fit`: the constant arguments of the first row
/// and every feature vector.
///
/// Partial state (little endian): `[version u8 = 1][kind u8][dims u32][a i64][b i64][seed i64]
/// [params length u32][params][memory limit f64 (MB)][n u64][n values f64]`.
#[derive(Clone, Debug, PartialEq)]
pub struct KState {
    pub kind: Kind,
    pub dims: usize,
    /// fit: k; silhouette: sample_size; elbow: k_min
    pub a: i64,
    /// elbow: k_max
    pub b: i64,
    pub seed: i64,
    /// options jsonb (fit, elbow) or model jsonb (silhouette), as raw bytes for comparison
    pub params: Vec<u8>,
    pub limit: Options,
    pub points: Vec<f64>,
}

pub const SILHOUETTE_DEFAULT_SAMPLE: i64 = 10_000;
pub const ELBOW_SILHOUETTE_SAMPLE: i64 = 2_000;

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
            Kind::Pca => super::pca::working_bytes(n, d),
        };
        (values * 8) as f64 + work
    }

    /// Grows the points, checking the memory bound on each reallocation; the allocation itself
    /// is fallible (ERROR 53200 when the server cannot provide it).
    pub fn reserve(&mut self, extra: usize) -> Result<()> {
        let need = self.points.len() + extra;
        if need > self.points.capacity() {
            let cap = need.max(self.points.capacity() * 2).max(1024);
            let what = self.what();
            let want = if self.need(cap) > self.limit.memory_limit_bytes() {
                // the exact need, not the doubled capacity
                let exact = self.need(need);
                if exact > self.limit.memory_limit_bytes() {
                    return Err(out_of_memory(what, exact, &self.limit));
                }
                need
            } else {
                cap
            };
            fa::reserve_total(&mut self.points, want, what)?;
        }
        Ok(())
    }

    pub fn what(&self) -> &'static str {
        match self.kind {
            Kind::Fit => "kmeans_fit",
            Kind::Silhouette => "kmeans_silhouette",
            Kind::Elbow => "kmeans_elbow",
            Kind::Pca => "pca_fit",
        }
    }

    /// A copy (the combine step's first partial state), allocated fallibly.
    pub fn try_clone(&self) -> Result<KState> {
        let what = self.what();
        let points = fa::copy_of(&self.points, what)?;
        let params = fa::copy_of(&self.params, what)?;
        Ok(KState { params, limit: self.limit.clone(), points, ..*self })
    }

    /// Appends the feature vectors of `other`, a state of the same call (the combine step).
    pub fn merge(&mut self, other: &KState) -> Result<()> {
        let what = self.what();
        let same = |ok: bool, name: &str| {
            if ok {
                Ok(())
            } else {
                Err(Error::invalid(format!("{what}: {name} must be the same in every row of the aggregate")))
            }
        };
        same((self.kind, self.a, self.b, self.seed) == (other.kind, other.a, other.b, other.seed), "every argument but features")?;
        same(self.params == other.params, "options")?;
        if self.dims != 0 && other.dims != 0 && self.dims != other.dims {
            return Err(Error::invalid(format!("features must have the same length in every row: {} and {}", self.dims, other.dims)));
        }
        if self.dims == 0 {
            self.dims = other.dims;
        }
        self.reserve(other.points.len())?;
        self.points.extend_from_slice(&other.points);
        Ok(())
    }

    pub fn serialized_len(&self) -> usize {
        1 + 1 + 4 + 24 + 4 + self.params.len() + 8 + 8 + self.points.len() * 8
    }

    pub fn serialize_into(&self, out: &mut [u8]) {
        let mut w = Writer::new(out);
        w.record(1u8);
        w.record(self.kind as u8);
        w.record(self.dims as u32);
        w.record(self.a);
        w.record(self.b);
        w.record(self.seed);
        w.bytes_u32(&self.params);
        w.record(self.limit.memory_limit_mb);
        w.record(self.points.len() as u64);
        w.records(&self.points);
        w.finish();
    }

    /// Reads a partial state; its memory limit is never above `cap_mb` (the server's
    /// `pg_segment.memory_limit`), whatever the state says.
    pub fn deserialize(bytes: &[u8], cap_mb: f64) -> Result<KState> {
        let mut r = Reader::new(bytes, "kmeans partial state is truncated");
        let version = r.u8()?;
        let kind = match (version, Kind::from_u8(r.u8()?)) {
            (1, Some(k)) => k,
            _ => return Err(Error::binary("kmeans partial state has an unknown version or kind")),
        };
        let dims = r.u32()? as usize;
        if dims > MAX_DIMS {
            return Err(Error::binary("kmeans partial state has an impossible vector length"));
        }
        let a = r.i64()?;
        let b = r.i64()?;
        let seed = r.i64()?;
        let params = fa::copy_of(r.bytes_u32()?, "kmeans partial state")?;
        let recorded = r.f64()?;
        let limit = Options { memory_limit_mb: if recorded > 0.0 && recorded <= cap_mb { recorded } else { cap_mb }, ..Options::default() };
        let n = r.u64()? as usize;
        // the count is checked against the bytes present before anything is sized from it
        r.ensure(n.saturating_mul(8))?;
        if (dims == 0) != (n == 0) || (dims != 0 && !n.is_multiple_of(dims)) {
            return Err(Error::binary("kmeans partial state: the values do not make whole feature vectors"));
        }
        let points = r.records::<f64>(n, "kmeans partial state")?;
        Ok(KState { kind, dims, a, b, seed, params, limit, points })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated blobs in 2-D, deterministic.
    fn blobs(n_each: usize, seed: u64) -> Vec<f64> {
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let centres = [(0.0, 0.0), (10.0, 10.0), (0.0, 20.0)];
        let mut v = Vec::new();
        for i in 0..n_each * 3 {
            let (cx, cy) = centres[i % 3];
            v.push(cx + rng.gen::<f64>() - 0.5);
            v.push(cy + rng.gen::<f64>() - 0.5);
        }
        v
    }

    /// The aggregates' partial state round-trips byte for byte; a count its bytes do not hold,
    /// an impossible vector length and a limit above the server's are refused or capped.
    #[test]
    fn state_round_trips() {
        let mut st = KState {
            kind: Kind::Elbow,
            dims: 2,
            a: 2,
            b: 4,
            seed: 7,
            params: b"\x01opts".to_vec(),
            limit: Options { memory_limit_mb: 16.0, ..Options::default() },
            points: Vec::new(),
        };
        st.reserve(6).unwrap();
        st.points.extend_from_slice(&[1.0, -2.5, 3.0, 4.0, 1e300, -0.0]);
        let mut b = vec![0u8; st.serialized_len()];
        st.serialize_into(&mut b);
        assert_eq!(&b[..6], &[1, 3, 2, 0, 0, 0]);
        assert_eq!(KState::deserialize(&b, 64.0).unwrap(), st);
        // the reader's cap, not the recorded limit, when the recorded one is above it
        assert_eq!(KState::deserialize(&b, 8.0).unwrap().limit.memory_limit_mb, 8.0);
        let mut claim = b[..b.len() - 48].to_vec();
        let at = claim.len() - 8;
        claim[at..].copy_from_slice(&(1u64 << 61).to_le_bytes());
        assert_eq!(KState::deserialize(&claim, 64.0).unwrap_err().message, "kmeans partial state is truncated");
        let mut odd = b.clone();
        odd[2..6].copy_from_slice(&4u32.to_le_bytes());
        assert!(KState::deserialize(&odd, 64.0).unwrap_err().message.contains("whole feature vectors"));
        odd[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(KState::deserialize(&odd, 64.0).unwrap_err().message.contains("impossible vector length"));
        let tiny = KState { limit: Options { memory_limit_mb: 0.001, ..Options::default() }, ..st.clone() };
        assert_eq!(KState { points: Vec::new(), ..tiny }.reserve(100_000).unwrap_err().code, ErrCode::OutOfMemory);
    }

    fn opts_none() -> Options {
        Options { standardize: Standardization::None, ..Options::default() }
    }

    #[test]
    fn finds_separated_blobs() {
        let mut p = blobs(100, 1);
        let m = fit(&mut p, 2, 3, 42, &opts_none()).unwrap();
        assert!(m.converged);
        assert_eq!(m.sizes, vec![100, 100, 100]);
        let mut cs: Vec<(i64, i64)> = (0..3).map(|c| (m.centres[c * 2].round() as i64, m.centres[c * 2 + 1].round() as i64)).collect();
        cs.sort();
        assert_eq!(cs, vec![(0, 0), (0, 20), (10, 10)]);
        // inertia of uniform(-0.5, 0.5)^2 noise: 300 points × 2 × 1/12
        assert!((m.inertia - 50.0).abs() < 10.0, "{}", m.inertia);
        assert_eq!(m.assign(&[0.1, 19.8]).unwrap(), m.assign(&[-0.2, 20.3]).unwrap());
        assert_ne!(m.assign(&[0.1, 19.8]).unwrap(), m.assign(&[0.0, 0.0]).unwrap());
    }

    #[test]
    fn row_order_does_not_matter() {
        let p = blobs(200, 7);
        let mut a = p.clone();
        // reversed rows
        let mut b: Vec<f64> = p.chunks_exact(2).rev().flatten().copied().collect();
        let ma = fit(&mut a, 2, 4, 9, &Options::default()).unwrap();
        let mb = fit(&mut b, 2, 4, 9, &Options::default()).unwrap();
        assert_eq!(ma, mb);
        let mc = fit(&mut p.clone(), 2, 4, 10, &Options::default()).unwrap();
        assert_eq!(mc.k, 4);
    }

    #[test]
    fn errors_and_edge_cases() {
        let mut p = vec![1.0, 2.0, 1.0, 2.0, 3.0, 4.0];
        assert!(fit(&mut p.clone(), 2, 0, 1, &Options::default()).unwrap_err().message.contains("k must be at least 1"));
        let e = fit(&mut p.clone(), 2, 3, 1, &Options::default()).unwrap_err();
        assert!(e.message.contains("distinct feature vectors (2)"), "{}", e.message);
        assert_eq!(e.code, ErrCode::InvalidParameter);
        let m = fit(&mut p, 2, 2, 1, &opts_none()).unwrap();
        assert_eq!(m.inertia, 0.0);
        assert_eq!(m.sizes, vec![2, 1]);
        assert!(fit(&mut Vec::new(), 2, 1, 1, &Options::default()).unwrap_err().message.contains("no rows"));
        // k = 1: the mean
        let m = fit(&mut vec![0.0, 2.0, 4.0], 1, 1, 1, &opts_none()).unwrap();
        assert_eq!(m.centres, vec![2.0]);
        assert_eq!(m.inertia, 8.0);
        // constant feature is left unscaled
        let m = fit(&mut vec![5.0, 1.0, 5.0, 3.0], 2, 2, 1, &Options::default()).unwrap();
        assert_eq!(m.scaler.scale[0], 1.0);
        assert!(check_vector(&[1.0, f64::NAN], "features").unwrap_err().message.contains("features[2]"));
        assert!(check_vector(&[], "features").is_err());
        assert!(m.assign(&[1.0]).unwrap_err().message.contains("fitted on 2"));
        let tiny = Options { memory_limit_mb: 0.000_01, ..Options::default() };
        assert_eq!(fit(&mut vec![1.0, 2.0], 1, 1, 1, &tiny).unwrap_err().code, ErrCode::OutOfMemory);
    }

    /// Features whose squares (or sums) overflow float8 still give a model kmeans_assign accepts
    /// when standardized, and an error naming the features when not: a fit never writes a
    /// non-finite figure.
    #[test]
    fn huge_features_never_give_non_finite_models() {
        let big = f64::MAX / 3.0;
        let mut pts = Vec::new();
        for i in 0..30 {
            let s = if i % 2 == 0 { 1.0 } else { -1.0 };
            pts.extend_from_slice(&[s * big * (1.0 - i as f64 * 1e-3), i as f64, 1e300 * (i % 3) as f64]);
        }
        for kind in [Standardization::Zscore, Standardization::LogZscore] {
            let mut p = pts.clone();
            if kind == Standardization::LogZscore {
                p.iter_mut().for_each(|x| *x = x.abs());
            }
            let o = Options { standardize: kind, ..Options::default() };
            let m = fit(&mut p.clone(), 3, 3, 1, &o).unwrap_or_else(|e| panic!("{kind:?}: {}", e.message));
            let json = m.to_json();
            let back = Model::from_json(&json.to_string()).unwrap_or_else(|e| panic!("{kind:?}: {} in {json}", e.message));
            for c in json["clusters"].as_array().unwrap() {
                assert!(c["centroid"].as_array().unwrap().iter().all(|x| x.as_f64().is_some_and(f64::is_finite)), "{kind:?}: {c}");
            }
            for x in p.chunks_exact(3) {
                assert_eq!(back.assign(x).unwrap(), m.assign(x).unwrap());
            }
            assert!(m.inertia.is_finite() && m.scaler.scale.iter().all(|s| s.is_finite() && *s > 0.0));
            assert!(
                silhouette(&back, &mut p, 100, &Options::default()).unwrap().is_some(),
                "{kind:?}: {:?} {:?} {:?}",
                m.sizes,
                m.centres,
                m.scaler
            );
        }
        // the same features unstandardized: their squared distances overflow, refused with 22003
        let e = fit(&mut pts.clone(), 3, 3, 1, &opts_none()).unwrap_err();
        assert_eq!(e.code, ErrCode::OutOfRange);
        assert!(e.message.contains("features") && e.hint.unwrap().contains("zscore"), "{}", e.message);
        // a point far outside a model's data is an error, not cluster 1 by a tie of infinities
        let m = fit(&mut vec![-1e300, 0.0, 1e300], 1, 2, 1, &Options::default()).unwrap();
        assert!(m.assign(&[1e300]).is_ok());
        let tiny = fit(&mut vec![1.0, 1.0 + 1e-12, 1.0 + 2e-12], 1, 2, 1, &Options::default()).unwrap();
        assert_eq!(tiny.assign(&[f64::MAX]).unwrap_err().code, ErrCode::OutOfRange);
    }

    #[test]
    fn options_are_strict() {
        let parse = |j: &str| Options::parse(j, DEFAULT_MEMORY_LIMIT_MB);
        assert_eq!(parse("{}").unwrap(), Options::default());
        let o = parse(r#"{"standardize": "log_zscore", "max_iterations": 5, "tolerance": 0, "n_init": 3}"#).unwrap();
        assert_eq!((o.standardize, o.max_iterations, o.tolerance, o.n_init), (Standardization::LogZscore, 5, 0.0, 3));
        assert!(parse(r#"{"standardize": "minmax"}"#).unwrap_err().message.contains("standardize"));
        assert!(parse(r#"{"max_iterations": 0}"#).unwrap_err().message.contains("max_iterations"));
        assert!(parse(r#"{"iterations": 5}"#).unwrap_err().message.contains("unknown key"));
        assert!(parse(r#"{"memory_limit_mb": -1}"#).unwrap_err().message.contains("memory_limit_mb"));
        // the server's limit is the default and the ceiling: options cannot raise it
        assert_eq!(Options::parse("{}", 64.0).unwrap().memory_limit_mb, 64.0);
        assert_eq!(Options::parse(r#"{"memory_limit_mb": 16}"#, 64.0).unwrap().memory_limit_mb, 16.0);
        let e = Options::parse(r#"{"memory_limit_mb": 65}"#, 64.0).unwrap_err();
        assert_eq!(e.code, ErrCode::InvalidParameter);
        assert!(e.message.contains("at most pg_segment.memory_limit (64 MB), got 65"), "{}", e.message);
        assert!(e.hint.unwrap().contains("only a superuser"));
    }

    #[test]
    fn log_zscore_round_trips_and_rejects_minus_one() {
        let mut p = vec![0.0, 9.0, 99.0, 999.0];
        let o = Options { standardize: Standardization::LogZscore, ..Options::default() };
        let m = fit(&mut p, 1, 2, 3, &o).unwrap();
        let back = m.scaler.invert(&[(10f64.ln() - m.scaler.mean[0]) / m.scaler.scale[0]]);
        assert!((back[0] - 9.0).abs() < 1e-9);
        assert!(fit(&mut vec![-1.0, 3.0], 1, 1, 3, &o).unwrap_err().message.contains("above -1"));
        assert!(m.assign(&[-2.0]).is_err());
    }

    #[test]
    fn model_json_round_trip() {
        let mut p = blobs(30, 3);
        let m = fit(&mut p, 2, 3, 5, &Options::default()).unwrap();
        let back = Model::from_json(&m.to_json().to_string()).unwrap();
        assert_eq!(back.centres, m.centres);
        assert_eq!(back.scaler, m.scaler);
        for x in p.chunks_exact(2) {
            assert_eq!(back.assign(x).unwrap(), m.assign(x).unwrap());
        }
        assert!(Model::from_json("{}").unwrap_err().message.contains("kind"));
        assert!(Model::from_json("[1]").is_err());
        // a wrong type is an error naming the key, never a silent default or a truncation
        let good = m.to_json();
        for (key, value, needle) in [
            ("seed", json!("5"), "seed"),
            ("seed", json!(5.5), "seed"),
            ("k", json!(2.5), "\"k\""),
            ("dims", json!(-2), "\"dims\""),
            ("converged", json!("yes"), "converged"),
            ("iterations", json!(1.5), "iterations"),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            let e = Model::from_json(&bad.to_string()).unwrap_err();
            assert_eq!(e.code, ErrCode::InvalidParameter, "{key}");
            assert!(e.message.contains(needle), "{key}: {}", e.message);
        }
        let mut bad = good.clone();
        bad["clusters"][0]["size"] = json!("big");
        assert!(Model::from_json(&bad.to_string()).unwrap_err().message.contains("size"));
        let mut whole = good.clone();
        whole["k"] = json!(3.0);
        assert_eq!(Model::from_json(&whole.to_string()).unwrap().k, 3);
    }

    /// Brute-force silhouette for a check.
    fn silhouette_naive(z: &[(f64, f64)], labels: &[usize]) -> f64 {
        let n = z.len();
        let k = labels.iter().max().unwrap() + 1;
        let mut total = 0.0;
        for i in 0..n {
            let mut sum = vec![0.0; k];
            let mut cnt = vec![0usize; k];
            for j in 0..n {
                if i != j {
                    sum[labels[j]] += ((z[i].0 - z[j].0).powi(2) + (z[i].1 - z[j].1).powi(2)).sqrt();
                    cnt[labels[j]] += 1;
                }
            }
            if cnt[labels[i]] == 0 {
                continue;
            }
            let a = sum[labels[i]] / cnt[labels[i]] as f64;
            let b = (0..k).filter(|&c| c != labels[i] && cnt[c] > 0).map(|c| sum[c] / cnt[c] as f64).fold(f64::INFINITY, f64::min);
            total += (b - a) / a.max(b);
        }
        total / n as f64
    }

    #[test]
    fn silhouette_is_exact_on_small_inputs_and_sampled_on_large() {
        let mut p = blobs(20, 11);
        let m = fit(&mut p.clone(), 2, 3, 5, &opts_none()).unwrap();
        let lim = Options::default();
        let s = silhouette(&m, &mut p, 1000, &lim).unwrap().unwrap();
        let z: Vec<(f64, f64)> = p.chunks_exact(2).map(|x| (x[0], x[1])).collect();
        let labels: Vec<usize> = p.chunks_exact(2).map(|x| m.assign(x).unwrap() - 1).collect();
        assert!((s - silhouette_naive(&z, &labels)).abs() < 1e-12);
        assert!(s > 0.9, "{s}");
        // sampled: deterministic, close to the full value
        let mut big = blobs(2000, 12);
        let a = silhouette(&m, &mut big.clone(), 500, &lim).unwrap().unwrap();
        let b = silhouette(&m, &mut big, 500, &lim).unwrap().unwrap();
        assert_eq!(a, b);
        assert!(a > 0.9);
        let one = fit(&mut vec![1.0, 2.0, 3.0], 1, 1, 1, &opts_none()).unwrap();
        assert_eq!(silhouette(&one, &mut vec![1.0, 2.0, 3.0], 10, &lim).unwrap(), None);
        assert!(silhouette(&one, &mut vec![1.0], 1, &lim).is_err());
        let tiny = Options { memory_limit_mb: 0.001, ..Options::default() };
        assert_eq!(silhouette(&m, &mut blobs(200, 1), 100, &tiny).unwrap_err().code, ErrCode::OutOfMemory);
    }

    /// A hand-made model sizes nothing from its own "k" and "dims": they are checked against
    /// its arrays first (a model claiming 10^12 clusters used to abort the server).
    #[test]
    fn hand_made_models_are_checked_before_anything_is_sized() {
        let m = fit(&mut blobs(30, 3), 2, 3, 5, &Options::default()).unwrap();
        let good = m.to_json();
        for (key, value, needle) in [
            ("k", json!(1e12), "\"k\" must be a whole number from 1 to 1000"),
            ("dims", json!(4_000_000_000u64), "\"dims\" must be a whole number from 1 to 1000"),
            ("k", json!(2.5), "\"k\" must be a whole number"),
            ("k", json!(-3), "\"k\" must be a whole number"),
            ("k", json!(4), "inconsistent"),
            ("dims", json!(3), "inconsistent"),
            ("mean", json!([0.0]), "inconsistent"),
        ] {
            let mut v = good.clone();
            v[key] = value;
            let e = Model::from_json(&v.to_string()).unwrap_err();
            assert_eq!(e.code, ErrCode::InvalidParameter, "{key}");
            assert!(e.message.contains(needle), "{key}: {}", e.message);
        }
        // a whole number written as a float is still a count
        let mut v = good.clone();
        v["k"] = json!(3.0);
        assert_eq!(Model::from_json(&v.to_string()).unwrap().k, 3);
        // feature vectors longer than MAX_DIMS are refused before they are copied
        assert!(check_dims(MAX_DIMS + 1, "features").unwrap_err().message.contains("at most 1000"));
        assert!(fit(&mut vec![0.0; 2002], 1001, 1, 1, &Options::default()).is_err());
    }

    /// Every long loop of the fit and of the silhouette reaches a cancellation point: a cancel
    /// stops it (the unwind drops everything the call owned), and without a cancel the checks
    /// come at a steady rate, not once at the end.
    #[test]
    fn fit_and_silhouette_stop_on_cancel() {
        use crate::cancel::testing::{cancel_after, count_checks};
        let p = blobs(3000, 21);
        let heavy = Options { max_iterations: 50, tolerance: 0.0, ..opts_none() };
        let (m, checks) = count_checks(|| fit(&mut p.clone(), 2, 40, 1, &heavy).unwrap());
        assert!(checks >= 3, "{checks} checks in a fit of 9000 points and 40 clusters");
        for after in [0, 1, checks / 2] {
            let (r, _) = cancel_after(after, || fit(&mut p.clone(), 2, 40, 1, &heavy));
            assert!(r.is_err(), "cancel at check {after} was ignored");
        }
        let lim = Options::default();
        let (_, checks) = count_checks(|| silhouette(&m, &mut p.clone(), 9000, &lim).unwrap());
        assert!(checks >= 100, "{checks} checks in a silhouette of 9000 points");
        assert!(cancel_after(5, || silhouette(&m, &mut p.clone(), 9000, &lim)).0.is_err());
        // after a cancel the same inputs fit exactly as before
        assert_eq!(fit(&mut p.clone(), 2, 40, 1, &heavy).unwrap(), m);
    }
}
