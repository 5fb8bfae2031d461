from notebook_runner import outputs_text, run_notebook


def test_diagnostics_notebook_runs_and_reads_the_published_holdout(tmp_path):
    notebook = run_notebook("02_diagnostics.ipynb", tmp_path)
    text = outputs_text(notebook)
    assert "1,882 repeat transactions, the model predicted 1,653 (-12.1%)" in text
    assert "BG/NBD + Gamma-Gamma: purchases -12.1%" in text
    assert "lowest per-customer purchase error (MAE): model" in text
    assert "cumulative repeat transactions at the end of training: actual 2,457" in text
    # the evaluation result shows its tables as HTML in the notebook
    html = [o["data"]["text/html"] for c in notebook.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("Mean holdout purchases by training frequency" in h for h in html)
    report = (tmp_path / "cdnow_report.html").read_text(encoding="utf-8")
    # 11 diagnostic plots, then the fan chart and the calibration plot of "How sure the forecast is"
    assert report.count('<img src="data:image/png;base64,') == 13
