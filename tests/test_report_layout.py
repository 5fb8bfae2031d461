"""The HTML report reads one way: one as-of date and horizon, one name per meaning, tables that fit a laptop,
numbers without e-notation, plots cropped to what they draw."""

from __future__ import annotations

import html as html_module
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from clv_predict.cli import main
from clv_predict.evaluation import column_formatter, table_html
from clv_predict.report import PNG_PAD_INCHES, _png, forecast_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report_html(tmp_path_factory, cdnow_log, cdnow_model):
    """``clv-predict report`` on CDNOW: a model trained to 1997-09-30, a log to 1998-06-30."""
    folder = tmp_path_factory.mktemp("layout")
    model, log, output = folder / "m.joblib", folder / "log.csv", folder / "report.html"
    cdnow_model.save(model)
    cdnow_log.to_csv(log, index=False)
    assert main(["report", "--model", str(model), "--input", str(log), "--margin", "0.3", "--output", str(output)]) == 0
    return output


def _text(document: str) -> str:
    """What a reader sees: no embedded images, no tags."""
    document = re.sub(r'src="data:image/png;base64,[^"]*"', "", document)
    document = re.sub(r"<style>.*?</style>", "", document, flags=re.DOTALL)
    return " ".join(html_module.unescape(re.sub(r"<[^>]+>", " ", document)).split())


def _section(document: str, title: str) -> str:
    start = document.index(f"<h2>{title}</h2>")
    end = document.find("<h2>", start + 1)
    return document[start: end if end > 0 else len(document)]


# ------------------------------------------------------------------ one as-of date and horizon
def test_every_section_states_the_same_as_of_date_and_horizon(report_html):
    document = report_html.read_text()
    diagnostics = _text(_section(document, "Diagnostic plots"))
    value = _text(_section(document, "Customer value"))
    evaluation = _text(_section(document, "Holdout evaluation"))
    as_of = re.search(r"As of (\d{4}-\d\d-\d\d); CLV and expected purchases over (\d+) weeks", diagnostics).groups()
    assert as_of == ("1997-09-30", "39")
    assert re.search(r"As of (\d{4}-\d\d-\d\d); [\d,]+ customers; forecasts over (\d+) weeks", value).groups() == as_of
    assert f"Forecasts as of {as_of[0]} over the holdout, 39 weeks to 1998-06-30" in evaluation
    assert f"forecasts as of {as_of[0]} over 39 weeks" in _text(document.split("<h2>")[0])
    # the value section leaves out what the model did not see, and says so once
    assert "transactions after 1997-09-30 are left out here" in value


def test_the_top_customer_of_the_diagnostics_is_not_also_listed_as_lost(report_html):
    document = report_html.read_text()
    top = re.search(r"P\(alive\) history of customer (\w+)", document).group(1)
    lost = _section(document, "Customer value").split("High-value customers likely lost")[1]
    assert f"<th>{top}</th>" not in lost


