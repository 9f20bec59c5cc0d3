"""Concurrency is measured, not assumed: the benchmark at several levels finds the knee where the server puts
it. The local server emulates a GPU's batch: each answer takes ``latency_s`` and at most ``max_num_seqs`` are
in progress at once (the rest queue), so throughput grows with concurrency up to that many, then stops."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLE

from lighton_lab.benchmarks.levels import benchmark_levels, knee, levels_table
from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.local import start_local

pytestmark = pytest.mark.slow


def test_the_knee_is_where_the_emulated_batch_fills():
    pages = Corpus.load(SAMPLE).filter(["scan_letter.png", "scan_receipt.jpg"]).pages
    with start_local(engines="instant", workers=1, faults="latency_s=1.0,max_num_seqs=8") as endpoint:
        results = benchmark_levels(endpoint, pages, [2, 4, 8, 16, 32], dpi=72)
    rates = [r.pages_per_s for r in results]
    assert rates[0] < rates[1] < rates[2], rates  # below the batch size, more in flight is faster
    assert max(rates[3:]) < 1.2 * rates[2], rates  # past it, requests only queue
    assert results[knee(results)].parallel == 8, rates
    assert results[-1].percentile(50) > 2 * results[2].percentile(50)  # ... and wait longer
    table = levels_table(results)
    assert table.splitlines()[3].endswith("<- knee") and "knee: 8 requests in flight" in table


def test_the_bench_command_prints_the_per_level_table():
    with start_local(engines="instant", workers=1, faults="latency_s=0.2,max_num_seqs=4") as endpoint:
        done = subprocess.run([sys.executable, "-m", "lighton_lab.cli", "bench", "--url", endpoint.base_url,
                               "--pdf", str(SAMPLE / "scan_letter.png"), "--parallel", "2,4,8", "--dpi", "72"],
                              capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["parallel", "pages", "pages/s"]
    assert [line.split()[0] for line in lines[1:4]] == ["2", "4", "8"]
    assert lines[4].startswith(("knee: ", "no knee up to 8"))
