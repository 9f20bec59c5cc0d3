"""The chat-completions request as vLLM 0.30.0 checks it: the same statuses, error types and messages, in the
same order, so a client cannot tell the local server from vLLM by its errors.

The order is vLLM's (each step is where vLLM's ``entrypoints/openai`` does it):

1. Content-Type must be ``application/json`` (``serve/utils/api_utils.py`` ``validate_json_request``);
2. the body is decoded and validated as ``ChatCompletionRequest`` (pydantic, lax: ``"0.5"`` is a float and
   ``5.0`` an int): its ``mode="before"`` validators first (empty ``tools``, ``tool_choice`` without tools,
   ``top_logprobs`` without ``logprobs``, ``stream_options`` without ``stream``), then the field types.
   Errors are 400 ``"Bad Request"`` with FastAPI's error list, as vLLM's validation handler words it;
3. the model must be served (404), then the request is rendered: tool choice, a request chat template,
   ``max_tokens`` against ``--max-model-len``, the content parts and images, the prompt length;
4. the sampling parameters are checked as ``SamplingParams._verify_args`` checks them (400
   ``BadRequestError``, with a `` (parameter=..., value=...)`` suffix where vLLM names the parameter).

What vLLM honours but deterministic CPU engines cannot (``n > 1``, ``response_format``, ``logprobs``) is
refused last with a 400 that says so, never silently ignored. Sources: vLLM 0.30.0's ``chat_completion/
protocol.py``, ``sampling_params.py``, ``renderers/params.py``, ``serve/exception_handling``, each
behaviour executed against the real server (tests/test_engines_protocol.py has the cases).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lighton_lab.engines.generation import count_tokens

INT64 = 2**63
MAX_IMAGES = 1  # --limit-mm-per-prompt '{"image": 1}', as the Modal app serves
# The chat template wraps the user turn in a few tokens (role markers, the generation prompt); vLLM counts
# them in the prompt. The local server has no tokenizer: this is its count, and MAX_CHARS_PER_TOKEN stands
# for the tokenizer's longest vocabulary string, which vLLM uses to refuse over-long text before tokenizing.
TEMPLATE_TOKENS = 7  # with the image's placeholder: 8, as measured on vLLM's LightOnOCR-shaped stand-in
TEMPLATE_CHARS = 52  # the characters of that template around one image-only user turn, placeholder included
MAX_CHARS_PER_TOKEN = 13  # the stand-in tokenizer's longest token; a real one's is a few characters more
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


class RequestError(Exception):
    """An answer other than 200, with vLLM's body: ``{"error": {message, type, param, code}}``."""

    def __init__(self, status: int, message: str, param: str | None = None, kind: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.kind = kind or {
            404: "NotFoundError",
            501: "NotImplementedError",
            500: "InternalServerError",
        }.get(status, "BadRequestError")

    def body(self) -> dict:
        return {
            "error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.status}
        }


def vllm_error(
    message: str, parameter: str | None = None, value: Any = None, status: int = 400
) -> RequestError:
    """vLLM's ``VLLMValidationError``: the parameter and value, when it names them, end the message."""
    if parameter is not None:
        message += f" (parameter={parameter}" + (f", value={value})" if value is not None else ")")
    return RequestError(status, message, parameter)


# ---- 2. the body ------------------------------------------------------------------------------------


class Body(BaseModel):
    """The fields of vLLM's ``ChatCompletionRequest`` that the local server reads or checks, with vLLM's
    types and defaults; other fields are accepted and ignored, as vLLM does (``extra="allow"``)."""

    model_config = ConfigDict(extra="allow")

    messages: list[Any]
    model: str | None = None
    frequency_penalty: float | None = 0.0
    presence_penalty: float | None = 0.0
    logprobs: bool | None = False
    top_logprobs: int | None = 0
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    n: int | None = 1
    response_format: dict | None = None
    seed: int | None = Field(None, ge=-INT64, le=INT64 - 1)
    stop: str | list[str] | None = []
    stream: bool | None = False
    stream_options: dict | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[dict] | None = None
    tool_choice: Any = "none"
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    min_tokens: int = 0
    chat_template: str | None = None
    chat_template_kwargs: dict | None = None


def _summary(value) -> str | Any:
    """How vLLM's validation handler shows an input: containers by size, strings cut, numbers as text."""
    if isinstance(value, dict):
        return f"<dict of {len(value)} items>"
    if isinstance(value, (list, tuple)):
        return f"<list of {len(value)} items>"
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "...[truncated]"
    return str(value)


def body_error(errors: list) -> RequestError:
    """FastAPI's ``RequestValidationError`` as vLLM answers it: 400 "Bad Request", ``param`` the first
    error's location, the message ``N validation error(s):`` and each error dict (``handlers/validation.py``)."""
    shown, param = [], None
    for error in errors[:10]:
        if isinstance(error, str):
            shown.append(error)
            continue
        loc = ".".join(str(part) for part in error["loc"])
        param = param or loc
        item = {"type": error["type"], "loc": loc, "msg": error["msg"], "input": _summary(error.get("input"))}
        if error.get("ctx"):
            item["ctx"] = {
                k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in error["ctx"].items()
            }
        shown.append(str(item)[:1000])
    count = len(errors)
    text = f"{count} validation {'error' if count == 1 else 'errors'}:\n" + "".join(f"  {s}\n" for s in shown)
    if count > 10:
        text += f"  ...and {count - 10} more errors\n"
    return RequestError(400, text.rstrip(), param, kind="Bad Request")


def check_content_type(value: str | None) -> None:
    if (value or "").split(";", 1)[0].strip().lower() != "application/json":
        raise body_error(["Unsupported Media Type: Only 'application/json' is allowed"])


def _decode(raw: bytes) -> dict:
    if not raw.strip():
        raise body_error([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pos, reason = (exc.pos, exc.msg) if isinstance(exc, json.JSONDecodeError) else (0, str(exc))
        raise body_error(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": reason},
                }
            ]
        ) from None
    if not isinstance(payload, dict):
        raise body_error(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": payload,
                }
            ]
        )
    return payload


