"""A sweep that tells the truth, tried as a user would from the terminal: typos get one line before any server
starts, failures are counted and make the command fail, the same engine scores the same however it is
reached, Ctrl-C keeps every answer the server completed, and two sweeps on one store never pay twice
(counted where requests land: the server's /metrics)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, chat_posts

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.local import start_local
from lighton_lab.frames.rows import load_results
from lighton_lab.store.store import Store

CLI = [sys.executable, "-m", "lighton_lab.cli"]
MODEL = "rapidocr/ppocr-v6"


def cli(*args, timeout=300, **options):
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          **options)  # fmt: skip


TYPOS = [
    (["sweep", SAMPLE, "--dpi", "abc"], "--dpi: 'abc' is not a number"),
    (["sweep", SAMPLE, "--dpi", "0"], "--dpi: 0 is not a resolution"),
    (["sweep", SAMPLE, "--dpi", "100,-5"], "--dpi: -5 is not a resolution"),
    (["sweep", SAMPLE, "--max-side", "0"], "--max-side: 0 px is not a size"),
    (["sweep", SAMPLE, "--store", ROOT / "data"], "is a folder: give a file name"),
    (["sweep", SAMPLE, "--store", ROOT / "README.md"], "is not a result store"),
    (["sweep", SAMPLE, "--mode", "boxes"], "'boxes' is not a mode"),
    (["sweep", ROOT / "nowhere"], "nowhere does not exist"),
    (["sweep", SAMPLE, "--concurrency", "0"], "--concurrency: 0 must be 1 or more"),
    (["ocr", SAMPLE / "report.pdf", "--page", "-1"], "pages are numbered from 1"),
    (["ocr", SAMPLE / "report.pdf", "--page", "x"], "'x' is not a page number"),
    (["ocr", SAMPLE], "is a folder: ocr reads one file"),
    (["ocr", SAMPLE / "report.pdf", "--page", "9"], "outside 1-"),
    (["sweep", SAMPLE, "--served-model", "x"], "--served-model x names a model at --url"),
    (["bench", "--parallel", "32,abc"], "--parallel: 'abc' is not a whole number"),
]


@pytest.mark.slow
@pytest.mark.parametrize("args, message", TYPOS, ids=[" ".join(map(str, a[2:] or a[:2])) for a, _ in TYPOS])
def test_a_typo_is_one_line_and_exit_2_before_any_server_starts(args, message, tmp_path):
    done = cli(*args, env={**os.environ, "LIGHTON_LAB_STORE": str(tmp_path / "s.sqlite")})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "starting the local engine server" not in done.stderr
    assert not (tmp_path / "s.sqlite").exists() or args[0] == "sweep"


@pytest.mark.slow
def test_implausible_values_are_warned_about_and_kept(tmp_path):
    done = cli("sweep", SAMPLE, "--dpi", "5000", "--max-side", "32", "--dry-run", "--url", "http://127.0.0.1:9",
               "--store", tmp_path / "s.sqlite")  # fmt: skip
    assert "warning: 5000 DPI is above 1200" in done.stderr
    assert "warning: a longest side of 32 px" in done.stderr


def test_failed_requests_are_counted_shown_and_fail_the_command(local_server, tmp_path):
    store = tmp_path / "s.sqlite"
    done = cli("sweep", SAMPLE, "--url", local_server.base_url, "--model", MODEL, "--dpi", "72",
               "--temperature", "-1", "--store", store)  # fmt: skip
    assert done.returncode == 1
    assert "12 of 12 results failed" in done.stderr and "temperature" in done.stderr.lower()
    assert "12 failed" in done.stdout  # the sweep's one-line account
    assert "failures" in done.stdout  # the summary table's column
    allowed = cli("sweep", SAMPLE, "--url", local_server.base_url, "--model", MODEL, "--dpi", "72",
                  "--temperature", "-1", "--store", store, "--allow-failures")  # fmt: skip
    assert allowed.returncode == 0 and "results failed" in allowed.stderr


def test_a_url_endpoint_and_an_embedded_one_score_alike(local_server, tmp_path):
    """The format follows the served model (its /v1/models card), never the route to it."""
    via_url, embedded = tmp_path / "url.sqlite", tmp_path / "embedded.sqlite"
    first = cli(
        "sweep", SAMPLE, "--url", local_server.base_url, "--model", MODEL, "--dpi", "72", "--store", via_url
    )
    second = cli("sweep", SAMPLE, "--model", MODEL, "--dpi", "72", "--store", embedded)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    a, b = (
        load_results(Store(p)).set_index(["document", "page_number"]).sort_index()
        for p in (via_url, embedded)
    )
    assert list(a["text"]) == list(b["text"]) and list(a["output_format"]) == ["text"] * len(a)
    assert list(a["cer"]) == list(b["cer"])


def results_of(store_path) -> int:
    return sum(1 for r in Store(store_path).results() if r.text is not None)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def idle(endpoint) -> bool:
    return "lighton_lab_pages_in_flight 0.0" in endpoint.metrics()


def answered(endpoint) -> int:
    """Chat answers the server completed (200), from its /metrics."""
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in endpoint.metrics().splitlines()
               if line.startswith("lighton_lab_chat_requests_total{") and 'status="200"' in line)  # fmt: skip


@pytest.mark.slow
def test_ctrl_c_keeps_every_answer_the_server_completed(tmp_path):
    """A slow server (each answer takes about 2 s) and a sweep interrupted once: it stops sending, waits for the
    answers in flight and stores each; the server's completed answers are exactly the stored results."""
    with start_local(engines="rapidocr", workers=2, faults="latency_s=1.5,token_rate=200") as endpoint:
        store = tmp_path / "s.sqlite"
        sweep = subprocess.Popen(CLI + ["sweep", str(SAMPLE), "--url", endpoint.base_url, "--model", MODEL,
                                        "--dpi", "72", "--store", str(store), "--concurrency", "4"],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        wait_for(lambda: chat_posts(endpoint) >= 4)
        sweep.send_signal(signal.SIGINT)
        out, err = sweep.communicate(timeout=120)
        wait_for(lambda: idle(endpoint))
        assert "stopping: sending nothing new" in err and sweep.returncode == 130, err
        assert 0 < results_of(store) < 12
        assert results_of(store) == answered(endpoint)


SWEEP_SNIPPET = """
import sys
from lighton_lab import Corpus, Grid, Store, connect, run_sweep
frame = run_sweep(Corpus.load(sys.argv[1]), Grid(model=["{model}"], dpi=72), connect(sys.argv[2]),
                  Store(sys.argv[3]), progress=False, lease_s={lease_s})
print(frame.attrs["report"])
"""


def five_pages(tmp_path) -> Path:
    """Five pages of the sample (four documents with their ground truth): enough for two sweeps to meet."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("table.pdf", "table.gt.md", "scan_receipt.jpg", "scan_receipt.gt.txt", "minutes.tif",
                 "minutes.gt.txt", "scan_letter.png", "scan_letter.gt.txt"):  # fmt: skip
        shutil.copy(SAMPLE / name, folder / name)
    return folder


@pytest.mark.slow
def test_two_sweeps_on_one_store_send_each_request_once(tmp_path):
    """Two `lighton-lab sweep` processes, three configurations per page and two requests in flight each: most
    requests wait for a slot, and none is sent twice (a sweep claims a request only when it sends it)."""
    folder = five_pages(tmp_path)
    with start_local(engines="rapidocr", workers=2, faults="latency_s=0.5") as endpoint:
        store = tmp_path / "s.sqlite"
        Store(store)  # created before both start, as a shared store is
        args = CLI + ["sweep", str(folder), "--url", endpoint.base_url, "--model", MODEL, "--dpi", "72",
                      "--temperature", "0,0.1,0.2", "--concurrency", "2", "--store", str(store)]  # fmt: skip
        both = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]  # fmt: skip
        outputs = [p.communicate(timeout=300) for p in both]
        assert [p.returncode for p in both] == [0, 0], outputs
        results = 3 * len(Corpus.load(folder))
        assert chat_posts(endpoint) == results  # each distinct request sent once, by one of the two
        assert results_of(store) == results
        reports = [
            next(line for line in out.splitlines() if line.startswith("finished:")) for out, _ in outputs
        ]
        assert all(f"finished: {results} results" in r for r in reports), reports
        assert any(" 0 answered by another sweep" not in r for r in reports), reports


@pytest.mark.slow
def test_the_claims_of_a_killed_sweep_are_taken_over(tmp_path):
    folder = five_pages(tmp_path)
    with start_local(engines="rapidocr", workers=2, faults="latency_s=3") as endpoint:
        store = tmp_path / "s.sqlite"
        args = [sys.executable, "-c", SWEEP_SNIPPET.format(model=MODEL, lease_s=2), str(folder), endpoint.base_url,
                str(store)]  # fmt: skip
        doomed = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: store.exists() and Store(store).leases() > 0)
        doomed.kill()
        doomed.wait()
        assert Store(store).leases(live=False) > 0  # it held claims when it died
        code = textwrap.dedent(SWEEP_SNIPPET.format(model=MODEL, lease_s=2))
        done = subprocess.run([sys.executable, "-c", code, str(folder), endpoint.base_url, str(store)], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert results_of(store) == len(Corpus.load(folder))


@pytest.mark.slow
def test_an_empty_corpus_is_one_line_not_an_empty_table(tmp_path):
    (tmp_path / "notes.txt").write_text("not a document")
    done = cli("sweep", tmp_path, "--store", tmp_path / "s.sqlite")
    assert done.returncode == 2 and "Empty DataFrame" not in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path} has no readable pages")
    assert "starting the local engine server" not in done.stderr


def test_an_empty_path_names_no_folder():
    from lighton_lab.errors import CorpusError

    with pytest.raises(CorpusError, match="names no folder"):
        Corpus.load("")
