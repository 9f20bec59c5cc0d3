"""Sweeps: every page of a corpus under every configuration of a grid, stored as it completes.

``run_sweep(corpus, Grid(dpi=[100, 150, 200], temperature=[0.0, 0.2], model=["1b", "32k"]), endpoints)``
returns a DataFrame with one row per (page, configuration). How it spends the endpoint's time:

- each page is rendered once per (DPI, cap), in worker processes (pdfium is not thread-safe), and the
  image is reused for every temperature and model;
- a request whose result is already in the store is not sent (keys are content hashes, see ``store``);
  a resumed sweep does not even re-render pages whose results are all stored;
- requests run concurrently up to ``concurrency`` (default 64 for GPU endpoints, which batch them, and
  the CPU count for the local server), while rendering runs ahead in the pool;
- a request that fails after the client's retries is stored as that page's error; the sweep goes on;
- ``stop`` (a ``threading.Event``, the widget's Stop button) launches nothing new and lets the requests
  in flight finish and be stored: paid-for GPU work is never thrown away.

Rows record what was actually sent: requested DPI, effective DPI and pixel size (the 1540 px cap wins
above ~140 DPI on Letter/A4 pages, so a DPI sweep is really a DPI x cap sweep).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from .client import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, DEFAULT_TOP_P, AsyncOCRClient, RetryPolicy
from .corpus import Corpus, Page
from .endpoints import Endpoint
from .errors import LabError, OCRRequestError, RenderError
from .metrics import score
from .procs import exit_with_parent
from .render import MAX_SIDE, image_hash, render_page, to_data_url
from .store import Store, Result, result_key

RENDER_VERSION = "1"  # bump when rendering changes: cached render hashes are then ignored
GPU_CONCURRENCY = 64  # vLLM batches: keep the GPU busy (the user guide measured at 64 parallel)
_NOT_A_PARAM = {"stream", "image_format"}


@dataclass(frozen=True)
class Config:
    """One point of the grid: how a page is rendered and what is asked of which model."""

    dpi: float
    max_side: int | None
    variant: str  # the name used in the grid: "1b", "rapidocr/ppocr-v6", ...
    params: tuple  # sorted (name, value) request parameters

    @property
    def request(self) -> dict:
        return dict(self.params)


class Grid:
    """The configurations to sweep. List-valued arguments are axes; scalars are fixed.

    ``Grid(dpi=[100, 200], temperature=[0.0, 0.2], model=["1b", "32k"], max_side=[1540], max_tokens=4096)``
    has 2 x 2 x 2 x 1 = 8 configurations. Other request parameters (``top_p``, ``seed``,
    ``repetition_penalty``, ...) pass through and are part of each result's key.
    """

    def __init__(self, dpi=(200,), temperature=(DEFAULT_TEMPERATURE,), model=("1b",), max_side=(MAX_SIDE,),
                 max_tokens: int = DEFAULT_MAX_TOKENS, top_p=DEFAULT_TOP_P, stream: bool = False,
                 image_format: str = "PNG", **params):
        self.dpi = _as_list(dpi)
        self.temperature = _as_list(temperature)
        self.model = [str(m) for m in _as_list(model)]
        self.max_side = _as_list(max_side)
        self.stream, self.image_format = stream, image_format.upper()  # one spelling in keys and render sources
        self.params = {"max_tokens": max_tokens, "top_p": top_p, **params}
        if not (self.dpi and self.temperature and self.model and self.max_side):
            raise ValueError("every axis of a Grid needs at least one value (dpi, temperature, model, max_side)")
        for d in self.dpi:
            if not isinstance(d, (int, float)) or d <= 0:
                raise ValueError(f"dpi values must be positive numbers, got {d!r}")

    def configs(self) -> list[Config]:
        axes = {k: _as_list(v) for k, v in self.params.items()}
        names = list(axes)
        configs = []
        for dpi, max_side, model, temperature, *values in itertools.product(
                self.dpi, self.max_side, self.model, self.temperature, *axes.values()):
            request = {"temperature": temperature, **dict(zip(names, values))}
            request = {k: v for k, v in request.items() if v is not None}
            if self.image_format != "PNG":
                request["image_format"] = self.image_format  # other pixels reach the model
            configs.append(Config(dpi, max_side, model, tuple(sorted(request.items()))))
        return configs

    def __len__(self) -> int:
        return len(self.configs())

    def to_dict(self) -> dict:
        return {"dpi": self.dpi, "temperature": self.temperature, "model": self.model, "max_side": self.max_side,
                "stream": self.stream, "image_format": self.image_format, **self.params}

    def __repr__(self) -> str:
        return "Grid(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, range)) else [value]


def resolve_endpoints(models: Iterable[str], endpoints: Endpoint | Mapping[str, Endpoint] | Iterable[Endpoint]
                      ) -> dict[str, Endpoint]:
    """Map each grid model name to the Endpoint that serves it.

    Accepts a mapping, one Endpoint (the local server serves several models: each grid model must be
    one of them), or a list of Endpoints (matched by served model id or LightOnOCR short name).
    """
    from .models import resolve_model

    models = list(models)
    if isinstance(endpoints, Mapping):
        missing = [m for m in models if m not in endpoints]
        if missing:
            raise LabError(f"no endpoint for model(s) {missing}: pass endpoints={{name: Endpoint}} for each")
        return dict(endpoints)
    pool = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
    found: dict[str, Endpoint] = {}
    for name in models:
        for endpoint in pool:
            served = endpoint.models or [endpoint.model]
            if name in served:
                found[name] = endpoint.with_model(name)
                break
            try:
                hf_id = resolve_model(name).hf_id
            except LabError:
                continue
            if hf_id in served:
                found[name] = endpoint.with_model(hf_id)
                break
        else:
            served = sorted({m for e in pool for m in (e.models or [e.model])})
            raise LabError(f"no endpoint serves {name!r}; the endpoints serve: {', '.join(served)}. "
                           "Start one with start_modal(model=...) or start_local().")
    return found


def default_concurrency(endpoints: Iterable[Endpoint]) -> int:
    kinds = {e.kind for e in endpoints}
    return (os.cpu_count() or 2) if kinds == {"local"} else GPU_CONCURRENCY


# ---- rendering in worker processes -------------------------------------------------------------


def _render_job(page: Page, dpi: float, max_side: int | None, image_format: str) -> dict:
    """Runs in a worker process: render, hash the pixels, encode for the request."""
    image = render_page(page, dpi=dpi, max_side=max_side)
    return {"image_hash": image_hash(image), "url": to_data_url(image, format=image_format),
            "effective_dpi": image.info["dpi"][0], "width": image.width, "height": image.height}


def _render_pool(workers: int):
    """Worker processes for rendering, or threads when processes cannot start safely.

    Processes are started with "spawn" (forking a process that runs threads and an event loop is
    unsafe), and spawn re-imports the main script in every worker: a script without an
    ``if __name__ == "__main__":`` guard would run again there. Such scripts render in threads
    (pdfium under its lock), slower but correct. Notebooks and the CLI use processes.
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and getattr(main, "__spec__", None) is None:
        try:
            guarded = "__main__" in Path(path).read_text(errors="replace")
        except OSError:
            guarded = False
        if not guarded:
            return ThreadPoolExecutor(workers, thread_name_prefix="render")
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=exit_with_parent)