def _before_validators(data: dict) -> None:
    """``ChatCompletionRequest``'s ``mode="before"`` validators, in the order pydantic runs them."""
    if data.get("tools") == []:
        raise vllm_error(
            "`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.",
            "tools",
        )
    if "tool_choice" not in data and data.get("tools"):
        data["tool_choice"] = "auto"
    choice = data.get("tool_choice")
    if choice not in (None, "none") and data.get("tools") is None:
        raise vllm_error("When using `tool_choice`, `tools` must be set.", "tool_choice")
    for name in ("prompt_logprobs", "top_logprobs"):
        value = data.get(name)
        if value is not None and not isinstance(value, (int, float)):
            raise vllm_error(f"`{name}` must be an integer.", name, value)
    if (data.get("top_logprobs") or 0) > 0 and not data.get("logprobs"):
        raise vllm_error("when using `top_logprobs`, `logprobs` must be set to true.", "top_logprobs")
    if data.get("stream_options") and not data.get("stream"):
        raise vllm_error("Stream options can only be defined when `stream=True`.", "stream_options")
    fmt = data.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and fmt.get("json_schema") is None:
        raise vllm_error(
            "When response_format type is 'json_schema', the 'json_schema' field must be provided.",
            "response_format",
        )


def parse_body(raw: bytes) -> Body:
    """Steps 1-2 of the module docstring: the body decoded and validated, or the error vLLM gives."""
    data = _decode(raw)
    _before_validators(data)
    try:
        return Body.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
            if error["type"] == "missing" and len(error["loc"]) == 2:
                error["input"] = data  # FastAPI shows the whole body for a missing field
        raise body_error(errors) from None


# ---- 3. rendering: the content and the prompt ------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """What the rendered request holds: the images (decoded bytes) and the text parts, in order."""

    images: tuple[bytes, ...]
    texts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    @property
    def text_tokens(self) -> int:
        """Tokens of the templated text prompt, one placeholder per image (what vLLM checks first)."""
        return TEMPLATE_TOKENS + count_tokens(self.text) + len(self.images)


