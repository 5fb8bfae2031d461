"""The HTML report: self-contained, escaped, written atomically, rendered by a real browser."""

import base64
import re
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from clv_predict import CLVModel, DataError, DataWarning, ModelWarning, rfm_summary
from clv_predict.cli import main
from clv_predict.report import build_report, write_report

TRAIN_END, TEST_END = "1997-09-30", "1998-06-30"
N_PLOTS = 11
N_UNCERTAINTY_PLOTS = 2  # fan chart of the holdout total, calibration of the customers' intervals
IMG = re.compile(r'<img src="([^"]*)"')
EVIL_ID = '<script>alert("id")</script>'


def image_sources(document: str) -> list[str]:
    return IMG.findall(document)


@pytest.fixture(scope="module")
def evil_log(cdnow_log):
    """CDNOW with hostile customer ids and column names: every one must come out escaped."""
    ids = cdnow_log["customer_id"].map(lambda i: EVIL_ID if i == 1 else f"c&{i}")
    return pd.DataFrame({"<cust>": ids, 'day"s': cdnow_log["date"], "<b>amount</b>": cdnow_log["amount"]})


@pytest.fixture(scope="module")
def evil_model(evil_log):
    training = evil_log[evil_log['day"s'] <= TRAIN_END]
    rfm = rfm_summary(training, customer_id_col="<cust>", datetime_col='day"s', monetary_value_col="<b>amount</b>",
                      observation_period_end=TRAIN_END, time_unit="W")
    return CLVModel().fit(rfm)


@pytest.fixture(scope="module")
def evil_report(evil_model, evil_log):
    return build_report(
        evil_model, evil_log, customer_id_col="<cust>", datetime_col='day"s', monetary_value_col="<b>amount</b>",
        test_period_end=TEST_END, customer_id=EVIL_ID, source="<img src=x onerror=alert(1)>.csv",
        sections=[("<Customer value> & more", "<p id='extra'>added by another module</p>")],
    )


def test_report_has_parameters_evaluation_and_every_plot(evil_report):
    assert evil_report.startswith("<!DOCTYPE html>")
    assert "1,882 repeat transactions, the model predicted 1,653 (-12.1%)" in evil_report
    for heading in ("Parameters", "Holdout evaluation", "Aggregate holdout forecast", "Per-customer errors",
                    "Mean holdout purchases by training frequency", "Ranking of customers by predicted value",
                    "Diagnostic plots", "Tracking: cumulative repeat transactions", "Gamma-Gamma fit"):
        assert heading in evil_report
    assert ">0.2426<" in evil_report  # r, with its standard error in the parameter table
    assert evil_report.count("<table") == 5


def test_report_says_how_sure_the_forecast_is(evil_report):
    section = evil_report[evil_report.index("<h2>How sure the forecast is</h2>"):]
    assert "Total purchases of the base: forecast with its interval, and the holdout" in section
    assert "Calibration of the customers&#x27; predictive intervals" in section
    # CDNOW's holdout total lies above BG/NBD's 90% interval, and the report says so
    assert "After 39 weeks the base made 1,882 purchases; the forecast was 1,653, 90% predictive interval [" in section
    assert "(outside)" in section


def test_report_is_self_contained(evil_report):
    sources = image_sources(evil_report)
    assert len(sources) == N_PLOTS + N_UNCERTAINTY_PLOTS
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r"(src|href)=[\"']?(https?:|//)", evil_report)
    assert "<link" not in evil_report and "<script" not in evil_report.lower()


def test_every_data_text_is_escaped(evil_report):
    assert "<script" not in evil_report and "<img src=x" not in evil_report
    assert "P(alive) history of customer &lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;" in evil_report
    assert "Data: &lt;img src=x onerror=alert(1)&gt;.csv" in evil_report
    assert "&lt;cust&gt;, day&quot;s, &lt;b&gt;amount&lt;/b&gt;" in evil_report
    assert "<b>amount</b>" not in evil_report
    # an extra section: its title escaped, its html (built and escaped by its author) inserted as given
    assert "<h2>&lt;Customer value&gt; &amp; more</h2>\n<p id='extra'>added by another module</p>" in evil_report


def test_write_report_is_atomic(tmp_path, evil_model, evil_log):
    target = tmp_path / "report.html"
    with pytest.raises(DataError, match="no column 'customer_id'"):
        write_report(target, evil_model, evil_log, test_period_end=TEST_END)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="does not exist"):
        write_report(tmp_path / "missing" / "report.html", evil_model, evil_log)


def test_without_a_holdout_the_report_shows_the_fit_alone(evil_model, evil_log):
    training = evil_log[evil_log['day"s'] <= TRAIN_END]
    document = build_report(evil_model, training, customer_id_col="<cust>", datetime_col='day"s',
                            monetary_value_col="<b>amount</b>")
    assert "No holdout: the transactions end on 1997-09-30" in document
    assert "Holdout evaluation" not in document and "Calibration vs holdout" not in document
    assert len(image_sources(document)) == N_PLOTS - 1
    assert "Tracking: cumulative repeat transactions" in document


