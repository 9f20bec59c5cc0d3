"""The local server's Prometheus metrics, through ``prometheus_client`` with a registry of its own.

Besides its own names it keeps vLLM's (``vllm:num_requests_running``, ``vllm:num_requests_waiting``,
``vllm:prompt_tokens_total``, ``vllm:generation_tokens_total``, ``vllm:request_success_total``) so one
dashboard, and ``lighton-lab bench --metrics``, read both servers.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # the server process is ours: no *_created series next to every counter

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, float("inf"))


class ServerMetrics:
    def __init__(self, workers: int):
        self.registry = registry = CollectorRegistry()
        self.http = Counter(
            "lighton_lab_http_requests",
            "HTTP requests by method, path and status.",
            ["method", "path", "status"],
            registry=registry,
        )
        self.chat = Counter(
            "lighton_lab_chat_requests",
            "Chat completion requests by model and status.",
            ["model", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "lighton_lab_request_duration_seconds",
            "Chat completion latency.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.pages = 0  # chat requests being answered
        Gauge("lighton_lab_pages_in_flight", "Chat requests being answered.", registry=registry).set_function(
            lambda: self.pages
        )
        Gauge("lighton_lab_workers", "OCR worker processes.", registry=registry).set(workers)
        self.cache_hits = Counter(
            "lighton_lab_engine_cache_hits", "Answers from the result cache.", registry=registry
        )
        # vLLM's names for the same quantities. The pool runs `workers` pages; the rest queue in order.
        running = Gauge("vllm:num_requests_running", "Requests being processed.", registry=registry)
        running.set_function(lambda: min(self.pages, workers))
        waiting = Gauge("vllm:num_requests_waiting", "Requests waiting for a worker.", registry=registry)
        waiting.set_function(lambda: max(0, self.pages - workers))
        self.prompt_tokens = Counter("vllm:prompt_tokens", "Prefill tokens processed.", registry=registry)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Generation tokens processed.", registry=registry
        )
        self.success = Counter("vllm:request_success", "Successfully processed requests.", registry=registry)

    def finished(self, model: str, status: int, seconds: float) -> None:
        self.chat.labels(model, str(status)).inc()
        if status == 200:
            self.latency.observe(seconds)
            self.success.inc()

    def tokens(self, usage: dict) -> None:
        self.prompt_tokens.inc(usage["prompt_tokens"])
        self.generation_tokens.inc(usage["completion_tokens"])

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
