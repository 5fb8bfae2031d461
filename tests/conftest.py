from pathlib import Path

import pandas as pd
import pytest

from clv_predict import rfm_summary, rfm_train_test_split
from clv_predict.datasets import load_cdnow

DATA = Path(__file__).parent / "data"

TRAIN_END = "1997-09-30"
TEST_END = "1998-06-30"


@pytest.fixture(scope="session")
def cdnow_log() -> pd.DataFrame:
    return load_cdnow(sample=True)


@pytest.fixture(scope="session")
def cdnow_split(cdnow_log) -> pd.DataFrame:
    """The published calibration/holdout split: weekly, training to 1997-09-30, test to 1998-06-30."""
    return rfm_train_test_split(
        cdnow_log,
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        train_period_end=TRAIN_END,
        test_period_end=TEST_END,
        time_unit="W",
    )


@pytest.fixture(scope="session")
def cdnow_rfm(cdnow_log) -> pd.DataFrame:
    """The calibration summary the papers' figures come from, built from the raw log: weekly, to 1997-09-30,
    with spend and the regularity column ``litt``."""
    return rfm_summary(
        cdnow_log[cdnow_log["date"] <= TRAIN_END],
        customer_id_col="customer_id",
        datetime_col="date",
        monetary_value_col="amount",
        observation_period_end=TRAIN_END,
        time_unit="W",
        regularity=True,
    )


@pytest.fixture(scope="session")
def published_summary() -> pd.DataFrame:
    """BTYD's cdnowSummary table (customer-by-sufficient-statistic), indexed by the sample id."""
    return pd.read_csv(DATA / "cdnow_sample_cbs_btyd.csv", index_col="customer_id")


@pytest.fixture(scope="session")
def cdnow_model(cdnow_split):
    from clv_predict import CLVModel

    return CLVModel().fit(cdnow_split)
