"""Concurrency, measured not assumed: the benchmark at several levels of requests in flight, and the knee.

``benchmark_levels(endpoint, pages, [32, 64, 128, 256])`` renders the pages once, then runs ``benchmark`` at
each level with at least ``ROUNDS`` requests per slot (pages are asked again when there are too few: vLLM
serves LightOnOCR without prefix or processor caches, so a repeated page costs what a new one does), and
``levels_table`` prints pages/s, p50/p95 latency and $/1,000 pages per level with the knee marked: the
first level whose next one adds less than ``KNEE_GAIN`` to its pages/s. Past the knee more requests in
flight only queue (latency grows, pages/s does not): that is the level to give ``max_num_seqs`` and the
sweep's ``concurrency``. When every step still pays, the knee is not reached: the table says to go higher.
"""

from __future__ import annotations

from lighton_lab.benchmarks.throughput import BenchResult, benchmark, render_all
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.models.gpus import COST_NOTE
from lighton_lab.render import cap_for

ROUNDS = 2  # requests per slot at each level, so a level is measured in steady state, not its ramp
KNEE_GAIN = 0.15  # the knee: the first level whose next one adds less than this share of pages/s


def benchmark_levels(endpoint: Endpoint, pages, levels: list[int], dpi: float = 200,
                     max_side: int | None = None, **options) -> list[BenchResult]:  # fmt: skip
    """``benchmark`` at each level (see the module docstring); ``options`` go to ``benchmark``."""
    images = render_all(list(pages), dpi, cap_for(endpoint.model) if max_side is None else max_side)
    # one untimed round first: connections, the server's first pages and its caches are not the first level's
    benchmark(endpoint, images=images[: min(levels)], parallel=min(levels), **options)
    results = []
    for level in sorted(set(levels)):
        count = max(len(images), ROUNDS * level)
        batch = [images[i % len(images)] for i in range(count)]
        results.append(benchmark(endpoint, images=batch, parallel=level, **options))
    return results


def knee(results: list[BenchResult]) -> int | None:
    """The index of the knee level (see the module docstring); None when it is not reached."""
    for i in range(len(results) - 1):
        here, there = results[i].pages_per_s, results[i + 1].pages_per_s
        if here and there < (1 + KNEE_GAIN) * here:
            return i
    return None


def levels_table(results: list[BenchResult]) -> str:
    """One line per level, the knee marked."""
    at = knee(results)
    lines = [
        f"{'parallel':>8} {'pages':>6} {'pages/s':>8} {'p50 s':>7} {'p95 s':>7} {'failed':>6} {'$/1000 pages':>13}"
    ]
    for i, r in enumerate(results):
        cost = r.cost_per_1000_pages
        p50, p95 = r.percentile(50), r.percentile(95)
        lines.append(
            f"{r.parallel:>8} {r.pages:>6} {r.pages_per_s:>8.2f} {_s(p50):>7} {_s(p95):>7} {r.failures:>6} "
            f"{'-' if cost is None else f'{cost:.3f}':>13}" + ("  <- knee" if i == at else "")
        )
    if at is not None:
        lines.append(
            f"knee: {results[at].parallel} requests in flight; more add less than {KNEE_GAIN:.0%} pages/s and "
            "only queue. Use it as max_num_seqs (start_modal) and as the sweep's concurrency."
        )
    elif results:
        lines.append(
            f"no knee up to {results[-1].parallel} requests in flight: every step still pays; try higher"
        )
    if any(r.cost_per_1000_pages for r in results):
        lines.append(f"dollars: {COST_NOTE}")
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
