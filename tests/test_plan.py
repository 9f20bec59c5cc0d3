"""plan_sweep: the exact number of requests a sweep will send (counted at the server after it ran), and the
GPU time and dollars by the GPU table, from a stored benchmark or the published figure."""

import pytest
from conftest import chat_posts

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.models.gpus import GPUS
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.plan import plan_sweep
from lighton_lab.sweep.run import run_sweep


def test_the_plan_of_a_half_finished_sweep_is_what_it_sends(local_server, sample, tmp_path):
    corpus = Corpus.load(sample).filter(["report.pdf", "scan_letter.png", "minutes.tif"])
    grid = Grid(dpi=[100, 150, 200], max_side=[1024, None], model=[local_server.models[0]])
    store = Store(tmp_path / "plan.sqlite")
    run_sweep(corpus.pages[:3], grid, local_server, store=store, progress=False)  # half of the pages first
    plan = plan_sweep(corpus, grid, local_server, store)
    assert plan.rows == len(corpus) * len(grid.configs()) and plan.stored >= 3 * len(grid.configs())
    assert 0 < plan.requests < plan.rows - plan.stored  # capped renders share a request: fewer than rows left
    assert plan.usd is None and "to get with" in str(plan) and "$" not in str(plan)  # no GPU, no dollars
    before = chat_posts(local_server)
    frame = run_sweep(corpus, grid, local_server, store=store, progress=False)
    assert chat_posts(local_server) - before == plan.requests == frame.attrs["requests"]
    assert plan_sweep(corpus, grid, local_server, store).requests == 0


@pytest.mark.slow
def test_dollars_for_an_h100_follow_the_gpu_table(sample, tmp_path):
    corpus = Corpus.load(sample).filter("report.pdf")  # 3 pages
    h100 = Endpoint(
        "https://acme--lightonocr-1b-serve.modal.run",
        "lightonai/LightOnOCR-1B-1025",
        kind="modal",
        gpu="H100",
        models=("lightonai/LightOnOCR-1B-1025",),
    )
    store = Store(tmp_path / "h100.sqlite")
    plan = plan_sweep(corpus, Grid(dpi=[200], model=["1b"]), h100, store)  # nothing is sent to the endpoint
    (estimate,) = plan.endpoints
    assert plan.requests == estimate.requests == 3
    assert estimate.pages_per_s == 5.71 and estimate.throughput_source.startswith("published: LightOn")
    assert estimate.usd == pytest.approx(3 / 5.71 / 3600 * GPUS["H100"].usd_per_hour)
    assert "H100" in str(plan) and "published" in str(plan)
    run = store.start_run("bench", "bench", "x", {}, h100.info(), {})
    store.finish_run(run, "finished", {"pages_per_s": 12.0, "gpu": "H100"})
    (measured,) = plan_sweep(corpus, Grid(dpi=[200], model=["1b"]), h100, store).endpoints
    assert measured.pages_per_s == 12.0 and measured.throughput_source == f"bench run {run}"
    assert measured.usd == pytest.approx(3 / 12.0 / 3600 * GPUS["H100"].usd_per_hour)
    a100 = Endpoint(h100.base_url, h100.model, kind="modal", gpu="L4", models=h100.models)
    (unknown,) = plan_sweep(corpus, Grid(dpi=[200], model=["1b"]), a100, store).endpoints
    assert unknown.usd is None and unknown.pages_per_s is None  # no figure for L4: no dollars made up
