"""The local engine server: vLLM's OpenAI-compatible API in front of CPU OCR engines.

Run it with ``lighton-lab local-server --port 8000 --engines rapidocr,tesseract`` or, from Python,
``lighton_lab.endpoints.start_local()``. It speaks the subset of vLLM's API that LightOnOCR users touch,
so the client, sweeps, benchmark and notebooks run unchanged against it or a Modal deployment:

- ``GET /health``: 200 once every engine is loaded in every worker.
- ``GET /v1/models``: one model per engine (``rapidocr/ppocr-v6``, ``tesseract/eng``, ...).
- ``POST /v1/chat/completions``: one user message holding one ``image_url`` part with a
  ``data:image/...;base64,`` URL (text parts are accepted and ignored, as plain-mode LightOnOCR ignores
  nothing but has no prompt); ``max_tokens``, ``temperature``, ``top_p``, ``stream``,
  ``stream_options.include_usage``. The engines are deterministic: temperature and top_p change nothing.
- ``GET /metrics``: Prometheus text: HTTP requests by path and status, chat requests by model and status,
  a latency histogram, pages in flight, and vLLM's own metric names for tokens and running/waiting
  requests, so one dashboard (and ``lighton-lab bench --metrics``) reads both servers.

Token counts in ``usage``: ``completion_tokens`` counts words and punctuation marks of the output
(regex ``\\w+|[^\\w\\s]``), which is close to what a BPE tokenizer gives on prose; ``prompt_tokens`` is the
number of vision tokens LightOnOCR-1B's Pixtral encoder would make from the image (one per 28x28 px
patch after its 2x2 merge), so throughput figures compare with the GPU server's.

Errors are OpenAI error bodies: 400 undecodable image, 404 unknown model (listing the known ones), 413
payload over the limit (default 20 MB), 422 malformed request.

OCR runs in a process pool sized to the CPU, so the event loop keeps answering ``/health`` while pages
queue in arrival order. Identical (model, image) requests are answered from a small cache: the engines
are deterministic, and a temperature sweep should not pay for the same OCR twice.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import math
import os
import re
import time
import uuid
from collections import OrderedDict, defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from .faults import Faults
from .ocr import INSTANT, init_worker, recognize, resolve_engines

DEFAULT_MAX_PAYLOAD = 20 * 1024 * 1024
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128, float("inf"))
_TOKEN = re.compile(r"\w+|[^\w\s]")
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,", re.I)


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    """The text cut after ``max_tokens`` tokens, as a language model stops at its limit."""
    for i, match in enumerate(_TOKEN.finditer(text)):
        if i == max_tokens:
            return text[: match.start()].rstrip(), True
    return text, False


def vision_tokens(width: int, height: int) -> int:
    return math.ceil(width / 28) * math.ceil(height / 28)


class Metrics:
    """Prometheus counters kept by hand: a few numbers do not justify a dependency."""

    def __init__(self) -> None:
        self.http = defaultdict(int)  # (method, path, status) -> count
        self.chat = defaultdict(int)  # (model, status) -> count
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.in_flight = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.generation_tokens = 0

    def observe(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1

    def render(self, workers: int) -> str:
        running = min(self.in_flight, workers)  # the pool runs this many; the rest queue in arrival order
        out = ["# HELP lighton_lab_http_requests_total HTTP requests by method, path and status.",
               "# TYPE lighton_lab_http_requests_total counter"]
        out += [f'lighton_lab_http_requests_total{{method="{m}",path="{p}",status="{s}"}} {n}'
                for (m, p, s), n in sorted(self.http.items())]
        out += ["# HELP lighton_lab_chat_requests_total Chat completion requests by model and status.",
                "# TYPE lighton_lab_chat_requests_total counter"]
        out += [f'lighton_lab_chat_requests_total{{model="{m}",status="{s}"}} {n}' for (m, s), n in sorted(self.chat.items())]
        out += ["# HELP lighton_lab_request_duration_seconds Chat completion latency.",
                "# TYPE lighton_lab_request_duration_seconds histogram"]
        for bound, n in zip(LATENCY_BUCKETS, self.buckets):
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            out.append(f'lighton_lab_request_duration_seconds_bucket{{le="{le}"}} {n}')
        out += [f"lighton_lab_request_duration_seconds_sum {self.latency_sum:.6f}",
                f"lighton_lab_request_duration_seconds_count {self.latency_count}",
                "# TYPE lighton_lab_pages_in_flight gauge", f"lighton_lab_pages_in_flight {self.in_flight}",
                "# TYPE lighton_lab_workers gauge", f"lighton_lab_workers {workers}",
                "# TYPE lighton_lab_engine_cache_hits_total counter", f"lighton_lab_engine_cache_hits_total {self.cache_hits}",
                "# vLLM's names for the same quantities",
                "# TYPE vllm:num_requests_running gauge", f"vllm:num_requests_running {running}",
                "# TYPE vllm:num_requests_waiting gauge", f"vllm:num_requests_waiting {self.in_flight - running}",
                "# TYPE vllm:prompt_tokens_total counter", f"vllm:prompt_tokens_total {self.prompt_tokens}",
                "# TYPE vllm:generation_tokens_total counter", f"vllm:generation_tokens_total {self.generation_tokens}",
                "# TYPE vllm:request_success_total counter",
                f"vllm:request_success_total {sum(n for (_, s), n in self.chat.items() if s == '200')}"]
        return "\n".join(out) + "\n"


def create_app(
    models: list[str],
    workers: int | None = None,
    faults: Faults | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    cache_size: int = 512,
    api_key: str | None = None,
):
    """The ASGI app. ``models`` are served model names (see ``ocr.resolve_engines``)."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    workers = workers or os.cpu_count() or 1
    faults = faults or Faults()
    metrics = Metrics()
    cache: OrderedDict[tuple[str, str], tuple] = OrderedDict()
    pending: dict[str, tuple] = {}  # Modal-style poll id -> (task, params, model, started)
    state = {"ready": False, "pool": None}

    def error(status: int, message: str, param: str | None = None, headers: dict | None = None) -> JSONResponse:
        kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error")
        body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
        return JSONResponse(body, status_code=status, headers=headers)

    @asynccontextmanager
    async def lifespan(app):
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=init_worker, initargs=(models,))
        state["pool"] = pool
        # Start every worker now (each loads the engines once): /health is 200 only when all are ready.
        await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, _warm) for _ in range(workers)))
        state["ready"] = True
        try:
            yield
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    async def health(request: Request) -> Response:
        if not state["ready"]:
            return error(503, "engines are loading")
        return JSONResponse({"status": "ok", "models": models, "workers": workers})

    async def list_models(request: Request) -> Response:
        created = int(time.time())
        data = [{"id": m, "object": "model", "created": created, "owned_by": "lighton-lab",
                 "root": m, "max_model_len": None} for m in models]
        return JSONResponse({"object": "list", "data": data})

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(metrics.render(workers), media_type="text/plain; version=0.0.4")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_payload:
            raise RequestError(413, _too_large(int(declared), max_payload))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_payload:
                raise RequestError(413, _too_large(size, max_payload))
            chunks.append(chunk)
        return b"".join(chunks)

    async def ocr(model: str, data: bytes) -> tuple:
        key = (model, hashlib.sha256(data).hexdigest())
        if key in cache:
            cache.move_to_end(key)
            metrics.cache_hits += 1
            return cache[key]
        if model == INSTANT:  # benchmark engine: header only, no need for a worker process
            result = _recognize_or_error(model, data)
            if isinstance(result, str):
                raise RequestError(400, result, "messages")
            return result.text, result.width, result.height
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(state["pool"], _recognize_or_error, model, data)
        result = await future
        if isinstance(result, str):  # the worker could not decode the image
            raise RequestError(400, result, "messages")
        value = (result.text, result.width, result.height)
        cache[key] = value
        if len(cache) > cache_size:
            cache.popitem(last=False)
        return value

    async def chat(request: Request) -> Response:
        if api_key and request.headers.get("authorization") != f"Bearer {api_key}":
            metrics.chat[("unknown", "401")] += 1
            return error(401, "Missing or wrong API key: send `Authorization: Bearer <key>` (LIGHTON_LAB_API_KEY).")
        started = time.perf_counter()
        metrics.in_flight += 1
        status, model = 500, "unknown"
        try:
            body = await read_body(request)
            params = _parse_request(body)
            model = params["model"] or models[0]
            if model not in models:
                raise RequestError(404, f"The model `{model}` does not exist. Known models: {', '.join(models)}", "model")
            fault = faults.draw() if faults.active else None
            if faults.latency_s:
                await asyncio.sleep(faults.latency_s)
            if fault == "error":
                status = faults.error_status
                return error(status, f"injected fault: {status}")
            if fault == "rate_limit":
                status = 429
                return error(429, "injected fault: rate limited", headers={"Retry-After": f"{faults.retry_after_s:g}"})
            task = asyncio.ensure_future(ocr(model, params["image"]))
            if faults.redirect_after_s is not None:
                done, _ = await asyncio.wait({task}, timeout=faults.redirect_after_s)
                if not done:
                    call_id = uuid.uuid4().hex
                    pending[call_id] = (task, params, model, started)
                    status = 303
                    return Response(status_code=303, headers={"Location": f"/v1/chat/completions?__modal_function_call_id={call_id}"})
            text, width, height = await task
            response = _answer(params, model, text, width, height, fault, faults, metrics)
            status = 200
            return response
        except RequestError as exc:
            status = exc.status
            return error(exc.status, exc.message, exc.param)
        finally:
            metrics.in_flight -= 1
            metrics.chat[(model, str(status))] += 1
            if status == 200:
                metrics.observe(time.perf_counter() - started)

    async def poll(request: Request) -> Response:
        """Modal's redirect target: wait a while more for the result, or redirect again."""
        call_id = request.query_params.get("__modal_function_call_id", "")
        if call_id not in pending:
            return error(404, f"unknown function call {call_id!r}")
        task, params, model, started = pending[call_id]
        done, _ = await asyncio.wait({task}, timeout=faults.redirect_after_s)
        if not done:
            return Response(status_code=303, headers={"Location": f"/v1/chat/completions?__modal_function_call_id={call_id}"})
        del pending[call_id]
        try:
            text, width, height = task.result()
        except RequestError as exc:
            return error(exc.status, exc.message, exc.param)
        metrics.chat[(model, "200")] += 1
        metrics.observe(time.perf_counter() - started)
        return _answer(params, model, text, width, height, None, faults, metrics)

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/chat/completions", poll, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    return _CountRequests(app, metrics)


