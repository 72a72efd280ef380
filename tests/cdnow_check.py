"""CDNOW: the published Pareto/NBD and BG/NBD figures, and lifetimes on the same rows.

Run by scripts/test.sh (layer 4) with the private virtual environment that has lifetimes, whose
wheel ships CDNOW_sample.txt (raw orders of the 2,357-customer CDNOW cohort of Q1 1997). Reads
the CSV files psql wrote from that data (see scripts/test.sh):
  cdnow.csv              customer_id, day, amount               (the raw orders)
  cdnow_holdout.csv      segment.calibration_holdout(..., '1997-09-30 end', '1998-06-30 end', 'days', 'UTC')
  cdnow_models.csv       pareto_nbd_fit and bgnbd_fit in weeks (days / 7) over the calibration rows
  cdnow_conditional.csv  segment.conditional_expectations of both models
Checks:
  1. calibration_holdout equals lifetimes' calibration_and_holdout_data (freq 'D') customer by customer;
  2. the fits reproduce the published figures at their printed precision:
     Pareto/NBD r 0.55, alpha 10.58, s 0.61, beta 11.67, LL -9594.98 (Fader, Hardie & Lee 2005,
     "A Note on Deriving the Pareto/NBD Model and Related Expressions", brucehardie.com note 009,
     39-week calibration from 1997-01-01, time in weeks); BG/NBD r 0.243, alpha 4.414, a 0.793,
     b 2.426, LL -9582.4 (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way",
     Marketing Science 24(2), section 4);
  3. lifetimes' ParetoNBDFitter and BetaGeoFitter on the same rows find the same optimum: under
     lifetimes' own log-likelihood our parameters score at least as well as its own (within
     1e-6), and the parameters agree to relative 1e-3 for BG/NBD and 1e-2 for Pareto/NBD.
     ParetoNBDFitter starts Nelder-Mead from a random point (np.random.normal(1, 0.05)) and
     stops at tol 1e-6 on a flat ridge of (s, beta): from one start to another its parameters
     moved by 1e-3 relative while ours stay fixed, so numpy's generator is seeded and the
     likelihood, not the digits, decides which optimum is better;
  4. the conditional expectations by calibration frequency equal lifetimes'
     conditional_expected_number_of_purchases_up_to_time averaged per bin under our parameters.
Prints one line per check and ends with 'cdnow: N passed, M failed'; exit status 1 on failure.
"""
import sys

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data

from checks import Checks

PUBLISHED = {
    "pareto_nbd": ({"r": 0.55, "alpha": 10.58, "a_or_s": 0.61, "b_or_beta": 11.67}, 2, -9594.98, 2),
    "bgnbd": ({"r": 0.243, "alpha": 4.414, "a_or_s": 0.793, "b_or_beta": 2.426}, 3, -9582.4, 1),
}


