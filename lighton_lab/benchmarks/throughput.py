"""Throughput benchmarks: pages/s, latency percentiles, tokens/s and dollars per 1,000 pages.

``benchmark(endpoint, pages, parallel=64)`` renders the pages first (the server is what is measured),
then keeps ``parallel`` requests in flight and prints the block the user guide prints (total pages,
parallel requests, total duration, average page duration, throughput, tokens) plus latency p50/p95/p99,
time to first token, failures, aggregate output tokens/s (real tokens from ``usage``; the guide counted
words) and the cost per 1,000 pages on a GPU of ``models.GPUS``. With ``metrics=True`` it reads the
server's Prometheus ``/metrics`` before, during (peaks) and after, and prints the deltas that matter.

``client_capacity(pages)`` measures the client side alone (render + encode + HTTP + parse) against a
local server whose ``instant`` engine answers at once, so a user knows how many GPUs one laptop can feed.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass, field

from lighton_lab.client.ocr import AsyncOCRClient, RetryPolicy
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.errors import OCRRequestError
from lighton_lab.models.gpus import COST_NOTE
from lighton_lab.procs import run_async
from lighton_lab.render import MAX_SIDE, cap_for, render_job, render_pool


@dataclass
class BenchResult:
    pages: int
    parallel: int
    duration_s: float
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    prompt_tokens: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    gpu: str | None = None
    metrics: dict = field(default_factory=dict)
    model: str = ""
    _tokens: list[int] = field(default_factory=list, repr=False)  # per page, for the tokens/s-per-page line

    @property
    def ok(self) -> int:
        return self.pages - self.failures

    @property
    def pages_per_s(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float, values: list[float] | None = None) -> float | None:
        values = sorted(self.latencies if values is None else values)
        if not values:
            return None
        return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]

    @property
    def cost_per_1000_pages(self) -> float | None:
        if not self.gpu or not self.pages_per_s:
            return None
        from lighton_lab.models.gpus import cost_per_1000_pages

        return cost_per_1000_pages(self.pages_per_s, self.gpu)

    def block(self) -> str:
        """The user guide's block, then the figures it lacked."""
        mean = statistics.fmean(self.latencies) if self.latencies else 0.0
        per_page_tps = (
            statistics.fmean([t / s for t, s in zip(self._tokens, self.latencies) if s > 0])
            if self._tokens
            else 0.0
        )
        lines = [
            "=" * 60,
            f"Total pages:                 {self.pages}",
            f"Parallel requests:           {self.parallel}",
            f"Total duration:              {self.duration_s:.2f} s",
            f"Average page duration:       {mean:.2f} s",
            f"Throughput:                  {self.pages_per_s:.2f} pages/s",
            f"Total tokens extracted:      {self.completion_tokens}",
            f"Average tokens/s per page:   {per_page_tps:.1f}",
            "-" * 60,
            "Latency p50 / p95 / p99:     " + " / ".join(_s(self.percentile(q)) for q in (50, 95, 99)),
            "Time to first token p50/p95: "
            + " / ".join(_s(self.percentile(q, self.ttfts)) for q in (50, 95)),
            f"Failures:                    {self.failures}",
            f"Output tokens/s (aggregate): {self.completion_tokens / self.duration_s if self.duration_s else 0:.1f}",
            f"Prompt (image) tokens:       {self.prompt_tokens}",
        ]
        if self.gpu:
            cost = self.cost_per_1000_pages
            lines.append(
                f"Cost per 1,000 pages:        at least ${cost:.3f} on {self.gpu} ({COST_NOTE})"
                if cost
                else "Cost: n/a"
            )
        for name, value in self.metrics.items():
            lines.append(
                f"{name + ':':29}{value:g}" if isinstance(value, (int, float)) else f"{name}: {value}"
            )
        lines.append("=" * 60)
        return "\n".join(lines)


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def render_all(
    pages, dpi: float = 200, max_side: int | None = MAX_SIDE, image_format: str = "PNG"
) -> list[str]:
    """Data URLs for the pages, rendered in worker processes."""
    with render_pool(min(4, max(1, len(pages)))) as pool:
        jobs = [pool.submit(render_job, p, dpi, max_side, image_format) for p in pages]
        return [job.result().url for job in jobs]


async def _drive(
    endpoint: Endpoint,
    images: list[str],
    parallel: int,
    stream: bool,
    temperature: float | None,
    max_tokens: int | None,
    retry: RetryPolicy | None,
    result: BenchResult,
) -> None:
    slots = asyncio.Semaphore(parallel)
    async with AsyncOCRClient(endpoint, retry=retry or RetryPolicy()) as client:

        async def one(url: str) -> None:
            async with slots:
                try:
                    answer = await client.ocr(
                        url, temperature=temperature, max_tokens=max_tokens, stream=stream
                    )
                except OCRRequestError as exc:
                    result.failures += 1
                    result.errors.append(str(exc))
                    return
                result.latencies.append(answer.latency_s)
                if answer.ttft_s is not None:
                    result.ttfts.append(answer.ttft_s)
                result.completion_tokens += answer.completion_tokens or 0
                result.prompt_tokens += answer.prompt_tokens or 0
                result._tokens.append(answer.completion_tokens or 0)

        await asyncio.gather(*(one(u) for u in images))


