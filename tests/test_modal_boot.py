"""The Modal app's boot watchdog, run offline: the serve function's body (`start_server`) with a stand-in
`vllm` executable on PATH, a real process that prints a boot log and then exits, hangs or serves /health.

A vLLM that dies while booting fails the container within seconds, with its last log lines; one that hangs
fails at the boot timeout (set small here). The weights come from a Hugging Face cache laid out on disk as
the hub lays it out, so the revision really resolves to a commit, offline. `start_modal` reads the app's
report from `modal serve`'s output (a stand-in `modal` that runs the same body) and raises with it."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import httpx
import pytest
from conftest import executable, stand_in_modal
from test_serve_app import APP, KEY, isolate_user_config, load_app

import lighton_lab.endpoints.modal_serve as modal_launch
from lighton_lab.endpoints.endpoint import free_port
from lighton_lab.endpoints.modal_serve import start_modal
from lighton_lab.errors import EndpointError
from lighton_lab.models.serving import boot_failure_report, read_boot_failure

COMMIT = "0123456789abcdef0123456789abcdef01234567"
HF_ID = "lightonai/LightOnOCR-1B-1025"

VLLM = f"""#!{sys.executable}
import hashlib, http.server, json, os, sys, threading, time
mode, record = os.environ["VLLM_STAND_IN"], os.environ["VLLM_STAND_IN_RECORD"]
args = sys.argv[1:]
port = int(args[args.index("--port") + 1])
key = os.environ.get("VLLM_API_KEY") or ""
with open(record, "w") as f:
    json.dump({{"argv": args, "pid": os.getpid(), "key_sha256": hashlib.sha256(key.encode()).hexdigest()}}, f)
for i in range(60):
    print(f"INFO stand-in boot step {{i}}", flush=True)
if mode == "exit":
    print("ValueError: the stand-in refuses to boot (a bad flag, out of memory)", flush=True)
    with open(record + ".exit", "w") as f:
        f.write(repr(time.time()))
    sys.exit(1)
if mode == "hang":
    time.sleep(3600)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Health)
if mode == "serve-then-exit":
    threading.Timer(1.5, lambda: os._exit(3)).start()
server.serve_forever()
"""

MODAL = f"""#!{sys.executable}
import importlib.util, os, signal, sys, time, traceback
record = open(os.environ["MODAL_STAND_IN_LOG"], "a", buffering=1)
record.write("argv " + " ".join(sys.argv[1:]) + "\\n")
def on(signum, frame):
    record.write(signal.Signals(signum).name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGINT, on)
