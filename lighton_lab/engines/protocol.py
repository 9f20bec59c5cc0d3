"""The chat-completions protocol as vLLM speaks it: request checks with vLLM's statuses and messages,
and the answer bodies (plain and SSE) with ``usage``.

Every malformed or unsupported request gets a 400 OpenAI error body, as vLLM gives (FastAPI's 422 is
turned into 400 by vLLM's handler, so the openai SDK raises ``BadRequestError`` from both servers).
Parameters that vLLM honours but these deterministic engines cannot (``n > 1``, ``response_format``,
``logprobs``) are refused with a 400 that says so, never silently ignored.

Token counts in ``usage``: ``completion_tokens`` counts words and punctuation marks of the output
(regex ``\\w+|[^\\w\\s]``), close to what a BPE tokenizer gives on prose; ``prompt_tokens`` is the number
of vision tokens LightOnOCR-1B's Pixtral encoder makes from the image (one per 28x28 px patch after its
2x2 merge), so throughput figures compare with the GPU server's.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
import uuid
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+|[^\w\s]")
_DATA_URL = re.compile(r"^data:image/[\w.+-]+;base64,", re.I)
ERROR_TYPES = {
    400: "BadRequestError",
    401: "Unauthorized",
    404: "NotFoundError",
    413: "BadRequestError",
    429: "RateLimitError",
}


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": ERROR_TYPES.get(self.status, "InternalServerError"),
                "param": self.param,
                "code": self.status,
            }
        }


@dataclass(frozen=True)
class ChatRequest:
    model: str | None
    image: bytes
    max_tokens: int | None
    stream: bool
    include_usage: bool


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


def check_content_type(value: str | None) -> None:
    if (value or "").split(";", 1)[0].strip().lower() != "application/json":
        raise RequestError(400, "Unsupported Media Type: Only 'application/json' is allowed")


def _number(payload: dict, name: str, kind=(int, float)):
    value = payload.get(name)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise RequestError(
            400, f"`{name}` must be a {'integer' if kind is int else 'number'}, got {value!r}.", name
        )
    return value


def parse_request(body: bytes) -> ChatRequest:
    """The fields we use, checked as vLLM checks them (its sampling-parameter messages); 400 otherwise."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, f"The request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestError(400, "The request body must be a JSON object.")
    image = _image(payload.get("messages"))
    max_tokens = _number(payload, "max_completion_tokens", int)
    max_tokens = _number(payload, "max_tokens", int) if max_tokens is None else max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise RequestError(400, f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens")
    temperature, top_p, n = (
        _number(payload, "temperature"),
        _number(payload, "top_p"),
        _number(payload, "n", int),
    )
    if temperature is not None and temperature < 0:
        raise RequestError(400, f"temperature must be non-negative, got {temperature}.", "temperature")
    if top_p is not None and not 0 < top_p <= 1:
        raise RequestError(400, f"top_p must be in (0, 1], got {top_p}.", "top_p")
    if n is not None and n < 1:
        raise RequestError(400, f"n must be at least 1, got {n}.", "n")
    if n is not None and n > 1:
        raise RequestError(
            400,
            "n > 1 is not supported by the local engine server: its engines are deterministic, "
            "every choice would be the same page.",
            "n",
        )
    format_ = payload.get("response_format")
    if format_ not in (None, {"type": "text"}):
        raise RequestError(
            400,
            "response_format is not supported by the local engine server: OCR engines write "
            "plain text, not JSON.",
            "response_format",
        )
    if payload.get("logprobs") or payload.get("top_logprobs"):
        raise RequestError(
            400,
            "logprobs are not supported by the local engine server: its engines have no token probabilities.",
            "logprobs",
        )
    stream = payload.get("stream") or False
    options = payload.get("stream_options")
    if options is not None and not stream:
        raise RequestError(400, "Stream options can only be defined when `stream=True`.", "stream_options")
    model = payload.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(400, "`model` must be a string.", "model")
    return ChatRequest(
        model,
        image,
        max_tokens,
        bool(stream),
        bool(isinstance(options, dict) and options.get("include_usage")),
    )


def _image(messages) -> bytes:
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "`messages` must be a non-empty list.", "messages")
    urls = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise RequestError(400, "Each message must be an object with a `role`.", "messages")
        content = message.get("content")
        if isinstance(content, str) or content is None:
            continue
        if not isinstance(content, list):
            raise RequestError(400, "`content` must be a string or a list of parts.", "messages")
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("text", "image_url"):
                raise RequestError(
                    400, "Each content part must be {'type': 'text'|'image_url', ...}.", "messages"
                )
            if part["type"] == "image_url":
                url = part["image_url"].get("url") if isinstance(part.get("image_url"), dict) else None
                if not isinstance(url, str):
                    raise RequestError(
                        400, "An image_url part needs {'image_url': {'url': ...}}.", "messages"
                    )
                urls.append(url)
    if not urls:
        raise RequestError(400, "No image in the request: send one image_url part with the page.", "messages")
    if len(urls) > 1:
        raise RequestError(
            400, f"At most 1 image(s) may be provided in one request; got {len(urls)}.", "messages"
        )
    if not _DATA_URL.match(urls[0]):
        raise RequestError(
            400, "The local server takes images inline: use a data:image/png;base64,... URL.", "messages"
        )
    try:
        return base64.b64decode(urls[0].split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "The image data URL is not valid base64.", "messages") from None


def completion(request: ChatRequest, model: str, text: str, width: int, height: int) -> tuple[dict, dict]:
    """The chat.completion body (or the pieces of its stream) and its usage."""
    text, cut = truncate(text, request.max_tokens) if request.max_tokens else (text, False)
    usage = {"prompt_tokens": vision_tokens(width, height), "completion_tokens": count_tokens(text)}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "length" if cut else "stop",
                "logprobs": None,
            }
        ],
        "usage": usage,
    }
    return body, usage


def stream_events(body: dict, include_usage: bool):
    """The SSE chunks of a completion body: role, one chunk a line (newlines kept), finish, usage."""
    text = body["choices"][0]["message"]["content"]
    head = {
        "id": body["id"],
        "object": "chat.completion.chunk",
        "created": body["created"],
        "model": body["model"],
    }

    def chunk(delta, finish_reason=None):
        return {
            **head,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for piece in re.findall(r"[^\n]*\n|[^\n]+$", text):
        yield chunk({"content": piece})
    yield chunk({}, body["choices"][0]["finish_reason"])
    if include_usage:
        yield {**head, "choices": [], "usage": body["usage"]}