def test_forecast_settings_follow_the_holdout_or_a_year(cdnow_model, cdnow_log):
    from clv_predict import TransactionLog

    log = TransactionLog(cdnow_log, customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    assert forecast_settings(cdnow_model, log) == {"observation_period_end": "1997-09-30", "horizon": 39}
    assert forecast_settings(cdnow_model, log, test_period_end="1997-12-30")["horizon"] == 13
    assert forecast_settings(cdnow_model, log, train_period_end="1998-06-30") == {
        "observation_period_end": "1998-06-30", "horizon": 52}


# ------------------------------------------------------------------ one name per meaning
def test_the_flag_and_the_rfm_segment_have_different_names(report_html):
    value = _text(_section(report_html.read_text(), "Customer value"))
    assert "high-value customers are likely lost" in value and "are at risk" not in value
    assert "Customers at risk" not in value
    assert "“At risk” is the segment of customers who bought often but not lately" in value
    assert "likely lost (high value)" in value  # the flag's count column, not a second "at risk"


def test_one_time_buyers_alive_under_bg_nbd_are_said_with_the_mbg_nbd_answer(report_html, cdnow_log, cdnow_split):
    from clv_predict import CLVModel
    from clv_predict.value_report import customer_value_section

    value = _text(_section(report_html.read_text(), "Customer value"))
    assert "Under BG/NBD a customer can drop out only after a repeat purchase" in value
    assert re.search(r"Hibernating: 1\.00 under BG/NBD, 0\.\d\d under MBG/NBD", value)
    assert "mean P(alive) MBG/NBD" in value
    # a model that lets one-time buyers drop out needs no note
    _, body = customer_value_section(cdnow_log, CLVModel(purchase_model="mbg_nbd").fit(cdnow_split), dpi=30)
    assert "can drop out only after a repeat purchase" not in body


def test_rankings_identical_by_construction_are_shown_once(report_html):
    evaluation = _section(report_html.read_text(), "Holdout evaluation")
    ranking = evaluation.split("Ranking of customers by predicted value")[1]
    assert "<th>historical_rate, classic_formula</th>" in ranking
    assert "rank customers identically by construction" in ranking
    assert ranking.count("<th>classic_formula</th>") == 0


# ------------------------------------------------------------------ numbers
def test_no_number_in_e_notation_and_one_format_per_column(report_html):
    text = _text(report_html.read_text())
    assert not re.search(r"\d(\.\d+)?e[-+]?\d", text), re.search(r".{40}\d(\.\d+)?e[-+]?\d.{20}", text)
    frame = pd.DataFrame({"p_alive": [2.035e-18, 0.01989, 0.3535], "clv": [7.372e-15, 20.29, 172.5],
                          "customers": [1411, 439, 7], "share_of_value": [0.5, 0.0001, 0.4999]})
    cells = [html_module.unescape(c) for c in re.findall(r"<td>([^<]*)</td>", table_html(frame))]
    assert cells == ["<0.0001", "<0.01", "1,411", "50.0%", "0.0199", "20.29", "439", "<0.1%", "0.3535", "172.50",
                     "7", "50.0%"]


def test_formatter_leaves_text_alone_and_says_missing_values():
    assert column_formatter(pd.Series(["a", "b"])) is None
    f = column_formatter(pd.Series([1.5, np.nan]))
    assert f(np.nan) == "n/a" and f(1.5) == "1.500"


def test_headers_read_as_words_and_data_stays_escaped():
    frame = pd.DataFrame({"share_of_customers": [0.5], "mean_p_alive": [0.25]}, index=pd.Index(["<b>x</b>"], name="rfm_segment"))
    table = table_html(frame)
    assert "<th>share of customers</th>" in table and "<th>mean P(alive)</th>" in table
    assert "<th>rfm segment</th>" in table and "&lt;b&gt;x&lt;/b&gt;" in table


# ------------------------------------------------------------------ plots
def _margins(png: bytes) -> tuple[float, float]:
    """The empty (white) share of the image's height and width around what is drawn."""
    from matplotlib import image

    pixels = image.imread(io.BytesIO(png), format="png")[..., :3]
    drawn = np.argwhere((pixels < 0.97).any(axis=2))
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    height, width = pixels.shape[:2]
    return (top + height - 1 - bottom) / height, (left + width - 1 - right) / width


def test_plots_are_cropped_to_what_they_draw(report_html):
    import base64

    images = re.findall(r'src="data:image/png;base64,([^"]*)"', report_html.read_text())
    assert len(images) >= 12
    for data in images:
        vertical, horizontal = _margins(base64.b64decode(data))
        assert vertical < 0.06 and horizontal < 0.06, (vertical, horizontal)  # was about 12% before


def test_png_padding_is_what_is_asked(cdnow_model):
    from matplotlib.figure import Figure

    from clv_predict.plotting import plot_dropout_distribution

    figure = Figure(figsize=(8, 4.8))
    figure.subplots_adjust(left=0.2, right=0.7, bottom=0.3, top=0.7)  # generous margins: cropped away
    plot_dropout_distribution(cdnow_model, ax=figure.add_subplot())
    from matplotlib import image

    png = _png(figure, 100)
    height, width = image.imread(io.BytesIO(png), format="png").shape[:2]
    assert width < 0.8 * 800 and height < 0.8 * 480
    assert PNG_PAD_INCHES * 100 <= 12


def test_legend_numbers_side_by_side_have_the_same_decimals(cdnow_model):
    from matplotlib.figure import Figure

    from clv_predict.plotting import (
        plot_dropout_distribution,
        plot_purchase_rate_distribution,
    )

    for draw in (plot_dropout_distribution, plot_purchase_rate_distribution):
        ax = draw(cdnow_model, ax=Figure().add_subplot())
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        numbers = [re.search(r"(?:Mean|Median) ([\d.]+)$", label).group(1) for label in labels
                   if label.startswith(("Mean", "Median"))]
        assert len(numbers) == 2 and len({len(n.split(".")[1]) for n in numbers}) == 1, labels


# ------------------------------------------------------------------ the page at a laptop's width
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium")
@pytest.mark.parametrize("width", [1400, 1280])
def test_every_table_fits_the_page_at_a_laptop_width(report_html, tmp_path, width):
    script = """<script>window.addEventListener('load', function () {
      var body = document.body, style = getComputedStyle(body);
      var room = body.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      var out = Array.from(document.querySelectorAll('table')).map(function (t) {
        var wrap = t.parentElement;
        var labels = Array.from(t.querySelectorAll('tbody th:not([rowspan])')).filter(function (c) {
          return c.getBoundingClientRect().height > 1.8 * parseFloat(getComputedStyle(c).fontSize) * 1.45; });
        return {width: t.getBoundingClientRect().width, room: room, scrolls: wrap.scrollWidth > wrap.clientWidth + 1,
                wrapped: labels.map(function (c) { return c.textContent; })};
      });
      var pre = document.createElement('pre'); pre.id = 'measured'; pre.textContent = JSON.stringify(out);
      body.appendChild(pre); });</script>"""
    page = tmp_path / "page.html"
    page.write_text(report_html.read_text().replace("</body>", script + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},2000",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.DOTALL)
    assert found, "Chromium did not run the measuring script"
    tables = json.loads(html_module.unescape(found.group(1)))
    assert len(tables) >= 11
    for table in tables:
        assert table["width"] <= table["room"] + 1 and not table["scrolls"], table
        assert not table["wrapped"], table  # row labels (cohorts, segment names) on one line


def test_the_model_comparison_section_states_its_period(cdnow_split):
    from clv_predict.comparison import fit_models, model_comparison_section

    _, body = model_comparison_section(fit_models(cdnow_split, ["bg_nbd", "mbg_nbd"]), cdnow_split, dpi=30)
    assert "<p class='meta'>Fitted on the transactions up to 1997-09-30; holdout to 1998-06-30 (39 weeks).</p>" in body
