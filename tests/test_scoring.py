import numpy as np
import pandas as pd
import pytest

from clv_predict import DataError, score, score_file
from clv_predict.scoring import SCORE_COLUMNS


@pytest.fixture(scope="module")
def cdnow_files(tmp_path_factory, cdnow_log):
    folder = tmp_path_factory.mktemp("cdnow")
    shuffled = cdnow_log.sample(frac=1.0, random_state=11)  # customers' rows spread over the file
    csv, parquet = folder / "log.csv", folder / "log.parquet"
    shuffled.to_csv(csv, index=False)
    shuffled.to_parquet(parquet, index=False)
    return csv, parquet


def _read(path):
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.sort_values("customer_id").reset_index(drop=True)


def test_chunked_scoring_equals_one_shot(cdnow_model, cdnow_files, tmp_path):
    csv, parquet = cdnow_files
    settings = {"horizon": 52, "discount_rate": 0.002, "margin": 0.3, "observation_period_end": "1997-09-30"}
    with pytest.warns(Warning, match="transactions dated after observation_period_end 1997-09-30"):
        one = score_file(cdnow_model, parquet, tmp_path / "one.parquet", **settings)
    progress = []
    with pytest.warns(Warning):
        many = score_file(cdnow_model, csv, tmp_path / "many.csv", chunk_rows=700, progress=lambda d, t: progress.append((d, t)), **settings)
    assert one["chunks"] == 1 and many["chunks"] > 5
    assert progress[-1] == (many["chunks"], many["chunks"])
    a, b = _read(tmp_path / "one.parquet"), _read(tmp_path / "many.csv")
    assert list(a.columns) == [*SCORE_COLUMNS, "time_unit"] and set(a["time_unit"]) == {"W"}
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
    assert len(a) == 2357 and one["customers"] == many["customers"] == 2357


def test_file_scores_equal_the_library_forecast(cdnow_model, cdnow_split, cdnow_files, tmp_path):
    _, parquet = cdnow_files
    with pytest.warns(Warning):
        score_file(cdnow_model, parquet, tmp_path / "s.parquet", horizon=39, observation_period_end="1997-09-30")
    scored = _read(tmp_path / "s.parquet").set_index("customer_id")
    expected = cdnow_model.predict(cdnow_split, horizon=39)
    pd.testing.assert_frame_equal(scored[list(expected.columns)], expected.loc[scored.index], check_names=False)


def test_rfm_table_input(cdnow_model, cdnow_split, tmp_path):
    rfm_path = tmp_path / "rfm.csv"
    cdnow_split[["frequency", "recency", "T", "monetary_value"]].to_csv(rfm_path)
    result = score_file(cdnow_model, rfm_path, tmp_path / "out.parquet", horizon=39, input_kind="rfm", chunk_rows=500,
                        time_unit="W")
    assert result["customers"] == 2357 and result["chunks"] == 5
    scored = _read(tmp_path / "out.parquet")
    assert set(scored.pop("time_unit")) == {"W"}  # the written file says its unit; score() keeps it in attrs
    direct = score(cdnow_model, cdnow_split, horizon=39)
    pd.testing.assert_frame_equal(scored, direct.sort_values("customer_id").reset_index(drop=True))
    assert scored.dtypes.drop(["customer_id", "frequency"]).eq("float64").all()
    assert scored["customer_id"].dtype == "int64" and scored["frequency"].dtype == "int64"