def test_a_different_training_end_is_flagged_and_a_missing_customer_refused(cdnow_model, cdnow_log):
    with pytest.warns(ModelWarning, match="differs from the end of the model's training period"):
        # the customer is checked before anything is drawn, so this fails fast
        with pytest.raises(DataError, match="customer 999999 is not in column 'customer_id'"):
            build_report(cdnow_model, cdnow_log, train_period_end="1997-06-30", customer_id=999999)


def test_report_command_refuses_a_holdout_before_the_training_end(tmp_path, cdnow_model, cdnow_log, capsys):
    model_path, data_path = tmp_path / "m.joblib", tmp_path / "cdnow.csv"
    cdnow_model.save(model_path)
    cdnow_log.to_csv(data_path, index=False)
    code = main(["report", "--model", str(model_path), "--input", str(data_path), "--test-end", "1997-06-30",
                 "--output", str(tmp_path / "bad.html")])
    assert code == 1
    assert "clv-predict: error: --test-end 1997-06-30 must be after --train-end" in capsys.readouterr().err
    assert not (tmp_path / "bad.html").exists()


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--output-dir", str(folder / "out"), "--model-path", str(folder / "cdnow.joblib")])
    assert code == 0
    return folder / "out"


def test_demo_writes_plots_and_report(demo_folder):
    plots = sorted(p.name for p in (demo_folder / "plots").iterdir())
    assert len(plots) >= N_PLOTS and "tracking_cumulative.png" in plots
    assert all((demo_folder / "plots" / p).read_bytes().startswith(b"\x89PNG") for p in plots)
    document = (demo_folder / "report.html").read_text(encoding="utf-8")
    assert "1,882 repeat transactions, the model predicted 1,653 (-12.1%)" in document


def test_demo_report_uses_one_as_of_date_and_horizon(demo_folder):
    document = (demo_folder / "report.html").read_text(encoding="utf-8")
    assert "As of 1997-09-30; CLV and expected purchases over 39 weeks" in document
    assert "As of 1997-09-30; 2,357 customers; forecasts over 39 weeks" in document


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


# Records, once the page has loaded, how many images decoded (complete and with a width).
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', loaded + '/' + images.length);
});
</script>"""


def test_report_renders_in_a_headless_browser(demo_folder, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium binary found (Debian: apt-get install chromium); the browser check is skipped")
    page = tmp_path / "probe.html"
    document = (demo_folder / "report.html").read_text(encoding="utf-8")
    page.write_text(document.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    found = re.search(r'data-images="(\d+)/(\d+)"', result.stdout)
    assert found, f"the page did not finish loading in Chromium: {result.stderr[-2000:]}"
    loaded, total = map(int, found.groups())
    assert total >= N_PLOTS and loaded == total


def test_report_command_reads_a_raw_log_like_fit_does(tmp_path, capsys):
    """Online Retail lines: quantity x unit price, invoices, returns netted, rows without customer dropped."""
    from pathlib import Path

    from clv_predict import rfm_train_test_split
    from clv_predict.io import read_transactions

    data = Path(__file__).parent / "data" / "online_retail_extract.csv.gz"
    options = ["--input", str(data), "--customer-col", "CustomerID", "--date-col", "InvoiceDate",
               "--quantity-col", "Quantity", "--unit-price-col", "UnitPrice", "--invoice-col", "InvoiceNo",
               "--negative-amounts", "net", "--missing-ids", "drop"]
    model_path, output = tmp_path / "retail.joblib", tmp_path / "retail.html"
    assert main(["fit", *options, "--observation-end", "2011-06-30", "--output", str(model_path)]) == 0
    assert main(["report", "--model", str(model_path), *options, "--customer", "13089", "--output", str(output)]) == 0
    document = output.read_text(encoding="utf-8")
    assert f"Report written to {output}" in capsys.readouterr().out
    assert "Data: online_retail_extract.csv.gz; columns CustomerID, InvoiceDate, Quantity x UnitPrice" in document
    log = read_transactions(data)
    with pytest.warns(DataWarning):
        split = rfm_train_test_split(log, customer_id_col="CustomerID", datetime_col="InvoiceDate",
                                     quantity_col="Quantity", unit_price_col="UnitPrice", transaction_col="InvoiceNo",
                                     negative_amounts="net", missing_ids="drop", train_period_end="2011-06-30",
                                     time_unit="W")
    assert f"{split['test_frequency'].sum():,} repeat transactions, the model predicted" in document
    assert len(image_sources(document)) >= N_PLOTS - 1  # the value concentration needs a defined CLV
    assert "P(alive) history of customer 13089" in document  # text from the command line matches a numeric id
    assert 13089 in split.index
