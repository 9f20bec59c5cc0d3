"""OCR requests to an OpenAI-compatible endpoint, with the retries a GPU service needs.

One request is one page image and no prompt, as LightOnOCR was trained. ``OCRClient`` (sync, for cells
and scripts) and ``AsyncOCRClient`` (for sweeps with many pages in flight) share the request format,
the answer parsing and the retry policy:

- retried, with exponential backoff and jitter: connection errors (a cold start refuses connections),
  timeouts (a stalled stream), 429 (honouring ``Retry-After``), 5xx, and malformed answers (a proxy's
  HTML error page); the default budget of 300 s rides out a 90 s Modal cold start several times over;
- not retried: other 4xx, which will fail the same way again; a 413 explains the image-size rule;
- Modal web endpoints answer 303 with a URL to poll when a request outlives their 150 s limit: the
  client follows it (``follow_redirects``), so a page that waits long under load still completes;
- ``finish_reason == "length"`` is kept and flagged as ``truncated``: LightOnOCR can loop on a page
  until ``max_tokens``, and such output must not pass for a transcription.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx
from PIL import Image

from .endpoints import Endpoint
from .errors import OCRRequestError
from .render import to_data_url

DEFAULT_TEMPERATURE = 0.2  # the model cards' sampling
DEFAULT_TOP_P = 0.9
DEFAULT_MAX_TOKENS = 4096
READ_TIMEOUT_S = 180.0  # above Modal's 150 s web limit: past that it answers 303, it does not go silent
CONNECT_TIMEOUT_S = 10.0  # an unreachable host fails fast and is retried
MAX_REDIRECTS = 100  # Modal's 303 polls come every 150 s: 100 of them is over four hours of queueing


@dataclass(frozen=True)
class OCRResult:
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float  # whole request, retries excluded: the last attempt's time
    ttft_s: float | None  # time to first token (streaming), else None
    attempts: int = 1
    model: str = ""

    @property
    def truncated(self) -> bool:
        """The model stopped at max_tokens: probably a loop, not a complete page."""
        return self.finish_reason == "length"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 10
    backoff_s: float = 1.0  # first delay; doubles each attempt
    max_backoff_s: float = 30.0
    budget_s: float = 300.0  # stop retrying once this much time has passed since the first attempt
    jitter: float = 0.5  # delays are drawn from [1 - jitter, 1] x the backoff, so clients spread out

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s * 4)
        base = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return base * rng.uniform(1 - self.jitter, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


def build_request(model: str, image_url: str, temperature: float, max_tokens: int, top_p: float | None,
                  stream: bool, extra: dict | None = None) -> dict:
    """The chat-completions body: one user message holding only the page image."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image_url}}]}],
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": stream,
    }
    if top_p is not None:
        body["top_p"] = top_p
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra or {})
    return body


def image_to_url(image: Image.Image | str | bytes, image_format: str = "PNG") -> str:
    if isinstance(image, str):
        return image
    if isinstance(image, bytes):
        import base64

        return "data:image/png;base64," + base64.b64encode(image).decode("ascii")
    return to_data_url(image, format=image_format)


