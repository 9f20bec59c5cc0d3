"""olmOCR-Bench: our pass rates equal olmOCR's own benchmark on its sample data, and the generated bench
folder runs end to end through the local engine, the store and olmOCR's test classes."""

import json
import shutil

import pytest
from conftest import ROOT

pytest.importorskip(
    "olmocr.bench.tests", reason="the olmocr extra is not installed: pip install 'lighton-lab[olmocr]'"
)
from lighton_lab.benchmarks import olmocr_bench
from lighton_lab.benchmarks.synth_bench import generate

SAMPLE = ROOT / "tests" / "fixtures" / "olmocr_sample"
HAS_CHROMIUM = any(shutil.which(n) for n in olmocr_bench.CHROMIUM_CANDIDATES)


@pytest.mark.skipif(
    not HAS_CHROMIUM, reason="olmOCR's math tests render KaTeX in Chromium: apt-get install chromium"
)
def test_pass_rates_equal_olmocr_benchmark_on_its_sample_data():
    expected = json.loads((SAMPLE / "expected_olmocr_0.4.27.json").read_text())
    result = olmocr_bench.score_outputs(SAMPLE, SAMPLE / "olmocr_pipeline")
    assert result.skipped == [] and result.missing == []
    assert {i: (t["passed"], t["score"]) for i, t in result.tests.items()} == {
        i: (t["passed"], t["score"]) for i, t in expected["tests"].items()
    }
    assert result.categories == pytest.approx(expected["categories"], abs=1e-12)
    assert result.overall == pytest.approx(expected["overall"], abs=1e-12)  # 93.6%, as olmOCR prints
    assert result.overall_without_headers_footers == pytest.approx(
        (expected["categories"]["dataset"] + expected["categories"]["baseline"]) / 2
    )
    assert result.ci[0] <= result.overall <= result.ci[1]


def test_a_missing_page_fails_its_tests_and_is_reported(tmp_path):
    outputs = tmp_path / "partial"
    shutil.copytree(SAMPLE / "olmocr_pipeline", outputs)
    (outputs / "earnings_pg1_repeat1.md").unlink()
    result = olmocr_bench.score_outputs(SAMPLE, outputs)
    assert "earnings.pdf page 1" in result.missing
    assert not any(t["passed"] for i, t in result.tests.items() if i.startswith("earnings"))


@pytest.mark.slow
def test_the_cli_writes_olmocr_style_json(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "scores.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lighton_lab.cli",
            "olmocr-bench",
            "score",
            str(SAMPLE),
            str(SAMPLE / "olmocr_pipeline"),
            "--json",
            str(out),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    data = json.loads(out.read_text())
    assert set(data) >= {"overall", "ci", "categories", "tests"}
    assert set(data["categories"]) == {"dataset", "headers_footers", "baseline"}
    assert set(next(iter(data["tests"].values()))) == {"passed", "score", "type"}


def test_the_generated_bench_runs_through_the_store_and_resumes(local_server, tmp_path):
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid

    bench = generate(tmp_path / "bench")
    assert (ROOT / "data" / "olmocr_bench" / "table_tests.jsonl").read_text() == (
        bench / "table_tests.jsonl"
    ).read_text()  # the committed folder is what the generator writes
    store = Store(tmp_path / "bench.sqlite")
    grid = Grid(dpi=[200], max_side=[1024, 1540], model=[local_server.models[0]])
    results = olmocr_bench.run_olmocr_bench(
        bench, local_server, grid, store, tmp_path / "outputs", progress=False
    )
    assert len(results) == 2  # one candidate folder per cap
    for result in results.values():
        assert set(result.categories) == {
            "long_tiny_text",
            "headers_footers",
            "multi_column",
            "table_tests",
            "arxiv_math",
            "baseline",
        }
        types = {"present", "absent", "order", "table", "baseline"}
        loaded = {t["type"] for t in result.tests.values()}
        if HAS_CHROMIUM or "math" in loaded:  # KaTeX rendered the math references in a browser, now or
            # earlier: olmOCR keeps each rendered equation in ~/.cache/olmocr and reads it from there
            assert loaded == types | {"math"} and result.skipped == []
        else:  # left out, and the result says which and why
            assert loaded == types
            assert [s for s in result.skipped if "formula_emc2" in s and "math" in s]
        assert result.tests["report_title"]["passed"]  # a CPU engine reads a clean title
        assert result.missing == []
    count = store.count()
    olmocr_bench.run_olmocr_bench(bench, local_server, grid, store, tmp_path / "outputs", progress=False)
    assert store.count() == count  # the second run asked nothing new


@pytest.mark.slow
def test_any_family_runs_the_bench_through_its_adapter(tmp_path):
    """olmOCR-2 served as an alias of the CPU engine answers with its YAML front matter first: the bench reads
    what the family's adapter keeps, so the pass rates equal the engine's own, test for test."""
    from lighton_lab.endpoints.local import start_local
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid

    bench = generate(tmp_path / "bench")
    alias = "allenai/olmOCR-2-7B-1025-FP8"
    with start_local(engines="rapidocr", workers=2, served_model_names={alias: "rapidocr"}) as endpoint:
        store = Store(tmp_path / "s.sqlite")
        common = dict(store=store, progress=False)
        as_olmocr = olmocr_bench.run_olmocr_bench(bench, {"olmocr-2": endpoint.with_model(alias)},
                                                  Grid(dpi=[150], model=["olmocr-2"]),  # its 1288 px
                                                  outputs_dir=tmp_path / "a", **common)  # fmt: skip
        engine = endpoint.with_model("rapidocr/ppocr-v6")
        as_engine = olmocr_bench.run_olmocr_bench(bench, {"engine": engine},
                                                  Grid(dpi=[150], max_side=[1288], model=["engine"]),
                                                  outputs_dir=tmp_path / "b", **common)  # fmt: skip
    (olmocr,), (plain,) = as_olmocr.values(), as_engine.values()
    written = next((tmp_path / "a").rglob("*.md")).read_text()
    assert not written.startswith("---")  # the front matter is not what the bench reads
    assert {k: t["passed"] for k, t in olmocr.tests.items()} == {
        k: t["passed"] for k, t in plain.tests.items()
    }
