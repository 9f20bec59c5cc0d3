"""Stores written by earlier versions keep working: the committed schema-1 file opens, exports the same rows,
is upgraded in place after a .bak copy, and its sweep reruns without a single request."""

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from dataclasses import asdict

import httpx
import pytest
from conftest import ROOT

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.errors import StoreError
from lighton_lab.store.schema import SCHEMA_VERSION, Result
from lighton_lab.store.store import Store, lease_owner
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

FIXTURE = ROOT / "tests" / "fixtures" / "store_v1"
V1_COLUMNS = [
    "key",
    "run_id",
    "document",
    "page",
    "image_hash",
    "dpi",
    "effective_dpi",
    "max_side",
    "width",
    "height",
    "variant",
    "model",
    "params",
    "reference",
    "text",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "ttft_s",
    "attempts",
    "error",
    "started",
    "finished",
    "endpoint",
]


@pytest.fixture
def old_store(tmp_path):
    path = tmp_path / "lab.sqlite"
    shutil.copy(FIXTURE / "lab.sqlite", path)
    return path


def raw_rows(path) -> list[dict]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM results ORDER BY key")]


def test_the_fixture_is_a_schema_1_store():
    with sqlite3.connect(FIXTURE / "lab.sqlite") as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] == "1"
        columns = [r[1] for r in db.execute("PRAGMA table_info(results)")]
    assert columns == V1_COLUMNS


def test_an_old_store_opens_exports_the_same_rows_and_gets_a_backup(old_store):
    before = raw_rows(old_store)
    store = Store(old_store)
    assert store.upgraded_from == 1 and store.schema_version == SCHEMA_VERSION
    backup = old_store.with_name("lab.sqlite.bak-v1")
    assert raw_rows(backup) == before  # the copy is the file as it was
    exported = sorted((asdict(r) for r in store.results()), key=lambda r: r["key"])
    assert len(exported) == len(before) == 2
    for old, new in zip(before, exported):
        assert {c: new[c] for c in V1_COLUMNS if c != "params"} == {
            c: old[c] for c in V1_COLUMNS if c != "params"
        }
        assert new["params"] == json.loads(old["params"])
        assert new["output_format"] == "text"  # back-filled: every local-engine answer is plain text
    assert Store(old_store).upgraded_from is None  # upgraded once


@pytest.mark.slow
def test_the_old_sweep_reruns_with_zero_requests(old_store):
    from lighton_lab.endpoints.local import start_local

    store = Store(old_store)
    grid = Grid(**store.run(1)["grid"])  # the run as it was recorded, explicit parameters and all
    corpus = Corpus.load(FIXTURE / "corpus")
    with start_local(engines="rapidocr", workers=1) as endpoint:
        frame = run_sweep(corpus, grid, endpoint, store=store, progress=False)
        metrics = httpx.get(endpoint.base_url + "/metrics").text
    assert frame.attrs["requests"] == 0 and frame.attrs["reused"] == 2
    assert 'path="/v1/chat/completions"' not in metrics
    assert len(frame) == 2 and frame["cer"].notna().all()


def test_a_store_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "future.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="schema 99"):
        Store(path)
    assert path.read_bytes() == before and not list(tmp_path.glob("*.bak-*"))


def test_a_failed_migration_leaves_the_file_as_it_was(old_store, monkeypatch):
    import lighton_lab.store.schema as store_module

    def broken(db):
        db.execute("ALTER TABLE results ADD COLUMN output_format TEXT")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(store_module.MIGRATIONS, 2, broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Store(old_store)
    assert [r[1] for r in sqlite3.connect(old_store).execute("PRAGMA table_info(results)")] == V1_COLUMNS


def test_the_schema_is_written_once():
    """The results table's columns are the Result fields, in order, in a new store."""
    path_columns = None
    import tempfile
    from dataclasses import fields

    with tempfile.TemporaryDirectory() as tmp:
        Store(f"{tmp}/s.sqlite").close()
        path_columns = [
            r[1] for r in sqlite3.connect(f"{tmp}/s.sqlite").execute("PRAGMA table_info(results)")
        ]
    assert path_columns == [f.name for f in fields(Result)]


def test_a_claim_holds_while_its_sweep_lives_and_lapses_when_it_dies(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process of this machine that no longer exists
    host = socket.gethostname()
    cases = [
        (f"{host}:{os.getppid()}:aaaa", True),  # alive on this machine
        (f"{host}:{gone.pid}:bbbb", False),  # killed: taken over at once
        (f"elsewhere.example:{gone.pid}:cccc", True),  # another machine: holds until it expires
    ]
    mine = lease_owner()
    for n, (owner, holds) in enumerate(cases):
        key = f"k{n}"
        assert store.claim(key, owner, ttl_s=60) is None
        assert store.live_owner(key) == (owner if holds else None)
        assert store.claim(key, mine, ttl_s=60) == (owner if holds else None)
    assert store.claim("k9", f"{host}:{os.getppid()}:dddd", ttl_s=-1) is None  # expired: anyone's
    assert store.claim("k9", mine, ttl_s=60) is None
