import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

from clv_predict import (
    BetaGeoModel,
    GammaGammaModel,
    ModelFileError,
    VersionWarning,
    load_model,
)
from clv_predict.persistence import FORMAT_VERSION, to_dict


def test_saved_file_is_small_plain_data_without_customers(cdnow_model, tmp_path):
    path = tmp_path / "model.joblib"
    cdnow_model.save(path)
    assert path.stat().st_size < 5_000
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]  # no temporary file left
    content = joblib.load(path)
    assert content["format_version"] == FORMAT_VERSION and content["kind"] == "CLVModel"
    assert content["training"] == {
        "time_unit": "W",
        "observation_period_end": "1997-09-30",
        "first_purchase": "1997-01-01",
        "last_purchase": "1997-09-30",
        "n_customers": 2357,
        "n_repeat_customers": 946,
    }
    assert {"lifetimes", "numpy", "pandas", "clv-predict"} <= set(content["package_versions"])

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, int, float, bool))

    assert plain(content)


def test_round_trip_in_a_fresh_process_predicts_the_same(cdnow_model, cdnow_split, tmp_path):
    path = tmp_path / "model.joblib"
    cdnow_model.save(path)
    rfm_path = tmp_path / "rfm.parquet"
    cdnow_split.to_parquet(rfm_path)
    out_path = tmp_path / "forecast.parquet"
    script = f"""
import pandas as pd
from clv_predict import load_model
model = load_model({str(path)!r})
rfm = pd.read_parquet({str(rfm_path)!r})
model.predict(rfm, horizon=52, discount_rate=0.002, margin=0.3).to_parquet({str(out_path)!r})
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    expected = cdnow_model.predict(cdnow_split, horizon=52, discount_rate=0.002, margin=0.3)
    pd.testing.assert_frame_equal(pd.read_parquet(out_path), expected, check_like=True)
    reloaded = load_model(path)
    pd.testing.assert_frame_equal(reloaded.summary(), cdnow_model.summary())
    assert reloaded.time_unit_ == "W" and reloaded.observation_period_end_ == "1997-09-30"


def test_single_models_round_trip(cdnow_split, tmp_path):
    for model in (BetaGeoModel().fit(cdnow_split), GammaGammaModel().fit(cdnow_split)):
        path = tmp_path / f"{type(model).__name__}.joblib"
        model.save(path)
        reloaded = load_model(path)
        assert type(reloaded) is type(model)
        pd.testing.assert_series_equal(reloaded.params_, model.params_)
        pd.testing.assert_frame_equal(reloaded.covariance_, model.covariance_)


@pytest.fixture
def saved(cdnow_model, tmp_path):
    path = tmp_path / "model.joblib"
    cdnow_model.save(path)
    return path


def test_missing_empty_truncated_and_corrupt_files(saved, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.joblib")
    empty = tmp_path / "empty.joblib"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="is empty"):
        load_model(empty)
    payload = saved.read_bytes()
    for cut in (1, 10, len(payload) // 2, len(payload) - 1):
        truncated = tmp_path / f"cut{cut}.joblib"
        truncated.write_bytes(payload[:cut])
        with pytest.raises(ModelFileError, match="corrupt or truncated|not a clv_predict model"):
            load_model(truncated)
    text = tmp_path / "notes.joblib"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a clv_predict model file"):
        load_model(text)
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_wrong_kind_and_newer_format(saved, tmp_path):
    other = tmp_path / "other.joblib"
    joblib.dump({"weights": [1, 2, 3]}, other)
    with pytest.raises(ModelFileError, match="not a clv_predict model file"):
        load_model(other)
    content = joblib.load(saved)
    newer = tmp_path / "newer.joblib"
    joblib.dump({**content, "format_version": FORMAT_VERSION + 1}, newer)
    with pytest.raises(ModelFileError, match="newer than this clv_predict reads"):
        load_model(newer)
    broken = tmp_path / "broken.joblib"
    joblib.dump({**content, "purchase_model": {"params": {}}}, broken)
    with pytest.raises(ModelFileError, match="incomplete or malformed"):
        load_model(broken)
    older = tmp_path / "older.joblib"
    joblib.dump({**content, "package_versions": {**content["package_versions"], "clv-predict": "0.0.1"}}, older)
    with pytest.warns(VersionWarning, match="written by clv-predict 0.0.1"):
        load_model(older)


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_file_crafted_to_run_a_command_is_refused_without_running_it(saved, tmp_path):
    marker = tmp_path / "pwned"
    content = joblib.load(saved)
    content["training"]["time_unit"] = _RunsACommand(marker)
    evil = tmp_path / "evil.joblib"
    with open(evil, "wb") as stream:
        pickle.dump(content, stream)
    with pytest.raises(ModelFileError, match="refusing to load .*posix.system|refusing to load .*os.system"):
        load_model(evil)
    assert not marker.exists()
    # the same file through plain joblib would have run the command: the test is real
    joblib.load(evil)
    assert marker.exists()


def test_numpy_arrays_are_allowed(saved, tmp_path):
    content = joblib.load(saved)
    content["purchase_model"]["covariance"] = np.asarray(content["purchase_model"]["covariance"])
    path = tmp_path / "arrays.joblib"
    with open(path, "wb") as stream:
        pickle.dump(content, stream)
    np.testing.assert_allclose(load_model(path).purchase_model_.covariance_.to_numpy(), content["purchase_model"]["covariance"])


def test_saving_an_unfitted_model_or_into_a_missing_folder(cdnow_model, tmp_path):
    from clv_predict import CLVModel, NotFittedError

    with pytest.raises(NotFittedError):
        CLVModel().save(tmp_path / "m.joblib")
    with pytest.raises(ModelFileError, match="does not exist"):
        cdnow_model.save(tmp_path / "missing" / "m.joblib")
    assert to_dict(cdnow_model)["kind"] == "CLVModel"


def test_saved_files_get_the_permissions_of_a_normal_new_file(cdnow_model, tmp_path):
    mask = os.umask(0o022)
    try:
        cdnow_model.save(tmp_path / "m.joblib")
    finally:
        os.umask(mask)
    assert (tmp_path / "m.joblib").stat().st_mode & 0o777 == 0o644  # not mkstemp's owner-only 0o600


def test_files_of_the_first_release_still_load_as_bg_nbd(cdnow_model, cdnow_split, tmp_path):
    """Before the model family, a file's purchase model said no kind and no settings: it was BG/NBD."""
    content = to_dict(cdnow_model)
    for part in ("purchase_model", "spend_model"):
        content[part].pop("kind")
        content[part].pop("settings")
    joblib.dump(content, tmp_path / "old.joblib")
    loaded = load_model(tmp_path / "old.joblib")
    assert loaded.purchase_model_.name == "bg_nbd"
    pd.testing.assert_frame_equal(loaded.predict(cdnow_split, horizon=39), cdnow_model.predict(cdnow_split, horizon=39))