def _render_error_key(page: Page, config: Config, model: str) -> str:
    """Key of the stored error of a page that could not be rendered (there are no pixels to hash)."""
    return result_key(f"render-error:{page.path}:{page.index}:{config.dpi}:{config.max_side}", model, config.request)


def _render_source(page: Page, dpi: float, max_side: int | None, image_format: str) -> str:
    stat = Path(page.path).stat()
    return "|".join(map(str, (Path(page.path).resolve(), stat.st_size, stat.st_mtime_ns, page.index, dpi, max_side,
                              image_format, RENDER_VERSION)))


# ---- the sweep ---------------------------------------------------------------------------------


def run_sweep(corpus: Corpus | Iterable[Page], grid: Grid, endpoints, store: Store | None = None,
              concurrency: int | None = None, profile: str = "markdown", progress: bool = True,
              stop: threading.Event | None = None, name: str | None = None, retry: RetryPolicy | None = None,
              render_workers: int | None = None, on_result=None):
    """Run ``grid`` over the pages and return the DataFrame (see module docstring).

    ``on_result(result)`` is called after each stored result (the widgets' live progress).
    """
    pages = list(corpus)
    endpoint_map = resolve_endpoints(grid.model, endpoints)
    store = store if store is not None else Store()
    concurrency = concurrency or default_concurrency(endpoint_map.values())
    stop = stop or threading.Event()
    configs = grid.configs()
    run_id = store.start_run(
        name or f"sweep {time.strftime('%Y-%m-%d %H:%M')}", "sweep", _corpus_name(corpus), grid.to_dict(),
        {v: e.info() for v, e in endpoint_map.items()}, _versions())
    sweep = _Sweep(pages, configs, grid, endpoint_map, store, run_id, concurrency, stop, retry, on_result)
    status = "stopped"
    try:
        run_async(lambda: sweep.run(progress, render_workers), stop)
        status = "stopped" if stop.is_set() else "finished"
    except BaseException:
        status = "interrupted"
        raise
    finally:
        store.finish_run(run_id, status, {"requests": sweep.sent, "reused": sweep.reused, "seconds": sweep.seconds})
    frame = sweep_dataframe(pages, configs, endpoint_map, store, profile)
    frame.attrs.update(run_id=run_id, status=status, requests=sweep.sent, reused=sweep.reused, seconds=sweep.seconds)
    return frame


