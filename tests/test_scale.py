"""The fast paths give the reference results: synthetic logs, RFM at scale, the native fit, weighted fits."""

import warnings

import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    CLVModel,
    DataError,
    GammaGammaModel,
    ModelWarning,
    _lifetimes,
    _math,
    _rows,
    rfm_summary,
)
from clv_predict import rfm as rfm_module
from clv_predict.synthetic import CDNOW_PARAMS, simulate_transactions

END = "2021-04-14"


@pytest.fixture(scope="module")
def synthetic_log():
    return simulate_transactions(20_000, seed=11)


@pytest.fixture(scope="module")
def synthetic_rfm(synthetic_log):
    return rfm_summary(synthetic_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                       observation_period_end=END, time_unit="W")


# ---------------------------------------------------------------------------------------------------- generator
def test_generator_is_seeded_and_follows_the_process(synthetic_log):
    again = simulate_transactions(20_000, seed=11)
    pd.testing.assert_frame_equal(synthetic_log, again)
    assert not simulate_transactions(20_000, seed=12).equals(synthetic_log)
    assert synthetic_log["customer_id"].nunique() == 20_000
    assert synthetic_log["date"].max() <= pd.Timestamp(END)
    first = synthetic_log.groupby("customer_id")["date"].min()
    assert first.min() >= pd.Timestamp("2020-01-01") and first.max() <= pd.Timestamp("2020-12-30")
    assert (synthetic_log["amount"] >= 0.01).all()
    assert synthetic_log["date"].is_monotonic_increasing
    # about 2.2 transactions per customer with CDNOW's parameters (E[X(t)] averaged over the spread of T)
    assert 2.0 < len(synthetic_log) / 20_000 < 2.4


def test_fits_recover_the_generating_parameters(synthetic_rfm):
    model = CLVModel(engine="native").fit(synthetic_rfm)
    r, alpha, a, b, p, q, v = model.params_.to_numpy()
    true = CDNOW_PARAMS
    # Gamma-Gamma's p and v move together along a ridge; the population mean spend is what the data pin down
    assert p * v / (q - 1) == pytest.approx(true["p"] * true["v"] / (true["q"] - 1), rel=0.03)
    assert a / (a + b) == pytest.approx(true["a"] / (true["a"] + true["b"]), rel=0.08)
    # daily dates merge a heavy buyer's same-day purchases, so the purchase rate comes out a few percent low
    # at any size (see benchmarks/README.md)
    assert r / alpha == pytest.approx(true["r"] / true["alpha"], rel=0.1)
    assert r == pytest.approx(true["r"], rel=0.05)


def test_generator_refuses_bad_arguments():
    with pytest.raises(DataError, match="'n_customers' must be a positive whole number"):
        simulate_transactions(0)
    with pytest.raises(DataError, match="parameter 'alpha' must be a finite number > 0"):
        simulate_transactions(10, {**CDNOW_PARAMS, "alpha": -1.0})
    with pytest.raises(DataError, match="'params' lacks 'v'"):
        simulate_transactions(10, {k: v for k, v in CDNOW_PARAMS.items() if k != "v"})


# ---------------------------------------------------------------------------------------------------- RFM
def _reference_customers(codes, days, amounts):
    """The sort-and-merge path (the one kept for logs with returns), as the reference."""
    t_codes, t_days, t_amounts = rfm_module._merge_days(codes, days, amounts)
    starts = np.flatnonzero(np.r_[True, t_codes[1:] != t_codes[:-1]])
    counts = np.diff(np.append(starts, t_codes.size))
    return t_codes[starts], t_days[starts], t_days[starts + counts - 1], counts, np.add.reduceat(t_amounts, starts) - t_amounts[starts]


