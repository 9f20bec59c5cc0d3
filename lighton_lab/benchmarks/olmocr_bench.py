"""olmOCR-Bench in the workbench: its unit tests, scored by olmOCR's own test classes, on outputs the
sweeps produce (resumable, through the store) or that any other system wrote.

LightOn reports its models on olmOCR-Bench (LightOnOCR-1B 76.1, LightOnOCR-2-1B 83.2 excluding headers and
footers; LightOnOCR-3 84.5-86.1 with olmocr 0.4.27). The benchmark scores pages by pass/fail tests (text
present or absent with fuzzy matching and ``max_diffs``, reading order, table cell relations, math rendered
with KaTeX, a baseline sanity check), not by CER. To be comparable the tests must be olmOCR's own, so this
module uses the ``olmocr`` package's test classes (``pip install 'lighton-lab[olmocr]'``, no GPU
packages) and reproduces ``olmocr.bench.benchmark``'s rules around them:

- a folder as published: ``*.jsonl`` test files (one category each) and ``pdfs/``; a ``BaselineTest`` is
  added for every PDF without one (category ``baseline``), as ``benchmark.py`` does;
- outputs in olmOCR's layout: ``<pdf without .pdf>_pg<N>_repeat<R>.md``; a test's score is its pass rate
  over the page's repeats, and it passes above 0.5; a missing page fails;
- per-category pass rates, overall = their mean; ``overall_without_headers_footers`` leaves out the
  ``headers_footers`` category, as LightOn reports; 95% interval by olmOCR's procedure (tests resampled
  within each category, mean of category means, percentile), here with a fixed seed.

Math tests render each formula with KaTeX in a browser through Playwright. Playwright's own browser
cannot be downloaded on every machine, so when it is missing the launch uses the system's Chromium
(Debian: ``apt-get install chromium``; ``CHROMIUM`` names another). With no browser at all the math tests
cannot even be loaded: they are left out, and the result says so (``skipped``).
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lighton_lab.errors import LabError

HEADERS_FOOTERS = "headers_footers"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _olmocr():
    try:
        from olmocr.bench import tests
    except ImportError as exc:
        raise LabError(
            f"olmOCR-Bench scoring uses olmOCR's own test classes: pip install 'lighton-lab[olmocr]' ({exc})"
        ) from None
    _use_system_chromium()
    return tests


def _use_system_chromium() -> None:
    """Let Playwright launch the system's Chromium when its own download is missing (KaTeX math tests)."""
    from playwright.sync_api import BrowserType

    if getattr(BrowserType.launch, "_lighton_lab", False):
        return
    executable = os.environ.get("CHROMIUM") or next(
        filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None
    )
    original = BrowserType.launch

    def launch(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except Exception:
            if not executable or "executable_path" in kwargs:
                raise
            return original(self, *args, executable_path=executable, **kwargs)

    launch._lighton_lab = True
    BrowserType.launch = launch


@dataclass
class Bench:
    """The tests of a bench folder, by category (jsonl stem), with the PDFs they cover."""

    root: Path
    tests: list  # olmocr.bench.tests.BasePDFTest objects
    category: dict[str, str]  # test id -> category
    pdfs: list[str]  # relative to pdfs/, as the tests name them
    skipped: list[str] = field(default_factory=list)  # what could not be loaded, and why


def load(bench_dir: str | Path) -> Bench:
    """Read ``*.jsonl`` and ``pdfs/`` of an olmOCR-Bench folder (``bench_data`` as published)."""
    tests_module = _olmocr()
    root = Path(bench_dir)
    pdf_dir = root / "pdfs"
    if not pdf_dir.is_dir():
        raise LabError(
            f"{root}: no pdfs/ folder. Download the benchmark: hf download allenai/olmOCR-bench "
            "--repo-type dataset --local-dir olmOCR-bench, then use olmOCR-bench/bench_data"
        )
    pdfs = sorted(
        os.path.relpath(p, pdf_dir) for p in glob.glob(str(pdf_dir / "**" / "*.pdf"), recursive=True)
    )
    tests, category, skipped = [], {}, []
    for path in sorted(root.glob("*.jsonl")):
        for test in _load_tests(tests_module, path, skipped):
            tests.append(test)
            category[test.id] = path.stem
    if not tests:
        raise LabError(f"{root}: no tests in *.jsonl files")
    for pdf in pdfs:
        if not any(t.type == "baseline" for t in tests if t.pdf == pdf):
            tests.append(tests_module.BaselineTest(id=f"{pdf}_baseline", pdf=pdf, page=1, type="baseline"))
            category[tests[-1].id] = "baseline"
    return Bench(root, tests, category, pdfs, skipped)


def _load_tests(tests_module, path: Path, skipped: list[str]) -> list:
    """olmOCR's loader; if math references cannot be rendered (no browser), the others still load."""
    try:
        return tests_module.load_tests(str(path))
    except Exception as exc:  # olmocr raises on the first test it cannot build
        kept = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            data = json.loads(line)
            try:
                kept.append(_build(tests_module, data))
            except Exception as error:
                skipped.append(f"{path.name} line {number} ({data.get('id')}, {data.get('type')}): {error}")
        if not skipped:
            raise LabError(f"{path.name}: {exc}") from None
        return kept


def _build(tests_module, data: dict):
    kinds = {
        "present": "TextPresenceTest",
        "absent": "TextPresenceTest",
        "order": "TextOrderTest",
        "table": "TableTest",
        "math": "MathTest",
        "baseline": "BaselineTest",
        "format": "FormatTest",
        "footnote": "FootnoteTest",
    }
    return getattr(tests_module, kinds[data["type"]])(**data)


@dataclass(frozen=True)
class BenchScore:
    overall: float
    overall_without_headers_footers: float | None
    ci: tuple[float, float]
    categories: dict[str, float]
    tests: dict[str, dict]  # id -> {"passed", "score", "type", "category"}
    missing: list[str]  # pages without output
    skipped: list[str]

    def to_json(self) -> dict:
        return {
            "overall": self.overall,
            "ci": list(self.ci),
            "categories": self.categories,
            "overall_without_headers_footers": self.overall_without_headers_footers,
            "tests": {
                i: {"passed": t["passed"], "score": t["score"], "type": t["type"]}
                for i, t in self.tests.items()
            },
            "missing": self.missing,
            "skipped": self.skipped,
        }


def score_outputs(
    bench: Bench | str | Path, outputs_dir: str | Path, bootstrap_samples: int = 1000, seed: int = 0
) -> BenchScore:
    """Score a folder of ``<pdf>_pg<N>_repeat<R>.md`` outputs (any system's) with olmOCR's tests."""
    bench = bench if isinstance(bench, Bench) else load(bench)
    outputs = Path(outputs_dir)
    files = [os.path.relpath(f, outputs) for f in glob.glob(str(outputs / "**" / "*.md"), recursive=True)]
    results, missing = {}, []
    for test in bench.tests:
        base = os.path.splitext(test.pdf)[0]
        pattern = re.compile(rf"^{re.escape(base)}_pg{test.page}_repeat\d+\.md$")
        pages = [f for f in files if pattern.match(f)]
        if not pages:
            missing.append(f"{test.pdf} page {test.page}")
        passes = sum(bool(test.run((outputs / f).read_text(encoding="utf-8"))[0]) for f in pages)
        score = passes / len(pages) if pages else 0.0
        results[test.id] = {
            "passed": score > 0.5,
            "score": score,
            "type": test.type,
            "category": bench.category[test.id],
        }
    categories: dict[str, list[bool]] = {}
    for _, result in sorted(results.items()):  # olmOCR loads tests in threads: fix the order for the seed
        categories.setdefault(result["category"], []).append(result["passed"])
    rates = {c: sum(v) / len(v) for c, v in categories.items()}
    others = [r for c, r in rates.items() if c != HEADERS_FOOTERS]
    return BenchScore(
        sum(rates.values()) / len(rates),
        sum(others) / len(others) if HEADERS_FOOTERS in rates and others else None,
        _bootstrap(categories, bootstrap_samples, seed),
        rates,
        results,
        sorted(set(missing)),
        list(bench.skipped),
    )


def _bootstrap(categories: dict[str, list[bool]], samples: int, seed: int) -> tuple[float, float]:
    """olmOCR's interval: resample tests within each category, average the category means."""
    import numpy as np

    rng = np.random.default_rng(seed)
    groups = [np.asarray(v, dtype=float) for v in categories.values() if v]
    means = [np.mean([g[rng.integers(0, len(g), len(g))].mean() for g in groups]) for _ in range(samples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def write_outputs(frame, outputs_dir: str | Path, pdf_root: str | Path | None = None) -> dict[str, Path]:
    """A sweep's rows as olmOCR candidate folders, one per configuration:
    ``<dir>/<configuration>/<pdf>_pg<N>_repeat1.md``.

    Rows without text (failed requests) write nothing: the page then fails its tests, as a missing page does.
    """
    from lighton_lab.frames.rows import CONFIG_COLUMNS

    outputs = Path(outputs_dir)
    folders: dict[str, Path] = {}
    by = [c for c in CONFIG_COLUMNS if c in frame.columns and c != "model"]
    for key, group in frame.groupby(by, dropna=False, sort=True):
        label = "_".join(_slug(v) for v in (key if isinstance(key, tuple) else (key,)))
        folder = folders.setdefault(label, outputs / label)
        for row in group.itertuples():
            if isinstance(row.text, str):
                target = folder / f"{os.path.splitext(row.document)[0]}_pg{row.page_number}_repeat1.md"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(row.text, encoding="utf-8")
    return folders


def _slug(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "profile"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def run_olmocr_bench(
    bench_dir: str | Path,
    endpoints,
    grid=None,
    store=None,
    outputs_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, BenchScore]:
    """Sweep the bench's pages (through the store: resumable, never paying twice), write the outputs in
    olmOCR's layout and score each configuration. Returns ``{configuration: BenchScore}``."""
    from lighton_lab.corpus.corpus import Corpus
    from lighton_lab.sweep.grid import Grid, served_models
    from lighton_lab.sweep.run import run_sweep

    bench = load(bench_dir)
    corpus = Corpus.load(Path(bench_dir) / "pdfs")
    wanted = {(t.pdf, t.page) for t in bench.tests}
    pages = [p for p in corpus if (p.document, p.page_number) in wanted]
    grid = grid or Grid(model=served_models(endpoints)[:1])
    frame = run_sweep(
        pages, grid, endpoints, store=store, progress=progress, name=f"olmOCR-Bench {bench_dir}"
    )
    folders = write_outputs(frame, outputs_dir or Path(bench_dir) / "lighton-lab")
    return {label: score_outputs(bench, folder) for label, folder in folders.items()}


# LightOn's resolution ablation for LightOnOCR-1B (percent of tests passed); every family's headline figures
# live with the family (``models/families``), with who measured them.
ABLATION = (
    ("LightOnOCR-1B-1025", "1280 px", "75.0", "self-reported", "LightOn's resolution ablation"),
    ("LightOnOCR-1B-1025", "1024 px", "70.7", "self-reported", "LightOn's resolution ablation"),
)


def published_olmocr_bench():
    """The published figures of every registered family, labelled: on the real 1,400-page benchmark, by their
    authors (self-reported) or by others (Ai2), with each source: not this run, and not always comparable
    (settings, retries and headers/footers differ)."""
    import pandas as pd

    from lighton_lab.models.variants import FAMILIES, VARIANTS

    def size(variants) -> str:
        return "/".join(sorted({f"{v.longest_edge} px" if v.longest_edge else "native" for v in variants}))

    def row(name, page_size, entry):
        who = "self-reported" if entry.self_reported else "measured by others"
        return (name, page_size, entry.score, who, entry.source + (f" ({entry.note})" if entry.note else ""))

    rows = []
    for family in FAMILIES.values():
        variants = [v for v in VARIANTS.values() if v.family is family]
        rows += [row(family.name, size(variants), entry) for entry in family.published]
        for v in variants:  # a checkpoint with figures of its own
            rows += [row(v.hf_id, size([v]), entry) for entry in v.published if entry not in family.published]
    rows += list(ABLATION)
    return pd.DataFrame(rows, columns=["model", "page size", "olmOCR-Bench (%)", "measured", "source"])


def olmocr_bench_table(results: dict[str, BenchScore]):
    """One row per configuration: overall with its 95% interval, without headers/footers, each category."""
    import pandas as pd

    rows = [
        {
            "configuration": name,
            "overall %": round(r.overall * 100, 1),
            "95% CI": f"[{r.ci[0] * 100:.1f}, {r.ci[1] * 100:.1f}]",
            "without headers/footers %": None
            if r.overall_without_headers_footers is None
            else round(r.overall_without_headers_footers * 100, 1),
            **{f"{c} %": round(v * 100, 1) for c, v in sorted(r.categories.items())},
        }
        for name, r in results.items()
    ]
    return pd.DataFrame(rows)
