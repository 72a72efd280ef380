//! Principal components of per-customer feature vectors: the features are standardized as
//! k-means standardizes them ([`Scaler`], the same code), then the covariance matrix of the
//! standardized features is decomposed (nalgebra's `SymmetricEigen`).
//!
//! The aggregate keeps every feature vector (the k-means state, [`KState`] of kind `Pca`), and the
//! fit sorts them first ([`sort_points`]), so every sum runs in one order: the model depends only
//! on the multiset of feature vectors and the options, never on row order or plan, bit for bit.
//! Sign convention (scikit-learn's since 1.5): in each component the entry of largest magnitude
//! is positive (on a tie, the first such entry).
//!
//! Figures follow scikit-learn's `PCA` after `StandardScaler`: the scale is the population
//! standard deviation, the explained variance is an eigenvalue of the sample covariance (divisor
//! n − 1), and its ratio divides by the total variance (the trace of that covariance).

use super::cancel::{self, Ticker};
use super::config::{model_doc, Obj};
use super::fallible::{self as fa, bytes_of};
use super::kmeans::{check_dims, sort_points, Scaler, Standardization, LIMIT_SETTING, MAX_DIMS};
use super::{ErrCode, Error, Result};
use nalgebra::{DMatrix, SymmetricEigen};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub standardize: Standardization,
    /// how many components to keep; None: all (or as many as `variance` needs)
    pub n_components: Option<usize>,
    /// keep the fewest components whose explained variance ratio sums to at least this
    pub variance: Option<f64>,
    /// bound on the points kept plus the working memory of the fit (at most
    /// `pg_segment.memory_limit`, also the default)
    pub memory_limit_mb: f64,
}

impl Options {
    pub fn parse(json: &str, cap_mb: f64) -> Result<Options> {
        let mut o = Obj::parse("options", json)?;
        let standardize = Standardization::parse(&o.string("standardize", "zscore")?)?;
        let n_components = match o.take("n_components") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(k) if (1..=MAX_DIMS as u64).contains(&k) => Some(k as usize),
                _ => {
                    return Err(Error::invalid(format!(
                        "options: key \"n_components\" must be a whole number from 1 to {MAX_DIMS}, got {v}"
                    )))
                }
            },
        };
        let variance = match o.take("variance") {
            None => None,
            Some(v) => match v.as_f64() {
                Some(x) if x > 0.0 && x <= 1.0 => Some(x),
                _ => {
                    return Err(Error::invalid(format!(
                        "options: key \"variance\" must be a share of the variance above 0 and at most 1, got {v}"
                    )))
                }
            },
        };
        let memory_limit_mb = o.f64("memory_limit_mb", cap_mb)?;
        o.finish()?;
        if n_components.is_some() && variance.is_some() {
            return Err(Error::invalid("options: give \"n_components\" or \"variance\", not both"));
        }
        if !(memory_limit_mb > 0.0 && memory_limit_mb <= cap_mb) {
            return Err(Error::invalid(format!(
                "options: key \"memory_limit_mb\" must be above 0 and at most {LIMIT_SETTING} ({cap_mb} MB), got {memory_limit_mb}"
            ))
            .with_hint(format!("only a superuser may raise {LIMIT_SETTING}")));
        }
        Ok(Options { standardize, n_components, variance, memory_limit_mb })
    }

    pub fn memory_limit_bytes(&self) -> f64 {
        self.memory_limit_mb * 1_048_576.0
    }
}

/// Bytes a fit of `n` points of `dims` values needs beyond the points themselves, at its peak:
/// the sort's index and sorted copy (or the standardized copy, the same size), the covariance
/// matrix and the eigen decomposition's matrices.
pub fn working_bytes(n: usize, dims: usize) -> f64 {
    let (n, d) = (n as f64, dims as f64);
    8.0 * n * d + 4.0 * n + 40.0 * d * d + 64.0 * d
}

/// A fitted model: `components` is n_components × dims (row-major), unit rows, in the order of
/// decreasing explained variance.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub dims: usize,
    pub n_components: usize,
    pub scaler: Scaler,
    pub components: Vec<f64>,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    pub total_variance: f64,
    pub points: usize,
    pub state_bytes: f64,
    pub work_bytes: f64,
    pub options: Options,
}

fn too_large() -> Error {
    Error::out_of_range("pca_fit: features are too large to decompose without standardizing (their covariance overflows float8)")
        .with_hint("use options {\"standardize\": \"zscore\"} (the default), which handles values of any size")
}

