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
import os
import subprocess
import sys
import time
from pathlib import Path

from .engines.registry import DEFAULT_ENGINES
from .errors import LabError
from .models import DEFAULT_GPU, DEFAULT_MODEL, PUBLISHED_THROUGHPUT


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _pages(spec: str | None, count: int) -> list[int]:
    """``"1-3,7"`` -> [0, 1, 2, 6] (0-based), checked against the document's page count."""
    if not spec:
        return list(range(count))
    chosen: list[int] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        start, end = int(first), int(last or first)
        if start < 1 or end > count or start > end:
            raise LabError(f"pages {part!r} are outside 1-{count}: the document has {count} page(s)")
        chosen.extend(range(start - 1, end))
    return chosen


def _endpoint(args, engines: str = DEFAULT_ENGINES):
    from .endpoints import connect, start_local

    url = getattr(args, "url", None) or os.environ.get("LIGHTON_LAB_URL")
    if url:
        return connect(url, model=getattr(args, "served_model", None), gpu=getattr(args, "gpu", None))
    print("no --url: starting the local engine server (CPU)...", file=sys.stderr)
    return start_local(engines=engines)


def cmd_demo(args) -> None:
    from .corpus import Corpus
    from .endpoints import start_local
    from .frames import compact, summary
    from .grid import Grid
    from .report import write_report
    from .store import Store
    from .sweep import run_sweep

    sample = Path(args.corpus)
    if not sample.exists():
        from .synth import generate

        sample = generate(Path(args.out) / "sample")
    started = time.perf_counter()
    print("1/4 starting the local engine server (RapidOCR, and Tesseract where installed)...")
    with start_local(engines=DEFAULT_ENGINES) as endpoint:
        corpora = [Corpus.load(sample)] + ([Corpus.load(args.real)] if Path(args.real).is_dir() else [])
        pages = [p for c in corpora for p in c]
        print(f"2/4 corpus: {'; '.join(f'{c.root}: {c.describe()}' for c in corpora)}; "
              f"engines: {', '.join(endpoint.models)}")
        grid = Grid(dpi=[100, 150, 200], max_side=[1024, None], model=endpoint.models)
        store = Store(Path(args.out) / "lab.sqlite")
        print(f"3/4 sweeping {len(pages)} pages x {len(grid)} configurations (DPI x cap x engine; store: {store.path})")
        frame = run_sweep(pages, grid, endpoint, store=store, name="demo")
    print(compact(summary(frame)).to_string(index=False))
    report = write_report(frame, Path(args.out) / "report.html", title="lighton-lab demo: local engines on "
                          "synthetic and real pages", corpus=pages,
                          sections={"Real scans (data/real)": "real"})
    print(f"4/4 report: {report}  ({time.perf_counter() - started:.0f} s; "
          f"{frame.attrs['requests']} requests, {frame.attrs['reused']} reused from the store)")


def cmd_local_server(args) -> None:
    from .engines.server import run

    run(args)


def cmd_serve(args, deploy: bool = False) -> None:
    from .endpoints import start_modal

    endpoint = start_modal(model=args.model, gpu=args.gpu, gpu_count=args.gpu_count, fast_boot=args.fast_boot,
                           deploy=deploy, require_proxy_auth=args.require_proxy_auth, wait=not args.no_wait,
                           min_containers=args.min_containers, max_containers=args.max_containers)
    print(f"ready: {endpoint.openai_base_url}  (model {endpoint.model})")
    if deploy:
        return
    print("Ctrl-C stops the app.")
    try:
        endpoint.process.wait()
    except KeyboardInterrupt:
        endpoint.stop()


def cmd_health(args) -> None:
    import httpx

    from .endpoints import auth_headers, connect

    url = args.url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise LabError("health needs --url (or LIGHTON_LAB_URL)")
    started = time.perf_counter()
    try:
        response = httpx.get(url.rstrip("/").removesuffix("/v1") + "/health", headers=auth_headers(), timeout=args.timeout)
    except httpx.HTTPError as exc:
        raise LabError(f"{url}: no answer ({exc}). A cold Modal app can take a few minutes: retry, "
                       "or check `modal app list`.") from None
    print(f"/health: HTTP {response.status_code} in {time.perf_counter() - started:.2f} s")
    if response.status_code != 200:
        raise SystemExit(1)
    print("models:", ", ".join(connect(url).models))


