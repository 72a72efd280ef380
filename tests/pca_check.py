"""Cross-check of segment.pca_fit() / pca_transform() against scikit-learn's StandardScaler + PCA.

Run by scripts/test.sh (layer 4) in the private virtual environment (tests/requirements-sklearn.txt).
Reads the CSV files psql wrote from the same sample store:
  features.csv   customer_id, f1..f4              the feature vectors (recency, orders, spend, tenure)
  models.csv     name, options, model             pca_fit's model (jsonb) per option set
  coords.csv     name, customer_id, y1..yk        pca_transform of every customer per model
Checks per model: the standardization's mean and scale, the explained variance and its ratio
(1e-9 relative), the components up to sign (1e-7), the number of components a variance target
picks, and every customer's coordinates (up to each component's sign, 1e-7 absolute).
Prints one line per check and ends with 'pca: N passed, M failed'; exit status 1 on failure.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from checks import Checks


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def main(workdir):
    feats = pd.read_csv(f"{workdir}/features.csv").sort_values("customer_id")
    models = pd.read_csv(f"{workdir}/models.csv")
    coords = pd.read_csv(f"{workdir}/coords.csv")
    X = feats[[c for c in feats.columns if c.startswith("f")]].to_numpy(float)
    check = Checks("pca")

    for _, row in models.iterrows():
        name, opts, m = row["name"], json.loads(row["options"]), json.loads(row["model"])
        Z = np.log1p(X) if opts.get("standardize") == "log_zscore" else X
        scaler = StandardScaler().fit(Z)
        Zs = scaler.transform(Z)
        n_components = opts.get("n_components", opts.get("variance"))
        pca = PCA(n_components=n_components, svd_solver="full").fit(Zs)
        k = m["n_components"]
        check(f"{name}: mean equals StandardScaler's (1e-12 relative)", rel(m["mean"], scaler.mean_) < 1e-12, f"{rel(m['mean'], scaler.mean_)}")
        check(f"{name}: scale equals StandardScaler's (1e-12 relative)", rel(m["scale"], scaler.scale_) < 1e-12, f"{rel(m['scale'], scaler.scale_)}")
        check(f"{name}: {k} components, as scikit-learn keeps", k == pca.n_components_, f"{k} vs {pca.n_components_}")
        if k != pca.n_components_:
            continue
        ev = rel(m["explained_variance"], pca.explained_variance_)
        check(f"{name}: explained variance (1e-9 relative, got {ev:.1e})", ev < 1e-9)
        er = rel(m["explained_variance_ratio"], pca.explained_variance_ratio_)
        check(f"{name}: explained variance ratio (1e-9 relative, got {er:.1e})", er < 1e-9)
        C = np.asarray(m["components"], float)
        signs = np.sign(np.sum(C * pca.components_, axis=1))
        cd = float(np.max(np.abs(C - signs[:, None] * pca.components_)))
        check(f"{name}: components up to sign (1e-7, got {cd:.1e}; same signs: {bool((signs > 0).all())})", cd < 1e-7)
        mine = coords[coords.name == name].sort_values("customer_id")
        Y = mine[[f"y{i + 1}" for i in range(k)]].to_numpy(float)
        ref = pca.transform(Zs) * signs[None, :]
        yd = float(np.max(np.abs(Y - ref)))
        check(f"{name}: pca_transform of {len(Y)} customers (1e-7, got {yd:.1e})", len(Y) == len(X) and yd < 1e-7)
    return check.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
