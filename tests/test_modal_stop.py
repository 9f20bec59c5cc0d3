"""Stopping `modal serve` really ends the ephemeral app: SIGINT first (Modal's CLI tears the app down on
Ctrl-C, not on SIGTERM), then `modal app stop <app id>`. The CLI is a stand-in `modal` executable on PATH,
a real process that prints what Modal 1.x prints and records every signal and command it receives."""

import os
import shutil
import stat
import sys
import time

import pytest

import lighton_lab.modal_launch as modal_launch
import lighton_lab.servers as servers
from lighton_lab.endpoints import start_modal

APP_ID = "ap-AbCdEfGhIjKlMnOpQrStUv"
STAND_IN = f'''#!{sys.executable}
import os, signal, sys, time
record = open(os.environ["MODAL_STAND_IN_LOG"], "a", buffering=1)
record.write("argv " + " ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:2] == ["app"]:
    sys.exit(0)
def on(signum, frame):
    record.write(signal.Signals(signum).name + "\\n")
    if signum == signal.SIGINT:
        record.write("app torn down\\n")
        sys.exit(0)
signal.signal(signal.SIGINT, on)
signal.signal(signal.SIGTERM, on)
print("✓ Initialized. View run at https://modal.com/apps/acme/main/{APP_ID}", flush=True)
print("└── 🔨 Created web function serve", flush=True)
print("    https://acme--lightonocr-1b-serve-dev.modal.run", flush=True)
print("⚡️ Serving... hit Ctrl-C to stop!", flush=True)
while True:
    time.sleep(0.1)
'''


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "modal"
    script.write_text(STAND_IN)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "modal.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MODAL_STAND_IN_LOG", str(log))
    on_path = [shutil.which("modal")]
    assert on_path == [str(script)]
    monkeypatch.setattr(modal_launch, "modal_cli", lambda: on_path)
    monkeypatch.setattr(servers, "modal_cli", lambda: on_path)
    return log


def test_stop_sends_sigint_first_then_stops_the_app_by_id(stand_in):
    endpoint = start_modal(model="1b", gpu="H100", show_log=False, wait=False, max_containers=3)
    assert endpoint.base_url == "https://acme--lightonocr-1b-serve-dev.modal.run"
    assert endpoint.capacity == 3 * 128  # inputs per container x containers: the sweeps' default concurrency
    deadline = time.monotonic() + 10
    while endpoint.server.app_id is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert endpoint.server.app_id == APP_ID
    endpoint.stop()
    lines = stand_in.read_text().splitlines()
    assert lines[0].startswith("argv serve ") and lines[0].endswith("serve/app.py")
    assert lines[1:] == ["SIGINT", "app torn down", f"argv app stop {APP_ID}"]
    assert endpoint.process.returncode == 0
    endpoint.stop()  # twice is harmless: nothing more is sent
    assert stand_in.read_text().splitlines()[1:] == ["SIGINT", "app torn down", f"argv app stop {APP_ID}"]


def test_the_child_gets_every_serve_key_and_none_of_the_shell(stand_in, monkeypatch):
    monkeypatch.setenv("APP_NAME", "stray-name")
    monkeypatch.setenv("MODEL_REVISION", "meant-for-another-model")
    endpoint = start_modal(model="3-4b", gpu="H100", show_log=False, wait=False)
    try:
        env = endpoint.server.env
        assert env["APP_NAME"] == "" and env["MODEL_REVISION"] == "" and env["MODEL_ID"] == "lightonai/LightOnOCR-3-4B"
        assert env["GPU"] == "H100" and env["MAX_INPUTS"] == "" and env["MAX_CONTAINERS"] == ""
    finally:
        endpoint.stop()
