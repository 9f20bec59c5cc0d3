"""Fault injection for the local server: the failures a Modal/vLLM endpoint shows, on demand.

Off by default. The client's retries and the sweep's bookkeeping are only as good as the failures they
were tested against, so each fault below is one seen in real deployments: cold-start 503s, rate limits
with ``Retry-After``, connections dropped mid-answer, streams that stall, answers that are not JSON,
and Modal's 303 "poll here" redirect for requests that outlive its 150 s web timeout.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields


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
    latency_s: float = 0.0  # added to every chat request
    redirect_after_s: float | None = None  # emulate Modal: 303 to a poll URL when slower than this
    seed: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.endswith("_rate"):
                value = getattr(self, f.name)
                if not 0.0 <= value <= 1.0:
                    raise ValueError(f"Faults.{f.name} must be within [0, 1], got {value}")
        self._rng = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name.endswith("_rate")) or bool(
            self.latency_s or self.redirect_after_s
        )

    def draw(self) -> str | None:
        """The fault for the next request, or None. At most one fault per request."""
        roll = self._rng.random()
        for name in ("error", "rate_limit", "drop", "stall", "malformed"):
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
                b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant"}}]}',
            ]
        )

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}

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
            values[key] = int(raw) if key in ("error_status", "seed") else float(raw)
        return cls(**values)