class _Retry(Exception):
    """An attempt failed in a way worth another try."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after, self.status = retry_after, status


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
    except (ValueError, AttributeError):
        message = None
    return message or response.text[:300] or response.reason_phrase


def _check_status(response: httpx.Response) -> None:
    """Raise _Retry for transient statuses and OCRRequestError for the rest of the failures."""
    status = response.status_code
    if status < 400:
        return
    message = _error_message(response)
    if status == 429 or status >= 500 or status == 408:
        raise _Retry(f"HTTP {status}: {message}", _retry_after(response), status)
    if status == 413:
        message += (" The page image is too large for the server: render with max_side=1540 (LightOnOCR's "
                    "size) or lower DPI, or send JPEG (image_format='JPEG').")
    elif status == 404:
        message += " Check the model name against the server's /v1/models."
    elif status in (401, 403):
        message += " Set MODAL_KEY and MODAL_SECRET (proxy auth) or LIGHTON_LAB_API_KEY."
    raise OCRRequestError(f"HTTP {status}: {message}", status=status)


def _parse_completion(data: bytes, latency: float) -> OCRResult:
    try:
        body = json.loads(data)
        choice = body["choices"][0]
        text = choice["message"].get("content")
    except (ValueError, KeyError, IndexError, TypeError):
        raise _Retry(f"malformed answer (not a chat completion): {data[:200]!r}") from None
    if text is None:
        raise _Retry("malformed answer: the message has no content")
    usage = body.get("usage") or {}
    return OCRResult(text, choice.get("finish_reason"), usage.get("prompt_tokens"), usage.get("completion_tokens"),
                     latency, None, model=body.get("model", ""))


class _StreamState:
    """Accumulates SSE chunks into one OCRResult."""

    def __init__(self, started: float):
        self.started, self.pieces, self.finish, self.usage = started, [], None, {}
        self.ttft: float | None = None
        self.done, self.model = False, ""

    def feed(self, line: str) -> None:
        if not line.startswith("data:"):
            return
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise _Retry(f"malformed stream chunk: {payload[:200]!r}") from None
        self.model = chunk.get("model", self.model)
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self.started
                self.pieces.append(content)
            self.finish = choice.get("finish_reason") or self.finish

    def result(self) -> OCRResult:
        if not self.done and self.finish is None:
            raise _Retry("the stream ended before [DONE]")
        return OCRResult("".join(self.pieces), self.finish, self.usage.get("prompt_tokens"),
                         self.usage.get("completion_tokens"), time.perf_counter() - self.started, self.ttft,
                         model=self.model)


@dataclass
class _Base:
    endpoint: Endpoint
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    read_timeout: float = READ_TIMEOUT_S
    connect_timeout: float = CONNECT_TIMEOUT_S
    image_format: str = "PNG"
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        self._url = self.endpoint.openai_base_url + "/chat/completions"

    def _body(self, image, temperature, max_tokens, top_p, stream, extra) -> dict:
        return build_request(self.endpoint.model, image_to_url(image, self.image_format), temperature,
                             max_tokens, top_p, stream, extra)

    def _next_delay(self, attempt: int, error: _Retry, first: float) -> float:
        """Seconds to wait before the next attempt, or raise OCRRequestError when out of tries."""
        delay = self.retry.delay(attempt, error.retry_after, self._rng)
        elapsed = time.monotonic() - first
        if attempt >= self.retry.attempts or elapsed + delay > self.retry.budget_s:
            raise OCRRequestError(
                f"{error} (gave up after {attempt} attempt(s) in {elapsed:.0f} s; is the endpoint up? "
                f"try `lighton-lab health --url {self.endpoint.base_url}`)",
                status=error.status, retryable=True,
            )
        return delay


_TRANSIENT = (httpx.TransportError,)  # connect/read/write errors, timeouts, dropped connections


class OCRClient(_Base):
    """Blocking client: ``OCRClient(endpoint).ocr(image)``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._http = httpx.Client(timeout=self._timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                  headers=self.endpoint.headers,
                                  limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    def ocr(self, image, temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = DEFAULT_MAX_TOKENS,
            top_p: float | None = DEFAULT_TOP_P, stream: bool = False, extra: dict | None = None) -> OCRResult:
        body = self._body(image, temperature, max_tokens, top_p, stream, extra)
        first = time.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            try:
                result = self._once(body, stream)
                return _with_attempts(result, attempt)
            except _TRANSIENT as exc:
                error = _Retry(f"{type(exc).__name__}: {exc or 'connection problem'}")
            except _Retry as exc:
                error = exc
            time.sleep(self._next_delay(attempt, error, first))
        raise AssertionError("unreachable")

    def _once(self, body: dict, stream: bool) -> OCRResult:
        started = time.perf_counter()
        if not stream:
            response = self._http.post(self._url, json=body)
            _check_status(response)
            return _parse_completion(response.content, time.perf_counter() - started)
        with self._http.stream("POST", self._url, json=body) as response:
            if response.status_code >= 400:
                response.read()
                _check_status(response)
            state = _StreamState(started)
            for line in response.iter_lines():
                state.feed(line)
            return state.result()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OCRClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class AsyncOCRClient(_Base):
    """Asyncio client for many pages in flight: ``await AsyncOCRClient(endpoint).ocr(image)``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                       headers=self.endpoint.headers,
                                       limits=httpx.Limits(max_connections=256, max_keepalive_connections=64))

    async def ocr(self, image, temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = DEFAULT_MAX_TOKENS,
                  top_p: float | None = DEFAULT_TOP_P, stream: bool = False, extra: dict | None = None) -> OCRResult:
        body = self._body(image, temperature, max_tokens, top_p, stream, extra)
        first = time.monotonic()
        for attempt in range(1, self.retry.attempts + 1):
            try:
                result = await self._once(body, stream)
                return _with_attempts(result, attempt)
            except _TRANSIENT as exc:
                error = _Retry(f"{type(exc).__name__}: {exc or 'connection problem'}")
            except _Retry as exc:
                error = exc
            await asyncio.sleep(self._next_delay(attempt, error, first))
        raise AssertionError("unreachable")

    async def _once(self, body: dict, stream: bool) -> OCRResult:
        started = time.perf_counter()
        if not stream:
            response = await self._http.post(self._url, json=body)
            _check_status(response)
            return _parse_completion(response.content, time.perf_counter() - started)
        async with self._http.stream("POST", self._url, json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                _check_status(response)
            state = _StreamState(started)
            async for line in response.aiter_lines():
                state.feed(line)
            return state.result()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncOCRClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _with_attempts(result: OCRResult, attempts: int) -> OCRResult:
    from dataclasses import replace

    return replace(result, attempts=attempts)
