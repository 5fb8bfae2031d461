from notebook_runner import outputs_text, run_notebook


def test_covariates_notebook_values_customers_by_channel(tmp_path):
    notebook = run_notebook("06_covariates.ipynb", tmp_path)
    text = outputs_text(notebook)
    assert "true multipliers inside the 95% bounds" in text
    assert "lr_p_value" in text and "Gamma-Gamma spend covariates: LR statistic" in text
    for channel in ("search", "social", "referral"):
        assert f"budget {channel}: up to" in text
    assert "90% bounds" in text
    assert "channel = referral multiplies the mean purchase rate" in text
