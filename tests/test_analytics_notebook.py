"""notebooks/03_customer_value.ipynb runs top to bottom on the CDNOW master and shows the figures it promises."""

from notebook_runner import outputs_text, run_notebook


def test_customer_value_notebook_runs_on_the_cdnow_master(tmp_path):
    notebook = run_notebook("03_customer_value.ipynb", tmp_path)
    text = outputs_text(notebook)
    assert "one-time buyers (share)" in text and "days between purchases (median)" in text  # the log's summary
    assert "23,570 customers, 69,659 rows, 1997-01-01 to 1998-06-30" in text
    assert "67,591 transactions" in text  # rows of one customer on one day are one transaction
    assert "Quarterly retention 32.6%" in text
    assert "Value per acquired customer 12 months after acquisition: 1997-01 " in text
    assert "Platinum: 5.0% of customers hold" in text
    assert "high-value customers likely lost" in text and "Affordable acquisition cost:" in text
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 5
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # no warning box: the one repeat customer with zero spend is said in the notebook's own words
    warned = [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])
              if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not warned, warned
    assert "1 repeat customer with zero repeat spend" in text
