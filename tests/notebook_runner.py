"""Execute a notebook of ``notebooks/`` in a fresh kernel, as a reader would run it top to bottom."""

from __future__ import annotations

import os
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run_notebook(name: str, workdir: Path, timeout: int = 600):
    """Run ``notebooks/<name>`` with ``workdir`` as the working directory; return the executed notebook.

    The stored notebook must have no outputs (it is kept clean in the repository).
    """
    import nbformat
    from nbclient import NotebookClient

    path = NOTEBOOKS / name
    notebook = nbformat.read(path, as_version=4)
    stored_outputs = [c for c in notebook.cells if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not stored_outputs, f"{name} is stored with outputs; clear them before committing"
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return notebook


def outputs_text(notebook) -> str:
    """All text the executed notebook showed (stream output and plain-text results)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
            elif "data" in output:
                parts.append(output["data"].get("text/plain", ""))
    return "\n".join(parts)
