"""Messages a user reads: rows named as they can find them, flags from the command line, counts in good English,
doubtful settings said out loud."""

from __future__ import annotations

import pandas as pd
import pytest

from clv_predict import DataError, TransactionLog, rfm_summary

COLUMNS = {"customer_id_col": "id", "datetime_col": "date", "monetary_value_col": "amount"}


def _csv(tmp_path, text: str):
    path = tmp_path / "log.csv"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- rows: file lines, DataFrame labels and positions
FILE_CASES = [
    # (the data rows of the file, the message); the bad value is on data row 5 = line 7 of the file (header line 1)
    ("{i},2024-01-0{d},x", r"'amount' has 1 missing or non-numeric value \(first at line 7 of '.*log\.csv': 'x'\)"),
    ("{i},2024-01-45,1.0", r"'date' has 1 value that is not a date \(first at line 7 of '.*log\.csv': '2024-01-45'\)"),
    ("{i},,1.0", r"'date' has 1 missing date \(first at line 7 of '.*log\.csv'\)"),
    (",2024-01-0{d},1.0", r"'id' has 1 rows? without a customer id \(first at line 7 of '.*log\.csv'\)"),
]


@pytest.mark.parametrize("bad_row, message", FILE_CASES)
def test_errors_about_a_file_name_its_line(tmp_path, bad_row, message):
    rows = [f"{i},2024-01-0{i + 1},1.0" for i in range(8)]
    rows[5] = bad_row.format(i=5, d=6)
    path = _csv(tmp_path, "id,date,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=message):
        TransactionLog.read(path, **COLUMNS)


def test_errors_about_a_dataframe_name_the_row_position_and_its_index_label():
    frame = pd.DataFrame({"id": [1, 2, 3], "date": ["2024-01-01", "2024-01-02", "2024-01-03"], "amount": [1.0, "x", 2.0]})
    with pytest.raises(DataError, match=r"first at row 1: 'x'"):
        rfm_summary(frame, **COLUMNS)
    labelled = frame.set_axis(["a", "b", "c"])
    with pytest.raises(DataError, match=r"first at row at position 1 \(index label 'b'\): 'x'"):
        rfm_summary(labelled, **COLUMNS)


def test_positions_count_the_rows_given_even_after_rows_are_dropped():
    frame = pd.DataFrame({"id": [None, 2, 3], "date": ["2024-01-01", "2024-01-02", "2024-13-03"], "amount": 1.0})
    with pytest.raises(DataError, match=r"first at row 2: '2024-13-03'"):
        rfm_summary(frame.astype({"id": object}), **COLUMNS, missing_ids="drop")


def test_errors_about_a_parquet_file_name_its_row_counted_from_one(tmp_path):
    frame = pd.DataFrame({"id": [1, 2, 3], "date": ["2024-01-01", "2024-01-02", "2024-13-03"], "amount": 1.0})
    frame.to_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"first at row 3 of '.*log\.parquet' \(counting from 1\): '2024-13-03'"):
        TransactionLog.read(tmp_path / "log.parquet", **COLUMNS)


# ---------------------------------------------------------------- the command line names its flags
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, cdnow_log):
    from clv_predict.cli import main

    folder = tmp_path_factory.mktemp("flags")
    log_csv = folder / "log.csv"
    cdnow_log.to_csv(log_csv, index=False)
    model = folder / "m.joblib"
    assert main(["fit", "--input", str(log_csv), "--observation-end", "1997-09-30", "--output", str(model)]) == 0
    return log_csv, model


def _error(argv, capsys) -> str:
    from clv_predict.cli import main

    capsys.readouterr()
    assert main(argv) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, flag, keyword",
    [
        (["--discount-rate", "-0.1"], "--discount-rate", "discount_rate"),
        (["--margin", "-1"], "--margin", "margin"),
        (["--horizon", "0"], "--horizon", "horizon"),
        (["--observation-end", "someday"], "--observation-end", "observation_period_end"),
    ],
)
def test_score_errors_name_the_flag_not_the_keyword(cli_files, tmp_path, capsys, extra, flag, keyword):
    log_csv, model = cli_files
    err = _error(["score", "--model", str(model), "--input", str(log_csv), *extra,
                  "--output", str(tmp_path / "s.csv")], capsys)
    assert flag in err, err
    assert keyword not in err.replace(flag, ""), err


