"""Sweeps: every page of a corpus under every configuration of a grid, stored as it completes.

``run_sweep(corpus, Grid(dpi=[100, 200], model=["1b", "olmocr-2"]), endpoints)`` returns a DataFrame
(``sweep.rows``) with one row per (page, configuration). How it spends the endpoints' time:

- each page is rendered once per (DPI, cap), in worker processes (pdfium is not thread-safe), and the image
  is reused for every other parameter and model; a resumed sweep does not re-render pages it has answers for;
- a request whose result is in the store is not sent (keys are content hashes, ``store``); one that another
  sweep on the same store is asking right now is waited for, not sent again: each request is claimed in the
  store before it is sent (a lease with an owner and an expiry, renewed while the request is in flight; a
  crashed sweep's claims are taken over, at once when its process on this machine is gone, else when they
  expire);
- requests run concurrently up to ``concurrency`` (default: what the endpoints take at once, their
  ``capacity``), streamed by default, so a repetition loop is cut as soon as it is seen (``client``);
- with ``ladder``, a page whose answer looped or was cut is asked again at the next temperature of the
  ladder (olmOCR's by default: 0.1, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1.0), each attempt stored and recorded;
- a request that fails after the client's retries is stored as that page's error and counted;
- stopping is graceful: the first Ctrl-C (or ``stop``, the panel's Stop button) sends nothing new and waits
  up to ``grace_s`` for the answers in flight, storing each (they are paid for); a second Ctrl-C abandons them.

The run records its provenance (``store.provenance``), and the frame's ``attrs["report"]`` says what the
sweep did in one line: store, results, requests sent, reused, answered by another sweep, failed, time.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, replace

from lighton_lab.client.ocr import AsyncOCRClient, RetryPolicy
from lighton_lab.config import Normalization
from lighton_lab.corpus.corpus import Corpus, Page
from lighton_lab.errors import OCRRequestError, RenderError, UsageError
from lighton_lab.models.families.olmocr import LADDER as OLMOCR_LADDER
from lighton_lab.models.gpus import COST_NOTE
from lighton_lab.models.grounding import Furniture
from lighton_lab.models.variants import profile_for
from lighton_lab.procs import run_async
from lighton_lab.render import RenderedPage, render_job, render_pool
from lighton_lab.scoring.text import resolve_normalization
from lighton_lab.store.provenance import provenance
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store, lease_owner
from lighton_lab.sweep.grid import Config, Grid, resolve_endpoints
from lighton_lab.sweep.keys import render_error_key, render_source, step_key, step_params, stored_answer
from lighton_lab.sweep.rows import plan_rows, retried

GPU_CONCURRENCY = 64  # an endpoint of unknown capacity: enough to keep a vLLM batch busy
LEASE_S = 60.0  # a claim's lifetime; renewed every third of it while its request is in flight
WAIT_POLL_S = 0.25  # how often a sweep looks for the answer to a request another sweep is asking
GRACE_S = 300.0  # after a stop, how long the answers in flight are waited for (a page may take minutes)


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did, in numbers that add up: every (page, configuration) result was sent by this sweep,
    reused from the store, or answered by another sweep on the same store; ``failed`` are among those sent."""

    store: str
    results: int
    sent: int
    reused: int
    shared: int
    failed: int
    retried: int
    seconds: float
    status: str
    usd: float | None = None
    errors: tuple[str, ...] = ()

    def line(self) -> str:
        text = (f"{self.status}: {self.results} results in {self.store}: {self.sent} requests sent, {self.reused} "
                f"reused from the store, {self.shared} answered by another sweep, {self.failed} failed")  # fmt: skip
        if self.retried:
            text += f", {self.retried} retried on the temperature ladder"
        text += f"; {self.seconds:.1f} s"
        if self.usd:
            text += f", GPU time at least ${self.usd:.2f} ({COST_NOTE})"
        return text

    def __str__(self) -> str:
        return self.line()


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


