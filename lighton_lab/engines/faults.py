"""Fault injection for the local server: the failures a Modal/vLLM endpoint shows, on demand.

Off by default. The client's retries and the sweep's bookkeeping are only as good as the failures they
were tested against, so each fault below is one seen in real deployments: cold-start 503s, rate limits
with ``Retry-After``, connections dropped mid-answer, streams that stall, answers that are not JSON,
Modal's 303 "poll here" redirect for requests that outlive its 150 s web timeout, and what a GPU model
does over time: answers that degenerate into a repetition loop (``loop_rate``), decoding at a finite
speed (``token_rate``), time before the first token (``latency_s``) and a batch of at most ``max_num_seqs``
requests in progress (the rest queue, as vLLM's scheduler queues them), so concurrency can be tuned against
a knee that is where the server says it is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields


@dataclass
class Faults:
    """Each ``*_rate`` is the probability that one chat-completions request gets that fault."""

    error_rate: float = 0.0  # answer ``error_status`` with an OpenAI error body
    error_status: int = 503
    rate_limit_rate: float = 0.0  # 429 with Retry-After: ``retry_after_s``
    retry_after_s: float = 1.0
    drop_rate: float = 0.0  # close the connection before the answer is complete
    stall_rate: float = 0.0  # streams: stop sending for ``stall_s`` after the first chunk
    stall_s: float = 30.0
    malformed_rate: float = 0.0  # 200 with a body that is not JSON, has no choices, or no content
    loop_rate: float = 0.0  # the answer degenerates: one line repeated until the token budget runs out
    latency_s: float = 0.0  # added to every chat request before its first token (prefill, queueing)
    token_rate: float = 0.0  # tokens per second of the answer, as a GPU decodes (0: all at once)
    max_num_seqs: int = 0  # requests read at once (latency and OCR); the rest wait their turn (0: no limit)
    redirect_after_s: float | None = None  # emulate Modal: 303 to a poll URL when slower than this
    seed: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_rate") and f.name != "token_rate":
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"Faults.{f.name} must be within [0, 1], got {value}")
        self._rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return any(getattr(self, f"{name}_rate") for name in self.drawn) or bool(
            self.latency_s or self.redirect_after_s
        )

    @property
    def drawn(self) -> tuple[str, ...]:
        """The faults that ``draw`` chooses from (one per request at most)."""
        return ("error", "rate_limit", "drop", "stall", "malformed", "loop")

    def draw(self) -> str | None:
        """The fault for the next request, or None. At most one fault per request."""
        roll = self._rng.random()
        for name in self.drawn:
            rate = getattr(self, f"{name}_rate")
            if roll < rate:
                return name
            roll -= rate
        return None

    def malformed_body(self) -> bytes:
        return self._rng.choice(
            [
                b"<html><body>502 Bad Gateway</body></html>",
                b'{"id": "x", "object": "chat.completion", "choices": []}',
                b'{"id": "x", "object": "chat.completion", '
                b'"choices": [{"index": 0, "message": {"role": "assistant"}}]}',
            ]
        )

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """``"error_rate=0.2,drop_rate=0.1,seed=1"`` (the CLI's ``--faults``) to Faults."""
        values: dict = {}
        types = {f.name: f.type for f in fields(cls)}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            key, _, raw = item.partition("=")
            key = key.strip()
            if key not in types:
                raise ValueError(f"unknown fault {key!r}: use {', '.join(types)}")
            values[key] = int(raw) if key in ("error_status", "seed", "max_num_seqs") else float(raw)
        return cls(**values)


# ---- how a drawn fault changes an answer (used by the server in one place) ----------------------


def faulty_body(data: bytes, fault: str | None, faults: Faults):
    """A non-streamed answer spoiled by ``fault``, or None to send it as it is."""
    from starlette.responses import Response, StreamingResponse

    if fault == "malformed":
        return Response(faults.malformed_body(), media_type="application/json")
    if fault == "drop":  # declare more than we send: the client sees the connection cut mid-answer
        return _Truncated(data)
    if fault == "stall":
        return StreamingResponse(_stall_then(data, faults.stall_s), media_type="application/json")
    return None


async def faulty_stream(events, fault: str | None, faults: Faults):
    """SSE lines of ``events`` (an async iterator of chunks), stalled, cut or spoiled after the first
    content chunk when ``fault`` says so; ``data: [DONE]`` at the end, as vLLM ends every stream."""
    import asyncio
    import json

    i = 0
    async for event in events:
        yield f"data: {json.dumps(event, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
        if i == 1 and fault == "stall":
            await asyncio.sleep(faults.stall_s)
        if i == 1 and fault == "drop":
            raise ConnectionAbortedError("injected fault: connection dropped mid-stream")
        i += 1
    if fault == "malformed":
        yield b"data: {not json\n\n"
    yield b"data: [DONE]\n\n"


async def _stall_then(data: bytes, seconds: float):
    import asyncio

    yield data[:1]
    await asyncio.sleep(seconds)
    yield data[1:]


class _Truncated:
    """An answer whose Content-Length promises more than is sent: a connection dropped mid-answer."""

    def __init__(self, data: bytes):
        self.data = data

    async def __call__(self, scope, receive, send):
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.data) + 500).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": self.data[: len(self.data) // 2], "more_body": True}
        )
        raise ConnectionAbortedError("injected fault: connection dropped")
