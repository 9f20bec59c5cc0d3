"""OCR requests to an OpenAI-compatible endpoint through the ``openai`` SDK, with the retries a GPU
service needs.

One request is one page image and no prompt, as LightOnOCR was trained. ``AsyncOCRClient`` (sweeps with
many pages in flight) holds the one retry loop; ``OCRClient`` (cells and scripts) runs it on a private
event loop, so both behave the same. What the SDK does: HTTP, the request and answer types, streaming,
the typed errors, following redirects. What this module adds, because the SDK cannot:

- one retry policy over everything that is worth another try: connection errors (a cold start refuses
  connections), timeouts (a stalled stream), 408/409/429 (honouring ``Retry-After``) and 5xx, *and*
  answers that are malformed (a proxy's HTML page, no choices, no content, a stream cut before its end),
  which the SDK returns or raises without retrying; a total time budget (default 300 s, several 90 s
  Modal cold starts) and the number of attempts made, recorded with each result;
- not retried: other 4xx, which fail the same way again; 413/404/401 say what to do;
- Modal web endpoints answer 303 with a URL to poll when a request outlives their 150 s limit: the SDK's
  HTTP client follows it (``follow_redirects``, up to ``MAX_REDIRECTS`` polls);
- time to first token for streams; ``finish_reason == "length"`` kept and flagged as ``truncated``.

Request parameters left at ``None`` are not sent: the server (or, for ``temperature``/``top_p``, the
model's profile resolved by the caller) decides. ``max_tokens=None`` is LightOn's own choice: vLLM then
allows the rest of the context (``--max-model-len``), so dense pages are not cut.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass, field, replace

import openai
from PIL import Image

from lighton_lab.client.loops import LoopDetector
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.engines.generation import count_tokens
from lighton_lab.errors import OCRRequestError
from lighton_lab.models.family import Prompt, messages
from lighton_lab.models.grounding import PROMPT as GROUNDING
from lighton_lab.models.variants import profile_for
from lighton_lab.render import to_data_url

READ_TIMEOUT_S = 180.0  # above Modal's 150 s web limit: past that it answers 303, it does not go silent
CONNECT_TIMEOUT_S = 10.0  # an unreachable host fails fast and is retried
MAX_REDIRECTS = 100  # Modal's 303 polls come every 150 s: 100 of them is over four hours of queueing
_RETRY_STATUSES = {408, 409, 429}  # plus every 5xx: the SDK's own list


@dataclass(frozen=True)
class OCRResult:
    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float  # the last attempt's time
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


def build_request(
    image_url: str,
    temperature: float | None = None,
    max_tokens: int | None = None,
    top_p: float | None = None,
    extra: dict | None = None,
    prompt: Prompt | None = None,
) -> dict:
    """The chat-completions arguments: one user turn with the page image and the prompt in the family's order
    (LightOnOCR's plain mode: the image alone); parameters left at None are not sent. Fields that are not the
    OpenAI SDK's own (``top_k``, ``vllm_xargs``, ``chat_template_kwargs``, ...) travel in ``extra_body``."""
    body: dict = {"messages": messages(prompt or Prompt(None), image_url)}
    for name, value in (("temperature", temperature), ("max_tokens", max_tokens), ("top_p", top_p)):
        if value is not None:
            body[name] = value
    others = {k: v for k, v in (extra or {}).items() if k not in _SDK_FIELDS}
    body.update({k: v for k, v in (extra or {}).items() if k in _SDK_FIELDS})
    if others:
        body["extra_body"] = others
    return body


_SDK_FIELDS = {"seed", "stop", "presence_penalty", "frequency_penalty", "n", "logprobs", "top_logprobs",
               "response_format", "max_completion_tokens", "tools", "tool_choice"}  # fmt: skip


def request_for(endpoint: Endpoint, mode: str | None = None) -> tuple[Prompt, dict, dict]:
    """What a request to this endpoint's model carries by default: the prompt of the mode, the profile's
    sampling and the family's extra fields. A model without a profile (the local engines) gets the image alone,
    or the image and ``"grounding"`` (LightOnOCR's grounding request, which the local server answers)."""
    profile = profile_for(endpoint.model)
    if profile is None:
        return (Prompt(GROUNDING) if mode == "grounding" else Prompt(None)), {}, {}
    return profile.prompt(mode), profile.request_defaults(), dict(profile.family.extra_body)


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


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Errors raised while reading a stream body: the SDK's HTTP library's own (httpx2 or httpx)."""
    import httpx

    errors: list[type[BaseException]] = [httpx.TransportError, openai.APIConnectionError]
    try:
        import httpx2

        errors.append(httpx2.TransportError)
    except ImportError:
        pass
    return tuple(errors)


_TRANSIENT = _transport_errors()


def _status_error(exc: openai.APIStatusError) -> Exception:
    """_Retry for transient statuses, OCRRequestError (with the next step) for the rest."""
    status = exc.status_code
    body = exc.body if isinstance(exc.body, dict) else {}
    message = (body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else None
    message = message or body.get("message") or exc.message
    if status in _RETRY_STATUSES or status >= 500:
        return _Retry(f"HTTP {status}: {message}", _retry_after(exc.response), status)
    if status == 413:
        message += (
            " The page image is too large for the server: render with the model's cap (1540 or 2048 px) "
            "or a lower DPI, or send JPEG (image_format='JPEG')."
        )
    elif status == 404:
        message += " Check the model name against the server's /v1/models."
    elif status in (401, 403):
        message += " Set MODAL_KEY and MODAL_SECRET (proxy auth) or LIGHTON_LAB_API_KEY."
    return OCRRequestError(f"HTTP {status}: {message}", status=status)


def _retry_after(response) -> float | None:
    from email.utils import parsedate_to_datetime

    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _parse_completion(completion, latency: float) -> OCRResult:
    """An OCRResult from a ChatCompletion, or _Retry naming what is malformed about it."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list):
        raise _Retry(f"malformed answer (not a chat completion): {str(completion)[:200]!r}")
    if not choices:
        raise _Retry("malformed answer: the completion has no choices")
    text = choices[0].message.content if choices[0].message is not None else None
    if text is None:
        raise _Retry("malformed answer: the message has no content")
    usage = completion.usage
    return OCRResult(
        text,
        choices[0].finish_reason,
        usage.prompt_tokens if usage else None,
        usage.completion_tokens if usage else None,
        latency,
        None,
        model=completion.model or "",
    )


@dataclass
class AsyncOCRClient:
    """Asyncio client for many pages in flight: ``await AsyncOCRClient(endpoint).ocr(image)``."""

    endpoint: Endpoint
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    read_timeout: float = READ_TIMEOUT_S
    connect_timeout: float = CONNECT_TIMEOUT_S
    image_format: str = "PNG"
    seed: int | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        headers = dict(self.endpoint.headers)
        token = headers.pop("Authorization", "").removeprefix("Bearer ").strip()
        self._sdk = openai.AsyncOpenAI(
            base_url=self.endpoint.openai_base_url,
            api_key=token or "EMPTY",
            default_headers=headers,
            max_retries=0,  # the one retry loop is ours (see the module docstring)
            timeout=openai.Timeout(self.read_timeout, connect=self.connect_timeout),
            http_client=openai.DefaultAsyncHttpxClient(max_redirects=MAX_REDIRECTS),
        )

    async def ocr(
        self,
        image,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stream: bool = False,
        extra: dict | None = None,
        mode: str | None = None,
        cut_loops: bool = True,
    ) -> OCRResult:
        """One page. Parameters left at None take the model's profile (its sampling, output cap and prompt of
        ``mode``); ``extra`` adds request fields. With ``stream``, a repetition loop closes the stream as soon
        as it is seen (``cut_loops``): the result keeps the text received, with ``finish_reason "loop"``."""
        prompt, defaults, family_extra = request_for(self.endpoint, mode)
        temperature = defaults.pop("temperature", None) if temperature is None else temperature
        top_p = defaults.pop("top_p", None) if top_p is None else top_p
        max_tokens = defaults.pop("max_tokens", None) if max_tokens is None else max_tokens
        defaults = {k: v for k, v in defaults.items() if k not in ("temperature", "top_p", "max_tokens")}
        extra = {**family_extra, **defaults, **(extra or {})}
        body = build_request(
            image_to_url(image, self.image_format), temperature, max_tokens, top_p, extra, prompt
        )
        self._cut_loops = cut_loops
        first, attempt = time.monotonic(), 0
        while True:  # _next_delay raises once the attempts or the time budget are spent
            attempt += 1
            try:
                result = await (self._stream(body) if stream else self._once(body))
                return replace(result, attempts=attempt)
            except openai.APIStatusError as exc:
                error = _status_error(exc)
                if isinstance(error, OCRRequestError):
                    raise error from None
            except _TRANSIENT as exc:
                error = _Retry(f"{type(exc).__name__}: {exc or 'connection problem'}")
            except _Retry as exc:
                error = exc
            await asyncio.sleep(self._next_delay(attempt, error, first))

    async def _once(self, body: dict) -> OCRResult:
        started = time.perf_counter()
        try:
            completion = await self._sdk.chat.completions.create(model=self.endpoint.model, **body)
        except (openai.APIResponseValidationError, ValueError) as exc:  # not JSON, not a completion
            raise _Retry(f"malformed answer (not a chat completion): {exc}") from None
        return _parse_completion(completion, time.perf_counter() - started)

    async def _stream(self, body: dict) -> OCRResult:
        """A streamed answer, watched for repetition loops as it arrives: when one is seen the stream is
        closed (vLLM aborts a request whose client went away, so the GPU stops generating it)."""
        started = time.perf_counter()
        detector, chunks_seen, finish, usage, ttft, model = LoopDetector(), 0, None, None, None, ""
        try:
            chunks = await self._sdk.chat.completions.create(
                model=self.endpoint.model, stream=True, stream_options={"include_usage": True}, **body
            )
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    usage = chunk.usage or usage
                    for choice in chunk.choices or []:
                        if choice.delta and choice.delta.content:
                            ttft = ttft if ttft is not None else time.perf_counter() - started
                            chunks_seen += 1
                            if detector.feed(choice.delta.content) and self._cut_loops:
                                finish = "loop"
                                break
                        finish = choice.finish_reason or finish
                    if finish == "loop":
                        break
            finally:
                await chunks.close()
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise _Retry(f"malformed stream chunk: {exc}") from None
        if finish is None:
            raise _Retry("the stream ended before its last chunk (no finish_reason)")
        received = max(chunks_seen, count_tokens(detector.text)) if finish == "loop" else None
        return OCRResult(
            detector.text,
            finish,
            usage.prompt_tokens if usage else None,
            usage.completion_tokens if usage else received,
            time.perf_counter() - started,
            ttft,
            model=model,
        )

    def _next_delay(self, attempt: int, error: _Retry, first: float) -> float:
        """Seconds to wait before the next attempt, or raise OCRRequestError when out of tries."""
        delay = self.retry.delay(attempt, error.retry_after, self._rng)
        elapsed = time.monotonic() - first
        if attempt >= self.retry.attempts or elapsed + delay > self.retry.budget_s:
            raise OCRRequestError(
                f"{error} (gave up after {attempt} attempt(s) in {elapsed:.0f} s; is the endpoint up? "
                f"try `lighton-lab health --url {self.endpoint.base_url}`)",
                status=error.status,
                retryable=True,
            )
        return delay

    async def aclose(self) -> None:
        await self._sdk.close()

    async def __aenter__(self) -> AsyncOCRClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class OCRClient:
    """Blocking client: ``OCRClient(endpoint).ocr(image)``. The async client on a private event loop in a
    helper thread, so it works inside Jupyter (whose own loop is already running) and keeps connections."""

    def __init__(
        self,
        endpoint: Endpoint,
        retry: RetryPolicy | None = None,
        read_timeout: float = READ_TIMEOUT_S,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        image_format: str = "PNG",
        seed: int | None = None,
    ):
        self.endpoint = endpoint
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="ocr-client")
        self._thread.start()
        self._client = self._call(
            self._make(endpoint, retry or RetryPolicy(), read_timeout, connect_timeout, image_format, seed)
        )

    @staticmethod
    async def _make(*args) -> AsyncOCRClient:
        return AsyncOCRClient(*args)  # created on the loop that will use its connections

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def ocr(
        self,
        image,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stream: bool = False,
        extra: dict | None = None,
        mode: str | None = None,
    ) -> OCRResult:
        return self._call(self._client.ocr(image, temperature, max_tokens, top_p, stream, extra, mode))

    def close(self) -> None:
        if self._loop.is_running():
            self._call(self._client.aclose())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> OCRClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
