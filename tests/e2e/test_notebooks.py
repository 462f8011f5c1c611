"""The example notebooks execute as a statistician would run them (a real Jupyter kernel, nbclient),
the demo on a few hundred persons; every cell must run without error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
pytestmark = pytest.mark.e2e


def test_there_are_the_two_notebooks_and_none_holds_outputs():
    assert [p.name for p in NOTEBOOKS] == ["febrl_linkage.ipynb", "migration_demo.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_each_notebook_runs_every_cell(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source.startswith("PERSONS ="):
            cell.source = "PERSONS = 600"
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
              if output.output_type == "error"]
    assert not errors
    shown = "".join(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", ""))
                    for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs)
    if path.stem == "febrl_linkage":
        assert "precision" in shown   # (the engines on their own speak as Splink does)
    else:
        assert "immigration" in shown
        assert "✓ link" in shown   # a run in a notebook says how it goes, stage by stage
        assert "WARNING" not in shown, "a run's Splink warnings belong in run.log, not in the notebook"