def test_cli_errors_name_the_column_flag_and_the_input_policy_flags(cli_files, tmp_path, capsys):
    log_csv, _ = cli_files
    err = _error(["cohorts", "--input", str(log_csv), "--customer-col", "client", "--output", str(tmp_path / "c.csv")],
                 capsys)
    assert "no column 'client' (--customer-col)" in err, err
    returns = tmp_path / "returns.csv"
    returns.write_text("customer_id,date,amount\n1,2024-01-01,5\n1,2024-01-02,-5\n")
    err = _error(["cohorts", "--input", str(returns), "--output", str(tmp_path / "c.csv")], capsys)
    assert "pass --negative-amounts net to net them" in err, err
    assert "negative_amounts=" not in err and "(--negative-amounts net)" not in err, err


# ---------------------------------------------------------------- impossible dates
def test_an_impossible_date_is_not_a_date_not_a_mix_of_orders(tmp_path):
    path = _csv(tmp_path, "id,date,amount\n1,01/02/1997,1\n2,32/13/1997,1\n3,05/02/1997,1\n")
    with pytest.raises(DataError, match=r"'date' has 1 value that is not a date \(first at line 3 of '.*log\.csv': '32/13/1997'\)"):
        TransactionLog.read(path, **COLUMNS, dayfirst=True)
    frame = pd.DataFrame({"id": [1, 2, 3], "date": ["13/02/1997", "15/13/1997", "02/14/1997"], "amount": 1.0})
    with pytest.raises(DataError, match=r"not a date \(first at row 1: '15/13/1997'\)"):
        rfm_summary(frame, **COLUMNS)


# ---------------------------------------------------------------- counts in good English
def test_counts_of_one_are_singular(tmp_path, capsys):
    from clv_predict import DataWarning
    from clv_predict.cli import main

    returns = pd.DataFrame({"id": [1, 1, 2], "date": ["2024-01-01", "2024-01-02", "2024-01-03"], "amount": [5.0, -1.0, 2.0]})
    with pytest.raises(DataError, match=r"has 1 negative amount from 1 customer \("):
        rfm_summary(returns, **COLUMNS)
    with pytest.warns(DataWarning, match=r"1 row with a negative amount from 1 customer was netted"):
        rfm_summary(returns, **COLUMNS, negative_amounts="net")
    missing = pd.DataFrame({"id": [1, None], "date": ["2024-01-01", "2024-01-02"], "amount": 1.0}).astype({"id": object})
    with pytest.raises(DataError, match=r"has 1 row without a customer id \(first at row 1\)"):
        rfm_summary(missing, **COLUMNS)
    with pytest.warns(DataWarning, match=r"1 row without a customer id was dropped"):
        rfm_summary(missing, **COLUMNS, missing_ids="drop")
    twice = pd.DataFrame({"id": [1, 1], "date": ["2024-01-01", "2024-01-01"], "amount": 1.0})
    with pytest.warns(DataWarning, match=r"1 row is an exact duplicate of an earlier row and was dropped"):
        log = TransactionLog(twice, **COLUMNS, duplicates="drop")
    assert repr(log).startswith("TransactionLog: 1 customer, 1 transaction (2 rows)")
    path = _csv(tmp_path, "customer_id,date,amount\n1,2024-01-01,5\n1,2024-01-09,5\n")
    assert main(["cohorts", "--input", str(path), "--output", str(tmp_path / "c.csv")]) == 0
    assert capsys.readouterr().out.startswith("1 acquisition cohort (M);")


