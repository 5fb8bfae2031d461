"""What parameters at the edge of the BG/NBD space cost in forecasting, and what the input policies cost.

    python benchmarks/edge_parameters.py

On the CDNOW master (23,570 customers, weekly) it times ``CLVModel.predict`` (52 weeks, 0.2 % weekly
discount) with the fitted parameters, where the hypergeometric closed form is used throughout, and with
parameters at the edge (a + b < 1, a = 1), where doubtful cells are integrated directly (Gauss rules for
the Beta density, adaptive quadrature where two rule sizes disagree). It then times ``rfm_summary`` on
the CDNOW master with the default (strict) policies and with every policy switched on.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from clv_predict import CLVModel, rfm_summary
from clv_predict.datasets import load_cdnow


def _best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    log = load_cdnow(sample=False)
    columns = {"customer_id_col": "customer_id", "datetime_col": "date", "monetary_value_col": "amount"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rfm = rfm_summary(log, **columns, time_unit="W")
        model = CLVModel().fit(rfm)
    fitted = model.purchase_model_.params_.copy()
    print(f"CDNOW master: {len(rfm):,} customers, {rfm[['frequency', 'T']].drop_duplicates().shape[0]:,} distinct (x, T)")
    print("predict, 52 weeks, 0.2 % weekly discount (best of 3):")
    for name, params in (
        ("fitted (interior)", fitted.to_numpy()),
        ("a + b < 1 (Online Retail-like)", np.array([0.82, 8.39, 1e-6, 1e-5])),
        ("a = 1", np.array([fitted["r"], fitted["alpha"], 1.0, fitted["b"]])),
    ):
        model.purchase_model_.params_ = pd.Series(params, index=fitted.index)
        seconds = _best_of(lambda: model.predict(rfm, horizon=52, discount_rate=0.002))
        clv = model.predict(rfm, horizon=52, discount_rate=0.002)["clv"]
        print(f"  {name:32s} {seconds:7.3f} s   total CLV {clv.sum():14,.2f}   finite {np.isfinite(clv).all()}")

    print(f"rfm_summary on {len(log):,} rows (best of 3):")
    strict = _best_of(lambda: rfm_summary(log, **columns, time_unit="W"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        every = _best_of(
            lambda: rfm_summary(
                log, **columns, time_unit="W", negative_amounts="net", duplicates="drop", missing_ids="drop"
            )
        )
    print(f"  {'default policies':44s} {strict:7.3f} s")
    print(f"  {'net, duplicates=drop, missing_ids=drop':44s} {every:7.3f} s")


if __name__ == "__main__":
    main()