def benchmark(
    endpoint: Endpoint,
    pages=None,
    images: list[str] | None = None,
    parallel: int = 64,
    dpi: float = 200,
    max_side: int | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = True,
    gpu: str | None = None,
    metrics: bool = False,
    retry: RetryPolicy | None = None,
) -> BenchResult:
    """Measure an endpoint on ``pages`` (Corpus pages) or ready ``images`` (data URLs).

    ``None`` parameters take the served model's profile (its page size, sampling and output cap).
    With ``metrics``, the 1 s ``/metrics`` poller is one more request in flight: on a Modal endpoint, whose
    inputs per container are a hard cap, ``parallel`` is kept one below its capacity, so every page and
    the poller land on one container and the server's deltas describe the run.
    """
    max_side = cap_for(endpoint.model) if max_side is None else max_side
    if metrics and endpoint.kind == "modal" and endpoint.capacity and parallel + 1 > endpoint.capacity:
        parallel = max(1, endpoint.capacity - 1)
        print(
            f"parallel lowered to {parallel}: the /metrics poller needs one of the endpoint's "
            f"{endpoint.capacity} slots",
            flush=True,
        )
    if images is None:
        images = render_all(list(pages), dpi, max_side)
    result = BenchResult(len(images), parallel, 0.0, gpu=gpu or endpoint.gpu, model=endpoint.model)
    before = _scrape(endpoint) if metrics else {}
    peaks: dict[str, float] = {}

    async def run() -> None:
        sampler = asyncio.create_task(_sample_peaks(endpoint, peaks)) if metrics else None
        started = time.perf_counter()
        await _drive(endpoint, images, parallel, stream, temperature, max_tokens, retry, result)
        result.duration_s = time.perf_counter() - started
        if sampler:
            sampler.cancel()

    run_async(run)
    if metrics:
        result.metrics = metric_deltas(before, _scrape(endpoint), peaks)
    return result


# ---- Prometheus ----------------------------------------------------------------------------------

COUNTERS = {
    "requests": ("vllm:request_success_total", "lighton_lab_chat_requests_total"),
    "generation tokens": ("vllm:generation_tokens_total",),
    "prompt tokens": ("vllm:prompt_tokens_total",),
}
GAUGES = {
    "peak running": ("vllm:num_requests_running",),
    "peak waiting": ("vllm:num_requests_waiting",),
    "peak KV-cache usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
}


def parse_prometheus(text: str) -> dict[str, float]:
    """Sum of each sample name over its labels (what the deltas need), parsed by prometheus_client."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _scrape(endpoint: Endpoint) -> dict[str, float]:
    try:
        return parse_prometheus(endpoint.metrics())
    except Exception:  # metrics are a bonus: a server without /metrics still gets benchmarked
        return {}


async def _sample_peaks(endpoint: Endpoint, peaks: dict[str, float]) -> None:
    while True:
        sample = await asyncio.to_thread(_scrape, endpoint)
        for label, names in GAUGES.items():
            for name in names:
                if name in sample:
                    peaks[label] = max(peaks.get(label, 0.0), sample[name])
                    break
        await asyncio.sleep(1.0)


def metric_deltas(
    before: dict[str, float], after: dict[str, float], peaks: dict[str, float]
) -> dict[str, float]:
    deltas: dict[str, float] = {}
    for label, names in COUNTERS.items():
        for name in names:
            if name in after:
                deltas[f"server {label}"] = after[name] - before.get(name, 0.0)
                break
    deltas.update({f"server {k}": v for k, v in peaks.items()})
    return deltas


# ---- client capacity -----------------------------------------------------------------------------


def client_capacity(pages, dpi: float = 200, parallel: int = 16, image_format: str = "PNG") -> dict:
    """Pages/s the client side sustains (render in processes + encode + HTTP + parse) against the local
    server's ``instant`` engine, which decodes nothing and answers at once."""
    from lighton_lab.endpoints.local import start_local

    pages = list(pages)
    with start_local(engines="instant", workers=1, cache_size=0) as endpoint, render_pool(2) as pool:
        for job in [pool.submit(render_job, pages[0], dpi, MAX_SIDE, image_format) for _ in range(2)]:
            job.result()  # start the workers first: steady state is what a long sweep sees
        started = time.perf_counter()

        async def run() -> None:
            loop = asyncio.get_running_loop()
            slots = asyncio.Semaphore(parallel)
            async with AsyncOCRClient(endpoint, retry=RetryPolicy(attempts=3)) as client:

                async def one(page) -> None:
                    async with slots:
                        job = await loop.run_in_executor(pool, render_job, page, dpi, MAX_SIDE, image_format)
                        await client.ocr(job.url, max_tokens=16)

                await asyncio.gather(*(one(p) for p in pages))

        run_async(run)
        seconds = time.perf_counter() - started
    return {
        "pages": len(pages),
        "seconds": seconds,
        "pages_per_s": len(pages) / seconds,
        "dpi": dpi,
        "image_format": image_format,
        "parallel": parallel,
    }


def store_bench(result: BenchResult, store, source: str, settings: dict, endpoint: Endpoint) -> int:
    """Record a benchmark as a run of kind "bench" (plan_sweep reads the last one for its estimates)."""
    run_id = store.start_run("bench", "bench", source, settings, endpoint.info(), {})
    store.finish_run(
        run_id,
        "finished",
        {
            "pages_per_s": result.pages_per_s,
            "p50_s": result.percentile(50),
            "p95_s": result.percentile(95),
            "failures": result.failures,
            "pages": result.pages,
            "parallel": result.parallel,
            "model": endpoint.model,
            "gpu": result.gpu,
            "completion_tokens": result.completion_tokens,
            "cost_per_1000_pages": result.cost_per_1000_pages,
        },
    )
    return run_id
