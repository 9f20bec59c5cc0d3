"""Notebook 02 clicked through in JupyterLab in a real Chromium, as a person does (not Run All): run the
cells down to the panel, Estimate with no DPI, choose DPIs, Estimate, Run, Stop, Run again, read the
panel's results in the next cell, then draw a plain matplotlib plot and see it inline.

Playwright drives the system Chromium (``scripts/screenshot.py``'s helpers); the test skips where no
Chromium is installed (apt-get install chromium), and only there.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

sys.path.insert(0, str(ROOT / "scripts"))
import screenshot  # noqa: E402  (scripts/ is not a package)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SAVED_PYTHON = json.loads((ROOT / "notebooks" / "02_sweep.ipynb").read_text())["metadata"]["language_info"][
    "version"
]
DOCUMENTS = ("table", "scan_receipt", "minutes")  # three small sample pages: the sweep takes seconds


@pytest.fixture()
def lab(tmp_path):
    if not Path(screenshot.CHROMIUM).exists():
        pytest.skip(f"no Chromium at {screenshot.CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in DOCUMENTS:
        for path in SAMPLE.glob(f"{name}.*"):
            shutil.copy(path, corpus)
    quiet = {k: v for k, v in screenshot.SETTINGS.items() if "notification" in k}  # no news toast
    folder = screenshot.prepare(tmp_path / "lab", ["02_sweep"], settings=quiet)
    notebook = folder / "02_sweep.ipynb"
    cells = json.loads(notebook.read_text())
    params = next(c for c in cells["cells"] if "parameters" in c["metadata"].get("tags", []))
    store = tmp_path / "lab.sqlite"
    params["source"] += [
        f"\nCORPUS = [{str(corpus)!r}]\n",
        f"STORE = {str(store)!r}\n",
        'CAPS = ("profile",)\n',
    ]
    notebook.write_text(json.dumps(cells, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    port = screenshot.free_port()
    process = screenshot.start_lab(tmp_path / "lab", port)
    yield port, tmp_path / "lab"
    process.terminate()
    process.wait(timeout=30)


def run_cell(page, index: int) -> None:
    """Click into the ``index``-th code cell and press Shift+Enter, as a person runs one cell."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    prompt = cell.locator(".jp-InputPrompt")
    deadline = time.monotonic() + 300
    while "[*]" in prompt.inner_text() or not any(ch.isdigit() for ch in prompt.inner_text()):
        assert time.monotonic() < deadline, f"cell {index} did not finish"
        time.sleep(0.5)


def test_notebook_02_clicked_through_in_chromium(lab):
    from playwright.sync_api import expect, sync_playwright

    port, work = lab
    with sync_playwright() as p:
        chromium = screenshot.browser(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 1200})
        try:
            screenshot.open_notebook(page, port, "02_sweep")
            expect(page.locator(".jp-Spinner")).to_have_count(0, timeout=60_000)
            if platform.python_version() == SAVED_PYTHON:  # opening changes nothing: no "modified" dot
                time.sleep(2)
                expect(page.locator(".jp-mod-dirty")).to_have_count(0)
            cells = page.locator(".jp-Notebook .jp-CodeCell")
            last = cells.count() - 1
            run_cell(page, 0)  # parameters
            run_cell(page, 1)  # the panel
            panel = page.locator(".widget-vbox").first
            expect(panel.get_by_role("button", name="Estimate")).to_be_visible(timeout=60_000)
            assert (
                panel.locator("img").count() == 0 or not panel.locator("img").first.is_visible()
            )  # no broken icon
            dpi = panel.locator("select").first
            dpi.select_option([])
            panel.get_by_role("button", name="Estimate").click()
            expect(panel.get_by_text("Choose a DPI.")).to_be_visible(timeout=30_000)  # answered in the panel
            dpi.select_option(["72", "100", "200"])
            panel.get_by_role("button", name="Estimate").click()
            planned = re.compile(r"\d+ results \(\d+ pages x 3 configurations\)")
            expect(panel.get_by_text(planned)).to_be_visible(timeout=60_000)
            panel.get_by_role("button", name="Run").click()
            panel.get_by_role("button", name="Stop").click()
            stopped = panel.get_by_text(re.compile(r"^(stopped|done): "))
            expect(stopped).to_be_visible(timeout=120_000)
            panel.get_by_role("button", name="Run").click()  # resumes: what the Stop kept is reused
            expect(panel.get_by_text(re.compile(r"^done: "))).to_be_visible(timeout=300_000)
            left = re.compile(r"(\d+) results .*: \1 already in the store, 0 to get")
            expect(panel.get_by_text(left)).to_be_visible(timeout=60_000)  # redone after the run
            assert panel.locator("img").first.is_visible()  # the paired chart
            run_cell(page, 2)  # frame = panel.results(): the panel's run, not a second sweep
            output = cells.nth(2).locator(".jp-OutputArea").inner_text()
            said = output.splitlines()[0].split(": ", 1)[1]  # "12 results in ...; 20.9 s"
            assert said in panel.inner_text(), (said, panel.inner_text())  # the panel's run, seconds and all
            assert re.search(r"(more|less) CER than|No DPI changes", output), output
            run_cell(page, last)  # a plain matplotlib plot after the panel's charts
            expect(cells.nth(last).locator(".jp-OutputArea img")).to_be_visible(timeout=60_000)
        except Exception:
            page.screenshot(path=str(work / "failed.png"))
            raise
        finally:
            chromium.close()