def render(body: Body, max_model_len: int) -> Prompt:
    """Step 3 of the module docstring, after the model check: tools, chat template, max_tokens, content."""
    if body.tools and body.tool_choice == "auto":
        raise RequestError(
            400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'
        )
    if body.tools and body.tool_choice == "required":
        raise RequestError(400, 'tool_choice="required" requires --tool-call-parser to be set')
    if body.chat_template is not None or (body.chat_template_kwargs or {}).get("chat_template") is not None:
        raise RequestError(
            400,
            "Chat template is passed with request, but --trust-request-chat-template is not set. "
            "Refused request with untrusted chat template.",
        )
    name, limit = (
        ("max_completion_tokens", body.max_completion_tokens)
        if body.max_completion_tokens is not None
        else ("max_tokens", body.max_tokens)
    )
    if limit is not None and limit > max_model_len:
        raise vllm_error(
            f"{name}={limit} cannot be greater than max_model_len=max_total_tokens={max_model_len}. "
            "Please request fewer output tokens.",
            name,
            limit,
        )
    if not body.messages:
        raise RequestError(
            400, "Cannot apply chat template to an empty conversation. Provide at least one message."
        )
    prompt = _content(body.messages)
    _check_prompt_length(prompt, limit or 0, max_model_len)
    return prompt


def _content(messages: list) -> Prompt:
    from collections.abc import Iterable

    from openai.types.chat import ChatCompletionContentPartParam
    from pydantic import TypeAdapter

    images, texts = [], []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise body_error(
                [
                    {
                        "type": "missing",
                        "loc": ("body", "messages", messages.index(message), "role"),
                        "msg": "Field required",
                        "input": message,
                    }
                ]
            )
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
            continue
        if content is None:
            continue
        try:  # vLLM validates the parts lazily, as it iterates them: pydantic's own message
            parts = list(TypeAdapter(Iterable[ChatCompletionContentPartParam]).validate_python(content))
        except ValidationError as exc:
            raise RequestError(400, _ADDRESS.sub(">", str(exc))) from None
        for part in parts:
            if part["type"] == "text":
                texts.append(part["text"])
            elif part["type"] == "image_url":
                images.append(_image_bytes(part["image_url"]["url"]))
            else:
                raise RequestError(
                    400, f"The local server reads text and image_url parts, not {part['type']}."
                )
    if len(images) > MAX_IMAGES:
        raise vllm_error(f"At most {MAX_IMAGES} image(s) may be provided in one prompt.", "image")
    return Prompt(tuple(images), tuple(texts))


def _image_bytes(url: str) -> bytes:
    """A data URL's bytes, as vLLM's media connector reads it: its media type is ignored (Pillow sniffs the
    bytes), only base64 is supported; remote URLs need a network the local server does not use."""
    if not url.startswith("data:"):
        raise RequestError(
            400,
            "The local server takes images inline: send a data:image/png;base64,... URL (it fetches nothing).",
        )
    header, comma, data = url.partition(",")
    if not comma:
        raise RequestError(400, f"Invalid data URL {url[:80]!r}: missing ',' separator.")
    if not header.endswith(";base64"):
        raise RequestError(501, "Only base64 data URLs are supported for now.")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:  # pybase64's words, which vLLM uses
        reason = "Non-base64 digit found" if "Only base64 data" in str(exc) else str(exc)
        raise RequestError(400, reason) from None


def _check_prompt_length(prompt: Prompt, max_tokens: int, max_model_len: int) -> None:
    """vLLM checks the text prompt (one placeholder per image) before the image tokens are added:
    first its length in characters, then in tokens (``renderers/params.py``)."""
    max_input = max_model_len - max_tokens
    head = (
        f"This model's maximum context length is {max_model_len} tokens. However, you requested {max_tokens} "
        "output tokens and your prompt contains"
    )
    tail = " Please reduce the length of the input prompt or the number of requested output tokens."
    chars = len(prompt.text) + TEMPLATE_CHARS
    if chars > max_input * MAX_CHARS_PER_TOKEN:
        raise vllm_error(
            f"{head} {chars} characters (more than {max_input * MAX_CHARS_PER_TOKEN} characters, which is the upper "
            f"bound for {max_input} input tokens).{tail}",
            "input_text",
            chars,
        )
    if prompt.text_tokens > max_input:
        raise vllm_error(
            f"{head} at least {max_input + 1} input tokens, for a total of at least {max_model_len + 1} tokens.{tail}",
            "input_tokens",
            max_input + 1,
        )