def cmd_models(args) -> None:
    from .models import GPUS, VARIANTS

    if args.url:
        from .endpoints import connect

        print("\n".join(connect(args.url).models))
        return
    print(f"{'name':8} {'Hugging Face id':38} {'vocab':>8} {'px':>5}  note")
    for v in VARIANTS.values():
        print(f"{v.short_name:8} {v.hf_id:38} {v.vocab_size or '-':>8} {v.longest_edge:>5}  {v.note}")
    rates = [f.pages_per_s for f in PUBLISHED_THROUGHPUT]
    print(f"\n{'GPU':10} {'arch':>5} {'GB':>4} {'$/h':>6} {'seqs':>5}  $/1000 pages at "
          + " | ".join(f"{r:g}" for r in rates) + " pages/s (published figures, LightOnOCR-1B)")
    for g in GPUS.values():
        costs = " | ".join(f"{g.usd_per_hour / 3600 / r * 1000:.3f}" for r in rates)
        print(f"{g.name:10} {g.cuda_arch:>5} {g.memory_gb:>4} {g.usd_per_hour:>6.2f} {g.max_num_seqs:>5}  {costs}  {g.note}")


def cmd_logs(args) -> None:
    from .modal_launch import live_app_id
    from .models import resolve_model
    from .servers import modal_cli

    app_id = args.app_id or live_app_id(args.app_name or resolve_model(args.model).app_name)
    raise SystemExit(subprocess.call(modal_cli() + ["app", "logs", app_id]))


def cmd_ocr(args) -> None:
    from .client import OCRClient
    from .corpus import Corpus
    from .metrics import score
    from .models import output_format, profile_for
    from .render import MAX_SIDE, render_page

    corpus = Corpus.load(args.file, strict=True)
    endpoint = _endpoint(args)
    try:
        page = corpus[_pages(str(args.page), len(corpus))[0]]
        profile = profile_for(endpoint.model)
        max_side = args.max_side or (profile.longest_edge if profile else MAX_SIDE)
        image = render_page(page, dpi=args.dpi, max_side=max_side)
        with OCRClient(endpoint) as client:
            result = client.ocr(image, temperature=args.temperature, max_tokens=args.max_tokens, stream=args.stream)
        print(result.text)
        note = f"{page.id}: {image.width}x{image.height} px, {result.latency_s:.2f} s, {result.completion_tokens} tokens"
        if result.truncated:
            note += ", TRUNCATED at max_tokens (the model may be looping)"
        if page.ground_truth is not None:
            s = score(page.ground_truth, result.text, reference_format=page.ground_truth_format or "text",
                      hypothesis_format=output_format(endpoint.model, endpoint.kind))
            note += f", CER {s.cer:.4f}, WER {s.wer:.4f}"
        print(note, file=sys.stderr)
    finally:
        endpoint.stop()