def test_bad_input_leaves_no_output_file(cdnow_model, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("customer_id,date,amount\n1,2024-01-01,3\n2,yesterday,4\n")
    out = tmp_path / "out.csv"
    with pytest.raises(DataError, match="'date' has 1 value that is not a date"):
        score_file(cdnow_model, bad, out, horizon=4)
    assert list(tmp_path.iterdir()) == [bad]
    with pytest.raises(DataError, match="no column 'amt'"):
        score_file(cdnow_model, bad, out, horizon=4, monetary_value_col="amt")
    with pytest.raises(DataError, match="does not exist"):
        score_file(cdnow_model, tmp_path / "missing.csv", out, horizon=4)
    with pytest.raises(DataError, match="cannot tell the format"):
        score_file(cdnow_model, bad, tmp_path / "out.xlsx", horizon=4)
    assert not out.exists()


def test_scoring_needs_a_clv_model(cdnow_split, tmp_path):
    from clv_predict import BetaGeoModel

    with pytest.raises(DataError, match="scoring needs a CLVModel"):
        score(BetaGeoModel().fit(cdnow_split), cdnow_split, horizon=4)


def test_the_old_observation_end_keyword_still_works_with_a_deprecation_warning(cdnow_model, cdnow_files, tmp_path):
    _, parquet = cdnow_files
    settings = {"horizon": 39}
    with pytest.warns(Warning) as caught:
        old = score_file(cdnow_model, parquet, tmp_path / "old.parquet", observation_end="1997-09-30", **settings)
    assert any(w.category is DeprecationWarning and "'observation_end' is deprecated" in str(w.message) for w in caught)
    with pytest.warns(Warning):
        new = score_file(cdnow_model, parquet, tmp_path / "new.parquet", observation_period_end="1997-09-30", **settings)
    assert old["observation_period_end"] == new["observation_period_end"] == old["observation_end"] == "1997-09-30"
    pd.testing.assert_frame_equal(_read(tmp_path / "old.parquet"), _read(tmp_path / "new.parquet"))
    with pytest.raises(TypeError, match="observation_period_end"):
        score_file(cdnow_model, parquet, tmp_path / "both.parquet", observation_end="1997-09-30",
                   observation_period_end="1997-09-30", **settings)


@pytest.mark.parametrize("out_suffix", [".csv", ".parquet"])
def test_scores_keep_integer_ids_in_numeric_order_and_integer_counts_whatever_the_input(
        cdnow_model, cdnow_log, tmp_path, out_suffix):
    log = cdnow_log.assign(customer_id=cdnow_log["customer_id"].astype("int64"))
    inputs = {"csv": tmp_path / "log.csv", "parquet": tmp_path / "log.parquet"}
    log.to_csv(inputs["csv"], index=False)
    log.to_parquet(inputs["parquet"], index=False)
    results = []
    for kind, path in inputs.items():
        for chunk_rows in (None, 1500):
            output = tmp_path / f"{kind}-{chunk_rows}{out_suffix}"
            score_file(cdnow_model, path, output, horizon=26, chunk_rows=chunk_rows, observation_period_end="1998-06-30")
            frame = pd.read_csv(output) if out_suffix == ".csv" else pd.read_parquet(output)
            assert frame["customer_id"].dtype == np.int64 and frame["frequency"].dtype == np.int64
            assert frame["customer_id"].is_monotonic_increasing and len(frame) == 2357
            results.append(frame)
    for frame in results[1:]:
        pd.testing.assert_frame_equal(frame, results[0], rtol=1e-12)
    merged = log.drop_duplicates("customer_id").merge(results[0], on="customer_id", validate="one_to_one")
    assert len(merged) == 2357


def test_an_rfm_file_must_state_the_model_time_unit(cdnow_model, cdnow_split, tmp_path):
    plain = tmp_path / "rfm.csv"
    cdnow_split[["frequency", "recency", "T", "monetary_value"]].to_csv(plain)
    with pytest.raises(DataError, match="does not state its time unit: give time_unit"):
        score_file(cdnow_model, plain, tmp_path / "a.csv", horizon=39, input_kind="rfm")
    with pytest.raises(DataError, match="is in time unit 'D' but the model was fitted in 'W'"):
        score_file(cdnow_model, plain, tmp_path / "a.csv", horizon=39, input_kind="rfm", time_unit="D")
    daily = tmp_path / "daily.csv"
    cdnow_split[["frequency", "recency", "T", "monetary_value"]].assign(time_unit="D").to_csv(daily)
    with pytest.raises(DataError, match="is in time unit 'D'"):
        score_file(cdnow_model, daily, tmp_path / "a.csv", horizon=39, input_kind="rfm")
    # scores written as Parquet carry their unit and can be scored again without saying it
    scored = tmp_path / "scored.parquet"
    score_file(cdnow_model, plain, scored, horizon=39, input_kind="rfm", time_unit="W")
    score_file(cdnow_model, scored, tmp_path / "again.parquet", horizon=39, input_kind="rfm")
    other = load_model_in_unit(cdnow_model, "D")
    with pytest.raises(DataError, match="is in time unit 'W' but the model was fitted in 'D'"):
        score_file(other, scored, tmp_path / "b.csv", horizon=39, input_kind="rfm")
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", "-parts"])
def test_score_files_carry_the_time_unit_so_a_later_step_can_check_it(cdnow_model, cdnow_split, tmp_path, suffix):
    rfm = tmp_path / "rfm.csv"
    cdnow_split[["frequency", "recency", "T", "monetary_value"]].to_csv(rfm)
    scored = tmp_path / f"scored{suffix}"
    score_file(cdnow_model, rfm, scored, horizon=39, input_kind="rfm", time_unit="W", output_parts=suffix == "-parts")
    frame = pd.read_csv(scored) if suffix == ".csv" else pd.read_parquet(scored)
    assert list(frame.columns) == [*SCORE_COLUMNS, "time_unit"] and set(frame["time_unit"]) == {"W"}
    # read back as an RFM table: the unit is taken from the file, and another model's unit is refused
    score_file(cdnow_model, scored, tmp_path / "again.csv", horizon=39, input_kind="rfm")
    with pytest.raises(DataError, match="is in time unit 'W' but the model was fitted in 'D'"):
        score_file(load_model_in_unit(cdnow_model, "D"), scored, tmp_path / "b.csv", horizon=39, input_kind="rfm")


def load_model_in_unit(model, unit):
    import copy

    other = copy.deepcopy(model)
    other.time_unit_ = unit
    other.purchase_model_.time_unit_ = unit
    other.spend_model_.time_unit_ = unit
    return other
