"""Sweeps against the real local server with a real SQLite store: row counts, zero-request reruns counted
at the server's /metrics, resume after SIGKILL, faults that change nothing, and re-scoring."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import HAS_TESSERACT, ROOT, alive, chat_posts, child_pids

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.local import start_local
from lighton_lab.errors import LabError
from lighton_lab.frames.rows import load_results, rescore
from lighton_lab.frames.stats import best, summary
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

needs_tesseract = pytest.mark.skipif(not HAS_TESSERACT, reason="this test sweeps or serves tesseract")


@needs_tesseract
def test_full_grid_rows_and_a_rerun_that_sends_nothing(local_server, sample, tmp_path):
    corpus = Corpus.load(sample)
    grid = Grid(dpi=[100, 200], temperature=[0.0, 0.2], model=local_server.models[:2])
    store = Store(tmp_path / "lab.sqlite")
    first = run_sweep(corpus, grid, local_server, store=store, progress=False)
    assert len(first) == len(corpus) * 8
    assert first["error"].isna().all()
    assert first["cer"].notna().all()
    assert set(first["dpi"]) == {100, 200}
    letter = first[(first["document"] == "report.pdf") & (first["dpi"] == 200)]
    assert (letter[["width", "height"]].max(axis=1) == 1540).all()  # the cap, recorded per row
    assert (letter["effective_dpi"] < 200).all()
    before = chat_posts(local_server)
    second = run_sweep(corpus, grid, local_server, store=store, progress=False)
    assert chat_posts(local_server) == before  # zero HTTP requests, counted at the server
    assert second.attrs["requests"] == 0
    columns = [c for c in first.columns if c not in ("run_id",)]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    table = summary(first)
    assert len(table) == 8 and (table["pages"] == len(corpus)).all()
    assert best(first)["micro_cer"] == table["micro_cer"].min()
    assert store.integrity_check() == "ok"


def test_rescoring_needs_no_requests(local_server, sample, tmp_path):
    corpus = Corpus.load(sample).filter("table.pdf")
    frame = run_sweep(
        corpus,
        Grid(dpi=[150], model=[local_server.model]),
        local_server,
        store=Store(tmp_path / "s.sqlite"),
        progress=False,
    )
    before = chat_posts(local_server)
    exact = rescore(frame, "exact")
    assert chat_posts(local_server) == before
    assert exact["cer"].iloc[0] > frame["cer"].iloc[0]  # markdown pipes count as errors in 'exact'
    frame.to_parquet(tmp_path / "sweep.parquet")  # a sweep's frame writes as it is
    stored = load_results(Store(tmp_path / "s.sqlite"))  # the one way from a store to a frame
    stored.to_parquet(tmp_path / "s.parquet")
    parquet = pd.read_parquet(tmp_path / "s.parquet")
    assert list(parquet["text"]) == list(frame["text"]) and parquet["cer"].notna().all()
    assert list(pd.read_parquet(tmp_path / "sweep.parquet")["cer"]) == list(frame["cer"])


def test_unknown_grid_model_says_what_is_served(local_server, sample):
    with pytest.raises(LabError, match="rapidocr/ppocr-v6"):
        run_sweep(
            Corpus.load(sample), Grid(model=["lightonai/LightOnOCR-1B-1025"]), local_server, progress=False
        )


KILL_SCRIPT = """
import sys
from lighton_lab import Corpus, Grid, Store, connect, run_sweep

if __name__ == "__main__":
    endpoint = connect(sys.argv[1])
    grid = Grid(dpi=[100, 150], temperature=[0.0, 0.1, 0.2], model=[sys.argv[4]])
    run_sweep(Corpus.load(sys.argv[2]), grid, endpoint, store=Store(sys.argv[3]), concurrency=2, progress=False)
