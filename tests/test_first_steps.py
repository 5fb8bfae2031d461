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
