import warnings

import pandas as pd
import pytest

from clv_predict import PURCHASE_MODELS, load_model, rfm_summary
from clv_predict.cli import main
from clv_predict.io import read_transactions


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory, cdnow_log):
    path = tmp_path_factory.mktemp("cli") / "cdnow.csv"
    cdnow_log.rename(columns={"customer_id": "cust", "date": "day", "amount": "value"}).to_csv(path, index=False)
    return path


COLUMNS = ["--customer-col", "cust", "--date-col", "day", "--amount-col", "value"]


def test_fit_then_score(log_csv, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    code = main(["fit", "--input", str(log_csv), *COLUMNS, "--time-unit", "W", "--observation-end", "1997-09-30", "--output", str(model)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Fitted on 2,357 customers (946 repeat), time unit 'W', observation end 1997-09-30" in out
    assert "r               BG/NBD    0.2426" in out
    assert "BG/NBD log-likelihood -9582.43" in out
    scores = tmp_path / "scores.csv"
    code = main(["score", "--model", str(model), "--input", str(log_csv), *COLUMNS, "--observation-end", "1997-09-30",
                 "--horizon", "39", "--discount-rate", "0.002", "--output", str(scores)])
    captured = capsys.readouterr()
    assert code == 0
    assert "Scored 2,357 customers as of 1997-09-30" in captured.out
    assert "transactions dated after --observation-end 1997-09-30" in captured.err  # the dropped holdout rows are reported
    frame = pd.read_csv(scores)
    assert len(frame) == 2357 and frame["clv"].gt(0).all()


def test_fit_in_chunks_prints_what_the_fit_in_memory_prints(log_csv, tmp_path, capsys):
    """--chunk-rows fits bucket by bucket (fit_file): the same customers, estimates and log-likelihoods."""
    printed = []
    for name, options in (("memory", []), ("chunks", ["--chunk-rows", "4000", "--tmp-dir", str(tmp_path)])):
        code = main(["fit", "--input", str(log_csv), *COLUMNS, "--time-unit", "W", "--observation-end", "1997-09-30",
                     "--output", str(tmp_path / f"{name}.joblib"), *options])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "transactions dated after --observation-end 1997-09-30 were left out" in captured.err
        printed.append(captured.out.replace(f"{name}.joblib", ""))
    assert printed[0] == printed[1]
    assert "Fitted on 2,357 customers (946 repeat)" in printed[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunks.joblib", "memory.joblib"]  # no bucket file left


def test_an_interrupted_fit_or_score_leaves_no_output_and_no_bucket_file(log_csv, saved_model, tmp_path, capsys,
                                                                          monkeypatch):
    from clv_predict import streaming

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(streaming, "summaries", interrupted)  # after the first pass has written the buckets
    buckets = tmp_path / "buckets"
    buckets.mkdir()
    for command in (["fit", "--chunk-rows", "3000"], ["score", "--model", str(saved_model), "--horizon", "39"]):
        output = tmp_path / ("m.joblib" if command[0] == "fit" else "scores.parquet")
        code = main([*command, "--input", str(log_csv), *COLUMNS, "--tmp-dir", str(buckets), "--output", str(output)])
        assert code == 130 and "clv-predict: interrupted" in capsys.readouterr().err
        assert not output.exists() and list(buckets.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buckets"]


@pytest.mark.parametrize("name", list(PURCHASE_MODELS))
def test_fit_any_purchase_model_and_score_reads_its_kind_from_the_file(name, log_csv, tmp_path, capsys):
    model = tmp_path / f"{name}.joblib"
    code = main(["fit", "--input", str(log_csv), *COLUMNS, "--observation-end", "1997-09-30", "--model", name,
                 "--output", str(model)])
    assert code == 0
    label = load_model(model).purchase_model_.label
    assert f"{label} log-likelihood" in capsys.readouterr().out
    scores = tmp_path / "scores.parquet"
    code = main(["score", "--model", str(model), "--input", str(log_csv), *COLUMNS, "--observation-end", "1997-09-30",
                 "--horizon", "39", "--output", str(scores)])
    assert code == 0
    assert len(pd.read_parquet(scores)) == 2357


def test_demo_writes_model_and_forecasts(tmp_path, capsys):
    code = main(["demo", "--output-dir", str(tmp_path / "out"), "--model-path", str(tmp_path / "models" / "cdnow.joblib")])
    out = capsys.readouterr().out
    assert code == 0
    assert "predicted 1,653 repeat transactions, actual 1,882 (-12.1%)" in out
    assert "The purchase models side by side" in out and "Lowest BIC" in out
    assert "Model comparison" in (tmp_path / "out" / "report.html").read_text()
    assert (tmp_path / "models" / "cdnow.joblib").exists()
    forecast = pd.read_csv(tmp_path / "out" / "cdnow_forecast.csv")
    assert len(forecast) == 2357 and {"clv", "p_alive", "test_frequency"} <= set(forecast.columns)


@pytest.mark.parametrize("command", [[], ["fit"], ["score"], ["demo"], ["compare"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: clv-predict" in capsys.readouterr().out


BAD_FILES = {
    "missing column": ("cust,day\n1,2024-01-01\n", "no column 'value'"),
    "unparseable date": ("cust,day,value\n1,2024-01-01,3\n1,31/02/2024x,4\n", "'day' has 1 value that is not a date"),
    "empty file": ("", "is empty"),
    "header only": ("cust,day,value\n", "empty"),
    "missing ids": ("cust,day,value\n1,2024-01-01,3\n,2024-01-02,4\n", "1 row without a customer id"),
    "negative amounts": ("cust,day,value\n1,2024-01-01,3\n1,2024-01-02,-4\n", "1 negative amount from 1 customer"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_input_gives_one_line_and_no_output(case, tmp_path, capsys):
    content, message = BAD_FILES[case]
    source = tmp_path / "in.csv"
    source.write_text(content)
    output = tmp_path / "m.joblib"
    code = main(["fit", "--input", str(source), *COLUMNS, "--output", str(output)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("clv-predict: error: ") and message in err
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_observation_end_before_the_data_and_a_file_that_is_not_a_model(log_csv, tmp_path, capsys):
    output = tmp_path / "m.joblib"
    assert main(["fit", "--input", str(log_csv), *COLUMNS, "--observation-end", "1990-01-01", "--output", str(output)]) == 1
    assert "before the first transaction" in capsys.readouterr().err
    assert not output.exists()
    scores = tmp_path / "s.csv"
    assert main(["score", "--model", str(log_csv), "--input", str(log_csv), *COLUMNS, "--output", str(scores)]) == 1
    err = capsys.readouterr().err
    assert "is not a clv_predict model file" in err and err.count("\n") == 1
    assert not scores.exists()


@pytest.mark.parametrize("command", ["fit", "score"])
def test_help_states_the_temporary_space(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--tmp-dir" in text and "about 20 bytes per input row" in text and "--quiet" in text


def test_progress_bars_draw_only_on_a_terminal_and_not_when_quiet():
    import io

    from clv_predict._progress import TerminalProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, quiet, pipe = Terminal(), Terminal(), io.StringIO()
    for stream, options in ((terminal, {}), (quiet, {"quiet": True}), (pipe, {})):
        progress = TerminalProgress(stream, **options)
        progress.start("scoring", 4, "chunks")
        progress.advance(1)
        progress.advance(3)
        progress.finish()
        with progress.step("writing"):
            pass
    assert "scoring: 100%" in terminal.getvalue() and "4/4" in terminal.getvalue()
    assert "writing" in terminal.getvalue()
    assert quiet.getvalue() == "" and pipe.getvalue() == ""


def test_a_warning_about_the_dates_is_printed_once_with_an_observation_end(log_csv, tmp_path, capsys):
    """fit --observation-end reads the dates twice (to cut the log, then to summarise it); it warns once."""
    log = pd.read_csv(log_csv)
    stamps = pd.to_datetime(log["day"]).dt.strftime("%Y-%m-%d 12:00:00").astype(object)
    stamps[::2] = stamps[::2] + "+01:00"  # half the rows carry a time zone
    mixed = tmp_path / "mixed.csv"
    log.assign(day=stamps).to_csv(mixed, index=False)
    code = main(["fit", "--input", str(mixed), *COLUMNS, "--time-unit", "W", "--observation-end", "1997-09-30",
                 "--output", str(tmp_path / "m.joblib")])
    assert code == 0
    printed = capsys.readouterr().err.count("mixes")
    # as often as the summary itself warns (once with pandas 3; pandas 2 reads these stamps without a mix)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rfm_summary(read_transactions(mixed), customer_id_col="cust", datetime_col="day", monetary_value_col="value",
                    observation_period_end="1997-09-30", time_unit="W")
    assert printed == sum("mixes" in str(w.message) for w in caught) <= 1


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, cdnow_model):
    path = tmp_path_factory.mktemp("saved") / "cdnow.joblib"
    cdnow_model.save(path)
    return path


@pytest.mark.parametrize("command", [
    ["score", "--model", "{model}", "--input", "{input}", *COLUMNS, "--output", "{same}"],
    ["score", "--model", "{model}", "--input", "{input}", *COLUMNS, "--output", "{model_link}"],
    ["fit", "--input", "{input}", *COLUMNS, "--output", "{same}"],
    ["segments", "--model", "{model}", "--input", "{input}", *COLUMNS, "--output", "{same}"],
    ["cohorts", "--input", "{input}", *COLUMNS, "--output", "{same}"],
    ["compare", "--input", "{input}", *COLUMNS, "--output", "{same}"],
    ["report", "--model", "{model}", "--input", "{input}", *COLUMNS, "--output", "{same}"],
])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(command, log_csv, saved_model, tmp_path, capsys):
    import os
    import shutil

    copy = tmp_path / "copy.csv"
    shutil.copy(log_csv, copy)
    model = tmp_path / "model.joblib"
    shutil.copy(saved_model, model)
    os.symlink(copy, tmp_path / "same.csv")
    os.symlink(model, tmp_path / "model_link.joblib")
    names = {"input": copy, "model": model, "same": tmp_path / "same.csv", "model_link": tmp_path / "model_link.joblib"}
    before = copy.read_bytes(), model.read_bytes()
    assert main([part.format(**names) for part in command]) == 1
    err = capsys.readouterr().err
    assert "--output" in err and ("is the --input file" in err or "is the --model file" in err)
    assert (copy.read_bytes(), model.read_bytes()) == before


def test_an_output_that_is_a_folder_is_refused_before_any_work(log_csv, saved_model, tmp_path, capsys, monkeypatch):
    import clv_predict

    def no_work(*args, **kwargs):
        raise AssertionError("scored before the output was checked")

    monkeypatch.setattr(clv_predict, "score_file", no_work)
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["score", "--model", str(saved_model), "--input", str(log_csv), *COLUMNS, "--output", str(folder)]) == 1
    assert f"--output {folder} is a folder" in capsys.readouterr().err


def test_outputs_create_their_folders(log_csv, tmp_path, capsys):
    model = tmp_path / "models" / "shop.joblib"
    assert main(["fit", "--input", str(log_csv), *COLUMNS, "--output", str(model)]) == 0
    scores = tmp_path / "out" / "deep" / "scores.parquet"
    assert main(["score", "--model", str(model), "--input", str(log_csv), *COLUMNS, "--output", str(scores)]) == 0
    assert model.is_file() and scores.is_file()


@pytest.fixture(scope="module")
def small_log_csv(tmp_path_factory, cdnow_log):
    path = tmp_path_factory.mktemp("small") / "small.csv"
    small = cdnow_log[cdnow_log["customer_id"].isin(cdnow_log["customer_id"].unique()[:300])]
    small.rename(columns={"customer_id": "cust", "date": "day", "amount": "value"}).to_csv(path, index=False)
    return path


def _documented_choices(command):
    from clv_predict.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    return [(a.option_strings[0], choice) for a in sub._actions if a.choices and a.option_strings
            and a.dest not in ("negative_amounts", "missing_ids", "decimal") for choice in a.choices]


@pytest.mark.parametrize("command, option, choice",
                         [("segments", *c) for c in _documented_choices("segments")]
                         + [("cohorts", *c) for c in _documented_choices("cohorts")])
@pytest.mark.parametrize("suffix", [".csv"])
def test_every_documented_choice_of_segments_and_cohorts_runs(command, option, choice, suffix, small_log_csv,
                                                              saved_model, tmp_path, capsys):
    output = tmp_path / f"table{suffix}"
    args = [command, "--input", str(small_log_csv), *COLUMNS, option, choice, "--output", str(output)]
    if command == "segments" and option == "--by":
        args += ["--table", "summary"]
    if command == "segments" or (option, choice) == ("--table", "summary"):
        args += ["--model", str(saved_model)]
    assert main(args) == 0, capsys.readouterr().err
    assert len(pd.read_csv(output)) > 0


def test_fit_and_score_report_the_rows_after_the_observation_end_alike(log_csv, tmp_path, capsys):
    model = tmp_path / "m.joblib"
    end = ["--observation-end", "1997-09-30"]
    assert main(["fit", "--input", str(log_csv), *COLUMNS, *end, "--output", str(model)]) == 0
    fit_lines = [line for line in capsys.readouterr().err.splitlines() if "dated after" in line]
    assert main(["score", "--model", str(model), "--input", str(log_csv), *COLUMNS, *end,
                 "--output", str(tmp_path / "s.csv")]) == 0
    score_lines = [line for line in capsys.readouterr().err.splitlines() if "dated after" in line]
    assert fit_lines == score_lines == [
        "clv-predict: warning: 1,959 transactions dated after --observation-end 1997-09-30 were left out of the summary"]