/// Fits the model; `points` (n × dims) is sorted in place.
pub fn fit(points: &mut Vec<f64>, dims: usize, opts: &Options) -> Result<Model> {
    let n = if dims == 0 { 0 } else { points.len() / dims };
    if n == 0 {
        return Err(Error::invalid("pca_fit: no rows with features"));
    }
    if n < 2 {
        return Err(Error::invalid("pca_fit: needs at least 2 feature vectors (the covariance of one is undefined), got 1"));
    }
    check_dims(dims, "features")?;
    let state_bytes = bytes_of::<f64>(points.len()) as f64;
    let work_bytes = working_bytes(n, dims);
    if state_bytes + work_bytes > opts.memory_limit_bytes() {
        return Err(Error {
            code: ErrCode::OutOfMemory,
            message: format!(
                "pca_fit: the feature vectors and the working memory of the fit need {:.0} bytes, above options.memory_limit_mb = {} ({:.0} bytes)",
                state_bytes + work_bytes,
                opts.memory_limit_mb,
                opts.memory_limit_bytes()
            ),
            hint: Some(format!(
                "fit on a sample (e.g. TABLESAMPLE), or raise options.memory_limit_mb up to {LIMIT_SETTING} (which only a superuser may raise)"
            )),
        });
    }
    if let Some(k) = opts.n_components {
        if k > dims {
            return Err(Error::invalid(format!("options: key \"n_components\" ({k}) is larger than the number of features ({dims})")));
        }
    }
    sort_points(points, dims)?;
    let (scaler, z) = Scaler::fit_centred(opts.standardize, points, dims)?;
    let d = dims;
    // column means of the standardized features (0 up to rounding), then the sample covariance
    let mut tick = Ticker::new();
    let mut centre = vec![0.0; d];
    for row in z.chunks_exact(d) {
        tick.tick(d as u64);
        for j in 0..d {
            centre[j] += row[j];
        }
    }
    centre.iter_mut().for_each(|c| *c /= n as f64);
    let mut cov = fa::vec_filled(d * d, 0.0, "pca_fit: covariance")?;
    let mut dev = vec![0.0; d];
    for row in z.chunks_exact(d) {
        tick.tick((d * (d + 1) / 2) as u64);
        for j in 0..d {
            dev[j] = row[j] - centre[j];
        }
        for i in 0..d {
            let di = dev[i];
            let line = &mut cov[i * d..][..d];
            for j in i..d {
                line[j] += di * dev[j];
            }
        }
    }
    drop(z);
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / (n - 1) as f64;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    if cov.iter().any(|v| !v.is_finite()) {
        return Err(too_large());
    }
    let total_variance: f64 = (0..d).map(|i| cov[i * d + i]).sum();
    cancel::check();
    // O(d³), at most about a second at 1000 features: the one step without interrupt checks
    let eig = SymmetricEigen::new(DMatrix::from_row_slice(d, d, &cov));
    cancel::check();
    drop(cov);
    // eigenpairs by decreasing eigenvalue (ties: the solver's order)
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]).then(a.cmp(&b)));
    // rounding can leave the eigenvalues of a singular covariance slightly below 0
    let values: Vec<f64> = order.iter().map(|&c| eig.eigenvalues[c].max(0.0)).collect();
    let ratio: Vec<f64> = values.iter().map(|v| if total_variance > 0.0 { v / total_variance } else { 0.0 }).collect();
    let keep = match (opts.n_components, opts.variance) {
        (Some(k), _) => k,
        (None, Some(target)) => {
            let mut acc = 0.0;
            let mut k = d;
            for (i, r) in ratio.iter().enumerate() {
                acc += r;
                // a rounding margin, so that a target of exactly 1 is met by all components
                if acc >= target - 1e-12 {
                    k = i + 1;
                    break;
                }
            }
            k
        }
        (None, None) => d.min(n),
    };
    let mut components = fa::vec_with_capacity(keep * d, "pca_fit: components")?;
    for &c in order.iter().take(keep) {
        let v = eig.eigenvectors.column(c);
        // the entry of largest magnitude positive (the first on a tie)
        let (mut big, mut at) = (-1.0f64, 0usize);
        for (j, x) in v.iter().enumerate() {
            if x.abs() > big {
                big = x.abs();
                at = j;
            }
        }
        let sign = if v[at] < 0.0 { -1.0 } else { 1.0 };
        components.extend(v.iter().map(|x| sign * x + 0.0));
    }
    let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
    if !(finite(&components) && finite(&values) && total_variance.is_finite() && finite(&scaler.mean) && finite(&scaler.scale)) {
        return Err(too_large());
    }
    Ok(Model {
        dims: d,
        n_components: keep,
        scaler,
        components,
        explained_variance: values[..keep].to_vec(),
        explained_variance_ratio: ratio[..keep].to_vec(),
        total_variance,
        points: n,
        state_bytes,
        work_bytes,
        options: opts.clone(),
    })
}

