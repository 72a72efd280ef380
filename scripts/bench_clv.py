"""Times Python lifetimes' BetaGeoFitter.fit on the BTYD summary CSV written by bench_clv.sh.

Prints one line 'lifetimes: seconds=<s> r=<r> alpha=<alpha> a=<a> b=<b>' (full precision).
Only the fit call is timed (not reading the CSV), with lifetimes' defaults (penalizer 0, tol 1e-7).
"""
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter


def main(path):
    df = pd.read_csv(path)
    bgf = BetaGeoFitter()
    start = time.perf_counter()
    bgf.fit(df["frequency"], df["recency"], df["t"])
    seconds = time.perf_counter() - start
    p = bgf.params_
    print(f"lifetimes: seconds={seconds!r} r={float(p['r'])!r} alpha={float(p['alpha'])!r} a={float(p['a'])!r} b={float(p['b'])!r}")


if __name__ == "__main__":
    main(sys.argv[1])