def resolve_ladder(ladder, model: str) -> tuple[float, ...]:
    """One model's ladder. ``None``/``False``: no retries; ``True``: its family's ladder (olmOCR's when the
    family has none); a sequence: those temperatures (the first is the grid's own request). A retry is never
    colder than the configuration's own temperature (``keys.step_params``)."""
    if not ladder:
        return ()
    if ladder is True:
        profile = profile_for(model)
        return tuple(
            profile.family.ladder if profile is not None and profile.family.ladder else OLMOCR_LADDER
        )
    return tuple(float(t) for t in ladder)


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
    ladder=None,
    furniture: Furniture = "keep",
    grace_s: float = GRACE_S,
    lease_s: float = LEASE_S,
    *,
    profile: str | None = None,
):
    """Run ``grid`` over the pages and return the DataFrame (see the module docstring).

    ``on_result(result)`` is called as each (page, configuration) gets its result (the panel's progress);
    ``normalization`` is how the rows are scored (``profile=`` is its old, deprecated name); ``furniture``
    keeps or drops page headers, footers and numbers from grounded answers before they are scored.
    """
    normalization = resolve_normalization(normalization, profile)
    pages = list(corpus)
    if not pages:
        raise UsageError(corpus.why_empty() if isinstance(corpus, Corpus) else "no pages to sweep")
    endpoint_map = resolve_endpoints(grid.model, endpoints)
    store = store if store is not None else Store()
    concurrency = concurrency or default_concurrency(endpoint_map.values())
    configs = grid.configs()
    per_model = {m: resolve_ladder(ladder, e.model) for m, e in endpoint_map.items()}
    ladders = {c: per_model[c.variant] for c in configs}
    steps = {m: list(temperatures) for m, temperatures in per_model.items()} if ladder else {}
    policy = {"dpi": sorted({c.dpi for c in configs}), "max_side": sorted({c.max_side or 0 for c in configs}),
              "max_side_by_model": {c.variant: c.max_side for c in configs}}  # fmt: skip
    facts = provenance(endpoint_map, grid.image_format, policy)
    run_id = store.start_run(
        name or f"sweep {time.strftime('%Y-%m-%d %H:%M')}",
        "sweep",
        str(getattr(corpus, "root", "pages")),
        {**grid.to_dict(), **({"ladder": steps} if steps else {})},
        {v: e.info() for v, e in endpoint_map.items()},
        facts["packages"],
        facts,
    )
    stop = stop or threading.Event()
    abort = threading.Event()
    sweep = _Sweep(pages, configs, grid, endpoint_map, store, run_id, concurrency, stop, abort, retry, on_result,
                   ladders, lease_s, grace_s)  # fmt: skip
    status = "interrupted"
    try:
        run_async(lambda: sweep.run(progress, render_workers), stop, abort, sweep.interrupted)
        status = "stopped" if stop.is_set() else "finished"
    finally:
        report = sweep.report(status)
        store.finish_run(
            run_id, status, {**report.__dict__, "errors": list(report.errors), "concurrency": concurrency}
        )
    if abort.is_set():
        raise KeyboardInterrupt
    frame = plan_rows(
        pages, configs, endpoint_map, store, normalization, grid.image_format, ladders, furniture
    )
    frame.attrs.update(run_id=run_id, status=status, requests=report.sent, reused=report.reused,
                       seconds=report.seconds, usd=report.usd, failed=report.failed, shared=report.shared,
                       errors=list(report.errors), report=report.line())  # fmt: skip
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
    """The sweep's work on one event loop (see the module docstring)."""

    def __init__(self, pages, configs, grid, endpoints, store, run_id, concurrency, stop, abort, retry, on_result,
                 ladders, lease_s, grace_s):  # fmt: skip
        self.pages, self.configs, self.grid, self.endpoints = pages, configs, grid, endpoints
        self.store, self.run_id, self.concurrency = store, run_id, concurrency
        self.stop, self.abort, self.retry, self.on_result = stop, abort, retry or RetryPolicy(), on_result
        self.ladders, self.lease_s, self.grace_s = ladders, lease_s, grace_s  # config -> its temperatures
        self.owner = lease_owner()
        self.sent = self.reused = self.shared = self.failed = self.retried = 0
        self.errors: dict[str, None] = {}  # distinct failure messages, in order
        self.seconds = 0.0
        self._inflight: set[str] = set()

    def report(self, status: str) -> SweepReport:
        results = self.sent + self.reused + self.shared
        usd = _gpu_cost(self.endpoints.values(), self.seconds)
        return SweepReport(str(self.store.path), results, self.sent, self.reused, self.shared, self.failed,
                           self.retried, self.seconds, status, usd, tuple(list(self.errors)[:3]))  # fmt: skip

    def interrupted(self, count: int) -> None:
        """Ctrl-C: the first stops sending and waits for the answers in flight, the second abandons them."""
        import sys

        if count == 1:
            print(f"\nstopping: sending nothing new; waiting up to {self.grace_s:.0f} s for the "
                  f"{len(self._inflight)} answers in flight (they are paid for). Ctrl-C again to abandon them.",
                  file=sys.stderr, flush=True)  # fmt: skip
        else:
            print("\nabandoning the answers in flight.", file=sys.stderr, flush=True)

    async def run(self, progress: bool, render_workers: int | None) -> None:
        started = time.perf_counter()
        units: dict[tuple, list[Config]] = {}
        for config in self.configs:
            units.setdefault((config.dpi, config.max_side), []).append(config)
        self._bar = _progress_bar(len(self.pages) * len(self.configs), progress)
        workers = render_workers or min(os.cpu_count() or 2, 4)
        pool = render_pool(workers)
        clients = {v: AsyncOCRClient(e, retry=self.retry, image_format=self.grid.image_format)
                   for v, e in self.endpoints.items()}  # fmt: skip
        self._requests = asyncio.Semaphore(self.concurrency)
        self._units = asyncio.Semaphore(max(2, self.concurrency))
        self._renders = asyncio.Semaphore(workers * 2)
        self._asked: dict[str, asyncio.Future] = {}  # every key this sweep claimed, answered or not
        renewer = asyncio.ensure_future(self._renew())
        work = asyncio.ensure_future(asyncio.gather(
            *(self._unit(page, dpi, cap, cfgs, pool, clients)
              for page in self.pages for (dpi, cap), cfgs in units.items())
        ))  # fmt: skip
        try:
            await self._until_stopped(work)
        finally:
            renewer.cancel()
            self._bar.close()
            pool.shutdown(wait=False, cancel_futures=True)
            for client in clients.values():
                await client.aclose()
            for key in list(self._inflight):
                self.store.release(key, self.owner)
            self.seconds = time.perf_counter() - started

    async def _until_stopped(self, work: asyncio.Future) -> None:
        """Wait for the work; once stopped, give the answers in flight ``grace_s``; on abort, cancel them."""
        deadline = None
        while not work.done():
            await asyncio.wait({work}, timeout=0.2)
            if self.abort.is_set():
                break
            if self.stop.is_set():
                deadline = deadline or time.monotonic() + self.grace_s
                if time.monotonic() > deadline:
                    break
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        elif work.exception() is not None:
            raise work.exception()

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            if self._inflight:
                self.store.renew(list(self._inflight), self.owner, self.lease_s)

    # ---- one page at one (DPI, cap): its configurations ------------------------------------------------

    async def _render(self, pool, page, dpi, cap) -> RenderedPage:
        async with self._renders:
            job = await asyncio.get_running_loop().run_in_executor(
                pool, render_job, page, dpi, cap, self.grid.image_format
            )
        self.store.put_render(render_source(page, dpi, cap, self.grid.image_format), job)
        return job

    async def _unit(self, page, dpi, cap, configs, pool, clients) -> None:
        async with self._units:
            if self.stop.is_set():
                return
            state = {"job": None}
            try:
                cached = self.store.render_of(render_source(page, dpi, cap, self.grid.image_format))
                if cached is None:
                    state["job"] = await self._render(pool, page, dpi, cap)
            except RenderError as exc:
                for config in configs:
                    model = self.endpoints[config.variant].model
                    result = self._result(
                        page, config, None, render_error_key(page, config, model), 0, str(exc)
                    )
                    self.store.put(replace(result, finished=time.time()))
                    self.failed += 1
                    self.sent += 1
                    self._done(result)
                return
            info = state["job"] or cached

            async def image() -> RenderedPage:  # rendered when a request must be sent, once
                if state["job"] is None or state["job"].url is None:
                    state["job"] = await self._render(pool, page, dpi, cap)
                return state["job"]

            await asyncio.gather(
                *(self._answer(page, c, info.image_hash, image, clients[c.variant]) for c in configs)
            )

    async def _answer(self, page, config, image_hash, image, client) -> None:
        """The configuration's result, then its retries on the ladder while the answer loops or is cut."""
        model = self.endpoints[config.variant].model
        step, result = 0, None
        while not self.stop.is_set() or step == 0:
            key = step_key(image_hash, model, config, step, self.ladders[config])
            result = await self._obtain(page, config, image_hash, image, client, key, step)
            if result is None or not self._retry(result, step, self.ladders[config]):
                break
            step += 1
            self.retried += 1
        if result is not None:
            self._done(result)

    def _retry(self, result: Result, step: int, ladder: tuple[float, ...]) -> bool:
        return retried(result, step, ladder) and not self.stop.is_set()

    async def _obtain(self, page, config, image_hash, image, client, key, step) -> Result | None:
        """The result of one key: from the store, from this sweep or another one asking it, or asked now."""
        if key in self._asked:  # another configuration of this sweep with the same pixels
            await asyncio.shield(self._asked[key])
            self.reused += 1
            return self.store.get(key)
        stored = stored_answer(self.store, image_hash, self.endpoints[config.variant].model, config, step,
                               self.ladders[config])  # fmt: skip
        if stored is not None and stored.ok:
            self.reused += 1
            return stored
        self._asked[key] = asyncio.get_running_loop().create_future()
        try:
            return await self._claimed(page, config, key, step, image, client)
        finally:
            self._asked[key].set_result(None)

    async def _claimed(self, page, config, key, step, image, client) -> Result | None:
        """Send the request once it is this sweep's: a request slot first, then the claim, so a sweep only
        claims what it is about to send (a claim waiting for a slot could lapse and be sent twice)."""
        while not self.stop.is_set():
            holder = self.store.live_owner(key)
            if holder is not None and holder != self.owner:
                found = await self._wait_for_other(key)
                if found is not None:
                    self.shared += 1
                    return found
                continue
            job = await image()
            async with self._requests:
                if self.stop.is_set():
                    return None
                found = self.store.get(key)
                if found is not None and found.ok:  # answered by another sweep while this one waited
                    self.shared += 1
                    return found
                if self.store.claim(key, self.owner, self.lease_s) is not None:
                    continue  # another sweep claimed it first: wait for its answer
                return await self._send(page, config, key, step, job, client)
        return None

    async def _wait_for_other(self, key: str) -> Result | None:
        """Another live sweep claimed this key: wait for its answer; None when its claim lapses (it stopped
        or crashed) or it failed, and the key is ours to ask."""
        while not self.stop.is_set():
            found = self.store.get(key)
            if found is not None and found.ok:
                return found
            if self.store.live_owner(key) is None:
                return None
            await asyncio.sleep(WAIT_POLL_S)
        return None

    async def _send(self, page, config, key, step, job: RenderedPage, client) -> Result:
        """Ask, in a request slot the caller holds, and store the answer (or the failure) under ``key``."""
        params = step_params(config, step, self.ladders[config])
        sent = {k: v for k, v in params.items() if k not in ("image_format", "mode", "prompt", "ladder_step")}
        sampling = {k: sent.pop(k) for k in ("temperature", "max_tokens", "top_p") if k in sent}
        result = self._result(page, config, job, key, step, params=params)
        self._inflight.add(key)
        self.sent += 1
        try:
            answer = await client.ocr(job.url, stream=self.grid.stream, extra=sent or None, mode=config.mode,
                                      **sampling)  # fmt: skip
            result = replace(result, text=answer.text, finish_reason=answer.finish_reason,
                             prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
                             latency_s=answer.latency_s, ttft_s=answer.ttft_s, attempts=answer.attempts)  # fmt: skip
        except OCRRequestError as exc:
            result = replace(result, error=f"{page.id}: {exc}")
            self.failed += 1
            self.errors.setdefault(str(exc).split(" (gave up")[0], None)
        except asyncio.CancelledError:  # abandoned (second Ctrl-C): not answered, not stored
            self.sent -= 1
            self.store.release(key, self.owner)
            raise
        finally:
            self._inflight.discard(key)
        result = replace(result, finished=time.time())
        self.store.put(result)
        self.store.release(key, self.owner)
        return result

    def _result(self, page: Page, config: Config, job: RenderedPage | None, key: str, step: int,
                error: str | None = None, params: dict | None = None) -> Result:  # fmt: skip
        endpoint = self.endpoints[config.variant]
        profile = profile_for(endpoint.model)
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
            params=params if params is not None else config.request,
            reference=page.ground_truth,
            error=error,
            endpoint=endpoint.kind,
            run_id=self.run_id,
            started=time.time(),
            finished=time.time() if error else None,
            output_format=endpoint.output_format(endpoint.model),
            reference_format=page.ground_truth_format,
            mode=config.mode,
            family=profile.family.key if profile else None,
            ladder_step=step,
        )

    def _done(self, result: Result) -> None:
        self._bar.update(1)
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
