"""Endpoints: where they come from and how they end.

Stopping `modal serve` really ends the ephemeral app: SIGINT first (Modal's CLI tears the app down on
Ctrl-C, not on SIGTERM), then `modal app stop <app id>`. The CLI is a stand-in `modal` executable on PATH,
a real process that prints what Modal 1.x prints and records every signal and command it receives. The
URL and app id are read from the CLI's output as each Modal version prints them."""

import os
import shutil
import sys
import time

import pytest
from conftest import stand_in_modal

from lighton_lab.endpoints.modal_serve import find_app_id, find_web_url, start_modal
from lighton_lab.errors import EndpointError

APP_ID = "ap-AbCdEfGhIjKlMnOpQrStUv"
STAND_IN = f"""#!{sys.executable}
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
"""


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    folder = tmp_path / "bin"
    script = stand_in_modal(monkeypatch, folder, STAND_IN)
    log = tmp_path / "modal.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MODAL_STAND_IN_LOG", str(log))
    assert shutil.which("modal") == str(script)  # the one a user's shell would find
    return log


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_child_gets_every_serve_key_and_none_of_the_shell(stand_in, monkeypatch):
    monkeypatch.setenv("APP_NAME", "stray-name")
    monkeypatch.setenv("MODEL_REVISION", "meant-for-another-model")
    endpoint = start_modal(model="3-4b", gpu="H100", show_log=False, wait=False)
    try:
        env = endpoint.server.env
        assert (
            env["APP_NAME"] == ""
            and env["MODEL_REVISION"] == ""
            and env["MODEL_ID"] == "lightonai/LightOnOCR-3-4B"
        )
        assert env["GPU"] == "H100" and env["MAX_INPUTS"] == "" and env["MAX_CONTAINERS"] == ""
    finally:
        endpoint.stop()


SERVE_1X = """\x1b[32m✓\x1b[0m Initialized. \x1b[2mView run at \x1b[4mhttps://modal.com/apps/acme/main/ap-3bQnQ0cG8cZqzJ2\x1b[0m
\x1b[32m✓\x1b[0m Created objects.
\x1b[38;5;244m├── \x1b[0m🔨 Created mount /home/me/lighton-lab/serve/app.py
\x1b[38;5;244m└── \x1b[0m🔨 Created web function \x1b[32mserve\x1b[0m
    \x1b]8;id=1;https://acme--lightonocr-1b-serve-dev.modal.run\x1b\\\x1b[2;4mhttps://acme--lightonocr-1b-serve-dev.modal.run\x1b[0m\x1b]8;;\x1b\\ \x1b[33m(unauthenticated)\x1b[0m
⚡️ Serving... hit Ctrl-C to stop!
"""


SERVE_06X = """✓ Initialized. View run at https://modal.com/apps/ap-xyz
✓ Created objects.
├── 🔨 Created mount /root/serve/app.py
└── 🔨 Created web function serve => https://acme--lightonocr-32k-serve-dev.modal.run
⚡️ Serving... hit Ctrl-C to stop!
"""


DEPLOY = """✓ Created objects.
├── 🔨 Created mount /root/serve/app.py
└── 🔨 Created web function serve
    https://acme-prod--lightonocr-2-1b-serve.modal.run 🔑
✓ App deployed in 3.214s! 🎉

View Deployment: https://modal.com/apps/acme-prod/main/deployed/lightonocr-2-1b
"""


OLD = "✓ Created objects.\n└── 🔨 Created serve => https://acme--lightonocr-16k-serve.modal.run\n"


@pytest.mark.parametrize(
    "output,url",
    [
        (SERVE_1X, "https://acme--lightonocr-1b-serve-dev.modal.run"),
        (SERVE_06X, "https://acme--lightonocr-32k-serve-dev.modal.run"),
        (DEPLOY, "https://acme-prod--lightonocr-2-1b-serve.modal.run"),
        (OLD, "https://acme--lightonocr-16k-serve.modal.run"),
        ("✓ Initialized. View run at https://modal.com/apps/ap-1\n", None),
    ],
)
def test_find_web_url(output, url):
    assert find_web_url(output) == url


def test_find_app_id():
    line = "\x1b[32m✓\x1b[0m Initialized. View run at https://modal.com/apps/acme/main/ap-AbCdEfGhIjKlMnOpQrStUv\n"
    assert find_app_id(line) == "ap-AbCdEfGhIjKlMnOpQrStUv"
    assert find_app_id("View Deployment: https://modal.com/apps/acme/main/deployed/lightonocr-1b") is None


@pytest.mark.slow
def test_start_modal_without_a_token_fails_fast_with_the_fix():
    import time

    started = time.monotonic()
    with pytest.raises(EndpointError, match="modal token new"):
        start_modal(model="32k", gpu="L4", show_log=False)
    assert time.monotonic() - started < 30
