"""The local engine server: vLLM's OpenAI-compatible API in front of CPU OCR engines.

Run it with ``lighton-lab local-server --port 8000 --engines rapidocr,tesseract`` or, from Python,
``lighton_lab.endpoints.start_local()``. It answers as vLLM does wherever a client can tell (see
``protocol``), so the client, sweeps, benchmark, notebooks and LightOn's own client run unchanged against
it or a Modal deployment:

- ``GET /health``: 200 once every engine is loaded in every worker.
- ``GET /v1/models``: one model per engine (``rapidocr/ppocr-v6``, ``tesseract/eng``, ...) and the
  ``--served-model-name`` aliases.
- ``POST /v1/chat/completions``: one page image as a data URL; ``max_tokens``, ``stream``,
  ``stream_options.include_usage``; temperature and top_p are checked but change nothing (the engines
  are deterministic). ``GET`` on it is Modal's 303 poll target (fault injection).
- ``GET /metrics``: Prometheus text through ``prometheus_client``: HTTP requests by path and status,
  chat requests by model and status, a latency histogram, pages in flight, and vLLM's own metric names
  for tokens and running/waiting requests, so ``lighton-lab bench --metrics`` reads both servers.

OCR runs in a process pool sized to the CPU, so the event loop keeps answering ``/health`` while pages
queue in arrival order. Identical (model, image) requests are answered from a small cache: the engines
are deterministic, and a temperature sweep should not pay for the same OCR twice.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from lighton_lab.engines.faults import Faults
from lighton_lab.engines.ocr import ImageRejected, init_worker, recognize
from lighton_lab.engines.options import API_KEY_ENV, LocalServerOptions
from lighton_lab.engines.prometheus import ServerMetrics
from lighton_lab.engines.protocol import (
    ChatRequest,
    RequestError,
    check_content_type,
    completion,
    parse_request,
    stream_events,
)
from lighton_lab.engines.registry import DEFAULT_ENGINES, EngineError, engine_of, resolve_engines

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MB = 1_000_000  # the payload limit is in megabytes of 10^6 bytes, as the option says


class LocalServer:
    """The routes as methods; ``app()`` is the ASGI application (Starlette)."""

    def __init__(
        self, models: list[str], options: LocalServerOptions | None = None, api_key: str | None = None
    ):
        options = options or LocalServerOptions()
        self.models, self.options, self.api_key = list(models), options, api_key
        self.aliases = {
            alias: _engine_name(target, self.models) for alias, target in options.served_model_names
        }
        for alias, target in self.aliases.items():
            if target not in self.models:
                raise EngineError(
                    f"--served-model-name {alias}={target}: {target} is not served here "
                    f"({', '.join(self.models)})"
                )
        self.workers = options.workers or os.cpu_count() or 1
        self.faults = Faults.parse(options.faults)
        self.max_payload, self.cache_size = int(options.max_payload_mb * MB), options.cache_size
        self.metrics = ServerMetrics(self.workers)
        self.cache: OrderedDict[tuple[str, str], tuple] = OrderedDict()
        self.pending: dict[str, tuple] = {}  # Modal-style poll id -> (task, request, model, started)
        self.pool: ProcessPoolExecutor | None = None
        self.ready = False

    @property
    def served(self) -> list[str]:
        return self.models + [a for a in self.aliases if a not in self.models]

    # ---- routes ----------------------------------------------------------------------------------

    async def health(self, request):
        from starlette.responses import JSONResponse

        if not self.ready:
            return _error(RequestError(503, "engines are loading"))
        return JSONResponse({"status": "ok", "models": self.served, "workers": self.workers})

    async def list_models(self, request):
        from starlette.responses import JSONResponse

        created = int(time.time())
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": created,
                        "owned_by": "lighton-lab",
                        "root": self.aliases.get(m, m),
                        "max_model_len": None,
                    }
                    for m in self.served
                ],
            }
        )

    async def prometheus(self, request):
        from starlette.responses import Response

        body, content_type = self.metrics.render()
        return Response(body, media_type=content_type)

    async def chat(self, request):
        started = time.perf_counter()
        model, status = "unknown", 500
        self.metrics.pages += 1
        try:
            check_content_type(request.headers.get("content-type"))
            params = parse_request(await self._read_body(request))
            model = params.model or self.served[0]
            if model not in self.served:
                raise RequestError(
                    404,
                    f"The model `{model}` does not exist. Known models: {', '.join(self.served)}",
                    "model",
                )
            response, status = await self._answer_with_faults(params, model, started)
            return response
        except RequestError as exc:
            status = exc.status
            return _error(exc)
        finally:
            self.metrics.pages -= 1
            self.metrics.finished(model, status, time.perf_counter() - started)

    async def poll(self, request):
        """Modal's redirect target: wait a while more for the result, or redirect again."""
        call_id = request.query_params.get("__modal_function_call_id", "")
        if call_id not in self.pending:
            return _error(RequestError(404, f"unknown function call {call_id!r}"))
        task, params, model, started = self.pending[call_id]
        done, _ = await asyncio.wait({task}, timeout=self.faults.redirect_after_s)
        if not done:
            return _redirect(call_id)
        del self.pending[call_id]
        try:
            text, width, height = task.result()
        except RequestError as exc:
            self.metrics.finished(model, exc.status, time.perf_counter() - started)
            return _error(exc)
        self.metrics.finished(model, 200, time.perf_counter() - started)
        return self._answer(params, model, text, width, height, None)

    # ---- the work --------------------------------------------------------------------------------

    async def _read_body(self, request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_payload:
            raise RequestError(413, _too_large(int(declared), self.max_payload))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_payload:
                raise RequestError(413, _too_large(size, self.max_payload))
            chunks.append(chunk)
        return b"".join(chunks)

    async def _answer_with_faults(self, params: ChatRequest, model: str, started: float):
        """The one place where injected faults change an answer (see ``faults``)."""
        fault = self.faults.draw() if self.faults.active else None
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        if fault == "error":
            raise RequestError(self.faults.error_status, f"injected fault: {self.faults.error_status}")
        if fault == "rate_limit":
            from starlette.responses import JSONResponse

            error = RequestError(429, "injected fault: rate limited")
            return JSONResponse(error.body(), 429, {"Retry-After": f"{self.faults.retry_after_s:g}"}), 429
        task = asyncio.ensure_future(self._ocr(model, params.image))
        if self.faults.redirect_after_s is not None:
            done, _ = await asyncio.wait({task}, timeout=self.faults.redirect_after_s)
            if not done:
                call_id = uuid.uuid4().hex
                self.pending[call_id] = (task, params, model, started)
                return _redirect(call_id), 303
        text, width, height = await task
        return self._answer(params, model, text, width, height, fault), 200

    async def _ocr(self, model: str, data: bytes) -> tuple[str, int, int]:
        target = self.aliases.get(model, model)
        key = (target, hashlib.sha256(data).hexdigest())
        if key in self.cache:
            self.cache.move_to_end(key)
            self.metrics.cache_hits.inc()
            return self.cache[key]
        engine = engine_of(target)
        if not getattr(engine, "needs_pixels", True):  # the benchmark engine: no worker hop
            result = _recognize_or_error(model, data, target)
        else:
            result = await asyncio.get_running_loop().run_in_executor(
                self.pool, _recognize_or_error, model, data, target
            )
        if isinstance(result, str):
            raise RequestError(400, result, "messages")
        value = (result.text, result.width, result.height)
        if getattr(engine, "needs_pixels", True) and self.cache_size:
            self.cache[key] = value
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        return value

    def _answer(self, params: ChatRequest, model: str, text: str, width: int, height: int, fault):
        from starlette.responses import Response, StreamingResponse

        from lighton_lab.engines.faults import faulty_body, faulty_stream

        body, usage = completion(params, model, text, width, height)
        self.metrics.tokens(usage)
        if params.stream:
            return StreamingResponse(
                faulty_stream(stream_events(body, params.include_usage), fault, self.faults),
                media_type="text/event-stream",
            )
        return faulty_body(json.dumps(body).encode(), fault, self.faults) or Response(
            json.dumps(body), media_type="application/json"
        )

    # ---- the application ---------------------------------------------------------------------------

    def app(self):
        from contextlib import asynccontextmanager

        from starlette.applications import Starlette
        from starlette.routing import Route

        @asynccontextmanager
        async def lifespan(app):
            self.pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(self.models, os.getpid()),
            )
            loop = asyncio.get_running_loop()
            # Start every worker now (each loads the engines once): /health is 200 only when all are ready.
            await asyncio.gather(*(loop.run_in_executor(self.pool, _warm) for _ in range(self.workers)))
            self.ready = True
            try:
                yield
            finally:
                self.pool.shutdown(wait=False, cancel_futures=True)

        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/chat/completions", self.poll, methods=["GET"]),
            Route("/metrics", self.prometheus, methods=["GET"]),
        ]
        app = Starlette(routes=routes, lifespan=lifespan)
        return _Guard(app, self.metrics, self.api_key)


