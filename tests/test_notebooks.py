"""Notebooks are committed without outputs, with a tagged parameters cell, and only call the package."""

import json

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_seven_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_sweep.ipynb",
        "03_benchmark.ipynb",
        "04_error_analysis.ipynb",
        "05_olmocr_bench.ipynb",
        "06_grounding.ipynb",
        "07_peers.ipynb",
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_as_jupyterlab_saves_them(path):
    """Opening a notebook must not make it "modified": the file is in the shape JupyterLab writes (keys
    sorted, one space of indent, cell ids, ipykernel's kernelspec and language_info for the project's
    Python), so JupyterLab has nothing to change; only another Python version's number can differ."""
    text = path.read_text()
    notebook = json.loads(text)
    assert text == json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    assert all(cell.get("id") for cell in notebook["cells"])
    assert notebook["metadata"]["kernelspec"] == {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    info = dict(notebook["metadata"]["language_info"])
    assert info.pop("version").startswith("3.")
    assert info == {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
    }
    assert "widgets" not in notebook["metadata"], f"{path.name}: saved widget state is an output"
