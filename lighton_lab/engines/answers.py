"""What the local server answers, given what an engine read: the page's text, or LightOnOCR-3's grounding
format when the request asks for it (the image plus the text ``"grounding"``, as LightOn's client sends).

A grounding answer has one block per paragraph the engine found, in its reading order, with the
paragraph's box normalised to 0-1000 of the image that was sent and a label from simple, documented rules
(a CPU engine has no layout model):

- in the top or bottom ``MARGIN`` of the page: ``page_number`` when it is one short line that reads like a
  folio (``12``, ``xiv``, ``Page 3``, ``- 4 -``, ``3 / 10``), else ``header`` (top) or ``footer`` (bottom);
- lines at least ``TITLE_RATIO`` times the page's median line height: ``title`` for the first such block,
  ``section`` for the next ones (their text as the engine read it: the engines write plain text, and a
  ``#`` added here would be scored as a character the page does not have);
- everything else: ``text``.

An engine that returns only text (no boxes) answers with one page-sized ``text`` block per paragraph.

Served under a registered model's name (``--served-model-name allenai/olmOCR-2-7B-1025-FP8=rapidocr``), the
server stands in for that model: the request's text is matched against the family's prompts to find the
mode, and the answer is written in the family's own shape (``Family.emulate``: olmOCR's front matter,
DeepSeek's ``<|ref|>``/``<|det|>`` tags, dots.ocr's layout JSON, Chandra's HTML, ...), so each family's
adapter is exercised end to end on the CPU. It is an alias of a CPU engine, labelled as one in
``/v1/models`` (``lighton_lab.emulates``): its text is the engine's, not the model's.
"""

from __future__ import annotations

import re
from statistics import median

from lighton_lab.engines.layout import Paragraph
from lighton_lab.engines.ocr import Recognition
from lighton_lab.models.grounding import PROMPT, Block
from lighton_lab.models.variants import Variant, profile_for

MARGIN = 0.08  # running heads and folios live in the top and bottom 8% of a page
TITLE_RATIO = 1.4  # a heading's lines are this much taller than the body's
_FOLIO = re.compile(
    r"^(?:page\s+)?[-–—(]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–—)]?(?:\s*(?:/|of)\s*\d{1,4})?$", re.I
)


def is_grounding(texts: tuple[str, ...]) -> bool:
    """The request asks for grounding: one text part that says ``grounding``, as LightOn's client sends."""
    return [t.strip().lower() for t in texts if t.strip()] == [PROMPT]


def answer_text(recognition: Recognition, grounding: bool) -> str:
    """The model's answer: the page's text, or its grounding blocks one per line."""
    if not grounding:
        return recognition.text
    return "\n".join(block.marker() for block in blocks_of(recognition))


def answer_as(recognition: Recognition, texts: tuple[str, ...], profile: Variant | None) -> str:
    """The answer to a request with these text parts: as the engine (``answer_text``), or, for a name that
    stands in for a registered model, in that family's shape for the mode its prompt asks."""
    if profile is None:
        return answer_text(recognition, is_grounding(texts))
    mode = mode_asked(profile, texts)
    blocks = blocks_of(recognition)
    return profile.family.emulate(recognition.text, blocks, recognition.width, recognition.height, mode)


def stands_in_for(name: str, aliases: dict[str, str]) -> Variant | None:
    """The registered model an alias is named after (its answers take that family's shape), else None."""
    return profile_for(name) if name in aliases else None


def card_extras(served: list[str], aliases: dict[str, str]) -> dict[str, dict]:
    """Each served name's ``lighton_lab`` field in ``/v1/models``: its engine, how its answers read (the
    client scores by it, however it reached the server), and the model it stands in for."""
    from lighton_lab.engines.registry import engine_of

    found = {}
    for name in served:
        engine, profile = aliases.get(name, name), stands_in_for(name, aliases)
        found[name] = {"engine": engine, "output_format": engine_of(engine).output_format,
                       "emulates": profile.hf_id if profile else None}  # fmt: skip
    return found


def mode_asked(profile: Variant, texts: tuple[str, ...]) -> str:
    """The mode whose prompt the request's text parts are (``plain`` when none matches: the model was asked
    something else, and reads the page)."""
    asked = "\n".join(t.strip() for t in texts if t.strip())
    for mode in profile.modes:
        prompt = profile.family.prompts[mode]
        if (prompt.text or "").strip() == asked:
            return mode
    return "plain"


def blocks_of(recognition: Recognition) -> list[Block]:
    """The recognition as grounding blocks (see the module docstring for the labels)."""
    width, height = recognition.width, recognition.height
    if recognition.paragraphs is None:
        texts = [p for p in recognition.text.split("\n\n") if p.strip()]
        return [Block("text", (0, 0, 1000, 1000), text) for text in texts]
    lines = [line for p in recognition.paragraphs for line in p]
    body = median(line.height for line in lines) if lines else 1.0
    blocks, titled = [], False
    for paragraph in recognition.paragraphs:
        label = _label(paragraph, width, height, body, titled)
        titled = titled or label == "title"
        text = "\n".join(line.text for line in paragraph)
        blocks.append(Block(label, _normalised(paragraph, width, height), text))
    return blocks


def _label(paragraph: Paragraph, width: int, height: int, body_height: float, titled: bool) -> str:
    top, bottom = min(b.y0 for b in paragraph), max(b.y1 for b in paragraph)
    in_top, in_bottom = bottom <= MARGIN * height, top >= (1 - MARGIN) * height
    if in_top or in_bottom:
        if len(paragraph) == 1 and _FOLIO.match(paragraph[0].text.strip()):
            return "page_number"
        return "header" if in_top else "footer"
    if median(b.height for b in paragraph) >= TITLE_RATIO * body_height:
        return "section" if titled else "title"
    return "text"


def _normalised(paragraph: Paragraph, width: int, height: int) -> tuple[int, int, int, int]:
    """The paragraph's box on LightOn's 0-1000 grid of the image, clipped to it."""

    def scale(value: float, size: int) -> int:
        return max(0, min(1000, round(value / max(size, 1) * 1000)))

    return (
        scale(min(b.x0 for b in paragraph), width),
        scale(min(b.y0 for b in paragraph), height),
        scale(max(b.x1 for b in paragraph), width),
        scale(max(b.y1 for b in paragraph), height),
    )
