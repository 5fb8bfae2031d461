from notebook_runner import outputs_text, run_notebook


def test_discrete_notebook_walks_through_donations_and_a_subscription_cohort(tmp_path):
    notebook = run_notebook("05_discrete_and_contractual.ipynb", tmp_path)
    text = outputs_text(notebook)
    assert "{'alpha': 1.204, 'beta': 0.75, 'gamma': 0.657, 'delta': 2.783} log-likelihood -33225.6" in text
    assert "P(alive): [0.11, 0.59, 0.93]" in text
    assert "Holdout 1998-12-31 to 2003-12-31 (5 opportunities)" in text
    assert "regular: alpha 0.704, beta 1.182, median lifetime 2 years" in text
    assert "high end: alpha 0.668, beta 3.806" in text
    assert "the constant-retention formula undervalues them by 61.8%" in text
