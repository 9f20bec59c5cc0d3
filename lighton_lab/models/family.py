"""A model family: how its authors ask it for a page and how to read what it answers.

One ``Family`` per file in ``models/families/`` (the registry lists them, like the engines): the prompt of
each mode and where it goes in the message, how big the page is sent, the sampling its authors use, what
``vllm serve`` needs to run it, its licence and its published figures, and three functions:

- ``adapt(raw, mode, width, height, furniture)`` -> ``Reading``: the answer as the text we score (Markdown,
  the family's own wrappers removed; front matter kept apart as metadata) and, where it gives boxes, LightOn
  grounding ``Block``s on 0-1000 of the image that was sent, so overlays and layout scores work for all;
- ``emulate(text, blocks, width, height, mode)`` -> the family's raw answer for a page the local engines
  read, so the local server can stand in for it (an alias, labelled as such) and the adapters are
  exercised end to end on the CPU;
- the request itself is built here from the fields (``messages``), the same for every family.

Every fact carries its source in the family's file (the authors' repository or card, with the file).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from lighton_lab.models.grounding import Block, Furniture

Mode = Literal["plain", "grounding"]


@dataclass(frozen=True)
class Prompt:
    """What a request holds besides the image: the text, before or after the image, and a system message."""

    text: str | None = None  # None: the image alone (LightOnOCR's plain mode)
    text_first: bool = False  # olmOCR puts its prompt before the image; most put it after
    system: str | None = None

    def digest(self) -> str | None:
        """A short fingerprint of the prompt, part of a result's content key (None for the image alone)."""
        if self.text is None and self.system is None:
            return None
        payload = f"{self.system or ''}\x00{self.text or ''}\x00{self.text_first}"
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Reading:
    """An answer as the workbench reads it."""

    text: str  # what is scored
    blocks: tuple[Block, ...] | None = None  # boxes on 0-1000 of the image sent, when the answer had them
    metadata: dict = field(default_factory=dict)  # e.g. olmOCR's front matter
    problems: tuple[str, ...] = ()  # what did not parse as the format says (``grounding_errors``)


@dataclass(frozen=True)
class Published:
    """A published olmOCR-Bench figure, with who measured it and where it was read."""

    score: str  # "82.4" or "84.5-86.1"
    source: str
    self_reported: bool
    note: str = ""


def _plain(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    return Reading(raw)


def _no_emulation(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    return text


@dataclass(frozen=True)
class Family:
    """Everything the workbench knows about one family of OCR models (see the module docstring)."""

    key: str  # "lightonocr", "olmocr", ...
    name: str
    architecture: str  # the class vLLM 0.30.0 serves it with (its model registry)
    prompts: dict[str, Prompt]  # mode -> prompt
    default_mode: Mode
    licence: str
    longest_edge: int | None = None  # the page's longest side as the authors send it; None: not capped here
    dpi: float = 200  # what its authors render PDFs at
    sampling: dict = field(default_factory=dict)  # temperature, top_p, max_tokens, ...: what its client sends
    extra_body: dict = field(default_factory=dict)  # vllm_xargs, skip_special_tokens, mm_processor_kwargs
    ladder: tuple[float, ...] = ()  # temperatures to retry a failed or looping page with, in order
    vllm_flags: tuple[str, ...] = ()
    transformers_version: str = "5.16.1"
    extra_packages: tuple[str, ...] = ()
    output_format: str = "markdown"  # how the adapted text is read when scored
    commercial_note: str = ""  # restrictions on commercial use, as the licence words them
    published: tuple[Published, ...] = ()
    sources: tuple[str, ...] = ()
    adapt: Callable[..., Reading] = _plain
    emulate: Callable[..., str] = _no_emulation

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self.prompts)

    def prompt(self, mode: str | None) -> Prompt:
        mode = mode or self.default_mode
        if mode not in self.prompts:
            from lighton_lab.errors import ModelError

            raise ModelError(
                f"{self.name} has no {mode} mode: it has {', '.join(self.prompts)}"
                + (
                    ". Grounding needs a LightOnOCR-3 model; use mode='plain'."
                    if self.key == "lightonocr"
                    else "."
                )
            )
        return self.prompts[mode]


def messages(prompt: Prompt, image_url: str) -> list[dict]:
    """The chat messages of one page: one user turn with the image and the prompt in the family's order."""
    image = {"type": "image_url", "image_url": {"url": image_url}}
    parts = [image]
    if prompt.text is not None:
        text = {"type": "text", "text": prompt.text}
        parts = [text, image] if prompt.text_first else [image, text]
    turns = [{"role": "system", "content": prompt.system}] if prompt.system else []
    return [*turns, {"role": "user", "content": parts}]