def main(workdir):
    check = Checks("cdnow", "cdnow: ")

    tx = pd.read_csv(f"{workdir}/cdnow.csv", names=["customer_id", "day", "amount"], parse_dates=["day"])
    ours = pd.read_csv(f"{workdir}/cdnow_holdout.csv").set_index("customer_id")
    ref = calibration_and_holdout_data(
        tx, "customer_id", "day", calibration_period_end="1997-09-30", observation_period_end="1998-06-30",
        freq="D", monetary_value_col="amount",
    )
    check("same customers as lifetimes (2,357)", set(ref.index) == set(ours.index) and len(ours) == 2357, f"{len(ours)} vs {len(ref)}")
    joined = ref.join(ours.add_prefix("pg_"))
    for col in ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]:
        diff = (joined[col] - joined["pg_" + col.lower()]).abs()
        check(f"{col} equal for every customer", (diff < 1e-9).all(), str(joined[diff >= 1e-9].head()))
    diff = (joined["monetary_value_cal"] - joined["pg_monetary_value_cal"]).abs()
    check("monetary_value_cal equal (relative 1e-9)", (diff <= 1e-9 * joined["monetary_value_cal"].abs().clip(lower=1)).all())

    models = pd.read_csv(f"{workdir}/cdnow_models.csv").set_index("model")
    for model, (params, digits, ll, ll_digits) in PUBLISHED.items():
        row = models.loc[model]
        check(f"{model} converged", row["converged"] in (True, "t"))
        got = {k: round(float(row[k]), digits) for k in params}
        check(f"{model} parameters as published {params}", got == params, f"got {got}")
        check(f"{model} log-likelihood as published {ll}", round(float(row["log_likelihood"]), ll_digits) == ll, f"got {row['log_likelihood']}")

    cal = ours.assign(x=ours.frequency_cal, tx=ours.recency_cal / 7, big_t=ours.t_cal / 7)
    np.random.seed(20261202)  # ParetoNBDFitter's random start
    pn = ParetoNBDFitter().fit(cal.x, cal.tx, cal.big_t)
    bg = BetaGeoFitter().fit(cal.x, cal.tx, cal.big_t)
    x, tx, big_t = (np.asarray(v, dtype=float) for v in (cal.x, cal.tx, cal.big_t))
    for model, fitter, names, rtol in [("pareto_nbd", pn, ["r", "alpha", "s", "beta"], 1e-2), ("bgnbd", bg, ["r", "alpha", "a", "b"], 1e-3)]:
        mine = models.loc[model, ["r", "alpha", "a_or_s", "b_or_beta"]].astype(float).to_numpy()
        theirs = np.array([fitter.params_[n] for n in names])
        # lifetimes' own log-likelihood, summed over customers, at both parameter vectors
        if model == "pareto_nbd":
            ll = lambda p: ParetoNBDFitter._conditional_log_likelihood(p, x, tx, big_t).sum()
        else:
            ll = lambda p: -BetaGeoFitter._negative_log_likelihood(np.log(p), x, tx, big_t, np.ones_like(x), 0.0) * len(x)
        check(f"{model}: our parameters are at least as likely as lifetimes' under its own log-likelihood",
              ll(mine) >= ll(theirs) - 1e-6, f"ours {ll(mine)!r} at {mine}, lifetimes {ll(theirs)!r} at {theirs}")
        rel = np.abs(mine / theirs - 1)
        check(f"{model} parameters equal lifetimes' (relative {rtol:g})", (rel < rtol).all(), f"ours {mine}, lifetimes {theirs}")

    cond = pd.read_csv(f"{workdir}/cdnow_conditional.csv")
    bins = cal.x.clip(upper=7).astype(int)
    for model, fitter, names in [("pareto_nbd", ParetoNBDFitter(), ["r", "alpha", "s", "beta"]), ("bgnbd", BetaGeoFitter(), ["r", "alpha", "a", "b"])]:
        fitter.params_ = pd.Series(models.loc[model, ["r", "alpha", "a_or_s", "b_or_beta"]].astype(float).to_numpy(), index=names)
        expected = fitter.conditional_expected_number_of_purchases_up_to_time(39, cal.x, cal.tx, cal.big_t)
        by_bin = pd.Series(np.asarray(expected), index=cal.index).groupby(bins.to_numpy()).mean()
        actual = ours.frequency_holdout.groupby(bins.to_numpy()).mean()
        sizes = bins.value_counts().sort_index()
        mine = cond[cond.model == model].set_index("frequency").sort_index()
        check(f"{model} conditional expectations: bin sizes", (mine.customers.to_numpy() == sizes.to_numpy()).all(), f"{mine.customers.tolist()} vs {sizes.tolist()}")
        check(f"{model} conditional expectations: actual means", np.allclose(mine.actual.to_numpy(), actual.to_numpy(), rtol=1e-12))
        check(f"{model} conditional expectations equal lifetimes' (relative 1e-6)", np.allclose(mine.expected.to_numpy(), by_bin.to_numpy(), rtol=1e-6),
              f"{mine.expected.tolist()} vs {by_bin.tolist()}")

    return check.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
