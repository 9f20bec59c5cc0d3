"""The ``lighton-lab`` command: everything the notebooks do, from a terminal.

    lighton-lab demo                                   # local engines over data/sample, summary + report
    lighton-lab local-server --port 8000 --engines rapidocr,tesseract
    lighton-lab serve --model 32k --gpu H100 [--fast-boot]   # modal serve serve/app.py, prints the URL
    lighton-lab deploy --model 1b --gpu A100-40GB
    lighton-lab health --url URL        lighton-lab models [--url URL]        lighton-lab logs --model 1b
    lighton-lab ocr FILE [--page N] [--url URL]       # one page, text to stdout (CER if ground truth)
    lighton-lab sweep CORPUS --dpi 100,150,200 --temperature 0.2 [--url URL | --local] [--report DIR]
    lighton-lab bench --url URL --pdf FILE --pages 1-109 --parallel 64 [--metrics] [--gpu H100]

Endpoints: ``--url`` (or LIGHTON_LAB_URL) for a running server; otherwise the local engine server is
started for the command. Proxy auth comes from MODAL_KEY / MODAL_SECRET, never from flags.
"""

from __future__ import annotations

import argparse
import sys

from lighton_lab.cli import types
from lighton_lab.cli.commands import (
    cmd_bench,
    cmd_demo,
    cmd_health,
    cmd_local_server,
    cmd_logs,
    cmd_models,
    cmd_ocr,
    cmd_olmocr_bench,
    cmd_serve,
    cmd_sweep,
)
from lighton_lab.config import SWEEP_DPIS
from lighton_lab.errors import LabError
from lighton_lab.models.gpus import DEFAULT_GPU
from lighton_lab.models.variants import DEFAULT_MODEL

STORE_HELP = "the result store (default: $LIGHTON_LAB_STORE, else runs/lab.sqlite)"


def _profile_arguments(parser: argparse.ArgumentParser) -> None:
    """The request's profile for one page (``ocr``, ``bench``); left out, each is the model's own."""
    parser.add_argument(
        "--max-side",
        type=types.cap,
        help="cap in px (default: the model's profile, e.g. 1540; lighton-lab models)",
    )
    parser.add_argument(
        "--max-tokens",
        type=types.positive_int,
        help="output cap (default: the model's profile; lighton-lab models)",
    )
    parser.add_argument(
        "--temperature",
        type=types.temperature,
        help="default: the model's profile (LightOnOCR-1/2: 0.2; LightOnOCR-3: 0.1)",
    )


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="endpoint (default: LIGHTON_LAB_URL, else the local engine server)")
    parser.add_argument(
        "--pdf", type=types.existing, help="a PDF or image file, or a corpus folder (default: data/sample)"
    )
    parser.add_argument("--pages", help="1-based pages of --pdf, e.g. 1-109 or 1,3,5 (default: all)")
    parser.add_argument(
        "--parallel",
        type=types.listed(types.positive_int),
        default=[64],
        help="requests in flight; several (32,64,128,256) run the benchmark at each and mark the knee",
    )
    parser.add_argument("--dpi", type=types.dpi, default=200)
    _profile_arguments(parser)
    parser.add_argument("--no-stream", action="store_true", help="no streaming (then no time to first token)")
    parser.add_argument("--gpu", help="GPU for the cost line (default: the endpoint's, e.g. H100)")
    parser.add_argument("--metrics", action="store_true", help="scrape /metrics before, during and after")
    parser.add_argument("--served-model", help="model name at the endpoint (default: its first)")
    parser.add_argument("--store", type=types.store, help="append the results to this store as a run")
    parser.add_argument("--client-capacity", action="store_true", help="measure the client side alone")


