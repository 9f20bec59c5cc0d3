"""Notebooks are committed without outputs, with a tagged parameters cell, and only call the package."""

import json

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_five_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_sweep.ipynb",
        "03_benchmark.ipynb",
        "04_error_analysis.ipynb",
        "05_olmocr_bench.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        assert not cell.get("outputs"), f"{path.name}: clear the outputs before committing"
        assert cell.get("execution_count") is None, f"{path.name}: clear the execution counts"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_and_thin_cells(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in cells[0]["metadata"].get("tags", [])
    for cell in cells:
        source = "".join(cell["source"])
        assert len(source.splitlines()) <= 12, f"{path.name}: keep logic in the package, not in cells"
        assert "def " not in source and "class " not in source