signal.signal(signal.SIGTERM, on)
def container():
    # what Modal streams from the container: the serve function's body, its prints and traceback
    spec = importlib.util.spec_from_file_location("app", os.environ["APP_FILE"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.start_server(timeout=30, port=int(os.environ["VLLM_STAND_IN_PORT"]))
    except Exception:
        traceback.print_exc(file=sys.stdout)
    sys.stdout.flush()
command = sys.argv[1:3]
if command == ["app", "stop"]:
    sys.exit(0)
if command == ["app", "logs"]:
    container()
elif command[0] == "deploy":
    print("└── 🔨 Created web function serve")
    print("    https://acme--lightonocr-1b-serve.modal.run")
    print("✓ App deployed in 3.214s! 🎉", flush=True)
    sys.exit(0)
else:
    print("✓ Initialized. View run at https://modal.com/apps/acme/main/ap-AbCdEfGhIjKlMnOpQrStUv")
    print("└── 🔨 Created web function serve")
    print("    https://acme--lightonocr-1b-serve-dev.modal.run")
    print("⚡️ Serving... hit Ctrl-C to stop!", flush=True)
    container()
while True:
    time.sleep(0.1)
"""


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch):
    return isolate_user_config(tmp_path, monkeypatch)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A Hugging Face cache holding the default model at COMMIT, laid out as the hub lays it out; offline."""
    repo = tmp_path / "hub" / f"models--{HF_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "config.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    constants = pytest.importorskip("huggingface_hub.constants")  # the app's only import besides modal
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # read at import: set it here too
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return repo / "snapshots" / COMMIT


@pytest.fixture
def vllm(tmp_path, monkeypatch):
    """A stand-in `vllm` first on PATH; `vllm(mode)` chooses what it does and returns its record file."""
    folder = tmp_path / "bin"
    executable(folder, "vllm", VLLM)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    record = tmp_path / "vllm.json"
    monkeypatch.setenv("VLLM_STAND_IN_RECORD", str(record))

    def choose(mode: str):
        monkeypatch.setenv("VLLM_STAND_IN", mode)
        return record

    return choose


@pytest.mark.slow
def test_a_vllm_that_exits_fails_the_body_within_seconds_with_its_last_lines(monkeypatch, hub, vllm, capsys):
    record = vllm("exit")
    app = load_app(monkeypatch, VLLM_API_KEY=KEY)
    with pytest.raises(app.BootFailed) as failed:
        app.start_server(timeout=60, port=free_port())
    seconds_after_exit = time.time() - float((record.parent / (record.name + ".exit")).read_text())
    assert seconds_after_exit < 10  # issue 20's Done-when; about one poll interval in practice
    message = str(failed.value)
    assert message.startswith("vLLM exited with code 1 after ")
    assert message.endswith("ValueError: the stand-in refuses to boot (a bad flag, out of memory)")
    # the tail of the log, not all of it
    assert "INFO stand-in boot step 59" in message and "step 0\n" not in message
    # the report start_modal reads from Modal's log says the same
    report = read_boot_failure(capsys.readouterr().out)
    assert report.complete and report.reason in message and report.log_tail[-1] == message.splitlines()[-1]
    # the revision resolved to a commit at boot; vLLM loads its snapshot under the Hugging Face id, and
    # gets the key from its environment, never in its argv
    seen = json.loads(record.read_text())
    assert seen["argv"][:4] == ["serve", str(hub), "--served-model-name", HF_ID]
    assert seen["key_sha256"] == hashlib.sha256(KEY.encode()).hexdigest()
    assert KEY not in " ".join(seen["argv"])


@pytest.mark.slow
def test_a_vllm_that_hangs_fails_at_the_timeout_and_is_stopped(monkeypatch, hub, vllm):
    record = vllm("hang")
    app = load_app(monkeypatch, VLLM_API_KEY=KEY)
    started = time.monotonic()
    with pytest.raises(app.BootFailed, match=r"did not answer /health within 2 s") as failed:
        app.start_server(timeout=2, port=free_port())
    assert 2 <= time.monotonic() - started < 2 + 5
    assert str(failed.value).endswith("INFO stand-in boot step 59")
    with pytest.raises(ProcessLookupError):  # no stuck vLLM left behind holding the GPU
        os.kill(json.loads(record.read_text())["pid"], 0)


@pytest.mark.slow
def test_a_healthy_vllm_is_returned_running(monkeypatch, hub, vllm):
    vllm("serve")
    app = load_app(monkeypatch, VLLM_API_KEY=KEY)
    port = free_port()
    process = app.start_server(timeout=30, port=port)
    try:
        assert process.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        app._stop(process)


@pytest.mark.slow
def test_a_vllm_that_dies_while_serving_ends_the_container(tmp_path, monkeypatch, hub, vllm):
    """After the boot, Modal only watches the port: the app ends the container itself when vLLM dies."""
    vllm("serve-then-exit")
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    body = (
        "import importlib.util, time\n"
        f"spec = importlib.util.spec_from_file_location('app', {str(APP)!r})\n"
        "app = importlib.util.module_from_spec(spec); spec.loader.exec_module(app)\n"
        f"app.exit_with(app.start_server(timeout=30, port={free_port()}))\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", body], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 30
    assert "vLLM exited with code 3 while serving: ending the container" in done.stdout


def test_no_key_in_the_container_refuses_to_serve_an_open_vllm(monkeypatch):
    app = load_app(monkeypatch, VLLM_API_KEY=KEY)
    monkeypatch.delenv("VLLM_API_KEY")  # the Secret did not arrive
    with pytest.raises(app.BootFailed, match="no VLLM_API_KEY reached the container"):
        app.start_server(timeout=1, port=free_port())


def test_weights_that_cannot_be_had_fail_the_boot_with_the_reason(monkeypatch, hub):
    app = load_app(monkeypatch, MODEL_ID="2-1b", VLLM_API_KEY=KEY)  # not in the cache, and offline
    with pytest.raises(
        app.BootFailed, match="the weights of lightonai/LightOnOCR-2-1B at main could not be had"
    ):
        app.start_server(timeout=1, port=free_port())


@pytest.fixture
def modal(tmp_path, monkeypatch, hub, vllm):
    """A stand-in `modal` whose 'container' is the app's serve body with the failing stand-in vLLM."""
    vllm("exit")
    stand_in_modal(monkeypatch, tmp_path / "bin", MODAL)
    log = tmp_path / "modal.log"
    monkeypatch.setenv("MODAL_STAND_IN_LOG", str(log))
    monkeypatch.setenv("APP_FILE", str(APP))
    monkeypatch.setenv("VLLM_STAND_IN_PORT", str(free_port()))
    monkeypatch.setattr(modal_launch, "_deployed_url", lambda name: None)  # would ask Modal's API
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # start_modal's log file
    return log


@pytest.mark.slow
def test_start_modal_raises_with_the_reason_within_seconds_and_stops_the_app(modal):
    started = time.monotonic()
    with pytest.raises(EndpointError) as failed:
        start_modal(model="1b", gpu="H100", show_log=False, timeout=120)
    assert time.monotonic() - started < 30  # issue 20: within a minute, not after Modal's 20
    message = str(failed.value)
    assert message.startswith(
        "vLLM did not boot for lightonai/LightOnOCR-1B-1025 on H100: vLLM exited with code 1"
    )
    assert "The app was stopped." in message
    assert message.endswith("ValueError: the stand-in refuses to boot (a bad flag, out of memory)")
    calls = modal.read_text().splitlines()
    assert calls[0].startswith("argv serve ") and calls[1] == "SIGINT"  # the ephemeral app was torn down
    assert calls[2] == "argv app stop ap-AbCdEfGhIjKlMnOpQrStUv"


@pytest.mark.slow
def test_a_deployment_reports_its_failed_boot_from_the_app_logs(modal):
    with pytest.raises(EndpointError, match="modal app stop lightonocr-1b` ends it") as failed:
        start_modal(model="1b", gpu="H100", deploy=True, show_log=False, timeout=120)
    assert str(failed.value).endswith("(a bad flag, out of memory)")
    assert "argv app logs lightonocr-1b -f" in modal.read_text().splitlines()


def test_read_boot_failure_waits_for_the_end_mark_and_ignores_prefixes():
    report = boot_failure_report("vLLM exited with code 1", ["a", "", "b"]).splitlines()
    prefixed = [f"ta-01 {line}" for line in report]  # whatever Modal may put before a container's line
    partial = read_boot_failure("INFO noise\n" + "\n".join(prefixed[:2]))
    assert partial.reason == "vLLM exited with code 1" and partial.log_tail == ("a",) and not partial.complete
    whole = read_boot_failure("\n".join(prefixed) + "\nmore noise")
    assert whole.complete and whole.log_tail == ("a", "", "b")
    assert read_boot_failure("INFO all good\n") is None
