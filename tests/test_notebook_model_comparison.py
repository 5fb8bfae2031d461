from notebook_runner import outputs_text, run_notebook


def test_model_comparison_notebook_compares_the_family_on_cdnow_and_a_real_export(tmp_path):
    notebook = run_notebook("04_model_comparison.ipynb", tmp_path)
    text = outputs_text(notebook)
    for label in ("BG/NBD", "Pareto/NBD", "MBG/NBD", "BG/CNBD-k", "MBG/CNBD-k"):
        assert label in text
    assert "lowest BIC on CDNOW: MBG/NBD" in text
    assert "99 customers acquired in training; lowest BIC on the retail extract: BG/CNBD-k with k = " in text
    assert "regularity adds" in text
