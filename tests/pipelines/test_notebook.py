"""The curation report notebook runs top to bottom on a curated project."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.pipelines.conftest import REPO


@pytest.mark.slow
def test_curation_report_notebook_executes(curated_project: Path, monkeypatch):
    """Every cell runs; the summary is printed and the clip gallery is drawn."""
    monkeypatch.setenv("OMNIHUMAN_PROJECT", str(curated_project))
    monkeypatch.setenv("KEDRO_ENV", "tiny")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    nb = nbformat.read(REPO / "notebooks/curation_report.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(curated_project)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "eligible T:" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert os.environ["OMNIHUMAN_PROJECT"] == str(curated_project)
