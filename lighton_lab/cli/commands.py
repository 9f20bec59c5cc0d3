"""What each ``lighton-lab`` command does, given its parsed arguments (``cli.py`` parses them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from lighton_lab.config import SWEEP_DPIS
from lighton_lab.engines.registry import DEFAULT_ENGINES
from lighton_lab.errors import LabError, UsageError
from lighton_lab.models.gpus import COST_NOTE, PUBLISHED_THROUGHPUT


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
    from lighton_lab.endpoints.connect import connect
    from lighton_lab.endpoints.local import start_local

    url = getattr(args, "url", None) or os.environ.get("LIGHTON_LAB_URL")
    if url:
        return connect(url, model=getattr(args, "served_model", None), gpu=getattr(args, "gpu", None))
    if getattr(args, "served_model", None):
        raise UsageError(
            f"--served-model {args.served_model} names a model at --url, and there is no --url: pass --url (or "
            "LIGHTON_LAB_URL), or use --model to pick among the local engines"
        )
    print("no --url: starting the local engine server (CPU)...", file=sys.stderr)
    return start_local(engines=engines)


def _served(endpoint, args) -> list[str]:
    """The grid's models when --model is not given: --served-model, else all the endpoint serves."""
    return [args.served_model] if getattr(args, "served_model", None) else list(endpoint.models)


def _reading(endpoint, result, mode: str | None, image) -> str:
    """The answer as its family reads it (front matter apart, tags removed, blocks joined)."""
    from lighton_lab.models.variants import read_answer

    return read_answer(endpoint.model, result.text, mode, image.width, image.height).text


def _local_models(args, models: list[str]) -> None:
    """Without --url the local engine server will serve these: say so now if it cannot."""
    if getattr(args, "url", None) or os.environ.get("LIGHTON_LAB_URL"):
        return
    from lighton_lab.engines.registry import available_models

    served = available_models()
    unknown = [m for m in models if m not in served]
    if unknown:
        raise UsageError(
            f"--model {','.join(unknown)}: the local engine server serves {', '.join(served)}; "
            "for another model pass --url (a Modal app: lighton-lab serve --model NAME)"
        )


def _one_file(path: Path) -> Path:
    if path.is_dir():
        raise UsageError(f"{path.resolve()} is a folder: ocr reads one file (use `lighton-lab sweep {path}`)")
    return path


def _failures(frame, allow: bool) -> None:
    """Say what failed (the first distinct messages) and exit 1 unless failures are allowed."""
    failed = int(frame["error"].notna().sum()) if "error" in frame else 0
    if not failed:
        return
    errors = frame.attrs.get("errors") or list(dict.fromkeys(frame["error"].dropna()))[:3]
    print(f"{failed} of {len(frame)} results failed; first errors:", file=sys.stderr)
    for error in errors[:3]:
        print(f"  {error}", file=sys.stderr)
    if not allow:
        print("exit status 1: requests failed (--allow-failures to exit 0)", file=sys.stderr)
        raise SystemExit(1)


def cmd_demo(args) -> None:
    from lighton_lab.corpus.corpus import Corpus
    from lighton_lab.endpoints.local import start_local
    from lighton_lab.frames.stats import compact, summary
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep
    from lighton_lab.views.report import write_report

    sample = Path(args.corpus)
    if not sample.exists():
        from lighton_lab.corpus.synth import generate

        sample = generate(Path(args.out) / "sample")
    started = time.perf_counter()
    print("1/4 starting the local engine server (RapidOCR, and Tesseract where installed)...")
    with start_local(engines=DEFAULT_ENGINES) as endpoint:
        folders = [sample] + ([Path(args.real)] if Path(args.real).is_dir() else [])
        pages = Corpus.load(folders)
        print(
            f"2/4 corpus {' + '.join(map(str, folders))}: {pages.describe()}; engines: {', '.join(endpoint.models)}"
        )
        grid = Grid(dpi=list(SWEEP_DPIS), max_side=[1024, None], model=endpoint.models)
        store = Store(Path(args.out) / "lab.sqlite")
        print(
            f"3/4 sweeping {len(pages)} pages x {len(grid)} configurations (DPI x cap x engine; store: {store.path})"
        )
        frame = run_sweep(pages, grid, endpoint, store=store, name="demo")
    print(compact(summary(frame)).to_string(index=False))
    from lighton_lab.views.findings import findings

    print("\n".join(f"- {sentence}" for sentence in findings(frame)))
    print(frame.attrs["report"])
    report = write_report(
        frame,
        Path(args.out) / "report.html",
        title="lighton-lab demo: local engines on synthetic and real pages",
        corpus=pages,
        sections={"Real scans (data/real)": "real"},
    )
    print(
        f"4/4 report: {report}  ({time.perf_counter() - started:.0f} s; "
        f"{frame.attrs['requests']} requests, {frame.attrs['reused']} reused from the store)"
    )


