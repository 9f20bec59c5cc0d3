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

from .errors import LabError


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


def _endpoint(args, engines: str = "rapidocr,tesseract"):
    from .endpoints import connect, start_local

    url = getattr(args, "url", None) or os.environ.get("LIGHTON_LAB_URL")
    if url:
        return connect(url, model=getattr(args, "served_model", None), gpu=getattr(args, "gpu", None))
    print("no --url: starting the local engine server (CPU)...", file=sys.stderr)
    return start_local(engines=engines)


def cmd_demo(args) -> None:
    from .corpus import Corpus
    from .endpoints import start_local
    from .report import write_report
    from .store import Store
    from .sweep import Grid, run_sweep, summary

    sample = Path(args.corpus)
    if not sample.exists():
        from .synth import generate

        sample = generate(Path(args.out) / "sample")
    started = time.perf_counter()
    print("1/4 starting the local engine server (RapidOCR, and Tesseract where installed)...")
    with start_local(engines="rapidocr,tesseract") as endpoint:
        corpus = Corpus.load(sample)
        print(f"2/4 corpus {sample}: {corpus.describe()}; engines: {', '.join(endpoint.models)}")
        grid = Grid(dpi=[100, 150, 200], model=endpoint.models)
        store = Store(Path(args.out) / "lab.sqlite")
        print(f"3/4 sweeping {len(corpus)} pages x {len(grid)} configurations (store: {store.path})")
        frame = run_sweep(corpus, grid, endpoint, store=store, name="demo")
    table = summary(frame)
    print(table.drop(columns=["model"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    report = write_report(frame, Path(args.out) / "report.html", title="lighton-lab demo: local engines on data/sample")
    print(f"4/4 report: {report}  ({time.perf_counter() - started:.0f} s; "
          f"{frame.attrs['requests']} requests, {frame.attrs['reused']} reused from the store)")


def cmd_local_server(args) -> None:
    from .engines.server import run

    run(args)


def cmd_serve(args, deploy: bool = False) -> None:
    from .endpoints import start_modal

    endpoint = start_modal(model=args.model, gpu=args.gpu, gpu_count=args.gpu_count, fast_boot=args.fast_boot,
                           deploy=deploy, require_proxy_auth=args.require_proxy_auth, wait=not args.no_wait)
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
    print(f"\n{'GPU':10} {'arch':>5} {'GB':>4} {'$/h':>6} {'seqs':>5}  $/1000 pages at 5.71 | 1.23 pages/s")
    for g in GPUS.values():
        print(f"{g.name:10} {g.cuda_arch:>5} {g.memory_gb:>4} {g.usd_per_hour:>6.2f} {g.max_num_seqs:>5}  "
              f"{g.usd_per_hour / 3600 / 5.71 * 1000:>6.3f} | {g.usd_per_hour / 3600 / 1.23 * 1000:.3f}  {g.note}")


def cmd_logs(args) -> None:
    from .endpoints import _modal_cli
    from .models import resolve_model

    raise SystemExit(subprocess.call(_modal_cli() + ["app", "logs", resolve_model(args.model).app_name]))


def cmd_ocr(args) -> None:
    from .client import OCRClient
    from .corpus import Corpus
    from .metrics import score
    from .render import render_page

    corpus = Corpus.load(args.file, strict=True)
    endpoint = _endpoint(args)
    try:
        page = corpus[_pages(str(args.page), len(corpus))[0]]
        image = render_page(page, dpi=args.dpi, max_side=args.max_side)
        result = OCRClient(endpoint).ocr(image, temperature=args.temperature, max_tokens=args.max_tokens,
                                         stream=args.stream)
        print(result.text)
        note = f"{page.id}: {image.width}x{image.height} px, {result.latency_s:.2f} s, {result.completion_tokens} tokens"
        if result.truncated:
            note += ", TRUNCATED at max_tokens (the model may be looping)"
        if page.ground_truth is not None:
            s = score(page.ground_truth, result.text)
            note += f", CER {s.cer:.4f}, WER {s.wer:.4f}"
        print(note, file=sys.stderr)
    finally:
        endpoint.stop()


def cmd_sweep(args) -> None:
    from .corpus import Corpus
    from .report import write_report
    from .store import Store
    from .sweep import Grid, run_sweep, summary

    corpus = Corpus.load(args.corpus)
    for name, reason in corpus.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    endpoint = _endpoint(args)
    try:
        models = args.model.split(",") if args.model else endpoint.models
        grid = Grid(dpi=_floats(args.dpi), temperature=_floats(args.temperature), model=models,
                    max_side=[int(x) for x in args.max_side.split(",")], max_tokens=args.max_tokens)
        frame = run_sweep(corpus, grid, endpoint, store=Store(args.store), concurrency=args.concurrency)
    finally:
        endpoint.stop()
    print(summary(frame).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.report:
        print("report:", write_report(frame, Path(args.report) / "report.html"))


def cmd_bench(args) -> None:
    from .bench import run_cli

    run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lighton-lab", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="local engines over data/sample: summary table and HTML report")
    demo.add_argument("--corpus", default="data/sample")
    demo.add_argument("--out", default="runs/demo")
    demo.set_defaults(func=cmd_demo)

    from .engines.server import add_arguments

    local = sub.add_parser("local-server", help="the OpenAI-compatible CPU OCR server")
    add_arguments(local)
    local.set_defaults(func=cmd_local_server)

    for name, deploy in (("serve", False), ("deploy", True)):
        p = sub.add_parser(name, help=f"modal {name} serve/app.py for one LightOnOCR variant")
        p.add_argument("--model", default="1b", help="1b, 32k, 16k, 2-1b, 3-1b, ... or a Hugging Face id")
        p.add_argument("--gpu", default="A100-40GB")
        p.add_argument("--gpu-count", type=int, default=1)
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

    logs = sub.add_parser("logs", help="modal app logs for a variant's app")
    logs.add_argument("--model", default="1b")
    logs.set_defaults(func=cmd_logs)

    ocr = sub.add_parser("ocr", help="OCR one page and print the text")
    ocr.add_argument("file")
    ocr.add_argument("--page", type=int, default=1)
    ocr.add_argument("--url")
    ocr.add_argument("--served-model", help="model name at the endpoint (default: its first)")
    ocr.add_argument("--dpi", type=float, default=200)
    ocr.add_argument("--max-side", type=int, default=1540)
    ocr.add_argument("--temperature", type=float, default=0.2)
    ocr.add_argument("--max-tokens", type=int, default=4096)
    ocr.add_argument("--stream", action="store_true")
    ocr.set_defaults(func=cmd_ocr)

    sweep = sub.add_parser("sweep", help="DPI x temperature x model over a corpus, stored and summarised")
    sweep.add_argument("corpus")
    sweep.add_argument("--url")
    sweep.add_argument("--model", help="comma-separated model names (default: all the endpoint serves)")
    sweep.add_argument("--dpi", default="100,150,200")
    sweep.add_argument("--temperature", default="0.2")
    sweep.add_argument("--max-side", default="1540")
    sweep.add_argument("--max-tokens", type=int, default=4096)
    sweep.add_argument("--concurrency", type=int)
    sweep.add_argument("--store", default="runs/lab.sqlite")
    sweep.add_argument("--report", help="folder for report.html")
    sweep.set_defaults(func=cmd_sweep)

    bench = sub.add_parser("bench", help="throughput: pages/s, latency percentiles, tokens/s, $/1000 pages")
    from .bench import add_arguments as bench_arguments

    bench_arguments(bench)
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