impl Model {
    /// The feature vector `x` (original units) projected on the components.
    pub fn transform(&self, x: &[f64]) -> Result<Vec<f64>> {
        let z = self.scaler.standardize_input(x)?;
        let out: Vec<f64> = self.components.chunks_exact(self.dims).map(|c| c.iter().zip(&z).map(|(a, b)| a * b).sum()).collect();
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::out_of_range("features: the projection overflows float8"));
        }
        Ok(out)
    }

    pub fn to_json(&self) -> Value {
        let comps: Vec<&[f64]> = self.components.chunks_exact(self.dims).collect();
        let mut options = json!({"memory_limit_mb": self.options.memory_limit_mb});
        if let Some(k) = self.options.n_components {
            options["n_components"] = json!(k);
        }
        if let Some(v) = self.options.variance {
            options["variance"] = json!(v);
        }
        json!({
            "kind": "pg_segment.pca", "version": 1,
            "dims": self.dims, "n_components": self.n_components,
            "standardize": self.scaler.kind.name(), "mean": self.scaler.mean, "scale": self.scaler.scale,
            "components": comps,
            "explained_variance": self.explained_variance,
            "explained_variance_ratio": self.explained_variance_ratio,
            "total_variance": self.total_variance,
            "points": self.points, "state_bytes": self.state_bytes, "work_bytes": self.work_bytes,
            "options": options,
        })
    }

    /// Reads a model written by [`Model::to_json`] (what `transform` needs); sizes are checked
    /// against the model's own arrays before anything is sized from them.
    pub fn from_json(text: &str) -> Result<Model> {
        let bad = |what: &str| Error::invalid(format!("model is not a pca_fit model: {what}"));
        let v = model_doc(text, "pg_segment.pca", bad)?;
        let count = |key: &str| -> Result<usize> {
            match v.get(key).and_then(Value::as_u64) {
                Some(k) if (1..=MAX_DIMS as u64).contains(&k) => Ok(k as usize),
                _ => Err(bad(&format!("\"{key}\" must be a whole number from 1 to {MAX_DIMS}"))),
            }
        };
        let dims = count("dims")?;
        let k = count("n_components")?;
        if k > dims {
            return Err(bad("\"n_components\" is larger than \"dims\""));
        }
        let kind = Standardization::parse(v.get("standardize").and_then(Value::as_str).ok_or_else(|| bad("standardize"))?)?;
        let floats = |x: Option<&Value>, key: &str, len: usize| -> Result<Vec<f64>> {
            let a = x
                .and_then(Value::as_array)
                .filter(|a| a.len() == len)
                .ok_or_else(|| bad(&format!("\"{key}\" must be an array of {len} numbers")))?;
            a.iter()
                .map(|e| e.as_f64().filter(|f| f.is_finite()).ok_or_else(|| bad(&format!("\"{key}\" must hold finite numbers"))))
                .collect()
        };
        let mean = floats(v.get("mean"), "mean", dims)?;
        let scale = floats(v.get("scale"), "scale", dims)?;
        if scale.iter().any(|s| !(*s > 0.0)) {
            return Err(bad("\"scale\" must hold numbers above 0"));
        }
        let rows = v
            .get("components")
            .and_then(Value::as_array)
            .filter(|a| a.len() == k)
            .ok_or_else(|| bad("\"components\" must hold n_components arrays"))?;
        let mut components = Vec::with_capacity(k * dims);
        for r in rows {
            components.extend(floats(Some(r), "components", dims)?);
        }
        let explained_variance = floats(v.get("explained_variance"), "explained_variance", k)?;
        let explained_variance_ratio = floats(v.get("explained_variance_ratio"), "explained_variance_ratio", k)?;
        Ok(Model {
            dims,
            n_components: k,
            scaler: Scaler { kind, mean, scale },
            components,
            explained_variance,
            explained_variance_ratio,
            total_variance: v.get("total_variance").and_then(Value::as_f64).unwrap_or(f64::NAN),
            points: v.get("points").and_then(Value::as_u64).unwrap_or(0) as usize,
            state_bytes: 0.0,
            work_bytes: 0.0,
            options: Options { standardize: kind, n_components: None, variance: None, memory_limit_mb: 0.0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(json: &str) -> Options {
        Options::parse(json, 1024.0).unwrap()
    }

    /// Correlated 3-feature data: x, 2x + noise, independent noise (deterministic).
    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut next = crate::test_rng(seed);
        let mut u = move || (next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let mut v = Vec::new();
        for _ in 0..n {
            let x = u() * 10.0;
            v.extend_from_slice(&[x, 2.0 * x + u(), 3.0 * u() + 100.0]);
        }
        v
    }

    #[test]
    fn two_features_on_a_line_give_one_component() {
        // (t, 2t) for t = 1..4: standardized they are equal, so the first component is
        // (1, 1)/sqrt 2 with all the variance: n/(n-1) per feature, 2n/(n-1) in all
        let mut p = vec![1.0, 2.0, 2.0, 4.0, 3.0, 6.0, 4.0, 8.0];
        let m = fit(&mut p, 2, &opts("{}")).unwrap();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((m.components[0] - h).abs() < 1e-12 && (m.components[1] - h).abs() < 1e-12, "{:?}", m.components);
        assert!((m.explained_variance[0] - 8.0 / 3.0).abs() < 1e-12, "{:?}", m.explained_variance);
        assert!(m.explained_variance[1].abs() < 1e-12);
        assert!((m.explained_variance_ratio[0] - 1.0).abs() < 1e-12);
        assert!((m.total_variance - 8.0 / 3.0).abs() < 1e-12);
        // the centre maps to 0; the first point lies at -sqrt(2) × its z-score
        let y = m.transform(&[2.5, 5.0]).unwrap();
        assert!(y[0].abs() < 1e-12 && y[1].abs() < 1e-12);
        let z = (1.0 - 2.5) / (1.25f64).sqrt();
        assert!((m.transform(&[1.0, 2.0]).unwrap()[0] - 2.0f64.sqrt() * z).abs() < 1e-12);
    }

    #[test]
    fn row_order_and_sign_are_fixed() {
        let p = data(500, 3);
        let a = fit(&mut p.clone(), 3, &opts("{}")).unwrap();
        let mut rev: Vec<f64> = p.chunks_exact(3).rev().flatten().copied().collect();
        let b = fit(&mut rev, 3, &opts("{}")).unwrap();
        assert_eq!(a, b);
        for c in a.components.chunks_exact(3) {
            let big = c.iter().copied().fold(0.0f64, |m, x| if x.abs() > m.abs() { x } else { m });
            assert!(big > 0.0, "{c:?}");
            assert!((c.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-12);
        }
        // components are orthogonal; variances descend and sum to the total (3 for z-scores, × n/(n-1))
        let c = &a.components;
        for i in 0..3 {
            for j in i + 1..3 {
                assert!((0..3).map(|t| c[i * 3 + t] * c[j * 3 + t]).sum::<f64>().abs() < 1e-12);
            }
        }
        assert!(a.explained_variance.windows(2).all(|w| w[0] >= w[1]));
        assert!((a.explained_variance.iter().sum::<f64>() - 3.0 * 500.0 / 499.0).abs() < 1e-9);
    }

    #[test]
    fn component_count_by_number_or_variance() {
        let p = data(300, 5);
        let all = fit(&mut p.clone(), 3, &opts("{}")).unwrap();
        assert_eq!(all.n_components, 3);
        let two = fit(&mut p.clone(), 3, &opts(r#"{"n_components": 2}"#)).unwrap();
        assert_eq!((two.n_components, two.components.len()), (2, 6));
        assert_eq!(two.components[..], all.components[..6]);
        // the first component carries about 2/3 (two features nearly equal), two about all
        let r = all.explained_variance_ratio[0];
        assert!(r > 0.6 && r < 0.7, "{r}");
        assert_eq!(fit(&mut p.clone(), 3, &opts(&format!(r#"{{"variance": {}}}"#, r - 0.01))).unwrap().n_components, 1);
        assert_eq!(fit(&mut p.clone(), 3, &opts(&format!(r#"{{"variance": {}}}"#, r + 0.01))).unwrap().n_components, 2);
        assert_eq!(fit(&mut p.clone(), 3, &opts(r#"{"variance": 1}"#)).unwrap().n_components, 3);
        let none = fit(&mut p.clone(), 3, &opts(r#"{"standardize": "none"}"#)).unwrap();
        assert_eq!(none.scaler.scale, vec![1.0; 3]);
        assert!((none.scaler.mean[2] - 100.0).abs() < 0.2, "{:?}", none.scaler.mean);
        assert!(none.transform(&none.scaler.mean.clone()).unwrap().iter().all(|y| y.abs() < 1e-9));
    }

    #[test]
    fn options_models_and_errors() {
        for (j, needle) in [
            (r#"{"n_components": 0}"#, "n_components"),
            (r#"{"n_components": 2.5}"#, "n_components"),
            (r#"{"variance": 0}"#, "variance"),
            (r#"{"variance": 1.5}"#, "variance"),
            (r#"{"variance": 0.5, "n_components": 1}"#, "not both"),
            (r#"{"components": 2}"#, "unknown key"),
            (r#"{"standardize": "minmax"}"#, "standardize"),
            (r#"{"memory_limit_mb": 2048}"#, "memory_limit_mb"),
        ] {
            let e = Options::parse(j, 1024.0).unwrap_err();
            assert_eq!(e.code, ErrCode::InvalidParameter, "{j}");
            assert!(e.message.contains(needle), "{j}: {}", e.message);
        }
        assert!(fit(&mut vec![1.0, 2.0], 2, &opts("{}")).unwrap_err().message.contains("at least 2"));
        assert!(fit(&mut Vec::new(), 2, &opts("{}")).unwrap_err().message.contains("no rows"));
        assert!(fit(&mut data(10, 1), 3, &opts(r#"{"n_components": 4}"#)).unwrap_err().message.contains("n_components"));
        let tiny = Options { memory_limit_mb: 0.0001, ..opts("{}") };
        assert_eq!(fit(&mut data(100, 1), 3, &tiny).unwrap_err().code, ErrCode::OutOfMemory);
        // huge unstandardized values: 22003, never a model with infinities
        assert_eq!(fit(&mut vec![1e300, 0.0, -1e300, 1.0], 2, &opts(r#"{"standardize": "none"}"#)).unwrap_err().code, ErrCode::OutOfRange);
        assert!(fit(&mut vec![1e300, 0.0, -1e300, 1.0], 2, &opts("{}")).is_ok());
        let mut positive: Vec<f64> = data(50, 2).iter().map(|x| x + 30.0).collect();
        let m = fit(&mut positive, 3, &opts(r#"{"standardize": "log_zscore", "n_components": 2}"#)).unwrap();
        let back = Model::from_json(&m.to_json().to_string()).unwrap();
        assert_eq!((back.components.clone(), back.scaler.clone()), (m.components.clone(), m.scaler.clone()));
        assert_eq!(back.transform(&[1.0, 2.0, 100.0]).unwrap(), m.transform(&[1.0, 2.0, 100.0]).unwrap());
        assert!(m.transform(&[-1.0, 2.0, 3.0]).unwrap_err().message.contains("above -1"));
        assert!(m.transform(&[1.0, 2.0]).unwrap_err().message.contains("fitted on 3"));
        let good = m.to_json();
        for (key, value, needle) in [
            ("dims", json!(4), "mean"),
            ("dims", json!(1e9), "dims"),
            ("n_components", json!(5), "n_components"),
            ("scale", json!([1, 0, 1]), "scale"),
            ("components", json!([[1, 0, 0]]), "components"),
            ("kind", json!("pg_segment.kmeans"), "kind"),
        ] {
            let mut bad = good.clone();
            bad[key] = value;
            let e = Model::from_json(&bad.to_string()).unwrap_err();
            assert_eq!(e.code, ErrCode::InvalidParameter, "{key}");
            assert!(e.message.contains(needle), "{key}: {}", e.message);
        }
    }

    #[test]
    fn the_fit_stops_on_cancel() {
        use crate::cancel::testing::{cancel_after, count_checks};
        let p = data(100_000, 9);
        let (_, checks) = count_checks(|| fit(&mut p.clone(), 3, &opts("{}")).unwrap());
        assert!(checks >= 3, "{checks}");
        assert!(cancel_after(1, || fit(&mut p.clone(), 3, &opts("{}"))).0.is_err());
    }
}