def cmd_local_server(args) -> None:
    from lighton_lab.engines.server import run

    run(args)


def cmd_serve(args, deploy: bool = False) -> None:
    from lighton_lab.endpoints.modal_serve import start_modal

    endpoint = start_modal(
        model=args.model,
        gpu=args.gpu,
        gpu_count=args.gpu_count,
        fast_boot=args.fast_boot,
        deploy=deploy,
        require_proxy_auth=args.require_proxy_auth,
        wait=not args.no_wait,
        min_containers=args.min_containers,
        max_containers=args.max_containers,
        max_num_seqs=args.max_num_seqs,
        require_api_key=not args.no_api_key,
    )
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

    from lighton_lab.endpoints.connect import connect
    from lighton_lab.endpoints.endpoint import auth_headers

    url = args.url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise LabError("health needs --url (or LIGHTON_LAB_URL)")
    started = time.perf_counter()
    try:
        response = httpx.get(
            url.rstrip("/").removesuffix("/v1") + "/health", headers=auth_headers(), timeout=args.timeout
        )
    except httpx.HTTPError as exc:
        raise LabError(
            f"{url}: no answer ({exc}). A cold Modal app can take a few minutes: retry, "
            "or check `modal app list`."
        ) from None
    print(f"/health: HTTP {response.status_code} in {time.perf_counter() - started:.2f} s")
    if response.status_code != 200:
        raise SystemExit(1)
    print("models:", ", ".join(connect(url).models))


def cmd_models(args) -> None:
    from lighton_lab.models.catalogue import catalogue
    from lighton_lab.models.gpus import GPUS

    if args.url:
        from lighton_lab.endpoints.connect import connect

        print("\n".join(connect(args.url).models))
        return
    print(catalogue())
    rates = [f.pages_per_s for f in PUBLISHED_THROUGHPUT]
    print(
        f"\n{'GPU':10} {'arch':>5} {'GB':>4} {'$/h':>6} {'seqs':>5}  $/1000 pages at "
        + " | ".join(f"{r:g}" for r in rates)
        + f" pages/s (published figures, LightOnOCR-1B; {COST_NOTE})"
    )
    for g in GPUS.values():
        costs = " | ".join(f"{g.usd_per_hour / 3600 / r * 1000:.3f}" for r in rates)
        card = f"{g.name:10} {g.cuda_arch:>5} {g.memory_gb:>4} {g.usd_per_hour:>6.2f} {g.max_num_seqs:>5}"
        print(f"{card}  {costs}  {g.note}")


def cmd_logs(args) -> None:
    from lighton_lab.endpoints.endpoint import modal_cli
    from lighton_lab.endpoints.modal_serve import live_app_id
    from lighton_lab.models.variants import resolve_model

    app_id = args.app_id or live_app_id(args.app_name or resolve_model(args.model).app_name)
    raise SystemExit(subprocess.call(modal_cli() + ["app", "logs", app_id]))


def cmd_ocr(args) -> None:
    from lighton_lab.client.ocr import OCRClient
    from lighton_lab.corpus.corpus import Corpus
    from lighton_lab.render import cap_for, render_page
    from lighton_lab.scoring.text import score

    corpus = Corpus.load(_one_file(args.file), strict=True)
    page = corpus[_pages(str(args.page), len(corpus))[0]]  # checked before any server starts
    endpoint = _endpoint(args)
    try:
        max_side = args.max_side or cap_for(endpoint.model)
        image = render_page(page, dpi=args.dpi, max_side=max_side)
        with OCRClient(endpoint) as client:
            result = client.ocr(
                image,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                stream=args.stream,
                mode=args.mode,
            )
        print(result.text)
        note = f"{page.id}: {image.width}x{image.height} px, {result.latency_s:.2f} s"
        note += f", {result.completion_tokens} tokens"
        if result.truncated:
            note += ", TRUNCATED at max_tokens (the model may be looping)"
        if page.ground_truth is not None:
            s = score(
                page.ground_truth,
                _reading(endpoint, result, args.mode, image),
                reference_format=page.ground_truth_format or "text",
                hypothesis_format=endpoint.output_format(),
            )
            note += f", CER {s.cer:.4f}, WER {s.wer:.4f}"
        print(note, file=sys.stderr)
    finally:
        endpoint.stop()