def _too_large(size: int, limit: int) -> str:
    return (f"Request body of {size / 1e6:.1f} MB is over the server's limit of {limit / 1e6:.1f} MB. "
            "Render the page smaller (max_side=1540 at 200 DPI is what LightOnOCR expects) or send JPEG.")


def _warm() -> int:
    time.sleep(0.2)  # keep this worker busy so the pool starts the next one
    return os.getpid()


def _recognize_or_error(model: str, data: bytes):
    from PIL import UnidentifiedImageError

    try:
        return recognize(model, data)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        return f"Could not decode the image ({exc}). Send a PNG or JPEG as a base64 data URL."


def _parse_request(body: bytes) -> dict:
    """The fields we use, checked as vLLM checks them; RequestError(422/400) otherwise."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RequestError(422, "The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise RequestError(422, "The request body must be a JSON object.")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(422, "`messages` must be a non-empty list.", "messages")
    images = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise RequestError(422, "Each message must be an object with a `role`.", "messages")
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        if not isinstance(content, list):
            raise RequestError(422, "`content` must be a string or a list of parts.", "messages")
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                raise RequestError(422, "Each content part must be {'type': 'text'|'image_url', ...}.", "messages")
            if part["type"] == "image_url":
                url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
                if not isinstance(url, str):
                    raise RequestError(422, "An image_url part needs {'image_url': {'url': ...}}.", "messages")
                images.append(url)
    if not images:
        raise RequestError(400, "No image in the request: send one image_url part with the page.", "messages")
    if len(images) > 1:
        raise RequestError(400, f"At most 1 image(s) may be provided in one request; got {len(images)}.", "messages")
    if not _DATA_URL.match(images[0]):
        raise RequestError(400, "The local server takes images inline: use a data:image/png;base64,... URL.", "messages")
    try:
        image = base64.b64decode(images[0].split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "The image data URL is not valid base64.", "messages") from None
    max_tokens = payload.get("max_tokens", payload.get("max_completion_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        raise RequestError(422, "`max_tokens` must be a positive integer.", "max_tokens")
    for name in ("temperature", "top_p"):
        value = payload.get(name)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            raise RequestError(422, f"`{name}` must be a non-negative number.", name)
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(422, "`model` must be a string.", "model")
    stream_options = payload.get("stream_options") or {}
    return {
        "model": model,
        "image": image,
        "max_tokens": max_tokens,
        "stream": bool(payload.get("stream", False)),
        "include_usage": bool(isinstance(stream_options, dict) and stream_options.get("include_usage")),
    }


def _answer(params: dict, model: str, text: str, width: int, height: int, fault, faults: Faults, metrics: Metrics):
    from starlette.responses import Response, StreamingResponse

    limit = params["max_tokens"]
    text, cut = truncate(text, limit) if limit else (text, False)
    usage = {"prompt_tokens": vision_tokens(width, height), "completion_tokens": count_tokens(text)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    metrics.prompt_tokens += usage["prompt_tokens"]
    metrics.generation_tokens += usage["completion_tokens"]
    finish = "length" if cut else "stop"
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if params["stream"]:
        events = _stream_events(ident, created, model, text, finish, usage if params["include_usage"] else None)
        return StreamingResponse(_faulty_stream(events, fault, faults), media_type="text/event-stream")
    body = {
        "id": ident, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish, "logprobs": None}],
        "usage": usage,
    }
    if fault == "malformed":
        return Response(faults.malformed_body(), media_type="application/json")
    data = json.dumps(body).encode()
    if fault == "drop":  # declare more than we send: the client sees the connection cut mid-answer
        return _Truncated(data)
    if fault == "stall":
        return StreamingResponse(_stall_then(data, faults.stall_s), media_type="application/json")
    return Response(data, media_type="application/json")


def _stream_events(ident, created, model, text, finish, usage):
    def chunk(delta, finish_reason=None, **extra):
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice], **extra}

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"[^\n]*\n|[^\n]+$", text):  # one chunk a line, newlines kept
        yield chunk({"content": piece})
    yield chunk({}, finish)
    if usage is not None:
        yield {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
               "choices": [], "usage": usage}


async def _faulty_stream(events, fault, faults: Faults):
    for i, event in enumerate(events):
        yield f"data: {json.dumps(event)}\n\n".encode()
        if i == 1 and fault == "stall":
            await asyncio.sleep(faults.stall_s)
        if i == 1 and fault == "drop":
            raise ConnectionAbortedError("injected fault: connection dropped mid-stream")
    if fault == "malformed":
        yield b"data: {not json\n\n"
    yield b"data: [DONE]\n\n"


async def _stall_then(data: bytes, seconds: float):
    yield data[:1]
    await asyncio.sleep(seconds)
    yield data[1:]


class _Truncated:
    """An answer whose Content-Length promises more than is sent: a connection dropped mid-answer."""

    def __init__(self, data: bytes):
        self.data = data

    async def __call__(self, scope, receive, send):
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self.data) + 500).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.data[: len(self.data) // 2], "more_body": True})
        raise ConnectionAbortedError("injected fault: connection dropped")


class _CountRequests:
    """ASGI middleware counting every HTTP request by method, route and status for /metrics."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen = {"status": 500}

        async def counting_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            path = scope["path"] if scope["path"] in _PATHS else "other"
            self.metrics.http[(scope["method"], path, str(seen["status"]))] += 1