def test_score_and_segments_count_in_good_english(cli_files, tmp_path, capsys):
    """score_file's policy sentence, the chunk count and the segments line: plural(), no '(s)'."""
    import warnings

    from clv_predict import DataWarning, load_model, score_file
    from clv_predict.cli import main

    log_csv, model = cli_files
    text = log_csv.read_text().splitlines()
    # one row without an id and one return (a negative amount the same day as a purchase of customer 1)
    first = text[1].split(",")
    text += [f",{first[1]},3.0", f"{first[0]},{first[1]},-1.0"]
    messy = tmp_path / "messy.csv"
    messy.write_text("\n".join(text) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score_file(load_model(model), messy, tmp_path / "s.csv", horizon=4, missing_ids="drop",
                   negative_amounts="net", observation_period_end="1998-06-30")
    said = " | ".join(str(w.message) for w in caught if issubclass(w.category, DataWarning))
    assert "1 row without a customer id was dropped" in said
    assert "1 row with a negative amount from 1 customer was netted against the same day's purchases" in said
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--input", str(log_csv), "--output", str(tmp_path / "t.csv")]) == 0
    out = capsys.readouterr().out
    assert "in 1 chunk;" in out and "(s)" not in out
    assert main(["segments", "--model", str(model), "--input", str(log_csv), "--output", str(tmp_path / "g.csv")]) == 0
    out = capsys.readouterr().out
    assert "2,357 customers;" in out and "high-value customers likely lost (column at_risk" in out
    assert set(pd.read_csv(tmp_path / "g.csv")["time_unit"]) == {"W"}  # its durations are in the model's unit


# ---------------------------------------------------------------- doubtful settings are said out loud
@pytest.fixture(scope="module")
def small_fit(cdnow_split):
    from clv_predict import CLVModel

    return CLVModel().fit(cdnow_split)


def test_a_margin_above_one_is_doubtful(small_fit, cdnow_split):
    from clv_predict import DataWarning

    with pytest.warns(DataWarning, match=r"'margin' is 30: .*a fraction .*did you mean 0\.3\?"):
        small_fit.predict(cdnow_split, horizon=52, margin=30)


def test_a_discount_rate_above_half_per_time_unit_is_doubtful(small_fit, cdnow_split):
    from clv_predict import DataWarning

    with pytest.warns(DataWarning, match=r"'discount_rate' is 5 per time unit \('W'\).*did you mean 0\.05\?"):
        small_fit.predict(cdnow_split, horizon=52, discount_rate=5)


def test_an_observation_end_long_after_the_last_purchase_is_doubtful():
    from clv_predict import DataWarning

    frame = pd.DataFrame({"id": [1, 1, 2], "date": ["2024-01-01", "2024-02-01", "2024-03-01"], "amount": 1.0})
    log = TransactionLog(frame, **COLUMNS)
    with pytest.warns(DataWarning, match=r"'observation_period_end' 2026-03-01 is 730 days after the last purchase "
                                         r"\(2024-03-01\)"):
        log.rfm(observation_period_end="2026-03-01")
    log.rfm(observation_period_end="2024-12-01")  # a quiet autumn is not doubtful


def test_doubtful_settings_warn_on_the_command_line_once_with_the_flag(cli_files, tmp_path, capsys):
    from clv_predict.cli import main

    log_csv, model = cli_files
    capsys.readouterr()
    assert main(["segments", "--model", str(model), "--input", str(log_csv), "--margin", "30",
                 "--output", str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: --margin is 30") == 1, err


def test_score_file_names_the_line_of_the_file_across_chunks(cli_files, tmp_path):
    from clv_predict import load_model, score_file

    _, model = cli_files
    rows = [f"{i},1997-01-0{i + 1},1.0" for i in range(8)]
    rows[5] = "5,1997-01-06,x"
    path = tmp_path / "log.csv"
    path.write_text("customer_id,date,amount\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"first at line 7 of '.*log\.csv': 'x'"):
        score_file(load_model(model), path, tmp_path / "scores.csv", customer_id_col="customer_id",
                   datetime_col="date", monetary_value_col="amount", horizon=52, chunk_rows=3)


def test_score_warns_of_doubtful_settings_once_each_with_the_flag(cli_files, tmp_path, capsys):
    from clv_predict.cli import main

    log_csv, model = cli_files
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--input", str(log_csv), "--discount-rate", "5",
                 "--observation-end", "2001-01-01", "--output", str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: --discount-rate is 5 per time unit ('W')") == 1, err
    assert err.count("--discount-rate is 5") == 1, err
    assert "warning: --observation-end 2001-01-01 is 916 days after the last purchase (1998-06-30)" in err, err


def test_segments_errors_name_the_at_risk_flags(cli_files, tmp_path, capsys):
    log_csv, model = cli_files
    err = _error(["segments", "--model", str(model), "--input", str(log_csv), "--at-risk-quantile", "2",
                  "--output", str(tmp_path / "s.csv")], capsys)
    assert "--at-risk-quantile must be between 0 and 1" in err, err


def test_model_summaries_count_one_customer_in_the_singular(small_fit):
    import copy

    model = copy.deepcopy(small_fit)
    model.n_customers_ = model.purchase_model_.n_customers_ = 1
    assert repr(model).endswith("; 1 customer>") and "1 customers" not in str(model.__str__())
    assert repr(model.purchase_model_).endswith("on 1 customer>")
    assert "1 customers" not in model.purchase_model_.__str__()