def cmd_sweep(args) -> None:
    from lighton_lab.corpus.corpus import Corpus
    from lighton_lab.frames.stats import compact, summary
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep
    from lighton_lab.views.report import write_report

    corpus = Corpus.load(args.corpus)
    for name, reason in corpus.skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    if not len(corpus):
        raise UsageError(corpus.why_empty())
    store = Store(args.store)

    def grid_of(models: list[str]) -> Grid:
        return Grid(dpi=args.dpi, temperature=args.temperature, model=models, max_side=args.max_side,
                    max_tokens=args.max_tokens, mode=args.mode)  # fmt: skip

    if args.model:  # names, modes and profiles are checked before any server starts
        grid_of(args.model.split(","))
        _local_models(args, args.model.split(","))
    endpoint = _endpoint(args)
    try:
        grid = grid_of(args.model.split(",") if args.model else _served(endpoint, args))
        if args.dry_run:
            from lighton_lab.sweep.plan import plan_sweep

            print("Estimate:", plan_sweep(corpus, grid, endpoint, store))
            return
        frame = run_sweep(corpus, grid, endpoint, store=store, concurrency=args.concurrency,
                          ladder=args.ladder or None, furniture=args.furniture)  # fmt: skip
    finally:
        endpoint.stop()
    print(compact(summary(frame)).to_string(index=False))
    print(frame.attrs["report"])
    if args.report:
        print("report:", write_report(frame, Path(args.report) / "report.html", corpus=corpus))
    if frame.attrs.get("status") == "stopped":
        print(
            "interrupted: every answer received is in the store; run the same command to finish",
            file=sys.stderr,
        )
        raise SystemExit(130)
    _failures(frame, args.allow_failures)


def cmd_bench(args) -> None:
    from lighton_lab.benchmarks.throughput import benchmark, client_capacity, store_bench
    from lighton_lab.corpus.corpus import Corpus

    corpus = Corpus.load(args.pdf or "data/sample", strict=bool(args.pdf))
    pages = [corpus[i] for i in _pages(args.pages, len(corpus))]
    if args.client_capacity:
        figures = client_capacity(pages * max(1, 64 // max(1, len(pages))), dpi=args.dpi)
        print(
            f"client capacity: {figures['pages_per_s']:.1f} pages/s at {args.dpi:g} DPI "
            f"({figures['pages']} pages in {figures['seconds']:.1f} s)"
        )
        return
    endpoint = _endpoint(args)
    if len(args.parallel) > 1:
        from lighton_lab.benchmarks.levels import benchmark_levels, levels_table

        try:
            options = dict(temperature=args.temperature, max_tokens=args.max_tokens, stream=not args.no_stream,
                           gpu=args.gpu)  # fmt: skip
            results = benchmark_levels(endpoint, pages, args.parallel, args.dpi, args.max_side, **options)
        finally:
            endpoint.stop()
        print(levels_table(results))
        return
    try:
        result = benchmark(
            endpoint,
            pages,
            parallel=args.parallel[0],
            dpi=args.dpi,
            max_side=args.max_side,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            stream=not args.no_stream,
            gpu=args.gpu,
            metrics=args.metrics,
        )
    finally:
        endpoint.stop()
    print(result.block())
    if args.store:
        from lighton_lab.store.store import Store

        store = Store(args.store)
        run_id = store_bench(result, store, str(args.pdf), vars(args) | {"func": None}, endpoint)
        print(f"stored as run {run_id} in {store.path}")


def cmd_olmocr_bench(args) -> None:
    """``score``: any system's outputs in olmOCR's layout; ``run``: sweep the bench first, through the store."""
    import json

    from lighton_lab.benchmarks import olmocr_bench

    if args.action == "score":
        results = {Path(args.outputs).name: olmocr_bench.score_outputs(args.bench, args.outputs)}
    else:
        from lighton_lab.store.store import Store
        from lighton_lab.sweep.grid import Grid

        endpoint = _endpoint(args)
        try:
            models = args.model.split(",") if args.model else [endpoint.model]
            grid = Grid(dpi=args.dpi, model=models, max_side=args.max_side)
            results = olmocr_bench.run_olmocr_bench(
                args.bench, endpoint, grid, Store(args.store), args.outputs
            )
        finally:
            endpoint.stop()
    for name, result in results.items():
        ci = f"[{result.ci[0] * 100:.1f}, {result.ci[1] * 100:.1f}]"
        line = f"{name}: overall {result.overall * 100:.1f}% (95% CI {ci})"
        if result.overall_without_headers_footers is not None:
            line += f", without headers/footers {result.overall_without_headers_footers * 100:.1f}%"
        print(line)
        for category, rate in sorted(result.categories.items()):
            print(f"    {category:24} {rate * 100:5.1f}%")
        for problem in result.missing + result.skipped:
            print(f"    note: {problem}", file=sys.stderr)
    if args.json:
        payload = (
            next(iter(results.values())).to_json()
            if len(results) == 1
            else {name: r.to_json() for name, r in results.items()}
        )
        Path(args.json).write_text(json.dumps(payload, indent=1), encoding="utf-8")
        print("wrote", args.json)