_PATHS = {"/health", "/v1/models", "/v1/chat/completions", "/metrics"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lighton-lab local-server", description="OpenAI-compatible CPU OCR server.")
    add_arguments(parser)
    run(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--engines", default="rapidocr,tesseract",
                        help="comma-separated: rapidocr, tesseract, tesseract/fra+deu, ... (missing ones are skipped "
                             "when left at the default)")
    parser.add_argument("--workers", type=int, default=None, help="OCR processes (default: CPU count)")
    parser.add_argument("--max-payload-mb", type=float, default=DEFAULT_MAX_PAYLOAD / 1024 / 1024)
    parser.add_argument("--cache-size", type=int, default=512, help="deterministic-result cache entries (0: off)")
    parser.add_argument("--faults", default="", help="fault injection, e.g. 'error_rate=0.2,drop_rate=0.1,seed=1'")
    parser.add_argument("--start-delay", type=float, default=0.0, help="wait before listening (simulates a cold start)")
    parser.add_argument("--api-key", default=os.environ.get("LIGHTON_LAB_SERVER_API_KEY"),
                        help="require `Authorization: Bearer KEY` on chat requests, as vLLM's --api-key does "
                             "(default: $LIGHTON_LAB_SERVER_API_KEY)")


def run(args: argparse.Namespace) -> None:
    import uvicorn

    names = [n for n in args.engines.split(",") if n.strip()]
    try:
        models = resolve_engines(names)
    except ValueError as exc:
        if args.engines != "rapidocr,tesseract":
            raise SystemExit(f"error: {exc}") from None
        models = [m for n in names for m in _try_resolve(n)]
        if not models:
            raise SystemExit(f"error: {exc}") from None
    if args.start_delay:
        time.sleep(args.start_delay)
    app = create_app(models, workers=args.workers, faults=Faults.parse(args.faults),
                     max_payload=int(args.max_payload_mb * 1024 * 1024), cache_size=args.cache_size,
                     api_key=args.api_key)
    print(f"lighton-lab local server: models {', '.join(models)} on http://{args.host}:{args.port}/v1", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_keep_alive=30, backlog=2048)


def _try_resolve(name: str) -> list[str]:
    try:
        return resolve_engines([name])
    except ValueError:
        return []


if __name__ == "__main__":
    main()
