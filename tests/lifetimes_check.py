"""Cross-check of segment.btyd() against Python lifetimes' summary_data_from_transaction_data.

Run by scripts/test.sh (layer 4) with a private virtual environment that has lifetimes. Reads two
CSV files written by psql from the same sample store:
  purchases.csv  customer_id, ordered_at (naive Asia/Shanghai wall clock), amount   (refund rows excluded:
                 lifetimes has no notion of refunds, and segment.btyd ignores them)
  btyd.csv       unit, customer_id, frequency, recency, t, monetary_value          (from segment.btyd)
Prints one line per check and ends with 'lifetimes: N passed, M failed'; exit status 1 on failure.
"""
import sys

import pandas as pd
from lifetimes.utils import summary_data_from_transaction_data

from checks import Checks

# as_of of each unit, as the SQL side used it: the end of a day (days) and of a Sunday (weeks),
# so that lifetimes' period truncation of observation_period_end includes exactly what
# segment.btyd includes (orders up to as_of).
PERIOD_END = {"days": ("2025-06-30", "D"), "weeks": ("2025-06-29", "W")}


def main(workdir):
    tx = pd.read_csv(f"{workdir}/purchases.csv", parse_dates=["ordered_at"])
    ours = pd.read_csv(f"{workdir}/btyd.csv")
    check = Checks("lifetimes")
    for unit, (end, freq) in PERIOD_END.items():
        ref = summary_data_from_transaction_data(
            tx, "customer_id", "ordered_at", "amount", observation_period_end=end, freq=freq
        )
        mine = ours[ours.unit == unit].set_index("customer_id").drop(columns="unit").add_prefix("pg_")
        checks = {
            "same customers": set(ref.index) == set(mine.index),
        }
        if checks["same customers"]:
            joined = ref.join(mine)
            for col in ["frequency", "recency", "T"]:
                pg_col = "pg_" + col.lower()
                bad = joined[(joined[col] - joined[pg_col]).abs() > 1e-9]
                checks[f"{col} equal for {len(joined)} customers"] = bad.empty
                if not bad.empty:
                    print(bad.head(), file=sys.stderr)
            diff = (joined["monetary_value"] - joined["pg_monetary_value"]).abs()
            tol = 1e-9 * joined["monetary_value"].abs().clip(lower=1.0)
            checks["monetary_value equal (relative 1e-9)"] = bool((diff <= tol).all())
            checks["some repeat buyers"] = int((joined["frequency"] > 0).sum()) > 100
        for name, ok in checks.items():
            check(f"btyd({unit}) vs lifetimes: {name}", ok)
    return check.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