def run_async(make_coro, stop: threading.Event | None = None):
    """asyncio.run here, or in a helper thread when this thread already runs a loop (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="lighton-lab-sweep")
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:  # kernel interrupt: stop launching, keep what finished
        if stop is not None:
            stop.set()
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _Sweep:
    def __init__(self, pages, configs, grid, endpoints, store, run_id, concurrency, stop, retry, on_result):
        self.pages, self.configs, self.grid, self.endpoints = pages, configs, grid, endpoints
        self.store, self.run_id, self.concurrency, self.stop = store, run_id, concurrency, stop
        self.retry, self.on_result = retry or RetryPolicy(), on_result
        self.sent = self.reused = 0
        self.seconds = 0.0

    async def run(self, progress: bool, render_workers: int | None) -> None:
        started = time.perf_counter()
        units: dict[tuple, list[Config]] = {}
        for config in self.configs:
            units.setdefault((config.dpi, config.max_side), []).append(config)
        total = len(self.pages) * len(self.configs)
        bar = _progress_bar(total, progress)
        workers = render_workers or min(os.cpu_count() or 2, 4)
        pool = _render_pool(workers)
        clients = {v: AsyncOCRClient(e, retry=self.retry, image_format=self.grid.image_format)
                   for v, e in self.endpoints.items()}
        self._requests = asyncio.Semaphore(self.concurrency)
        self._units = asyncio.Semaphore(max(2, self.concurrency))
        self._renders = asyncio.Semaphore(workers * 2)
        self._inflight: dict[str, asyncio.Future] = {}
        try:
            tasks = [self._unit(page, dpi, cap, cfgs, pool, clients, bar)
                     for page in self.pages for (dpi, cap), cfgs in units.items()]
            await asyncio.gather(*tasks)
        finally:
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)
            for client in clients.values():
                await client.aclose()
            self.seconds = time.perf_counter() - started

    async def _render(self, pool, page, dpi, cap) -> dict:
        async with self._renders:
            job = await asyncio.get_running_loop().run_in_executor(
                pool, _render_job, page, dpi, cap, self.grid.image_format)
        self.store.put_render(_render_source(page, dpi, cap, self.grid.image_format), job["image_hash"],
                              job["effective_dpi"], job["width"], job["height"])
        return job

    async def _unit(self, page, dpi, cap, configs, pool, clients, bar) -> None:
        async with self._units:
            if self.stop.is_set():
                return
            cached = self.store.render_of(_render_source(page, dpi, cap, self.grid.image_format))
            job = None
            try:
                if cached is None:
                    job = await self._render(pool, page, dpi, cap)
                info = job or dict(cached)
                keys = {c: result_key(info["image_hash"], self.endpoints[c.variant].model, c.request)
                        for c in configs}
                done = self.store.done(list(keys.values()))
                todo = [c for c in configs if keys[c] not in done]
                self.reused += len(configs) - len(todo)
                bar.update(len(configs) - len(todo))
                if todo and job is None:
                    job = await self._render(pool, page, dpi, cap)
            except RenderError as exc:
                for config in configs:
                    self._save(self._render_failure(page, config, str(exc)))
                bar.update(len(configs))
                return
            await asyncio.gather(*(self._request(page, c, keys[c], job, clients[c.variant], bar) for c in todo))

    async def _request(self, page, config, key, job, client, bar) -> None:
        """One request, unless the same key is already in flight (same pixels from another DPI)."""
        if key in self._inflight:
            await asyncio.shield(self._inflight[key])
            self.reused += 1
            bar.update(1)
            return
        self._inflight[key] = asyncio.get_running_loop().create_future()
        try:
            await self._send(page, config, key, job, client, bar)
        finally:
            self._inflight.pop(key).set_result(None)

    async def _send(self, page, config, key, job, client, bar) -> None:
        async with self._requests:
            if self.stop.is_set():
                return
            endpoint = self.endpoints[config.variant]
            result = Result(key, page.document, page.index + 1, job["image_hash"], config.dpi, job["effective_dpi"],
                            config.max_side, job["width"], job["height"], config.variant, endpoint.model,
                            config.request, page.ground_truth, endpoint=endpoint.kind, run_id=self.run_id,
                            started=time.time())
            params = {k: v for k, v in config.request.items() if k not in _NOT_A_PARAM}
            ocr_args = {k: params.pop(k) for k in ("temperature", "max_tokens", "top_p") if k in params}
            ocr_args.setdefault("top_p", None)
            self.sent += 1
            try:
                answer = await client.ocr(job["url"], stream=self.grid.stream, extra=params or None, **ocr_args)
                result.text, result.finish_reason = answer.text, answer.finish_reason
                result.prompt_tokens, result.completion_tokens = answer.prompt_tokens, answer.completion_tokens
                result.latency_s, result.ttft_s, result.attempts = answer.latency_s, answer.ttft_s, answer.attempts
            except OCRRequestError as exc:
                result.error = f"{page.id}: {exc}"
            result.finished = time.time()
            self._save(result)
            bar.update(1)

    def _render_failure(self, page, config, message) -> Result:
        key = _render_error_key(page, config, self.endpoints[config.variant].model)
        return Result(key, page.document, page.index + 1, None, config.dpi, None, config.max_side, None, None,
                      config.variant, self.endpoints[config.variant].model, config.request, page.ground_truth,
                      error=message, run_id=self.run_id, started=time.time(), finished=time.time(),
                      endpoint=self.endpoints[config.variant].kind)

    def _save(self, result: Result) -> None:
        self.store.put(result)
        if self.on_result is not None:
            self.on_result(result)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="page", desc="sweep", smoothing=0.1)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _corpus_name(corpus) -> str:
    return str(getattr(corpus, "root", "pages"))


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("lighton-lab", "openai", "httpx", "pypdfium2", "pillow", "jiwer", "rapidocr", "modal"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found


# ---- results as DataFrames ---------------------------------------------------------------------

SCORE_COLUMNS = ["cer", "wer", "ned", "bow_f1", "char_hits", "char_substitutions", "char_deletions", "char_insertions",
                 "word_hits", "word_substitutions", "word_deletions", "word_insertions", "ref_chars", "ref_words",
                 "char_edits", "word_edits"]


def _row(result: Result, profile: str, tags: tuple = ()) -> dict:
    row = {
        "document": result.document, "page": result.page, "variant": result.variant, "model": result.model,
        "dpi": result.dpi, "effective_dpi": result.effective_dpi, "max_side": result.max_side,
        "width": result.width, "height": result.height, "image_hash": result.image_hash,
        "temperature": result.params.get("temperature"), "top_p": result.params.get("top_p"),
        "max_tokens": result.params.get("max_tokens"), "text": result.text, "reference": result.reference,
        "finish_reason": result.finish_reason, "truncated": result.finish_reason == "length",
        "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
        "latency_s": result.latency_s, "ttft_s": result.ttft_s, "attempts": result.attempts, "error": result.error,
        "started": result.started, "finished": result.finished, "endpoint": result.endpoint, "key": result.key,
        "run_id": result.run_id, "params": result.params, "tags": ",".join(tags),
    }
    row.update(_scores(result.reference, result.text, profile))
    return row


def _scores(reference: str | None, text: str | None, profile: str) -> dict:
    if reference is None or text is None:
        return {c: None for c in SCORE_COLUMNS}
    s = score(reference, text, profile)
    values = {c: getattr(s, c) for c in SCORE_COLUMNS if hasattr(s, c)}
    values.update(char_edits=s.char_edits, word_edits=s.word_edits)
    return values


def results_to_dataframe(results: Iterable[Result], profile: str = "markdown", tags: Mapping | None = None):
    import pandas as pd

    rows = [_row(r, profile, (tags or {}).get(r.document, ())) for r in results]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=list(_row(Result("", "", 0, None, 0, None, None, None, None, "", "", {}, None),
                                               profile).keys()))
    frame.attrs["profile"] = profile
    return frame


def sweep_dataframe(pages: list[Page], configs: list[Config], endpoints: dict[str, Endpoint], store: Store,
                    profile: str = "markdown"):
    """Rows for the (page, configuration) pairs of a sweep that have a stored result, in plan order.

    Two configurations can share one stored result: at 150 and 200 DPI a Letter page is capped to the
    same 1540 px image, so it was asked once; each row still says which configuration it answers.
    """
    import pandas as pd

    plan = []
    for page in pages:
        sources = {}  # one file stat and one lookup per (DPI, cap, format), not per configuration
        for config in configs:
            model = endpoints[config.variant].model
            keys = [_render_error_key(page, config, model)]
            render = (config.dpi, config.max_side, config.request.get("image_format", "PNG"))
            if render not in sources:
                sources[render] = store.render_of(_render_source(page, *render))
            source = sources[render]
            if source is not None:
                keys.insert(0, result_key(source["image_hash"], model, config.request))
            plan.append((page, config, keys))
    found = store.get_many([k for _, _, keys in plan for k in keys])
    rows = []
    for page, config, keys in plan:
        result = next((found[k] for k in keys if k in found), None)
        if result is not None:
            row = _row(result, profile, page.tags)
            row.update(document=page.document, page=page.index + 1, dpi=config.dpi, max_side=config.max_side,
                       variant=config.variant, reference=page.ground_truth)
            if page.ground_truth != result.reference:
                row.update(_scores(page.ground_truth, result.text, profile))
            rows.append(row)
    frame = pd.DataFrame(rows) if rows else results_to_dataframe([], profile)
    frame.attrs["profile"] = profile
    return frame


def rescore(frame, profile: str):
    """The same rows scored under another normalisation profile, from the stored text: no requests."""
    frame = frame.copy()
    scores = [_scores(ref, text, profile) for ref, text in zip(frame["reference"], frame["text"])]
    for column in SCORE_COLUMNS:
        frame[column] = [s[column] for s in scores]
    frame.attrs["profile"] = profile
    return frame


CONFIG_COLUMNS = ["variant", "model", "dpi", "max_side", "temperature"]


def summary(frame, by: list[str] | None = None):
    """One row per configuration: pages, failures, truncations, micro/macro CER and WER, bag-of-words F1,
    latency, observed pages/s and tokens. Micro rates weigh pages by length; macro is the page mean."""
    import pandas as pd

    by = [c for c in (by or CONFIG_COLUMNS) if c in frame.columns]
    rows = []
    for key, group in frame.groupby(by, dropna=False, sort=True):
        scored = group[group["cer"].notna()]
        ok = group[group["error"].isna()]
        wall = (ok["finished"].max() - ok["started"].min()) if len(ok) else None
        rows.append({
            **dict(zip(by, key if isinstance(key, tuple) else (key,))),
            "pages": len(group), "failures": int(group["error"].notna().sum()),
            "truncated": int(group["truncated"].sum()),
            "micro_cer": _ratio(scored["char_edits"].sum(), scored["ref_chars"].sum()) if len(scored) else None,
            "macro_cer": scored["cer"].mean() if len(scored) else None,
            "micro_wer": _ratio(scored["word_edits"].sum(), scored["ref_words"].sum()) if len(scored) else None,
            "macro_wer": scored["wer"].mean() if len(scored) else None,
            "bow_f1": scored["bow_f1"].mean() if len(scored) else None,
            "mean_latency_s": ok["latency_s"].mean() if len(ok) else None,
            "pages_per_s": len(ok) / wall if wall else None,
            "completion_tokens": ok["completion_tokens"].sum() if len(ok) else 0,
        })
    return pd.DataFrame(rows)


def _ratio(edits: float, length: float) -> float:
    from .metrics import _rate

    return _rate(int(edits), int(length))


def best(frame, metric: str = "micro_cer"):
    """The configuration with the lowest ``metric`` (a Series from ``summary``)."""
    table = summary(frame).dropna(subset=[metric])
    if table.empty:
        raise LabError("no scored pages: the corpus needs ground truth for best() to compare configurations")
    return table.sort_values(metric, kind="stable").iloc[0]


def worst_pages(frame, n: int = 10, metric: str = "cer"):
    """The ``n`` rows with the highest ``metric`` (failed requests first)."""
    failed = frame[frame["error"].notna()]
    scored = frame[frame[metric].notna()].sort_values(metric, ascending=False, kind="stable")
    import pandas as pd

    return pd.concat([failed, scored]).head(n)
