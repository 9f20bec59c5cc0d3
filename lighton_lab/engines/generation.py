"""An answer as a language model produces it: one token after another, up to a budget, at a decoding speed,
and stopping when nobody listens any more.

The local engines read a whole page at once; what a GPU model does over time is emulated here, so the
client's streaming, loop cut-off and cancellation are tested against the real behaviour:

- tokens are words and punctuation marks with the whitespace before them (``pieces``), close to what a
  BPE tokenizer emits on prose;
- the budget is what vLLM allows (``protocol.output_budget``): a page longer than it stops with
  ``finish_reason "length"``;
- ``token_rate`` (tokens per second, the ``token_rate`` fault) paces the output as decoding does;
- a looping answer (the ``loop_rate`` fault) is the start of the page and then one of its lines repeated
  until the budget runs out, the known failure of OCR models (vLLM #28617; DeepSeek-OCR #250);
- the caller stops iterating when its client disconnects, and only the tokens produced are counted (vLLM
  aborts a request whose client went away: ``v1/engine/async_llm.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])")
TICK_TOKENS = 8  # with a token rate, tokens are paced in groups of this many (one sleep per group)


def pieces(text: str) -> list[str]:
    """The text as tokens, each with the whitespace before it; trailing whitespace joins the last one.

    >>> pieces("Hello, world\\n")
    ['Hello', ',', ' world\\n']
    """
    found = _PIECE.findall(text)
    if found:
        found[-1] += text[sum(map(len, found)) :]
    return found


def count_tokens(text: str) -> int:
    """Words and punctuation marks: close to what a BPE tokenizer counts on prose."""
    return len(_PIECE.findall(text))


def looping(text: str) -> Iterator[str]:
    """A degenerate answer: the first third of the page, then its last line there, repeated for ever."""
    lines = [line for line in text.splitlines() if line.strip()] or ["."]
    head = lines[: max(1, len(lines) // 3)]
    yield from pieces("\n".join(head) + "\n")
    yield from itertools.cycle(pieces(head[-1] + "\n"))


@dataclass
class Generation:
    """The tokens of one answer, produced lazily up to ``budget``; ``produced`` counts what was emitted."""

    tokens: Iterator[str]
    budget: int
    token_rate: float = 0.0
    produced: int = 0
    finish_reason: str | None = None
    text: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, text: str, budget: int, token_rate: float = 0.0, loop: bool = False) -> Generation:
        return cls(looping(text) if loop else iter(pieces(text)), budget, token_rate)

    async def chunks(self) -> AsyncIterator[str]:
        """Groups of tokens as they are produced (a line at a time when unpaced); sets ``finish_reason``."""
        group: list[str] = []
        for piece in self.tokens:
            if self.produced >= self.budget:
                self.finish_reason = "length"
                break
            group.append(piece)
            self.produced += 1
            if self._tick(group, piece):
                if self.token_rate:
                    await asyncio.sleep(len(group) / self.token_rate)
                yield self._emit(group)
                group = []
        else:  # the end-of-sequence token needs a place in the budget too
            self.finish_reason = "length" if self.produced >= self.budget else "stop"
        if group:
            if self.token_rate:
                await asyncio.sleep(len(group) / self.token_rate)
            yield self._emit(group)

    def _tick(self, group: list[str], piece: str) -> bool:
        return len(group) >= TICK_TOKENS if self.token_rate else "\n" in piece

    def _emit(self, group: list[str]) -> str:
        chunk = "".join(group)
        self.text.append(chunk)
        return chunk

    async def run(self) -> str:
        """The whole answer (a non-streamed request), produced at the same pace."""
        async for _ in self.chunks():
            pass
        return "".join(self.text)

    @property
    def completion_tokens(self) -> int:
        """Tokens produced, with the end-of-sequence token vLLM counts when the answer stopped by itself."""
        return self.produced + (self.finish_reason == "stop")
