from notebook_runner import outputs_text, run_notebook


def test_quickstart_notebook_runs_and_reproduces_the_paper(tmp_path):
    notebook = run_notebook("01_quickstart.ipynb", tmp_path)
    text = outputs_text(notebook)
    assert "one-time buyers (share)" in text  # the notebook opens with the log's summary
    assert "2,357 customers, 946 repeat buyers, 2,457 repeat transactions in training, 1,882 in the holdout" in text
    assert "BG/NBD log-likelihood: -9582.4" in text
    assert "predicted 1,653, actual 1,882 (-12.1%)" in text
    # the fitted model rendered as an HTML table in the notebook
    html = [o["data"]["text/html"] for c in notebook.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("<caption>CLVModel (BG/NBD + Gamma-Gamma): 2,357 customers" in h for h in html)
    assert (tmp_path / "cdnow_quickstart.joblib").stat().st_size < 10_000
