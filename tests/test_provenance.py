"""Every run records what produced it (package versions, the endpoint, what the server says of itself, the
rendering), with no secret in it; runs of stores written before provenance existed say it is unknown."""

from __future__ import annotations

import json
import shutil

from conftest import ROOT, SAMPLE

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.store.provenance import KEYS, provenance, public_url, server_facts
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

SNAPSHOT = "/root/.cache/huggingface/hub/models--lightonai--LightOnOCR-2-1B/snapshots/" + "a" * 40


def test_a_local_sweep_records_its_provenance(local_server, tmp_path):
    store = Store(tmp_path / "s.sqlite")
    corpus = Corpus.load(SAMPLE).filter(["scan_letter.png"])
    frame = run_sweep(corpus, Grid(model=["rapidocr/ppocr-v6"], dpi=72), local_server, store, progress=False)
    facts = store.run(frame.attrs["run_id"])["provenance"]
    assert set(KEYS) <= set(facts)
    assert {"pypdfium2", "pillow", "jiwer", "openai", "markdown-it-py", "rapidocr"} <= set(facts["packages"])
    endpoint = facts["endpoint"]["rapidocr/ppocr-v6"]
    assert endpoint["kind"] == "local" and endpoint["base_url"] == local_server.base_url
    (server,) = facts["server"].values()
    assert server["version"]["server"] == "lighton-lab local engine server"
    assert server["version"]["engine_versions"]["rapidocr"]  # the engine's own version, not only ours
    assert {"rapidocr/ppocr-v6"} <= {m["id"] for m in server["models"]}
    assert all(m["max_model_len"] for m in server["models"])
    assert facts["render"]["image_format"] == "PNG" and facts["render"]["dpi"] == [72]
    assert facts["render"]["max_side_by_model"] == {
        "rapidocr/ppocr-v6": 1540
    }  # the cap used, not the grid's None
    assert facts["lighton_lab"]["version"]


def test_a_modal_endpoint_is_recorded_offline_without_its_secrets():
    url = "https://user:pw@someone--lightonocr-1b-serve.modal.run/?token=abc"
    headers = {"Authorization": "Bearer s3cret", "Modal-Key": "wk-1", "Modal-Secret": "ws-2"}
    endpoint = Endpoint(url, "lightonai/LightOnOCR-1B-1025", headers, "modal", "H100", capacity=64)
    unreachable = Endpoint(
        "http://127.0.0.1:9", endpoint.model, endpoint.headers, "modal", "H100", capacity=64
    )
    facts = provenance({"1b": unreachable})
    assert set(KEYS) <= set(facts)
    assert facts["endpoint"]["1b"]["gpu"] == "H100" and facts["endpoint"]["1b"]["kind"] == "modal"
    assert facts["server"]["http://127.0.0.1:9"] == {"version": None, "models": []}  # unknown, not guessed
    assert public_url(endpoint.base_url) == "https://someone--lightonocr-1b-serve.modal.run/"
    text = json.dumps(provenance({"1b": unreachable})) + public_url(endpoint.base_url)
    for secret in ("s3cret", "wk-1", "ws-2", "pw", "token=abc"):
        assert secret not in text


def test_the_weights_revision_is_read_from_the_snapshot_the_server_loaded(monkeypatch):
    import httpx

    cards = {"data": [{"id": "lightonai/LightOnOCR-2-1B", "root": SNAPSHOT, "max_model_len": 16384}]}

    def get(url, **kwargs):
        body = {"version": "0.30.0"} if url.endswith("/version") else cards
        return httpx.Response(200, json=body, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx, "get", get)
    facts = server_facts(Endpoint("http://x", "lightonai/LightOnOCR-2-1B"))
    assert facts["version"] == {"version": "0.30.0"}
    assert facts["models"][0]["revision"] == "a" * 40


def test_runs_of_an_old_store_say_their_provenance_is_unknown(tmp_path):
    shutil.copytree(ROOT / "tests" / "fixtures" / "store_v1", tmp_path / "v1")
    store = Store(tmp_path / "v1" / "lab.sqlite")
    runs = store.runs()
    assert len(runs)
    for run_id in runs["id"]:
        assert "written before" in store.run(int(run_id))["provenance"]["unknown"]
