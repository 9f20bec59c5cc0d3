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
import math
import os
import sys
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from lighton_lab import __version__
from lighton_lab.engines.answers import answer_as, card_extras, stands_in_for
from lighton_lab.engines.faults import Faults, faulty_body, faulty_stream
from lighton_lab.engines.generation import Generation
from lighton_lab.engines.guard import Guard
from lighton_lab.engines.ocr import (
    ImageRejected,
    Recognition,
    failed_to_load,
    init_worker,
    recognize,
    too_many_pixels,
)
from lighton_lab.engines.options import API_KEY_ENV, LocalServerOptions
from lighton_lab.engines.prometheus import ServerMetrics
from lighton_lab.engines.protocol import (
    ChatRequest,
    RequestError,
    check_content_type,
    check_sampling,
    output_budget,
    parse_body,
    refuse_unsupported,
    render,
)
from lighton_lab.engines.registry import (
    DEFAULT_ENGINES,
    EngineError,
    engine_of,
    engine_versions,
    resolve_engines,
)
from lighton_lab.engines.responses import Chunks, completion, fingerprint, model_cards, request_id, usage

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
                    f"--served-model-name {alias}={target}: {target} is not served here ({', '.join(self.models)})"
                )
        self.workers = options.workers or os.cpu_count() or 1
        self.faults = Faults.parse(options.faults)
        self.max_payload, self.max_model_len = int(options.max_payload_mb * MB), options.max_model_len
        self.fingerprint = fingerprint(__version__, repr((self.models, options)))
        self.metrics = ServerMetrics(self.workers)
        self.cache: OrderedDict[tuple[str, str], Recognition] = OrderedDict()
        self.pending: dict[str, tuple] = {}  # Modal-style poll id -> (task, request, model, started)
        self.pool: ProcessPoolExecutor | None = None
        self.ready = False
        self.slots: asyncio.Semaphore | None = None  # max_num_seqs
        self.versions: dict | None = None  # the engines' versions, for /version

    @property
    def served(self) -> list[str]:
        return self.models + [a for a in self.aliases if a not in self.models]

    # ---- routes ----------------------------------------------------------------------------------

    async def health(self, request):
        from starlette.responses import JSONResponse

        if not self.ready:
            return _error(RequestError(503, "engines are loading"))
        return JSONResponse({"status": "ok", "models": self.served, "workers": self.workers})

    async def version(self, request):
        """vLLM's ``/version`` gives its version; this one the package's, and what it serves."""
        from starlette.responses import JSONResponse

        if self.versions is None:  # asked once: a subprocess for Tesseract
            self.versions = await asyncio.to_thread(engine_versions, self.models)
        return JSONResponse({"version": __version__, "server": "lighton-lab local engine server",
                             "engines": self.models, "engine_versions": self.versions, "aliases": self.aliases,
                             "max_model_len": self.max_model_len})  # fmt: skip

    async def list_models(self, request):
        from starlette.responses import JSONResponse

        extras = card_extras(self.served, self.aliases)
        return JSONResponse(model_cards(self.served, self.aliases, self.max_model_len, extras))

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
            chat = await self._checked(await self._read_body(request))
            model = chat.body.model or self.served[0]
            response, status = await self._until_disconnect(
                request, self._answer_with_faults(chat, model, started, request.headers.get("x-request-id"))
            )
            return response
        except RequestError as exc:
            status = exc.status
            return _error(exc)
        finally:
            self.metrics.pages -= 1
            if status != 303:  # a redirected request is counted when its poll answers
                self.metrics.finished(model, status, time.perf_counter() - started)

    async def poll(self, request):
        """Modal's redirect target: wait a while more for the result, or redirect again."""
        call_id = request.query_params.get("__modal_function_call_id", "")
        if call_id not in self.pending:
            return _error(RequestError(404, f"unknown function call {call_id!r}"))
        task, chat, model, started, rid = self.pending[call_id]
        done, _ = await asyncio.wait({task}, timeout=self.faults.redirect_after_s)
        if not done:
            return _redirect(call_id)
        del self.pending[call_id]
        try:
            recognition = task.result()
        except RequestError as exc:
            self.metrics.finished(model, exc.status, time.perf_counter() - started)
            return _error(exc)
        response = await self._respond(chat, model, recognition, None, rid)
        self.metrics.finished(model, 200, time.perf_counter() - started)
        return response

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

    async def _checked(self, raw: bytes) -> ChatRequest:
        """Every check vLLM makes, in its order (``protocol``): a request that will be answered, or the error."""
        body = parse_body(raw)
        if body.model and body.model not in self.served:  # no model (None or ""): the first, as vLLM does
            raise RequestError(404, f"The model `{body.model}` does not exist.", "model")
        prompt = render(body, self.max_model_len)
        if not prompt.images:
            raise RequestError(
                400, "No image in the request: send one image_url part with the page.", "messages"
            )
        width, height = _image_size(prompt.images[0])
        asked = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        prompt_tokens = prompt.text_tokens - len(prompt.images) + vision_tokens(width, height)
        budget = output_budget(asked, prompt_tokens, self.max_model_len)
        check_sampling(body, budget)
        refuse_unsupported(body)
        return ChatRequest(body, prompt, asked, prompt_tokens, budget)

    async def _until_disconnect(self, request, answer):
        """Run ``answer``; if the client goes away first, cancel it (vLLM aborts such a request)."""
        work = asyncio.ensure_future(answer)
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not work.done():
            work.cancel()
            raise RequestError(499, "the client disconnected")
        return work.result()

    async def _answer_with_faults(self, chat: ChatRequest, model: str, started: float, rid: str | None):
        """The one place where injected faults change an answer (see ``faults``)."""
        fault = self.faults.draw() if self.faults.active else None
        if fault == "error":
            raise RequestError(self.faults.error_status, f"injected fault: {self.faults.error_status}")
        if fault == "rate_limit":
            from starlette.responses import JSONResponse

            error = RequestError(429, "injected fault: rate limited")
            return JSONResponse(error.body(), 429, {"Retry-After": f"{self.faults.retry_after_s:g}"}), 429
        task = asyncio.ensure_future(self._read_page(model, chat.image))
        if self.faults.redirect_after_s is not None:
            done, _ = await asyncio.wait({task}, timeout=self.faults.redirect_after_s)
            if not done:
                call_id = uuid.uuid4().hex
                self.pending[call_id] = (task, chat, model, started, rid)
                return _redirect(call_id), 303
        return await self._respond(chat, model, await task, fault, rid), 200

    async def _read_page(self, model: str, data: bytes) -> Recognition:
        """The engine's reading of the page, in one of ``max_num_seqs`` batch slots when limited."""
        if not self.faults.max_num_seqs:
            return await self._read_page_now(model, data)
        if self.slots is None:  # made on the server's loop
            self.slots = asyncio.Semaphore(self.faults.max_num_seqs)
        async with self.slots:
            return await self._read_page_now(model, data)

    async def _read_page_now(self, model: str, data: bytes) -> Recognition:
        """The engine's reading of the page, after the time before a first token (``latency_s``)."""
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
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
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.pool, _recognize_or_error, model, data, target)
        if isinstance(result, str):
            raise RequestError(400, result)
        if getattr(engine, "needs_pixels", True) and self.options.cache_size:
            self.cache[key] = result
            while len(self.cache) > self.options.cache_size:
                self.cache.popitem(last=False)
        return result

    async def _respond(self, chat: ChatRequest, model: str, recognition: Recognition, fault, rid: str | None):
        """The answer, generated token by token up to the budget (``generation``); streamed or whole."""
        from starlette.responses import Response, StreamingResponse

        text = answer_as(recognition, chat.prompt.texts, stands_in_for(model, self.aliases))
        generation = Generation.of(text, chat.budget, self.faults.token_rate, loop=fault == "loop")
        name, rid = self.aliases.get(model, model), request_id(rid)  # vLLM names the model's first name
        if chat.stream:
            return StreamingResponse(
                faulty_stream(self._events(chat, name, rid, generation), fault, self.faults),
                media_type="text/event-stream",
            )
        try:
            answer = await generation.run()
        finally:
            self._count(chat, generation)
        body = completion(
            rid, name, answer, generation.finish_reason, self._usage(chat, generation), self.fingerprint
        )
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return faulty_body(data, fault, self.faults) or Response(data, media_type="application/json")

    async def _events(self, chat: ChatRequest, name: str, rid: str, generation: Generation):
        """The stream's chunks: the role, one chunk per group of tokens, the finish on the last token (an
        empty one, the end-of-sequence token, when the answer stops by itself), then the usage if asked."""
        chunks = Chunks(rid, name, self.fingerprint, chat.include_usage)
        yield chunks.first()
        previous = None
        try:
            async for piece in generation.chunks():
                if previous is not None:
                    yield chunks.content(previous)
                previous = piece
        finally:
            self._count(chat, generation)
        if generation.finish_reason == "length" and previous is not None:
            yield chunks.content(previous, "length")
        else:
            if previous is not None:
                yield chunks.content(previous)
            yield chunks.content("", generation.finish_reason)
        if chat.include_usage:
            yield chunks.usage(self._usage(chat, generation))

    def _usage(self, chat: ChatRequest, generation: Generation) -> dict:
        return usage(chat.prompt_tokens, generation.completion_tokens)

    def _count(self, chat: ChatRequest, generation: Generation) -> None:
        """vLLM's token counters: the prompt, and only the tokens actually generated."""
        self.metrics.tokens({"prompt_tokens": chat.prompt_tokens, "completion_tokens": generation.produced})

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
            Route("/version", self.version, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/chat/completions", self.poll, methods=["GET"]),
            Route("/metrics", self.prometheus, methods=["GET"]),
        ]
        app = Starlette(routes=routes, lifespan=lifespan)
        return Guard(app, self.metrics, self.api_key)


async def _disconnected(request) -> None:
    """Returns when the client closes the connection (the body has been read: the next message says so)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _image_size(data: bytes) -> tuple[int, int]:
    """The image's size from its header, before any pixel is decoded (vLLM loads it here, at render)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError as exc:
        raise RequestError(400, too_many_pixels(str(exc))) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise RequestError(400, failed_to_load(exc)) from None


def vision_tokens(width: int, height: int) -> int:
    """Image tokens LightOnOCR-1B's Pixtral encoder makes: one per 28 x 28 px after its 2 x 2 merge."""
    return math.ceil(width / 28) * math.ceil(height / 28)


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
