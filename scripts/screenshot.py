"""``make screenshot``: JupyterLab in headless Chromium, notebooks run top to bottom, widgets rendered.

It copies the notebooks into runs/screenshot (so the committed ones stay without outputs), starts
JupyterLab on loopback with the local engine backend, opens each notebook in Debian's Chromium through
Playwright, runs all cells from the Run menu, waits for the last cell to finish, saves the notebook (widget
state included) and writes ``docs/screenshot-NAME.png``:

- ``02_sweep``: the SweepPanel after its run (findings, table, paired chart);
- ``06_grounding``: the PageViewer on a real page in grounding mode (boxes over the page).

``python scripts/screenshot.py [02_sweep] [06_grounding]`` (default: both). The helpers here (``prepare``,
``start_lab``, ``browser``) are the browser test's too (``tests/test_browser.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lighton_lab.endpoints.endpoint import free_port

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "screenshot"
DOCS = ROOT / "docs"
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Chromium's own background traffic is refused on a closed network: turn it off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# JupyterLab settings for a clean first run: widget state saved with the notebook (the screenshots' copies
# only); no "news?" toast and no update check (JupyterLab 4's notification plugin).
SETTINGS = {
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
WAIT_S = int(os.environ.get("SCREENSHOT_WAIT_S", "900"))  # notebook 02 sweeps 18 pages x 10 configurations
SHOTS = {"02_sweep": (1500, 1900), "06_grounding": (1500, 2000)}  # viewport of each screenshot


def prepare(work: Path, names: list[str], settings: dict | None = None) -> Path:
    """A fresh ``work`` folder with copies of the notebooks, ``data`` linked beside them, and lab settings."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "notebooks").mkdir(parents=True)
    (work / "data").symlink_to(ROOT / "data", target_is_directory=True)
    for name in names:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", work / "notebooks")
    for plugin, values in (settings if settings is not None else SETTINGS).items():
        path = work / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return work / "notebooks"


def start_lab(work: Path, port: int) -> subprocess.Popen:
    """JupyterLab on loopback over ``work/notebooks``, no token, the local engine backend; its log in
    ``work/lab.log``."""
    env = dict(os.environ, LIGHTON_LAB_BACKEND="local", JUPYTERLAB_SETTINGS_DIR=str(work / "lab-settings"))
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ip=127.0.0.1",
        "--ServerApp.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={work / 'notebooks'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(work / "lab.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"JupyterLab did not start; see {work / 'lab.log'}")


def browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_notebook(page, port: int, name: str) -> None:
    # ?reset: a fresh workspace with this notebook alone (not the tabs of the last one opened)
    page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}.ipynb?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    # the status bar says "| Idle" once the kernel is connected (the toolbar's indicator is idle before that,
    # and a cell run then is dropped)
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=120_000)


def run_all(page, work: Path, timeout_s: int = WAIT_S) -> None:
    """Run > Run All Cells, then wait until the last code cell has its execution count."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()
    last = page.locator(".jp-CodeCell .jp-InputPrompt").last
    deadline = time.monotonic() + timeout_s
    while not re.search(r"\[\d+\]", last.inner_text()):
        if (
            time.monotonic() > deadline
            or page.locator(".jp-OutputArea-output[data-mime-type*=error]").count()
        ):
            page.screenshot(path=str(work / "failed.png"))
            raise SystemExit(f"the notebook did not finish in the browser; see {work / 'failed.png'} and "
                             f"{work / 'lab.log'}")  # fmt: skip
        time.sleep(1)
    page.get_by_text(re.compile(r"\| Idle$")).first.wait_for(timeout=120_000)


def shoot(port: int, name: str) -> Path:
    from playwright.sync_api import sync_playwright

    out = DOCS / f"screenshot-{name}.png"
    with sync_playwright() as p:
        chromium = browser(p)
        width, height = SHOTS[name]
        page = chromium.new_page(viewport={"width": width, "height": height})
        open_notebook(page, port, name)
        run_all(page, WORK)
        page.keyboard.press("Control+s")
        time.sleep(2)
        toasts = page.locator(
            ".Toastify__toast"
        )  # anything that still pops up: the screenshot must not show it
        if toasts.count():
            raise SystemExit(
                f"a notification is still shown: {toasts.first.inner_text()!r}; add it to SETTINGS"
            )
        widget = page.locator(".widget-vbox").first  # the panel (02), the first PageViewer (06)
        widget.scroll_into_view_if_needed()
        if name == "06_grounding":  # from the heading down to the viewer, as a reader arrives there
            heading = page.get_by_role("heading", name="One page in grounding mode")
            heading.evaluate("element => element.scrollIntoView({block: 'start'})")
            time.sleep(1)
        page.screenshot(path=str(out))
        chromium.close()
    return out


def main() -> None:
    names = sys.argv[1:] or list(SHOTS)
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        raise SystemExit(f"no screenshot for {unknown}: choose from {list(SHOTS)}")
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium not found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    folder = prepare(WORK, names)
    port = free_port()
    lab = start_lab(WORK, port)
    try:
        for name in names:
            out = shoot(port, name)
            state = json.loads((folder / f"{name}.ipynb").read_text()).get("metadata", {}).get("widgets", {})
            widgets = len(next(iter(state.values()), {}).get("state", {}))
            print(f"wrote {out.relative_to(ROOT)}; notebook saved with widget state for {widgets} widgets")
    finally:
        lab.terminate()
        lab.wait(timeout=30)


if __name__ == "__main__":
    main()