def cmd_sweep(args) -> None:
    from .corpus import Corpus
    from .frames import summary
    from .grid import Grid
    from .report import write_report
    from .store import Store
    from .sweep import run_sweep

    corpus = Corpus.load(args.corpus)
    for name, reason in corpus.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    endpoint = _endpoint(args)
    try:
        models = args.model.split(",") if args.model else endpoint.models
        grid = Grid(dpi=_floats(args.dpi), temperature=_floats(args.temperature) if args.temperature else None,
                    model=models, max_side=[int(x) for x in args.max_side.split(",")] if args.max_side else None,
                    max_tokens=args.max_tokens)
        frame = run_sweep(corpus, grid, endpoint, store=Store(args.store), concurrency=args.concurrency)
    finally:
        endpoint.stop()
    print(summary(frame).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.report:
        print("report:", write_report(frame, Path(args.report) / "report.html"))


def cmd_bench(args) -> None:
    from .bench import benchmark, client_capacity, store_bench
    from .corpus import Corpus

    corpus = Corpus.load(args.pdf or "data/sample", strict=bool(args.pdf))
    pages = [corpus[i] for i in _pages(args.pages, len(corpus))]
    if args.client_capacity:
        figures = client_capacity(pages * max(1, 64 // max(1, len(pages))), dpi=args.dpi)
        print(f"client capacity: {figures['pages_per_s']:.1f} pages/s at {args.dpi:g} DPI "
              f"({figures['pages']} pages in {figures['seconds']:.1f} s)")
        return
    endpoint = _endpoint(args)
    try:
        result = benchmark(endpoint, pages, parallel=args.parallel, dpi=args.dpi, max_side=args.max_side,
                           temperature=args.temperature, max_tokens=args.max_tokens, stream=not args.no_stream,
                           gpu=args.gpu, metrics=args.metrics)
    finally:
        endpoint.stop()
    print(result.block())
    if args.store:
        from .store import Store

        store = Store(args.store)
        run_id = store_bench(result, store, str(args.pdf), vars(args) | {"func": None}, endpoint)
        print(f"stored as run {run_id} in {store.path}")


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="endpoint (default: LIGHTON_LAB_URL, else the local engine server)")
    parser.add_argument("--pdf", help="a PDF or image file, or a corpus folder (default: data/sample)")
    parser.add_argument("--pages", help="1-based pages of --pdf, e.g. 1-109 or 1,3,5 (default: all)")
    parser.add_argument("--parallel", type=int, default=64)
    parser.add_argument("--dpi", type=float, default=200)
    parser.add_argument("--max-side", type=int, help="cap in px (default: the model's, 1540 or 2048)")
    parser.add_argument("--max-tokens", type=int, help="default: none sent, the server's limit (as LightOn's client)")
    parser.add_argument("--temperature", type=float, help="default: the model's (0.2; 0.1 for LightOnOCR-3)")
    parser.add_argument("--no-stream", action="store_true", help="no streaming (then no time to first token)")
    parser.add_argument("--gpu", help="GPU for the cost line (default: the endpoint's, e.g. H100)")
    parser.add_argument("--metrics", action="store_true", help="scrape /metrics before, during and after")
    parser.add_argument("--served-model", help="model name at the endpoint (default: its first)")
    parser.add_argument("--store", help="append the results to this store as a run")
    parser.add_argument("--client-capacity", action="store_true", help="measure the client side alone")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lighton-lab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="local engines over data/sample: summary table and HTML report")
    demo.add_argument("--corpus", default="data/sample")
    demo.add_argument("--real", default="data/real", help="real scans to sweep too (skipped if absent)")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=cmd_demo)

    from .engines.server import add_arguments

    local = sub.add_parser("local-server", help="the OpenAI-compatible CPU OCR server")
    add_arguments(local)
    local.set_defaults(func=cmd_local_server)

    for name, deploy in (("serve", False), ("deploy", True)):
        p = sub.add_parser(name, help=f"modal {name} serve/app.py for one LightOnOCR variant")
        p.add_argument("--model", default=DEFAULT_MODEL, help="1b, 32k, 16k, 2-1b, 3-1b, ... or a Hugging Face id")
        p.add_argument("--gpu", default=DEFAULT_GPU)
        p.add_argument("--gpu-count", type=int, default=1, help="GPUs per container, as data-parallel replicas")
        p.add_argument("--min-containers", type=int, default=0, help="containers kept warm")
        p.add_argument("--max-containers", type=int, help="fan out over up to N containers (N GPUs)")
        p.add_argument("--fast-boot", action="store_true", help="--enforce-eager: faster cold starts, lower throughput")
        p.add_argument("--require-proxy-auth", action="store_true", help="callers need MODAL_KEY/MODAL_SECRET")
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
    logs.add_argument("--app-id", help="ap-... (printed by `modal serve`); default: the newest live app of the name")
    logs.set_defaults(func=cmd_logs)

    ocr = sub.add_parser("ocr", help="OCR one page and print the text")
    ocr.add_argument("file")
    ocr.add_argument("--page", type=int, default=1)
    ocr.add_argument("--url")
    ocr.add_argument("--served-model", help="model name at the endpoint (default: its first)")
    ocr.add_argument("--dpi", type=float, default=200)
    ocr.add_argument("--max-side", type=int, help="cap in px (default: the model's, 1540 or 2048)")
    ocr.add_argument("--temperature", type=float, help="default: the model's (0.2; 0.1 for LightOnOCR-3)")
    ocr.add_argument("--max-tokens", type=int, help="default: none sent, the server's limit (as LightOn's client)")
    ocr.add_argument("--stream", action="store_true")
    ocr.set_defaults(func=cmd_ocr)

    sweep = sub.add_parser("sweep", help="DPI x temperature x model over a corpus, stored and summarised")
    sweep.add_argument("corpus")
    sweep.add_argument("--url")
    sweep.add_argument("--model", help="comma-separated model names (default: all the endpoint serves)")
    sweep.add_argument("--dpi", default="100,150,200")
    sweep.add_argument("--temperature", help="comma-separated (default: each model's profile)")
    sweep.add_argument("--max-side", help="comma-separated caps in px (default: each model's, 1540 or 2048)")
    sweep.add_argument("--max-tokens", type=int, help="default: none sent, the server's limit (as LightOn's client)")
    sweep.add_argument("--concurrency", type=int)
    sweep.add_argument("--store", default="runs/lab.sqlite")
    sweep.add_argument("--report", help="folder for report.html")
    sweep.set_defaults(func=cmd_sweep)

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
