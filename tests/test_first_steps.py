"""What a new user meets first: the test command, the package's import, the names it offers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> list[str]:
    """Node ids pytest collects from the repository root with the project's own configuration."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_one_test_file_runs_alone():
    collected = _collect("tests/test_first_steps.py")
    assert collected
    assert all(node.startswith("tests/test_first_steps.py::") for node in collected), collected[:5]


def test_pytest_without_arguments_runs_the_tests_and_the_doctests():
    collected = _collect()
    assert any(node.startswith("tests/test_report.py::") for node in collected)
    # the docstring examples of the package are collected as doctests
    assert any(node.startswith("clv_predict/_validation.py::") or node.startswith("clv_predict/transactions.py::")
               for node in collected)


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_submodules_load_on_first_use_and_the_import_stays_light():
    code = """
import sys
import clv_predict as cp
assert "matplotlib" not in sys.modules, "import clv_predict imported matplotlib"
import matplotlib
matplotlib.use("Agg")
log = cp.datasets.load_cdnow(sample=True)
rfm = cp.rfm_summary(log[log["date"] <= "1997-09-30"], customer_id_col="customer_id", datetime_col="date",
                     monetary_value_col="amount", observation_period_end="1997-09-30", time_unit="W")
model = cp.CLVModel().fit(rfm)
ax = cp.plotting.plot_tracking(model, log, train_period_end="1997-09-30")
assert ax.lines
for name in ("analytics", "datasets", "synthetic", "io", "report"):
    assert getattr(cp, name).__name__ == "clv_predict." + name
print("ok")
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "ok"


def test_the_dask_submodule_names_its_extra_when_dask_is_missing():
    code = """
import sys
sys.modules["dask"] = None  # as if Dask were not installed
import clv_predict as cp
try:
    cp.dask
except ImportError as exc:
    print(exc)
"""
    result = _python(code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'pip install "clv-predict[dask]"' in result.stdout


def test_an_unknown_attribute_is_still_an_attribute_error():
    import pytest

    import clv_predict as cp

    with pytest.raises(AttributeError, match="no_such_thing"):
        cp.no_such_thing  # noqa: B018
