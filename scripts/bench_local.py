"""``make bench`` (``python scripts/bench_local.py [--realdocs DIR]``): the workbench's own speed and the CPU
baseline's accuracy, as printed tables.

Everything runs here on the CPU against the local engine server; nothing is timed inside a test.

1. Rendering: ms per page at 200 DPI (PDF pages and raster scans), pixel hash and PNG encoding.
2. Scoring: ms to score a 5,000-character page pair; ms to score one page's layout (50 grounded blocks
   against 50 regions: IoU matrix, Hungarian matching, per-block CER, reading order, labels).
3. Baseline accuracy: micro CER (markdown profile) of each local engine per document type at 200 DPI:
   clean PDFs and scan-like rasters of data/sample, and real scans (``--realdocs``, default
   ../shared/realdocs beside the project, or data/real).
4. The benchmark block of ``lighton-lab bench`` on data/sample.
5. Sweep throughput against the local server at concurrency 1, 2, 4, 8.
6. Client capacity: pages/s the client side sustains against an instant server.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lighton_lab.benchmarks.throughput import benchmark, client_capacity
from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.local import start_local
from lighton_lab.engines.registry import DEFAULT_ENGINES
from lighton_lab.frames.stats import summary
from lighton_lab.models.gpus import published_throughput
from lighton_lab.render import image_hash, render_page, to_data_url
from lighton_lab.scoring.text import score
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REALDOCS = ROOT.parent / "shared" / "realdocs"


def _ms(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def rendering(pages) -> list[tuple]:
    rows = []
    for kind in ("pdf", "image"):
        chosen = [p for p in pages if p.kind == kind]
        render = statistics.median(_ms(lambda p=p: render_page(p, 200)) for p in chosen)
        images = [render_page(p, 200) for p in chosen]
        hashing = statistics.median(_ms(lambda i=i: image_hash(i)) for i in images)
        png = statistics.median(_ms(lambda i=i: to_data_url(i)) for i in images)
        jpeg = statistics.median(_ms(lambda i=i: to_data_url(i, "JPEG")) for i in images)
        rows.append((kind, len(chosen), render, hashing, png, jpeg))
    return rows


def scoring() -> tuple[float, float]:
    rng = random.Random(0)
    words = [
        ("".join(rng.choice("abcdefghijklmnopqrstuvwxyzéèàü") for _ in range(rng.randint(2, 9))))
        for _ in range(900)
    ]
    reference = " ".join(words)[:5000]
    noisy = list(reference)
    for i in rng.sample(range(len(noisy)), 150):  # 3% character errors
        noisy[i] = rng.choice("xyz ")
    hypothesis = "".join(noisy)
    return len(reference), _ms(lambda: score(reference, hypothesis), repeat=5)


def layout_scoring(blocks: int = 50) -> float:
    """ms to score a page of ``blocks`` paragraph blocks against as many regions, each box a little off."""
    from lighton_lab.corpus.groundtruth import Layout, Line, Region
    from lighton_lab.models.grounding import Block
    from lighton_lab.scoring.layout import score_layout

    rng = random.Random(0)
    regions, answer = [], []
    for i in range(blocks):
        x, y = rng.randint(0, 880), rng.randint(0, 950)
        text = " ".join(rng.choice(("the", "page", "reads", "column", "Fraktur", "1879")) for _ in range(12))
        regions.append(Region(f"r{i}", (Line(text),), (x, y, x + 110, y + 40), None, "paragraph"))
        answer.append(Block("text", (x + 3, y + 2, x + 112, y + 41), text.replace("page", "pago")))
    layout = Layout(tuple(regions), "page", 1000, 1000)
    return _ms(lambda: score_layout(layout, answer), repeat=20)


def accuracy(endpoint, groups: dict[str, list]) -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, pages in groups.items():
            if not pages:
                continue
            frame = run_sweep(
                pages,
                Grid(dpi=[200], model=endpoint.models),
                endpoint,
                store=Store(Path(tmp) / "a.sqlite"),
                progress=False,
            )
            for _, row in summary(frame).iterrows():
                latency = frame[frame["variant"] == row["variant"]]["latency_s"].mean()
                rows.append(
                    (
                        label,
                        row["variant"],
                        int(row["pages"]),
                        row["micro_cer"],
                        row["micro_wer"],
                        row["bow_f1"],
                        latency,
                    )
                )
    return rows


def sweep_throughput(pages, levels=(1, 2, 4, 8)) -> list[tuple]:
    rows = []
    with start_local(engines="rapidocr", cache_size=0) as endpoint, tempfile.TemporaryDirectory() as tmp:
        for level in levels:
            started = time.perf_counter()
            run_sweep(
                pages,
                Grid(dpi=[150], model=[endpoint.model]),
                endpoint,
                store=Store(Path(tmp) / f"c{level}.sqlite"),
                concurrency=level,
                progress=False,
            )
            seconds = time.perf_counter() - started
            rows.append((level, len(pages), seconds, len(pages) / seconds))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--realdocs",
        type=Path,
        help="a folder of real scans with .gt.txt (default: ../shared/realdocs if present, else data/real)",
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # a long run shows each table as it comes
    cores = os.cpu_count()
    sample = Corpus.load(SAMPLE)
    folder = args.realdocs or next((p for p in (REALDOCS, ROOT / "data" / "real") if p.is_dir()), None)
    real = Corpus.load(folder) if folder else None
    print(f"lighton-lab local benchmark on {cores} cores\n")

    print("1. Rendering at 200 DPI (cap 1540 px), median ms per page")
    print(f"{'source':8} {'pages':>5} {'render':>8} {'hash':>6} {'PNG':>6} {'JPEG':>6}")
    for kind, n, render, hashing, png, jpeg in rendering(sample.pages + (real.pages if real else [])):
        print(f"{kind:8} {n:>5} {render:>8.1f} {hashing:>6.1f} {png:>6.1f} {jpeg:>6.1f}")

    length, ms = scoring()
    print(f"\n2. Scoring a {length}-character page pair (3% errors): {ms:.1f} ms")
    print(
        f"   Scoring one page's layout, 50 blocks against 50 regions: {layout_scoring():.2f} ms (target: < 5 ms)"
    )

    groups = {
        "clean PDF": sample.filter(tags=["clean"]).pages,
        "scan-like raster": sample.filter(tags=["scan"]).pages,
    }
    if real:
        groups["real: French typewritten"] = [
            p for p in real if not p.document.startswith(("bebel", "clauren"))
        ]
        groups["real: German Antiqua"] = real.filter("bebel").pages
        groups["real: German Fraktur"] = real.filter("clauren").pages
    print(
        "\n3. Local engines at 200 DPI: micro CER / WER (markdown profile), bag-of-words F1 (blind to reading\n"
        "   order), seconds per page on one worker (the server runs one worker per core)"
    )
    with start_local(engines=DEFAULT_ENGINES, cache_size=0) as endpoint:
        print(
            f"{'documents':26} {'engine':24} {'pages':>5} {'CER':>7} {'WER':>7} {'BoW F1':>7} {'s/page':>7}"
        )
        for label, engine, n, cer, wer, f1, latency in accuracy(endpoint, groups):
            print(f"{label:26} {engine:24} {n:>5} {cer:>7.4f} {wer:>7.4f} {f1:>7.3f} {latency:>7.2f}")
        print("\n4. `lighton-lab bench` on data/sample (RapidOCR, 200 DPI, 4 parallel)")
        result = benchmark(
            endpoint.with_model(endpoint.models[0]), sample.pages, parallel=4, metrics=True, gpu=None
        )
        print(result.block())

    print("\n5. Sweep throughput against the local server (RapidOCR, data/sample at 150 DPI, no cache)")
    print(f"{'concurrency':>11} {'pages':>6} {'seconds':>8} {'pages/s':>8}")
    for level, n, seconds, rate in sweep_throughput(sample.pages):
        print(f"{level:>11} {n:>6} {seconds:>8.1f} {rate:>8.2f}")

    figures = client_capacity(sample.pages * 20, dpi=200)
    h100 = published_throughput("1b", "H100")
    print(
        f"\n6. Client capacity (render + encode + HTTP + parse, instant server on the same {cores} cores): "
        f"{figures['pages_per_s']:.1f} pages/s at 200 DPI PNG "
        f"({figures['pages']} pages in {figures['seconds']:.1f} s); "
        f"one H100 at {h100.pages_per_s} pages/s (published: {h100.source}), so this machine can feed "
        f"{figures['pages_per_s'] / h100.pages_per_s:.1f} H100s"
    )


if __name__ == "__main__":
    main()
