"""Sweeps: every page of a corpus under every configuration of a grid, stored as it completes.

``run_sweep(corpus, Grid(dpi=[100, 150, 200], temperature=[0.0, 0.2], model=["1b", "32k"]), endpoints)``
returns a DataFrame (``frames``) with one row per (page, configuration). How it spends the endpoint's time:

- each page is rendered once per (DPI, cap), in worker processes (pdfium is not thread-safe), and the
  image is reused for every temperature and model;
- a request whose result is already in the store is not sent (keys are content hashes, see ``store``);
  a resumed sweep does not even re-render pages whose results are all stored;
- requests run concurrently up to ``concurrency`` (default: what the endpoints take at once, their
  ``capacity``: a Modal app's inputs per container x containers, the local server's workers), while
  rendering runs ahead in the pool;
- a request that fails after the client's retries is stored as that page's error; the sweep goes on;
- ``stop`` (a ``threading.Event``, the widget's Stop button) launches nothing new and lets the requests
  in flight finish and be stored: paid-for GPU work is never thrown away.

Rows record what was actually sent: requested DPI, effective DPI and pixel size (the 1540 px cap wins
above ~140 DPI on Letter/A4 pages, so a DPI sweep is really a DPI x cap sweep).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

from lighton_lab.client.ocr import AsyncOCRClient, RetryPolicy
from lighton_lab.config import Normalization
from lighton_lab.corpus.corpus import Corpus, Page
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.errors import OCRRequestError, RenderError
from lighton_lab.frames.rows import empty_frame, region_columns, row
from lighton_lab.grid import Config, Grid, resolve_endpoints
from lighton_lab.models.variants import output_format
from lighton_lab.procs import run_async
from lighton_lab.render import RenderedPage, render_job, render_pool
from lighton_lab.scoring.text import resolve_normalization
from lighton_lab.store.schema import Result, result_key
from lighton_lab.store.store import Store

RENDER_VERSION = "1"  # bump when rendering changes: cached render hashes are then ignored
GPU_CONCURRENCY = 64  # an endpoint of unknown capacity: enough to keep a vLLM batch busy
_NOT_A_PARAM = {"image_format"}


def default_concurrency(endpoints) -> int:
    """The requests the endpoints take at once: the sum of their capacities (a shared server once)."""
    total, seen = 0, set()
    for endpoint in endpoints:
        if endpoint.base_url not in seen:
            seen.add(endpoint.base_url)
            total += endpoint.capacity or (
                os.cpu_count() or 2 if endpoint.kind == "local" else GPU_CONCURRENCY
            )
    return max(1, total)


def render_error_key(page: Page, config: Config, model: str) -> str:
    """Key of the stored error of a page that could not be rendered (there are no pixels to hash)."""
    return result_key(
        f"render-error:{page.path}:{page.index}:{config.dpi}:{config.max_side}", model, config.request
    )


def render_source(page: Page, dpi: float, max_side: int | None, image_format: str) -> str:
    stat = Path(page.path).stat()
    return "|".join(
        map(
            str,
            (
                Path(page.path).resolve(),
                stat.st_size,
                stat.st_mtime_ns,
                page.index,
                dpi,
                max_side,
                image_format,
                RENDER_VERSION,
            ),
        )
    )


def run_sweep(
    corpus: Corpus | list[Page],
    grid: Grid,
    endpoints,
    store: Store | None = None,
    concurrency: int | None = None,
    normalization: Normalization = "markdown",
    progress: bool = True,
    stop: threading.Event | None = None,
    name: str | None = None,
    retry: RetryPolicy | None = None,
    render_workers: int | None = None,
    on_result=None,
    *,
    profile: str | None = None,
):
    """Run ``grid`` over the pages and return the DataFrame (see module docstring).

    ``on_result(result)`` is called after each stored result (the widgets' live progress);
    ``normalization`` is how the rows are scored (``profile=`` is its old, deprecated name).
    """
    normalization = resolve_normalization(normalization, profile)
    pages = list(corpus)
    endpoint_map = resolve_endpoints(grid.model, endpoints)
    store = store if store is not None else Store()
    concurrency = concurrency or default_concurrency(endpoint_map.values())
    configs = grid.configs()
    run_id = store.start_run(
        name or f"sweep {time.strftime('%Y-%m-%d %H:%M')}",
        "sweep",
        str(getattr(corpus, "root", "pages")),
        grid.to_dict(),
        {v: e.info() for v, e in endpoint_map.items()},
        _versions(),
    )
    sweep = _Sweep(
        pages,
        configs,
        grid,
        endpoint_map,
        store,
        run_id,
        concurrency,
        stop or threading.Event(),
        retry,
        on_result,
    )
    status = "stopped"
    try:
        run_async(lambda: sweep.run(progress, render_workers), sweep.stop)
        status = "stopped" if sweep.stop.is_set() else "finished"
    except BaseException:
        status = "interrupted"
        raise
    finally:
        store.finish_run(
            run_id,
            status,
            {
                "requests": sweep.sent,
                "reused": sweep.reused,
                "seconds": sweep.seconds,
                "concurrency": concurrency,
            },
        )
    frame = plan_rows(pages, configs, endpoint_map, store, normalization, grid.image_format)
    frame.attrs.update(
        run_id=run_id,
        status=status,
        requests=sweep.sent,
        reused=sweep.reused,
        seconds=sweep.seconds,
        usd=_gpu_cost(endpoint_map.values(), sweep.seconds),
    )
    return frame


def _gpu_cost(endpoints, seconds: float) -> float | None:
    """Dollars for the sweep's wall time at the GPU table's price, one container per GPU endpoint (Modal bills
    each container's lifetime: more containers cost proportionally more); None without a GPU endpoint."""
    from lighton_lab.models.gpus import resolve_gpu

    gpus = {e.base_url: e.gpu for e in endpoints if e.gpu}
    if not gpus:
        return None
    return sum(resolve_gpu(g).usd_per_hour for g in gpus.values()) * seconds / 3600


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
        bar = _progress_bar(len(self.pages) * len(self.configs), progress)
        workers = render_workers or min(os.cpu_count() or 2, 4)
        pool = render_pool(workers)
        clients = {
            v: AsyncOCRClient(e, retry=self.retry, image_format=self.grid.image_format)
            for v, e in self.endpoints.items()
        }
        self._requests = asyncio.Semaphore(self.concurrency)
        self._units = asyncio.Semaphore(max(2, self.concurrency))
        self._renders = asyncio.Semaphore(workers * 2)
        self._asked: dict[str, asyncio.Future] = {}  # every key sent by this sweep, answered or not
        try:
            await asyncio.gather(
                *(
                    self._unit(page, dpi, cap, cfgs, pool, clients, bar)
                    for page in self.pages
                    for (dpi, cap), cfgs in units.items()
                )
            )
        finally:
            bar.close()
            pool.shutdown(wait=False, cancel_futures=True)
            for client in clients.values():
                await client.aclose()
            self.seconds = time.perf_counter() - started

    async def _render(self, pool, page, dpi, cap) -> RenderedPage:
        async with self._renders:
            job = await asyncio.get_running_loop().run_in_executor(
                pool, render_job, page, dpi, cap, self.grid.image_format
            )
        self.store.put_render(render_source(page, dpi, cap, self.grid.image_format), job)
        return job

    async def _unit(self, page, dpi, cap, configs, pool, clients, bar) -> None:
        async with self._units:
            if self.stop.is_set():
                return
            cached = self.store.render_of(render_source(page, dpi, cap, self.grid.image_format))
            job = None
            try:
                if cached is None:
                    job = await self._render(pool, page, dpi, cap)
                info = job or cached
                keys = {
                    c: result_key(info.image_hash, self.endpoints[c.variant].model, c.request)
                    for c in configs
                }
                done = self.store.done(list(keys.values()))
                todo = [c for c in configs if keys[c] not in done]
                self.reused += len(configs) - len(todo)
                bar.update(len(configs) - len(todo))
                if todo and job is None:
                    job = await self._render(pool, page, dpi, cap)
            except RenderError as exc:
                for config in configs:
                    self._save(
                        self._result(
                            page,
                            config,
                            None,
                            render_error_key(page, config, self.endpoints[config.variant].model),
                            error=str(exc),
                        )
                    )
                bar.update(len(configs))
                return
            await asyncio.gather(
                *(self._request(page, c, keys[c], job, clients[c.variant], bar) for c in todo)
            )

    async def _request(self, page, config, key, job, client, bar) -> None:
        """One request per key per sweep: another configuration with the same pixels (another DPI capped to
        the same size) waits for it, whether it is still in flight or already answered."""
        if key in self._asked:
            await asyncio.shield(self._asked[key])
            self.reused += 1
            bar.update(1)
            return
        self._asked[key] = asyncio.get_running_loop().create_future()
        try:
            await self._send(page, config, key, job, client, bar)
        finally:
            self._asked[key].set_result(None)

    async def _send(self, page, config, key, job, client, bar) -> None:
        async with self._requests:
            if self.stop.is_set():
                return
            result = self._result(page, config, job, key)
            params = {k: v for k, v in config.request.items() if k not in _NOT_A_PARAM}
            sampling = {k: params.pop(k) for k in ("temperature", "max_tokens", "top_p") if k in params}
            self.sent += 1
            try:
                answer = await client.ocr(job.url, stream=self.grid.stream, extra=params or None, **sampling)
                result = replace(
                    result,
                    text=answer.text,
                    finish_reason=answer.finish_reason,
                    prompt_tokens=answer.prompt_tokens,
                    completion_tokens=answer.completion_tokens,
                    latency_s=answer.latency_s,
                    ttft_s=answer.ttft_s,
                    attempts=answer.attempts,
                )
            except OCRRequestError as exc:
                result = replace(result, error=f"{page.id}: {exc}")
            self._save(replace(result, finished=time.time()))
            bar.update(1)

    def _result(
        self, page: Page, config: Config, job: RenderedPage | None, key: str, error: str | None = None
    ) -> Result:
        endpoint = self.endpoints[config.variant]
        return Result(
            key=key,
            document=page.document,
            page=page.page_number,
            image_hash=job.image_hash if job else None,
            dpi=config.dpi,
            effective_dpi=job.effective_dpi if job else None,
            max_side=config.max_side,
            width=job.width if job else None,
            height=job.height if job else None,
            variant=config.variant,
            model=endpoint.model,
            params=config.request,
            reference=page.ground_truth,
            error=error,
            endpoint=endpoint.kind,
            run_id=self.run_id,
            started=time.time(),
            finished=time.time() if error else None,
            output_format=output_format(endpoint.kind),
            reference_format=page.ground_truth_format,
        )

    def _save(self, result: Result) -> None:
        self.store.put(result)
        if self.on_result is not None:
            self.on_result(result)


def plan_rows(
    pages: list[Page],
    configs: list[Config],
    endpoints: dict[str, Endpoint],
    store: Store,
    normalization: str = "markdown",
    image_format: str = "PNG",
):
    """Rows for the (page, configuration) pairs of a sweep that have a stored result, in plan order.

    Two configurations can share one stored result: at 150 and 200 DPI a Letter page is capped to the
    same 1540 px image, so it was asked once; each row still says which configuration it answers.
    """
    import pandas as pd

    plan = []
    for page in pages:
        sources = {}  # one file stat and one lookup per (DPI, cap), not per configuration
        for config in configs:
            model = endpoints[config.variant].model
            keys = [render_error_key(page, config, model)]
            if (config.dpi, config.max_side) not in sources:
                sources[config.dpi, config.max_side] = store.render_of(
                    render_source(page, config.dpi, config.max_side, image_format)
                )
            source = sources[config.dpi, config.max_side]
            if source is not None:
                keys.insert(0, result_key(source.image_hash, model, config.request))
            plan.append((page, config, keys))
    found = store.get_many([k for _, _, keys in plan for k in keys])
    rows = []
    for page, config, keys in plan:
        result = next((found[k] for k in keys if k in found), None)
        if result is not None:
            values = row(result, normalization, page.tags, page.ground_truth, page.ground_truth_format)
            values.update(
                document=page.document,
                page_number=page.page_number,
                dpi=config.dpi,
                max_side=config.max_side,
                variant=config.variant,
                gpu=endpoints[config.variant].gpu,
                **region_columns(page.layout, result.text, normalization, values["output_format"]),
            )
            rows.append(values)
    frame = pd.DataFrame(rows) if rows else empty_frame(normalization)
    frame.attrs["normalization"] = normalization
    return frame


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


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("lighton-lab", "openai", "pypdfium2", "pillow", "jiwer", "rapidocr", "modal"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    return found
