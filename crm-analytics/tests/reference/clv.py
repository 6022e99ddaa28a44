"""Writes clv.json: a purchase history simulated from the BG/NBD and Gamma-Gamma models, and
what an independent implementation of those models (the `lifetimes` package) makes of it.

crm-analytics' tests load the history into every store, fit the models with the library and
compare with the figures here. Run again only to change the data set:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install lifetimes==0.11.3
    /tmp/ref/bin/python crm-analytics/tests/reference/clv.py > crm-analytics/tests/reference/clv.json
"""

import datetime as dt
import json
import sys

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

CUSTOMERS = 400
START = dt.date(2024, 1, 1)
END = dt.date(2025, 12, 31)  # the last day observed
DAYS = (END - START).days + 1

# The population simulated: purchase rates Gamma(r, alpha) per day, a chance of dropping out
# after each purchase Beta(a, b); spend per purchase Gamma(p, nu), nu ~ Gamma(q, gamma).
R, ALPHA, A, B = 0.6, 25.0, 0.7, 2.8
P, Q, GAMMA = 5.0, 4.0, 18.0


def simulate(rng):
    rows = []
    for c in range(CUSTOMERS):
        rate = rng.gamma(R, 1.0 / ALPHA)
        drop = rng.beta(A, B)
        nu = rng.gamma(Q, 1.0 / GAMMA)
        day = float(rng.integers(0, 365))
        while day < DAYS:
            amount = round(rng.gamma(P, 1.0 / nu), 2)
            rows.append((c, START + dt.timedelta(days=int(day)), max(amount, 0.01)))
            if rng.random() < drop:
                break
            day += rng.exponential(1.0 / rate)
    return rows


def main():
    rng = np.random.default_rng(20261207)
    rows = simulate(rng)
    df = pd.DataFrame(rows, columns=["customer", "date", "amount"])
    df["date"] = pd.to_datetime(df["date"])
    summary = summary_data_from_transaction_data(
        df, "customer", "date", monetary_value_col="amount", observation_period_end=pd.Timestamp(END), freq="D"
    )
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    bgf.fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf = GammaGammaFitter(penalizer_coef=0.0)
    ggf.fit(repeat["frequency"], repeat["monetary_value"])
    f, rec, t, m = summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"]
    alive = bgf.conditional_probability_alive(f, rec, t)
    next30 = bgf.conditional_expected_number_of_purchases_up_to_time(30, f, rec, t)
    next365 = bgf.conditional_expected_number_of_purchases_up_to_time(365, f, rec, t)
    spend = ggf.conditional_expected_average_profit(f, m)
    clv = ggf.customer_lifetime_value(bgf, f, rec, t, m, time=12, discount_rate=0.01, freq="D")
    customers = []
    for c in summary.index:
        customers.append(
            {
                "customer": int(c),
                "frequency": int(f[c]),
                "recency": int(rec[c]),
                "T": int(t[c]),
                "monetary_value": float(m[c]),
                "p_alive": float(alive[c]),
                "expected_30": float(next30[c]),
                "expected_365": float(next365[c]),
                "expected_spend": float(spend[c]),
                "clv_12_months": float(clv[c]),
            }
        )
    out = {
        "reference": "lifetimes 0.11.3 (BetaGeoFitter, GammaGammaFitter, customer_lifetime_value freq=D)",
        "observation_end": END.isoformat(),
        "bgnbd": {k: float(v) for k, v in bgf.params_.items()},
        "gamma_gamma": {k: float(v) for k, v in ggf.params_.items()},
        # customer, day, amount
        "orders": [[c, d.isoformat(), f"{a:.2f}"] for c, d, a in rows],
        "customers": customers,
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
