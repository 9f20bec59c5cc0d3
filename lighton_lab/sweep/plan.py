"""What a sweep will cost before it runs, and what it did cost after: requests the store spares, requests
left, and for GPU endpoints the GPU time and dollars.

``plan_sweep(corpus, grid, endpoints, store)`` counts exactly the requests ``run_sweep`` would send: one per
distinct content key (pixels, served model, parameters) that has no successful stored result. Pages the
store has not rendered yet are rendered now (in worker processes, as the sweep does) and their renders are
stored, so the sweep that follows does not render them again. Throughput for the estimate is the newest
stored ``bench`` run of that model and GPU, else the published figure for that pair (labelled as such),
else unknown: a dollar figure is never made up.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from lighton_lab.models.gpus import COST_NOTE, published_throughput, resolve_gpu
from lighton_lab.procs import run_async
from lighton_lab.render import render_job, render_pool
from lighton_lab.store.schema import result_key
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid, resolve_endpoints
from lighton_lab.sweep.keys import render_error_key, render_source, stored_answer


@dataclass(frozen=True)
class EndpointPlan:
    model: str
    gpu: str | None
    requests: int
    pages_per_s: float | None
    throughput_source: str | None  # "bench run 7" or "published: LightOn, ..."; None when unknown
    gpu_hours: float | None
    usd: float | None


@dataclass(frozen=True)
class SweepPlan:
    pages: int
    configurations: int
    rows: int  # pages x configurations
    stored: int  # rows whose result is already in the store
    requests: int  # distinct requests left to send
    endpoints: tuple[EndpointPlan, ...]

    @property
    def usd(self) -> float | None:
        costs = [e.usd for e in self.endpoints if e.gpu]
        return sum(costs) if costs and None not in costs else None

    def __str__(self) -> str:
        """The panel's and ``sweep --dry-run``'s "Estimate" line."""
        missing = self.rows - self.stored
        text = (
            f"{self.rows} results ({self.pages} pages x {self.configurations} configurations): "
            f"{self.stored} already in the store, {missing} to get with {self.requests} requests"
        )
        if missing > self.requests:
            text += (
                f" ({missing - self.requests} share a request with another configuration: the same pixels "
                "after the cap, asked once)"
            )
        for e in self.endpoints:
            if e.gpu and e.requests:
                if e.usd is None:
                    text += f"; {e.model} on {e.gpu}: no throughput known (run `lighton-lab bench --store`)"
                else:
                    text += (
                        f"; {e.model} on {e.gpu}: ~{e.gpu_hours * 60:.1f} GPU-min, at least ${e.usd:.2f} at "
                        f"{e.pages_per_s:g} pages/s ({e.throughput_source})"
                    )
        if any(e.usd for e in self.endpoints):
            text += f" ({COST_NOTE})"
        return text


def stored_throughput(store: Store, model: str, gpu: str) -> tuple[float, str] | None:
    """The newest ``bench`` run of this served model on this GPU: (pages/s, "bench run N")."""
    for run in store.runs_of("bench"):
        notes, endpoint = run["notes"] or {}, run["endpoints"] or {}
        if (
            endpoint.get("model") == model
            and (notes.get("gpu") or endpoint.get("gpu")) == gpu
            and notes.get("pages_per_s")
        ):
            return float(notes["pages_per_s"]), f"bench run {run['id']}"
    return None


def throughput(store: Store, model: str, gpu: str | None) -> tuple[float | None, str | None]:
    if not gpu:
        return None, None
    found = stored_throughput(store, model, gpu)
    if found:
        return found
    try:
        figure = published_throughput(model, gpu)
    except Exception:  # a model or GPU the tables do not know: no estimate
        figure = None
    return (figure.pages_per_s, f"published: {figure.source}") if figure else (None, None)


def plan_sweep(
    corpus, grid: Grid, endpoints, store: Store | None = None, render_workers: int | None = None
) -> SweepPlan:
    """The plan of ``run_sweep(corpus, grid, endpoints, store)`` (see the module docstring)."""
    pages = list(corpus)
    store = store if store is not None else Store()
    endpoint_map = resolve_endpoints(grid.model, endpoints)
    configs = grid.configs()
    renders: dict[tuple, str | None] = {}
    missing = []
    for page in pages:
        for dpi, cap in {(c.dpi, c.max_side) for c in configs}:
            try:
                cached = store.render_of(render_source(page, dpi, cap, grid.image_format))
            except OSError:
                cached = None
            if cached is None:
                missing.append((page, dpi, cap))
            else:
                renders[page.path, page.index, dpi, cap] = cached.image_hash
    for (page, dpi, cap), image_hash in zip(
        missing, _render(missing, grid.image_format, store, render_workers)
    ):
        renders[page.path, page.index, dpi, cap] = image_hash
    keys: dict[str, str] = {}  # key -> variant; identical keys (capped pages) are one request
    requests: dict[
        str, tuple
    ] = {}  # key -> (image hash, model, config), to find answers stored without a cap
    rows = []
    for page in pages:
        for config in configs:
            model = endpoint_map[config.variant].model
            image_hash = renders[page.path, page.index, config.dpi, config.max_side]
            key = (
                result_key(image_hash, model, config.request)
                if image_hash
                else render_error_key(page, config, model)
            )
            rows.append(key)
            keys.setdefault(key, config.variant)
            if image_hash:
                requests.setdefault(key, (image_hash, model, config))
    done = store.done(list(keys))
    done |= {k for k, (h, m, c) in requests.items() if k not in done
             and (found := stored_answer(store, h, m, c, 0, ())) is not None and found.ok}  # fmt: skip
    todo = [k for k in keys if k not in done]
    per_endpoint = []
    for variant, endpoint in endpoint_map.items():
        count = sum(1 for k in todo if keys[k] == variant)
        pages_per_s, source = throughput(store, endpoint.model, endpoint.gpu)
        hours = count / pages_per_s / 3600 if pages_per_s else None
        usd = hours * resolve_gpu(endpoint.gpu).usd_per_hour if hours is not None else None
        per_endpoint.append(
            EndpointPlan(endpoint.model, endpoint.gpu, count, pages_per_s, source, hours, usd)
        )
    return SweepPlan(
        len(pages), len(configs), len(rows), sum(1 for k in rows if k in done), len(todo), tuple(per_endpoint)
    )


def _render(jobs, image_format: str, store: Store, workers: int | None) -> list[str | None]:
    """Render the (page, dpi, cap) jobs in worker processes; store each render; None for a page that fails."""
    if not jobs:
        return []

    async def run() -> list[str | None]:
        loop = asyncio.get_running_loop()
        with render_pool(workers or min(os.cpu_count() or 2, 4)) as pool:
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, render_job, p, d, c, image_format) for p, d, c in jobs),
                return_exceptions=True,
            )
        hashes = []
        for (page, dpi, cap), job in zip(jobs, results):
            if isinstance(job, BaseException):
                hashes.append(None)
                continue
            store.put_render(render_source(page, dpi, cap, image_format), job)
            hashes.append(job.image_hash)
        return hashes

    return run_async(run)
