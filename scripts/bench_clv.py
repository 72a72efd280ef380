"""Times a Python lifetimes fitter on the BTYD summary CSV written by bench_clv.sh.

  bench_clv.py CSV              BetaGeoFitter:   'lifetimes: seconds=<s> r=<r> alpha=<alpha> a=<a> b=<b>'
  bench_clv.py CSV pareto_nbd   ParetoNBDFitter: 'lifetimes: seconds=<s> r=<r> alpha=<alpha> s=<s> beta=<beta>'
(full precision). Only the fit call is timed (not reading the CSV), with lifetimes' defaults
(penalizer 0, tol 1e-7 for BG/NBD; ParetoNBDFitter's own defaults).
"""
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter


def main(path, model="bgnbd"):
    df = pd.read_csv(path)
    fitter, names = (ParetoNBDFitter(), ["r", "alpha", "s", "beta"]) if model == "pareto_nbd" else (BetaGeoFitter(), ["r", "alpha", "a", "b"])
    start = time.perf_counter()
    fitter.fit(df["frequency"], df["recency"], df["t"])
    seconds = time.perf_counter() - start
    p = fitter.params_
    print("lifetimes: seconds=%r %s" % (seconds, " ".join(f"{n}={float(p[n])!r}" for n in names)))


if __name__ == "__main__":
    main(*sys.argv[1:])