def output_budget(max_tokens: int | None, prompt_tokens: int, max_model_len: int) -> int:
    """What vLLM lets the model generate once the image tokens are known (``get_max_tokens``): the request's
    max_tokens, silently cut to the context left; all of that context when the request sets none."""
    if prompt_tokens > max_model_len:
        raise RequestError(
            400, f"Input length ({prompt_tokens}) exceeds model's maximum context length ({max_model_len})."
        )
    left = max_model_len - prompt_tokens
    return left if max_tokens is None else min(max_tokens, left)


# ---- 4. the sampling parameters ----------------------------------------------------------------------


def check_sampling(body: Body, max_tokens: int) -> None:
    """``SamplingParams._verify_args`` in its order, on the values ``to_sampling_params`` makes."""
    n = body.n if body.n is not None else 1
    presence = body.presence_penalty if body.presence_penalty is not None else 0.0
    frequency = body.frequency_penalty if body.frequency_penalty is not None else 0.0
    repetition = body.repetition_penalty if body.repetition_penalty is not None else 1.0
    temperature = body.temperature if body.temperature is not None else 1.0
    top_p = body.top_p if body.top_p is not None else 1.0
    top_k = body.top_k if body.top_k is not None else 0
    min_p = body.min_p if body.min_p is not None else 0.0
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    if n < 1:
        raise vllm_error(f"n must be at least 1, got {n}.")
    for name, value in (("presence_penalty", presence), ("frequency_penalty", frequency)):
        if not -2.0 <= value <= 2.0:
            raise vllm_error(f"{name} must be in [-2, 2], got {value}.")
    if not math.isfinite(repetition):
        raise vllm_error(f"repetition_penalty must be a finite number, got {repetition}.")
    if repetition <= 0.0:
        raise vllm_error(f"repetition_penalty must be greater than zero, got {repetition}.")
    if not math.isfinite(temperature):
        raise vllm_error(
            f"temperature must be a finite number, got {temperature}.", "temperature", temperature
        )
    if temperature < 0.0:
        raise vllm_error(f"temperature must be non-negative, got {temperature}.", "temperature", temperature)
    if temperature > 2.0:
        raise vllm_error(f"temperature must be in [0, 2], got {temperature}.", "temperature", temperature)
    if not 0.0 < top_p <= 1.0:
        raise vllm_error(f"top_p must be in (0, 1], got {top_p}.", "top_p", top_p)
    if top_k < -1:
        raise vllm_error(f"top_k must be 0 (disable), or at least 1, got {top_k}.")
    if not 0.0 <= min_p <= 1.0:
        raise vllm_error(f"min_p must be in [0, 1], got {min_p}.")
    if max_tokens < 1:
        raise vllm_error(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens", max_tokens)
    if body.min_tokens < 0:
        raise vllm_error(f"min_tokens must be greater than or equal to 0, got {body.min_tokens}.")
    if body.min_tokens > max_tokens:
        raise vllm_error(
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {body.min_tokens}."
        )
    if any(not s for s in stops):
        raise vllm_error("stop cannot contain an empty string.")
    if n > 1 and temperature < 1e-5:
        raise vllm_error(f"n must be 1 when using greedy sampling, got {n}.")


def refuse_unsupported(body: Body) -> None:
    """What vLLM honours but these deterministic engines cannot: refused, never silently ignored."""
    if (body.n or 1) > 1:
        raise RequestError(
            400,
            "n > 1 is not supported by the local engine server: its engines are deterministic, every choice "
            "would be the same page.",
            "n",
        )
    if body.response_format not in (None, {"type": "text"}):
        raise RequestError(
            400,
            "response_format is not supported by the local engine server: OCR engines write plain text, not JSON.",
            "response_format",
        )
    if body.logprobs:
        raise RequestError(
            400,
            "logprobs are not supported by the local engine server: its engines have no token probabilities.",
            "logprobs",
        )


@dataclass(frozen=True)
class ChatRequest:
    """A request that passed every check: what the server needs to answer it."""

    body: Body
    prompt: Prompt
    max_tokens: int | None  # as asked (None: the rest of the context)
    prompt_tokens: int  # the text prompt's tokens and the image's
    budget: int  # what may be generated: max_tokens cut to the context left, as vLLM does

    @property
    def stream(self) -> bool:
        return bool(self.body.stream)

    @property
    def include_usage(self) -> bool:
        return bool((self.body.stream_options or {}).get("include_usage"))

    @property
    def image(self) -> bytes:
        return self.prompt.images[0]