def _error(error: RequestError):
    from starlette.responses import JSONResponse

    return JSONResponse(error.body(), status_code=error.status)


def _redirect(call_id: str):
    from starlette.responses import Response

    return Response(
        status_code=303, headers={"Location": f"/v1/chat/completions?__modal_function_call_id={call_id}"}
    )


def _too_large(size: int, limit: int) -> str:
    return (
        f"Request body of {size / MB:.1f} MB is over the server's limit of {limit / MB:.1f} MB. "
        "Render the page smaller (max_side=1540 at 200 DPI is what LightOnOCR expects) or send JPEG."
    )


def _warm() -> int:
    time.sleep(0.2)  # keep this worker busy so the pool starts the next one
    return os.getpid()


def _recognize_or_error(model: str, data: bytes, target: str):
    try:
        return recognize(model, data, target)
    except ImageRejected as exc:
        return str(exc)


_PATHS = {"/health", "/v1/models", "/v1/chat/completions", "/metrics"}


class _Guard:
    """ASGI middleware: the API key on every ``/v1`` path (as vLLM's), and request counts for /metrics."""

    def __init__(self, app, metrics: ServerMetrics, api_key: str | None):
        self.app, self.metrics, self.api_key = app, metrics, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen = {"status": 500}

        async def counting_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            if self.api_key and scope["path"].startswith("/v1") and not self._authorized(scope):
                response = _error(
                    RequestError(
                        401, "Unauthorized: send `Authorization: Bearer <key>` (LIGHTON_LAB_API_KEY)."
                    )
                )
                return await response(scope, receive, counting_send)
            await self.app(scope, receive, counting_send)
        finally:
            path = scope["path"] if scope["path"] in _PATHS else "other"
            self.metrics.http.labels(scope["method"], path, str(seen["status"])).inc()

    def _authorized(self, scope) -> bool:
        """RFC 9110: the scheme is case-insensitive (``bearer`` works); the key is compared exactly."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.api_key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="lighton-lab local-server", description="OpenAI-compatible CPU OCR server."
    )
    add_arguments(parser)
    run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    LocalServerOptions.add_arguments(parser)
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require `Authorization: Bearer KEY` on every /v1 path, as vLLM's --api-key does "
        f"(default: ${API_KEY_ENV})",
    )


def run(args: argparse.Namespace) -> None:
    import uvicorn

    try:
        options = LocalServerOptions.from_args(args)
        models = resolve_engines(options.engines.split(","), skip_missing=options.engines == DEFAULT_ENGINES)
        server = LocalServer(models, options, api_key=args.api_key)
    except (EngineError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if options.host not in LOOPBACK and not args.api_key:
        print(
            f"warning: listening on {options.host} without --api-key: anyone who can reach this machine can "
            f"use the server. Set --api-key (or ${API_KEY_ENV}) or bind to 127.0.0.1.",
            file=sys.stderr,
            flush=True,
        )
    if options.start_delay:
        time.sleep(options.start_delay)
    print(
        f"lighton-lab local server: models {', '.join(server.served)} on http://{options.host}:{options.port}/v1",
        flush=True,
    )
    uvicorn.run(
        server.app(),
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_keep_alive=30,
        backlog=2048,
    )


def _engine_name(target: str, models: list[str]) -> str:
    """An alias's engine as served: empty is the first model, a short name (rapidocr) its full name."""
    if not target:
        return models[0]
    return target if target in models else next((m for m in models if m.split("/", 1)[0] == target), target)


if __name__ == "__main__":
    main()
