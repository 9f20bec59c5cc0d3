"""``make screenshot``: JupyterLab in headless Chromium, 02_sweep.ipynb run top to bottom, widgets rendered.

It copies the notebooks into runs/screenshot (so the committed ones stay without outputs), starts
JupyterLab on loopback with the local engine backend, opens the notebook in Debian's Chromium through
Playwright, runs all cells from the Run menu, waits for the SweepPanel to report "done", saves the
notebook (widget state included) and writes docs/screenshot-02_sweep.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lighton_lab.endpoints.endpoint import free_port

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "runs" / "screenshot"
OUT = ROOT / "docs" / "screenshot-02_sweep.png"
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


# JupyterLab settings for a clean first run: widget state saved with the notebook; no "news?" toast and no
# update check (JupyterLab 4's notification plugin), no pop-up asking to re-open the last workspace.
SETTINGS = {
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def prepare() -> Path:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "notebooks").mkdir(parents=True)
    (WORK / "data").symlink_to(ROOT / "data", target_is_directory=True)
    shutil.copy(ROOT / "notebooks" / "02_sweep.ipynb", WORK / "notebooks")
    for plugin, values in SETTINGS.items():
        path = WORK / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return WORK / "notebooks"


def start_lab(folder: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, LIGHTON_LAB_BACKEND="local", JUPYTERLAB_SETTINGS_DIR=str(WORK / "lab-settings"))
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
        f"--ServerApp.root_dir={folder}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(WORK / "lab.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"JupyterLab did not start; see {WORK / 'lab.log'}")


def shoot(port: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1900})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/02_sweep.ipynb", wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_text("Run All Cells", exact=True).click()
        try:
            page.wait_for_selector(
                "text=done:", timeout=int(os.environ.get("SCREENSHOT_WAIT_S", "600")) * 1000
            )
        except Exception:
            page.screenshot(path=str(WORK / "failed.png"))
            raise SystemExit(
                f"the sweep did not finish in the browser; see {WORK / 'failed.png'} and {WORK / 'lab.log'}"
            ) from None
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=300_000)
        page.keyboard.press("Control+s")
        time.sleep(2)
        toasts = page.locator(
            ".Toastify__toast"
        )  # anything that still pops up: the screenshot must not show it
        if toasts.count():
            raise SystemExit(
                f"a notification is still shown: {toasts.first.inner_text()!r}; add its setting to SETTINGS"
            )
        page.locator(".widget-vbox").first.scroll_into_view_if_needed()
        OUT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT))
        browser.close()


def main() -> None:
    if not Path(CHROMIUM).exists():
        raise SystemExit("Chromium not found: apt-get install chromium (or set CHROMIUM=/path/to/chrome)")
    folder = prepare()
    port = free_port()
    lab = start_lab(folder, port)
    try:
        shoot(port)
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    saved = json.loads((folder / "02_sweep.ipynb").read_text())
    state = saved.get("metadata", {}).get("widgets", {})
    print(
        f"wrote {OUT.relative_to(ROOT)}; notebook saved with widget state for "
        f"{len(next(iter(state.values()), {}).get('state', {}))} widgets"
    )


if __name__ == "__main__":
    main()
