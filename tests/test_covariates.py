"""The design matrix of covariates: encoding, reference levels, errors naming the column, saved state."""

import numpy as np
import pandas as pd
import pytest

from clv_predict.covariates import CovariateEncoding, design_matrix
from clv_predict.exceptions import DataError, DataWarning


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "channel": ["web", "shop", "web", "app", "web"],
            "card": [True, False, True, True, False],
            "plan": pd.Categorical(["a", "b", "a", "a", "b"], categories=["a", "b", "c"]),
            "age": [31, 45, 27, 52, 40],
        },
        index=pd.Index([10, 11, 12, 13, 14], name="customer_id"),
    )


def test_levels_reference_and_names(table):
    matrix, encoding = design_matrix(table, ["channel", "card", "plan", "age"])
    assert encoding.reference == {"channel": "web", "card": True, "plan": "a"}
    assert encoding.names == ["channel[app]", "channel[shop]", "card[False]", "plan[b]", "age"]
    assert matrix.index.equals(table.index)
    assert matrix.loc[11].tolist() == [0.0, 1.0, 1.0, 1.0, 45.0]
    assert matrix.loc[10].tolist() == [0.0, 0.0, 0.0, 0.0, 31.0]


def test_chosen_reference(table):
    encoding = CovariateEncoding.fit(table, ["channel"], reference={"channel": "shop"})
    assert encoding.names == ["channel[app]", "channel[web]"]
    with pytest.raises(DataError, match="'reference' level 'tv' of covariate 'channel'"):
        CovariateEncoding.fit(table, ["channel"], reference={"channel": "tv"})


def test_new_table_uses_the_same_columns(table):
    encoding = CovariateEncoding.fit(table, ["channel", "age"])
    later = pd.DataFrame({"channel": ["shop"], "age": [20.0]})
    assert encoding.transform(later).columns.tolist() == encoding.names
    assert encoding.transform(later).iloc[0].tolist() == [0.0, 1.0, 20.0]


def test_unseen_level_error_or_reference(table):
    encoding = CovariateEncoding.fit(table, ["channel"])
    later = pd.DataFrame({"channel": ["tv", "web"]})
    with pytest.raises(DataError, match="covariate column 'channel' of rfm has 1 level not seen in training"):
        encoding.transform(later)
    with pytest.warns(DataWarning, match="1 customer with 1 level not seen"):
        matrix = encoding.transform(later, unseen="reference")
    assert matrix.to_numpy().sum() == 0


def test_missing_constant_and_absent_columns_are_named(table):
    missing = table.assign(channel=["web", None, "web", "app", "web"])
    with pytest.raises(DataError, match="covariate column 'channel' of rfm has 1 missing value .first at customer 11"):
        CovariateEncoding.fit(missing, ["channel"])
    with pytest.raises(DataError, match="covariate column 'flat' of rfm is constant"):
        CovariateEncoding.fit(table.assign(flat=3.0), ["flat"])
    with pytest.raises(DataError, match="covariate column 'flat' of rfm is constant"):
        CovariateEncoding.fit(table.assign(flat="x"), ["flat"])
    with pytest.raises(DataError, match="no covariate column 'region'"):
        CovariateEncoding.fit(table, ["region"])
    encoding = CovariateEncoding.fit(table, ["channel"])
    with pytest.raises(DataError, match="lacks the covariate column 'channel'"):
        encoding.transform(table.drop(columns="channel"))


def test_saved_state_round_trip_and_text_levels(table):
    encoding = CovariateEncoding.fit(table, ["card", "age"])
    again = CovariateEncoding.from_dict(encoding.to_dict())
    assert again == encoding
    # a bool level read back from a CSV as text matches its level
    matrix = again.transform(pd.DataFrame({"card": ["False", "True"], "age": [1, 2]}))
    assert matrix["card[False]"].tolist() == [1.0, 0.0]


def test_large_table_codes_by_unique_values():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"channel": rng.choice(["a", "b", "c"], 5000)})
    matrix, encoding = design_matrix(frame, ["channel"])
    levels = encoding.levels["channel"]
    expected = frame["channel"].map({level: i for i, level in enumerate(levels)}).to_numpy()
    assert np.array_equal(matrix.to_numpy().argmax(axis=1) + matrix.to_numpy().any(axis=1), expected)