@pytest.mark.parametrize("seed", [1, 2])
def test_linear_rfm_path_equals_sort_and_merge(seed):
    rng = np.random.default_rng(seed)
    n = 5000
    codes = rng.integers(0, 800, n)
    days = rng.integers(18000, 18060, n)  # many same-day repeats
    amounts = np.round(rng.gamma(2.0, 10.0, n), 2)
    amounts[rng.random(n) < 0.05] = 0.0  # zero-value purchases are purchases
    fast = rfm_module._customers_without_returns(codes, days, amounts)
    ref_codes, first, last, n_days, repeat_total = _reference_customers(codes, days, amounts)
    np.testing.assert_array_equal(fast.codes, ref_codes)
    np.testing.assert_array_equal(fast.first_day, first)
    np.testing.assert_array_equal(fast.last_day, last)
    np.testing.assert_array_equal(fast.n_transactions, n_days)
    np.testing.assert_allclose(fast.repeat_total, repeat_total, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("ids", ["dense", "sparse", "negative", "text"])
def test_id_codes_equal_a_sorted_factorisation(ids):
    rng = np.random.default_rng(3)
    values = rng.integers(0, 1000, 3000)
    column = {
        "dense": pd.Series(values),
        "sparse": pd.Series(values * 10**12),
        "negative": pd.Series(values - 500),
        "text": pd.Series(values.astype(str)),
    }[ids]
    codes, unique = rfm_module._factorize_sorted(column)
    expected_codes, expected_unique = pd.factorize(column, sort=True)
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(np.asarray(unique), np.asarray(expected_unique))


def test_summary_does_not_depend_on_row_order(synthetic_log, synthetic_rfm):
    shuffled = synthetic_log.sample(frac=1.0, random_state=5)
    again = rfm_summary(shuffled, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
                        observation_period_end=END, time_unit="W")
    pd.testing.assert_frame_equal(again[["frequency", "recency", "T"]], synthetic_rfm[["frequency", "recency", "T"]])
    np.testing.assert_allclose(again["monetary_value"], synthetic_rfm["monetary_value"], rtol=1e-12)


# ---------------------------------------------------------------------------------------------------- fitting
def test_compressed_objective_equals_the_reference_formulas(synthetic_rfm):
    x, t_x, T = (synthetic_rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    unique, weights = _rows.compress({"x": x, "t_x": t_x, "T": T})
    assert weights.sum() == len(synthetic_rfm) and weights.size < len(synthetic_rfm)
    for params in ([0.24, 4.4, 0.79, 2.4], [1.3, 0.7, 2.5, 0.6]):
        value, gradient = _rows.BetaGeoRows(unique["x"], unique["t_x"], unique["T"], weights)(np.array(params))
        assert value == pytest.approx(float(np.sum(_math.bgnbd_log_likelihood(params, x, t_x, T))), rel=1e-11)
        np.testing.assert_allclose(gradient, _math.bgnbd_gradient(params, x, t_x, T, np.ones_like(x)), rtol=1e-9)
    repeat = synthetic_rfm[synthetic_rfm["frequency"] > 0]
    xr, m = repeat["frequency"].to_numpy(dtype=float), repeat["monetary_value"].to_numpy()
    unique, weights = _rows.compress({"x": xr, "m": m})
    value, gradient = _rows.GammaGammaRows(unique["x"], unique["m"], weights)(np.array([6.0, 3.7, 15.0]))
    assert value == pytest.approx(float(np.sum(_math.gamma_gamma_log_likelihood([6.0, 3.7, 15.0], xr, m))), rel=1e-11)
    np.testing.assert_allclose(gradient, _math.gamma_gamma_gradient([6.0, 3.7, 15.0], xr, m, np.ones_like(xr)), rtol=1e-9)


def _groupby_reference(columns, weights=None):
    frame = pd.DataFrame(columns).assign(_w=1.0 if weights is None else weights)
    frame = frame[frame["_w"] > 0]
    return frame.groupby(list(columns), sort=True)["_w"].sum().reset_index()


@pytest.mark.parametrize("threaded", [False, True])
def test_compress_equals_a_sorted_groupby_on_every_path(threaded, monkeypatch):
    if threaded:
        monkeypatch.setattr(_rows, "_THREADED_ROWS", 10)
    rng = np.random.default_rng(3)
    n = 5_000
    counts = rng.integers(0, 12, n).astype(float)               # whole numbers: their own codes
    days = rng.integers(0, 60, n) / 7.0                          # a lattice of floats: hashed by their bits
    spend = np.round(rng.gamma(2.0, 10.0, n), 2)                # nearly continuous: the sparse-key path
    days[:10] = -0.0                                             # -0.0 and 0.0 are one value
    days[10:20] = 0.0
    weights = rng.integers(0, 3, n).astype(float)                # zero weights drop rows
    for columns in ({"x": counts, "t": days}, {"x": counts, "m": spend}, {"t": days, "x": counts, "m": spend}):
        for w in (None, weights):
            unique, totals = _rows.compress(columns, w)
            expected = _groupby_reference(columns, w)
            for name in columns:
                np.testing.assert_array_equal(unique[name], expected[name].to_numpy())
            np.testing.assert_array_equal(totals, expected["_w"].to_numpy())
    # the result does not depend on the order of the input rows
    order = rng.permutation(n)
    shuffled = _rows.compress({"x": counts[order], "m": spend[order]})
    straight = _rows.compress({"x": counts, "m": spend})
    np.testing.assert_array_equal(shuffled[1], straight[1])
    np.testing.assert_array_equal(shuffled[0]["m"], straight[0]["m"])


def test_fit_on_a_sample_then_polished_on_everyone_finds_the_full_optimum(synthetic_rfm, monkeypatch):
    """Many distinct rows: the starts are tried on a sample of customers, the estimate polished on all of them."""
    from clv_predict.models import _base as models

    full = CLVModel(engine="native").fit(synthetic_rfm)
    assert full.purchase_model_.convergence_["sample_customers"] is None  # 20,000 customers: no sample
    monkeypatch.setattr(models, "_SAMPLE_ABOVE_ROWS", 1_000)
    monkeypatch.setattr(models, "_SAMPLE_CUSTOMERS", 3_000)
    sampled = CLVModel(engine="native").fit(synthetic_rfm)
    for part in (sampled.purchase_model_, sampled.spend_model_):
        assert part.convergence_["converged"]
        assert 2_500 < part.convergence_["sample_customers"] < 3_500
        assert part.convergence_["iterations"] <= 10  # polishing from the sample's estimate takes a few steps
    np.testing.assert_allclose(sampled.params_, full.params_, rtol=1e-6)
    np.testing.assert_allclose(sampled.purchase_model_.log_likelihood_, full.purchase_model_.log_likelihood_, rtol=1e-12)
    np.testing.assert_allclose(sampled.purchase_model_.covariance_, full.purchase_model_.covariance_, rtol=1e-4)
    # the same every time: the sample is seeded
    again = CLVModel(engine="native").fit(synthetic_rfm)
    np.testing.assert_array_equal(again.params_, sampled.params_)

    # when polishing fails, every start is tried on all customers, as without a sample
    failed = models._Optimum(np.zeros(4), False, "forced failure", 0)
    monkeypatch.setattr(BetaGeoModel, "_polish", lambda self, data, sample, start: failed)
    fallback = BetaGeoModel(engine="native").fit(synthetic_rfm)
    assert fallback.convergence_["converged"] and fallback.convergence_["sample_customers"] is None
    np.testing.assert_allclose(fallback.params_, full.purchase_model_.params_, rtol=1e-7)


def test_log_likelihood_is_the_sum_of_the_reference_formula(synthetic_rfm):
    model = CLVModel(engine="native").fit(synthetic_rfm)
    x, t_x, T = (synthetic_rfm[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    expected = float(np.sum(_math.bgnbd_log_likelihood(model.purchase_model_.params_.to_numpy(), x, t_x, T)))
    assert model.purchase_model_.log_likelihood_ == pytest.approx(expected, rel=1e-11)
    repeat = synthetic_rfm[synthetic_rfm["frequency"] > 0]
    spend = float(np.sum(_math.gamma_gamma_log_likelihood(
        model.spend_model_.params_.to_numpy(), repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy())))
    assert model.spend_model_.log_likelihood_ == pytest.approx(spend, rel=1e-11)


def _lifetimes_row_per_customer(rfm):
    bgnbd = _lifetimes.fit_bgnbd(rfm["frequency"].to_numpy(), rfm["recency"].to_numpy(), rfm["T"].to_numpy(),
                                 np.ones(len(rfm)), 0.0)
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    spend = _lifetimes.fit_gamma_gamma(repeat["frequency"].to_numpy(), repeat["monetary_value"].to_numpy(),
                                       np.ones(len(repeat)), 0.0)
    return np.concatenate([bgnbd, spend])


def test_native_fit_equals_lifetimes_row_per_customer_on_cdnow(cdnow_split):
    native = CLVModel(engine="native").fit(cdnow_split)
    np.testing.assert_allclose(native.params_.to_numpy(), _lifetimes_row_per_customer(cdnow_split), rtol=1e-4)
    assert native.purchase_model_.params_.round(3).to_dict() == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def test_native_fit_equals_lifetimes_row_per_customer_on_synthetic_data(synthetic_rfm):
    native = CLVModel(engine="native").fit(synthetic_rfm)
    np.testing.assert_allclose(native.params_.to_numpy(), _lifetimes_row_per_customer(synthetic_rfm), rtol=1e-4)
    reference = CLVModel(engine="lifetimes").fit(synthetic_rfm)
    np.testing.assert_allclose(native.params_, reference.params_, rtol=1e-6)
    np.testing.assert_allclose(native.purchase_model_.covariance_, reference.purchase_model_.covariance_, rtol=1e-4)


def test_weighted_fit_equals_the_fit_on_every_customer(synthetic_rfm):
    columns = ["frequency", "recency", "T", "monetary_value"]
    counts = synthetic_rfm[columns].value_counts().rename("customers").reset_index()
    counts.attrs.update(synthetic_rfm.attrs)
    for model in (BetaGeoModel(engine="native"), GammaGammaModel(engine="native"), BetaGeoModel()):
        full = type(model)(engine=model.engine).fit(synthetic_rfm)
        weighted = model.fit(counts, weights="customers")
        np.testing.assert_allclose(weighted.params_, full.params_, rtol=1e-7)
        assert weighted.n_customers_ == full.n_customers_ and weighted.n_repeat_customers_ == full.n_repeat_customers_
        assert weighted.n_unique_rows_ == full.n_unique_rows_
    # zero weights drop rows; an array works as well as a column name
    doubled = BetaGeoModel(engine="native").fit(counts, weights=counts["customers"].to_numpy() * 2.0)
    np.testing.assert_allclose(doubled.params_, full.params_, rtol=1e-6)
    assert doubled.n_customers_ == 2 * full.n_customers_


def test_bad_weights_are_refused(synthetic_rfm):
    with pytest.raises(DataError, match="no column 'n'"):
        BetaGeoModel().fit(synthetic_rfm, weights="n")
    with pytest.raises(DataError, match="one value per row"):
        BetaGeoModel().fit(synthetic_rfm, weights=[1, 2])
    with pytest.raises(DataError, match="finite numbers >= 0"):
        BetaGeoModel().fit(synthetic_rfm, weights=-np.ones(len(synthetic_rfm)))


def test_predict_shares_values_between_customers_with_the_same_pattern(synthetic_rfm):
    model = CLVModel(engine="native").fit(synthetic_rfm)
    forecast = model.predict(synthetic_rfm, horizon=52, discount_rate=0.002)
    one_by_one = pd.concat([model.predict(synthetic_rfm.iloc[[i]], horizon=52, discount_rate=0.002)
                            for i in range(0, len(synthetic_rfm), 997)])
    pd.testing.assert_frame_equal(forecast.loc[one_by_one.index], one_by_one, rtol=1e-12)
    direct = _math.bgnbd_conditional_expected(model.purchase_model_.params_.to_numpy(), synthetic_rfm["frequency"],
                                              synthetic_rfm["recency"], synthetic_rfm["T"], 52.0)
    np.testing.assert_allclose(forecast["expected_purchases"], direct, rtol=1e-10)


# ---------------------------------------------------------------------------------------------------- batch scoring
@pytest.fixture(scope="module")
def parts_folder(tmp_path_factory, synthetic_log):
    """The synthetic log as a folder of three Parquet parts, each customer's rows spread over all of them."""
    folder = tmp_path_factory.mktemp("log_parts")
    shuffled = synthetic_log.sample(frac=1.0, random_state=2)
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        shuffled.iloc[rows].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def _scores_of(path):
    return pd.read_parquet(path).sort_values("customer_id").reset_index(drop=True)


def test_chunked_scoring_of_a_parts_folder_into_parts_equals_one_shot(parts_folder, synthetic_log, synthetic_rfm, tmp_path):
    from clv_predict import score, score_file

    model = CLVModel(engine="native").fit(synthetic_rfm)
    settings = {"horizon": 52, "discount_rate": 0.002, "margin": 0.3, "observation_period_end": END}
    one = score_file(model, parts_folder, tmp_path / "one.parquet", chunk_rows=10**7, **settings)
    progress = []
    chunked = score_file(model, parts_folder, tmp_path / "scores", chunk_rows=4000, output_parts=True,
                         progress=lambda done, total: progress.append((done, total)), **settings)
    parts = sorted((tmp_path / "scores").glob("part-*.parquet"))
    assert one["chunks"] == 1 and chunked["chunks"] == len(parts) >= len(synthetic_log) // 4000
    assert progress[-1] == (len(parts), len(parts))
    # whole customers per chunk, and chunks about chunk_rows transactions: no part holds more than a few
    # thousand customers although the file holds 20,000
    sizes = [pq_rows(p) for p in parts]
    assert sum(sizes) == 20_000 and max(sizes) < 4000
    a, b = _scores_of(tmp_path / "one.parquet"), _scores_of(tmp_path / "scores")
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    assert set(a.pop("time_unit")) == {model.time_unit_}  # files say their unit; score() keeps it in attrs
    direct = score(model, synthetic_rfm, horizon=52, discount_rate=0.002, margin=0.3)
    pd.testing.assert_frame_equal(a, direct.sort_values("customer_id").reset_index(drop=True), rtol=1e-12)


def pq_rows(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def test_chunked_scoring_keeps_memory_bounded_by_the_chunk(tmp_path):
    import tracemalloc

    from clv_predict import score_file

    log = simulate_transactions(60_000, seed=4)
    path = tmp_path / "log.parquet"
    log.to_parquet(path, index=False)
    model = CLVModel(engine="native").fit(rfm_summary(log, customer_id_col="customer_id", datetime_col="date",
                                                       monetary_value_col="amount", time_unit="W"))
    del log
    peaks = {}
    for chunk_rows in (10**7, 10_000):
        tracemalloc.start()
        score_file(model, path, tmp_path / f"scores_{chunk_rows}", horizon=52, chunk_rows=chunk_rows, output_parts=True)
        peaks[chunk_rows] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[10_000] < peaks[10**7] / 3


def test_parts_output_refuses_a_non_empty_folder_and_leaves_nothing_on_failure(synthetic_rfm, parts_folder, tmp_path):
    from clv_predict import score_file

    model = CLVModel(engine="native").fit(synthetic_rfm)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="exists and is not an empty folder"):
        score_file(model, parts_folder, busy, horizon=52, output_parts=True)
    bad = tmp_path / "bad_parts"
    bad.mkdir()
    for part in sorted(parts_folder.glob("*.parquet")):
        frame = pd.read_parquet(part)
        (bad / part.name).write_bytes(part.read_bytes())
    frame = frame.astype({"date": str})
    frame.loc[frame.index[-1], "date"] = "not a date"
    frame.to_parquet(bad / "part-9.parquet", index=False)
    with pytest.raises(DataError):
        score_file(model, bad, tmp_path / "out", horizon=52, chunk_rows=5000, output_parts=True)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_command_line_writes_parquet_parts(synthetic_rfm, parts_folder, tmp_path, capsys):
    from clv_predict.cli import main

    model_path = tmp_path / "model.joblib"
    CLVModel(engine="native").fit(synthetic_rfm).save(model_path)
    code = main(["score", "--model", str(model_path), "--input", str(parts_folder), "--customer-col", "customer_id",
                 "--date-col", "date", "--amount-col", "amount", "--chunk-rows", "15000", "--output-parts",
                 "--output", str(tmp_path / "scores")])
    assert code == 0
    parts = sorted((tmp_path / "scores").glob("part-*.parquet"))
    assert len(parts) >= 2 and len(pd.read_parquet(tmp_path / "scores")) == 20_000
    assert "Scored 20,000 customers" in capsys.readouterr().out


def test_native_engine_agrees_with_the_lifetimes_reference_penalised_or_not(cdnow_split):
    for penalizer in (0.0, 0.1):
        native = BetaGeoModel(penalizer_coef=penalizer, engine="native").fit(cdnow_split)
        reference = BetaGeoModel(penalizer_coef=penalizer, engine="lifetimes").fit(cdnow_split)
        np.testing.assert_allclose(native.params_, reference.params_, rtol=1e-5)
        np.testing.assert_allclose(native.covariance_, reference.covariance_, rtol=1e-4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ModelWarning)  # penalised, q falls below 1 on CDNOW: both engines warn
            spend = GammaGammaModel(penalizer_coef=penalizer, engine="native").fit(cdnow_split)
            spend_reference = GammaGammaModel(penalizer_coef=penalizer, engine="lifetimes").fit(cdnow_split)
        np.testing.assert_allclose(spend.params_, spend_reference.params_, rtol=1e-5)


def test_command_line_fits_with_the_native_engine(synthetic_log, tmp_path, capsys):
    from clv_predict import load_model
    from clv_predict.cli import main

    log_path = tmp_path / "log.parquet"
    synthetic_log.to_parquet(log_path, index=False)
    for engine in ("native", "lifetimes"):
        code = main(["fit", "--input", str(log_path), "--customer-col", "customer_id", "--date-col", "date",
                     "--amount-col", "amount", "--time-unit", "W", "--observation-end", END, "--engine", engine,
                     "--output", str(tmp_path / f"{engine}.joblib")])
        assert code == 0
    native, reference = load_model(tmp_path / "native.joblib"), load_model(tmp_path / "lifetimes.joblib")
    assert native.engine == "native" and reference.engine == "lifetimes"
    np.testing.assert_allclose(native.params_, reference.params_, rtol=1e-5)


def test_spend_rows_prepared_in_a_thread_give_the_same_fit(synthetic_rfm, monkeypatch):
    from clv_predict import clv

    serial = CLVModel(engine="native").fit(synthetic_rfm)
    monkeypatch.setattr(clv, "_PARALLEL_ROWS", 1_000)
    threaded = CLVModel(engine="native").fit(synthetic_rfm)
    pd.testing.assert_series_equal(threaded.params_, serial.params_)
    assert threaded.spend_model_.n_customers_ == serial.spend_model_.n_customers_
    # an error in the purchase model still surfaces, after the thread is done
    with pytest.raises(DataError, match="none of the"):
        CLVModel(engine="native").fit(synthetic_rfm.assign(frequency=0, recency=0.0))
