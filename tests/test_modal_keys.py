"""Closed by default: every Modal app gets a random API key, sent to the container as a Modal Secret (never
in the image), kept with the Endpoint as a bearer header, and for deployments in the user's keys file
(0600), where `connect(url)` finds it again. Opting out is explicit and warned about.

The same guard on the local server (401 without the key, vLLM's flat body) is tested in
test_engines_protocol.py (`test_api_key_guards_every_v1_path...`) and test_errors.py
(`test_secrets_are_sent_as_headers_and_written_nowhere`)."""

import hashlib
import http.server
import json
import os
import stat
import sys
import tempfile
import threading

import pytest
from conftest import stand_in_modal
from test_serve_app import image_steps, isolate_user_config, load_app, recorded

import lighton_lab.endpoints.modal_serve as modal_launch
from lighton_lab.endpoints import keys
from lighton_lab.endpoints.connect import connect
from lighton_lab.endpoints.modal_serve import start_modal
from lighton_lab.errors import EndpointError

MODAL = f"""#!{sys.executable}
import hashlib, json, os, signal, sys, time
key = os.environ.get("VLLM_API_KEY")
with open(os.environ["MODAL_STAND_IN_LOG"], "a") as record:
    digest = key and hashlib.sha256(key.encode()).hexdigest()
    record.write(json.dumps({{"argv": sys.argv[1:], "key_sha256": digest}}) + "\\n")
if sys.argv[1] == "app":
    sys.exit(0)
signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
print("└── 🔨 Created web function serve")
if sys.argv[1] == "deploy":
    print("    https://acme--lightonocr-1b-serve.modal.run", flush=True)
    sys.exit(0)
print("    https://acme--lightonocr-1b-serve-dev.modal.run", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch):
    return isolate_user_config(tmp_path, monkeypatch)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def modal(tmp_path, monkeypatch):
    """A stand-in `modal` CLI that records its argv and (a hash of) the key it was given; every temporary
    file start_modal writes goes under tmp_path, so the test can search all of them for the key."""
    stand_in_modal(monkeypatch, tmp_path / "bin", MODAL)
    record = tmp_path / "modal.jsonl"
    monkeypatch.setenv("MODAL_STAND_IN_LOG", str(record))
    monkeypatch.setattr(modal_launch, "_deployed_url", lambda name: None)  # would ask Modal's API
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return lambda: [json.loads(line) for line in record.read_text().splitlines()]


def files_holding(root, secret: str) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()
    )


def bearer(endpoint) -> str:
    scheme, _, key = endpoint.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return key


@pytest.mark.slow
def test_an_ephemeral_app_gets_a_fresh_key_kept_with_its_endpoint_only(tmp_path, modal, user_config):
    first = start_modal(model="1b", gpu="H100", show_log=False, wait=False)
    first.stop()
    second = start_modal(model="1b", gpu="H100", show_log=False, wait=False)
    second.stop()
    key = bearer(first)
    assert len(key) >= 43 and key != bearer(second)  # 256 random bits, new for each app
    assert modal()[0]["key_sha256"] == sha(key)  # the CLI got it as VLLM_API_KEY, for the Secret
    assert key not in repr(first) + json.dumps(first.info()) + " ".join(first.command)
    assert files_holding(tmp_path, key) == []  # not in the CLI's log, nor a keys file
    assert not user_config.exists()


@pytest.mark.slow
def test_a_deployment_keeps_its_key_in_the_user_file_and_connect_finds_it(tmp_path, modal, user_config):
    endpoint = start_modal(model="1b", gpu="H100", deploy=True, show_log=False, wait=False)
    key = bearer(endpoint)
    path = keys.keys_path()
    assert path.parent == user_config / "lighton-lab"  # $XDG_CONFIG_HOME is respected
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert keys.load()["lightonocr-1b"] == {"key": key, "url": "https://acme--lightonocr-1b-serve.modal.run"}
    assert files_holding(tmp_path, key) == ["config/lighton-lab/keys.json"]  # and in no other file
    assert keys.key_for_url(endpoint.base_url + "/v1/") == key
    again = start_modal(model="1b", gpu="H100", deploy=True, show_log=False, wait=False)
    assert bearer(again) == key  # deploying again keeps the key other clients hold
    assert [call["key_sha256"] for call in modal()] == [sha(key), sha(key)]


def test_the_key_is_a_secret_of_the_function_and_in_no_image_layer(monkeypatch):
    app = load_app(monkeypatch, VLLM_API_KEY="k-" + "x" * 40)
    modal_sees = recorded(app)
    assert modal_sees["secrets"] == [{"VLLM_API_KEY": "k-" + "x" * 40}]
    assert "VLLM_API_KEY" not in app.IMAGE_ENV and "x" * 40 not in json.dumps(app.IMAGE_ENV)
    assert not [
        step for step in image_steps(modal_sees["image"]) if "x" * 40 in step or "VLLM_API_KEY" in step
    ]
    assert "x" * 40 not in " ".join(app.command())  # vLLM reads it from its environment, not its argv


def test_an_app_run_by_hand_takes_the_key_stored_for_its_name_and_never_prints_it(monkeypatch, capsys):
    first = load_app(monkeypatch, MODEL_ID="32k")
    again = load_app(monkeypatch, MODEL_ID="32k")
    assert first.API_KEY == again.API_KEY == keys.load()["lightonocr-32k"]["key"]
    assert recorded(first)["secrets"] == [{"VLLM_API_KEY": first.API_KEY}]
    output = capsys.readouterr()
    assert "keys.json" in output.out and first.API_KEY not in output.out + output.err


@pytest.mark.slow
def test_opting_out_is_explicit_and_warned(modal, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "a key from the shell")
    with pytest.warns(UserWarning, match="answers anyone who has its URL"):
        endpoint = start_modal(model="1b", gpu="H100", show_log=False, wait=False, require_api_key=False)
    endpoint.stop()
    assert "Authorization" not in endpoint.headers and modal()[0]["key_sha256"] is None
    assert endpoint.server.env["REQUIRE_API_KEY"] == "0"
    with pytest.warns(UserWarning, match="answers anyone who has its URL"):
        app = load_app(monkeypatch, REQUIRE_API_KEY=0, VLLM_API_KEY="ignored")
    assert recorded(app)["secrets"] == [] and app.API_KEY is None


class Guarded(http.server.BaseHTTPRequestHandler):
    """vLLM's guard on /v1 as vLLM 0.30.0 answers it: 401 ``{"error": "Unauthorized"}`` without the key."""

    key = ""

    def do_GET(self):
        allowed = self.headers.get("Authorization") == f"Bearer {self.key}"
        body = {"data": [{"id": "lightonai/LightOnOCR-1B-1025"}]} if allowed else {"error": "Unauthorized"}
        payload = json.dumps(body).encode()
        self.send_response(200 if allowed else 401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def guarded():
    Guarded.key = keys.new_key()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Guarded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Guarded.key
    server.shutdown()


@pytest.mark.slow  # a loopback server
def test_connect_sends_the_stored_key_and_says_what_to_do_without_it(guarded, monkeypatch):
    url, key = guarded
    with pytest.raises(EndpointError, match=r"wants an API key \(401\).*keys.json.*LIGHTON_LAB_API_KEY"):
        connect(url)
    keys.remember("lightonocr-1b", key, url + "/v1")
    endpoint = connect(url)
    assert endpoint.models == ("lightonai/LightOnOCR-1B-1025",) and bearer(endpoint) == key
    monkeypatch.setenv("LIGHTON_LAB_API_KEY", "another key")  # the environment comes first
    with pytest.raises(EndpointError, match="401"):
        connect(url)


def test_keys_by_app_name_in_the_url_file_mode_and_forget(user_config):
    keys.remember("ocr-olmocr-2", "k1")
    assert keys.key_for_url("https://acme-dev--ocr-olmocr-2-serve.modal.run") == "k1"  # found by its name
    assert (
        keys.key_for_url("https://acme--ocr-olmocr-2-serve-dev.modal.run/v1") == "k1"
    )  # `modal serve`'s URL
    assert keys.key_for_url("https://acme--lightonocr-1b-serve.modal.run") is None
    keys.forget("ocr-olmocr-2")
    assert keys.load() == {} and keys.key_for_url("https://acme-dev--ocr-olmocr-2-serve.modal.run") is None
    os.chmod(keys.keys_path(), 0o644)
    with pytest.raises(EndpointError, match="chmod 600"):
        keys.load()
    keys.keys_path().write_text("not json")
    os.chmod(keys.keys_path(), 0o600)
    with pytest.raises(EndpointError, match="not a keys file"):
        keys.app_key("x")


@pytest.mark.slow
def test_max_num_seqs_reaches_the_app_and_sets_the_capacity(modal):
    endpoint = start_modal(
        model="2-1b", gpu="H100", show_log=False, wait=False, max_num_seqs=256, max_containers=2
    )
    endpoint.stop()
    assert endpoint.server.env["MAX_NUM_SEQS"] == "256"  # the app's --max-num-seqs and Modal's cap
    assert endpoint.capacity == 2 * 256