def build_parser() -> argparse.ArgumentParser:
    parser = types.Parser(prog="lighton-lab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="local engines over data/sample: summary table and HTML report")
    demo.add_argument("--corpus", default="data/sample")
    demo.add_argument("--real", default="data/real", help="real scans to sweep too (skipped if absent)")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=cmd_demo)

    from lighton_lab.engines.server import add_arguments

    local = sub.add_parser("local-server", help="the OpenAI-compatible CPU OCR server")
    add_arguments(local)
    local.set_defaults(func=cmd_local_server)

    for name, deploy in (("serve", False), ("deploy", True)):
        p = sub.add_parser(
            name, help=f"modal {name} serve/app.py for one registered model (LightOnOCR or a peer)"
        )
        p.add_argument(
            "--model",
            default=DEFAULT_MODEL,
            help="1b, 2-1b, 3-4b, olmocr-2, ... (lighton-lab models) or a Hugging Face id",
        )
        p.add_argument("--gpu", default=DEFAULT_GPU)
        p.add_argument(
            "--gpu-count",
            type=types.positive_int,
            default=1,
            help="GPUs per container, as data-parallel replicas",
        )
        p.add_argument("--min-containers", type=types.count, default=0, help="containers kept warm")
        p.add_argument(
            "--max-containers", type=types.positive_int, help="fan out over up to N containers (N GPUs)"
        )
        p.add_argument(
            "--max-num-seqs",
            type=types.positive_int,
            help="vLLM's batch cap (default: the GPU table's starting point; measure with bench --parallel)",
        )
        p.add_argument(
            "--no-api-key",
            action="store_true",
            help="serve without an API key: anyone with the URL can use your GPUs (warned)",
        )
        p.add_argument(
            "--fast-boot", action="store_true", help="--enforce-eager: faster cold starts, lower throughput"
        )
        p.add_argument(
            "--require-proxy-auth", action="store_true", help="callers need MODAL_KEY/MODAL_SECRET"
        )
        p.add_argument("--no-wait", action="store_true", help="return once the URL is known, before /health")
        p.set_defaults(func=lambda a, d=deploy: cmd_serve(a, deploy=d))

    health = sub.add_parser("health", help="GET /health and /v1/models of an endpoint")
    health.add_argument("--url")
    health.add_argument("--timeout", type=float, default=30)
    health.set_defaults(func=cmd_health)

    models = sub.add_parser("models", help="the variant and GPU tables (or --url: what a server serves)")
    models.add_argument("--url")
    models.set_defaults(func=cmd_models)

    logs = sub.add_parser("logs", help="modal app logs for a variant's app (served or deployed)")
    logs.add_argument("--model", default=DEFAULT_MODEL)
    logs.add_argument("--app-name", help="the app's name, when not the variant's (APP_NAME)")
    logs.add_argument(
        "--app-id", help="ap-... (printed by `modal serve`); default: the newest live app of the name"
    )
    logs.set_defaults(func=cmd_logs)

    ocr = sub.add_parser("ocr", help="OCR one page and print the text")
    ocr.add_argument("file", type=types.existing, help="a PDF or image (for a folder, use sweep)")
    ocr.add_argument("--page", type=types.page, default=1)
    ocr.add_argument("--url")
    ocr.add_argument("--served-model", help="model name at --url (default: its first)")
    ocr.add_argument("--dpi", type=types.dpi, default=200)
    _profile_arguments(ocr)
    ocr.add_argument(
        "--mode", choices=("plain", "grounding"), help="plain, or grounding (LightOnOCR-3): boxes and labels"
    )
    ocr.add_argument("--stream", action="store_true")
    ocr.set_defaults(func=cmd_ocr)

    sweep = sub.add_parser("sweep", help="DPI x temperature x model over a corpus, stored and summarised")
    sweep.add_argument("corpus", type=types.existing, help="a folder of PDFs/images (or one file)")
    sweep.add_argument("--url")
    sweep.add_argument("--served-model", help="model name at --url (default: all it serves, or --model)")
    sweep.add_argument("--model", help="comma-separated model names (default: all the endpoint serves)")
    sweep.add_argument(
        "--dpi", type=types.listed(types.dpi), default=list(SWEEP_DPIS), help="e.g. 100,150,200"
    )
    sweep.add_argument(
        "--temperature", type=types.listed(types.temperature), help="comma-separated (default: each model's)"
    )
    sweep.add_argument(
        "--max-side", type=types.listed(types.cap), help="comma-separated caps in px (default: each model's)"
    )
    sweep.add_argument(
        "--max-tokens",
        type=types.positive_int,
        help="output cap (default: the model's profile; lighton-lab models)",
    )
    sweep.add_argument(
        "--mode", type=types.listed(types.mode), help="plain,grounding (default: each model's)"
    )
    sweep.add_argument(
        "--ladder",
        action="store_true",
        help="ask looped or cut pages again warmer (olmOCR's temperature ladder)",
    )
    sweep.add_argument(
        "--furniture",
        choices=("keep", "drop"),
        default="keep",
        help="grounded answers: keep or drop page headers, footers and numbers before scoring",
    )
    sweep.add_argument("--concurrency", type=types.positive_int)
    sweep.add_argument("--store", type=types.store, help=STORE_HELP)
    sweep.add_argument("--report", help="folder for report.html")
    sweep.add_argument(
        "--allow-failures",
        action="store_true",
        help="exit 0 even when requests failed (by default a sweep with failures exits 1)",
    )
    sweep.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the sweep would send and cost (requests stored / left, GPU time, dollars)",
    )
    sweep.set_defaults(func=cmd_sweep)

    olmocr = sub.add_parser(
        "olmocr-bench", help="olmOCR-Bench pass rates: score outputs, or run a sweep and score"
    )
    action = olmocr.add_subparsers(dest="action", required=True)
    score = action.add_parser("score", help="score a folder of <pdf>_pg<N>_repeat<R>.md outputs")
    score.add_argument("bench", help="the bench folder: *.jsonl and pdfs/ (bench_data as published)")
    score.add_argument("outputs", help="a candidate folder in olmOCR's layout")
    score.add_argument("--json", help="write the results here")
    run = action.add_parser("run", help="OCR the bench's pages through the store, then score")
    run.add_argument("bench")
    run.add_argument("--url", help="endpoint (default: LIGHTON_LAB_URL, else the local engine server)")
    run.add_argument("--served-model", help="model name at the endpoint (default: its first)")
    run.add_argument("--model", help="comma-separated grid models (default: the endpoint's)")
    run.add_argument("--dpi", type=types.listed(types.dpi), default=[200.0])
    run.add_argument("--max-side", type=types.listed(types.cap), help="comma-separated caps in px")
    run.add_argument("--store", type=types.store, help=STORE_HELP)
    run.add_argument("--outputs", help="where to write the candidate folders (default: BENCH/lighton-lab)")
    run.add_argument("--json", help="write the results here")
    olmocr.set_defaults(func=cmd_olmocr_bench)

    bench = sub.add_parser("bench", help="throughput: pages/s, latency percentiles, tokens/s, $/1000 pages")
    _bench_arguments(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: finished results are in the store", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
