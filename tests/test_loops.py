"""Loops cost what they generate: a streamed sweep cuts a looping answer as soon as it is seen (the server stops
generating when its client leaves, as vLLM aborts a request whose client disconnects), and the temperature
ladder asks a looped page again. Measured where the tokens are counted: the server's own /metrics."""

from __future__ import annotations

import re

import pytest
from conftest import SAMPLE

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.local import start_local
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

pytestmark = pytest.mark.slow
MODEL = "rapidocr/ppocr-v6"


def generated_tokens(endpoint) -> float:
    """``vllm:generation_tokens_total`` as the server counts it: only the tokens it produced."""
    match = re.search(r"^vllm:generation_tokens_total(?:\{[^}]*\})? ([0-9.e+]+)$", endpoint.metrics(), re.M)
    return float(match.group(1))


def test_a_looping_server_is_cut_mid_stream(tmp_path):
    """Every answer loops, decoding at 400 tokens/s: left alone each would fill the 16,384-token context."""
    with start_local(engines="rapidocr", workers=2, faults="loop_rate=1.0,token_rate=400") as endpoint:
        corpus = Corpus.load(SAMPLE)
        frame = run_sweep(
            corpus, Grid(model=[MODEL], dpi=72), endpoint, Store(tmp_path / "s.sqlite"), progress=False
        )
        assert frame["looped"].all() and (frame["finish_reason"] == "loop").all()
        assert frame["error"].isna().all()
        per_page = generated_tokens(endpoint) / len(frame)
    assert per_page < 1500, per_page


def test_the_ladder_ends_with_fewer_looped_pages(tmp_path):
    """Half the answers loop at random: asked again warmer (olmOCR's ladder), most pages get a clean answer,
    each attempt stored with its temperature and the row saying which attempt it shows."""
    corpus = Corpus.load(SAMPLE)
    grid = Grid(model=[MODEL], dpi=72)
    with start_local(engines="rapidocr", workers=2, faults="loop_rate=0.5,seed=7") as endpoint:
        plain = run_sweep(corpus, grid, endpoint, Store(tmp_path / "a.sqlite"), progress=False)
        store = Store(tmp_path / "b.sqlite")
        laddered = run_sweep(corpus, grid, endpoint, store, progress=False, ladder=True)
    assert plain["looped"].sum() >= 3  # the fault bit: the comparison means something
    assert laddered["looped"].sum() < plain["looped"].sum()
    assert laddered.attrs["report"].count("retried on the temperature ladder") == 1
    retried = laddered[laddered["ladder_step"] > 0]
    assert len(retried) >= 1
    assert store.count() == len(corpus) + int(laddered["ladder_step"].sum())  # every attempt is kept
    temperatures = {r.ladder_step: r.params.get("temperature") for r in store.results() if r.ladder_step}
    assert temperatures.get(1) == 0.1 and all(t is not None for t in temperatures.values())