"""


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_sigkill_midway_then_resume(local_server, sample, tmp_path):
    db = tmp_path / "killed.sqlite"
    script = tmp_path / "sweep.py"
    script.write_text(KILL_SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), local_server.base_url, str(sample), str(db), local_server.models[-1]],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert child.poll() is None, "the sweep process died on its own"
        if db.exists():
            with sqlite3.connect(db) as conn:
                try:
                    if conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] >= 5:
                        break
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.2)
    workers = child_pids(child.pid)
    assert workers, "the sweep renders in worker processes"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [(pid, Path(f"/proc/{pid}/cmdline").read_bytes()[:200]) for pid in workers if alive(pid)]
    assert not survivors, f"render workers outlived their killed sweep: {survivors}"
    killed_count = Store(db).count()
    assert 5 <= killed_count < 12 * 6
    corpus = Corpus.load(sample)
    frame = run_sweep(
        corpus,
        Grid(dpi=[100, 150], temperature=[0.0, 0.1, 0.2], model=[local_server.models[-1]]),
        local_server,
        store=Store(db),
        concurrency=2,
        progress=False,
    )
    assert len(frame) == len(corpus) * 6 and frame["error"].isna().all()
    assert frame.attrs["reused"] >= killed_count
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        keys = conn.execute("SELECT key, COUNT(*) FROM results GROUP BY key HAVING COUNT(*) > 1").fetchall()
        assert keys == []


@needs_tesseract
def test_faults_change_nothing_in_the_scores(local_server, sample, tmp_path):
    corpus = Corpus.load(sample).filter(tags=["scan"])
    grid = Grid(dpi=[120], model=[local_server.models[-1]])
    clean = run_sweep(corpus, grid, local_server, store=Store(tmp_path / "clean.sqlite"), progress=False)
    from lighton_lab.client.ocr import RetryPolicy

    with start_local(
        engines="tesseract", workers=2, faults={"error_rate": 0.2, "drop_rate": 0.2, "seed": 3}
    ) as faulty:
        noisy = run_sweep(
            corpus,
            grid,
            faulty,
            store=Store(tmp_path / "noisy.sqlite"),
            progress=False,
            retry=RetryPolicy(backoff_s=0.05, max_backoff_s=0.5),
        )
        text = httpx.get(faulty.base_url + "/metrics").text
    assert 'status="503"' in text  # faults did happen
    assert noisy["error"].isna().all() and noisy["cer"].notna().all()
    assert noisy["attempts"].max() > 1
    assert list(noisy["cer"]) == list(clean["cer"])


def test_bad_page_is_an_error_row_and_the_rest_complete(local_server, tmp_path):
    from conftest import make_pdf

    make_pdf(tmp_path / "good.pdf", ["A good page of text"])
    (tmp_path / "good.gt.txt").write_text("A good page of text")
    make_pdf(tmp_path / "bad.pdf", ["Will be damaged after loading"])
    corpus = Corpus.load(tmp_path)
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 damaged after the corpus was loaded")
    frame = run_sweep(
        corpus,
        Grid(dpi=[100], model=[local_server.model]),
        local_server,
        store=Store(tmp_path / "s.sqlite"),
        progress=False,
    )
    assert len(frame) == 2
    bad = frame[frame["document"] == "bad.pdf"].iloc[0]
    assert "bad.pdf#1" in bad["error"] and "re-export" in bad["error"]
    good = frame[frame["document"] == "good.pdf"].iloc[0]
    assert pd.isna(good["error"]) and good["cer"] < 0.1


def test_jpeg_sweeps_resume_and_show_their_rows(local_server, sample, tmp_path):
    corpus = Corpus.load(sample).filter("table.pdf")
    grid = Grid(dpi=[100], model=[local_server.model], image_format="jpeg")
    store = Store(tmp_path / "j.sqlite")
    first = run_sweep(corpus, grid, local_server, store=store, progress=False)
    second = run_sweep(corpus, grid, local_server, store=store, progress=False)
    assert len(first) == len(second) == 1 and second.attrs["requests"] == 0
    assert json.loads(first["params"].iloc[0])["image_format"] == "JPEG"


ANSWER = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "fresh answer"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}).encode()  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("finish, tokens, asked", [("stop", 300, 0), ("length", 300, 1), ("stop", 20000, 1)])
def test_answers_stored_before_the_output_cap_still_count_when_the_cap_would_not_have_cut_them(
    sample, tmp_path, finish, tokens, asked
):
    """LightOnOCR's profile gained a cap (12,288): an answer stored without it that stopped by itself within the
    cap is what the capped request would get, so it is reused; one that ran longer or was cut is asked again."""
    from dataclasses import replace

    from conftest import canned_server

    from lighton_lab.endpoints.endpoint import Endpoint
    from lighton_lab.sweep.keys import uncapped_key

    corpus = Corpus.load(sample).filter(["scan_letter.png"])
    grid = Grid(model=["2-1b"], dpi=72, stream=False)
    with canned_server(ANSWER) as url:
        endpoint = Endpoint(
            url, "lightonai/LightOnOCR-2-1B", kind="remote", models=("lightonai/LightOnOCR-2-1B",)
        )
        first = Store(tmp_path / "first.sqlite")
        run_sweep(corpus, grid, endpoint, first, progress=False)
        (capped,) = first.results()
        assert capped.params["max_tokens"] == 12288
        old = Store(tmp_path / "old.sqlite")  # a store written before the cap: the same request without it
        (config,) = grid.configs()
        key, _ = uncapped_key(capped.image_hash, capped.model, config, 0, ())
        params = {k: v for k, v in capped.params.items() if k != "max_tokens"}
        old.put(replace(capped, key=key, params=params, text="stored long ago", finish_reason=finish,
                        completion_tokens=tokens))  # fmt: skip
        canned_server.requests.clear()
        frame = run_sweep(corpus, grid, endpoint, old, progress=False)
        assert len(canned_server.requests) == asked
    assert frame["text"].iloc[0] == ("stored long ago" if not asked else "fresh answer")
