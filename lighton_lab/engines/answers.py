"""What the local server answers, given what an engine read: the page's text, or LightOnOCR-3's grounding
format when the request asks for it (the image plus the text ``"grounding"``, as LightOn's client sends).

A grounding answer has one block per paragraph the engine found, in its reading order, with the
paragraph's box normalised to 0-1000 of the image that was sent and a label from simple, documented rules
(a CPU engine has no layout model):

- in the top or bottom ``MARGIN`` of the page: ``page_number`` when it is one short line that reads like a
  folio (``12``, ``xiv``, ``Page 3``, ``- 4 -``, ``3 / 10``), else ``header`` (top) or ``footer`` (bottom);
- lines at least ``TITLE_RATIO`` times the page's median line height: ``title`` for the first such block,
  ``section`` for the next ones (written as Markdown headings, as LightOnOCR writes them);
- everything else: ``text``.

An engine that returns only text (no boxes) answers with one page-sized ``text`` block per paragraph.
"""

from __future__ import annotations

import re
from statistics import median

from lighton_lab.engines.layout import Paragraph
from lighton_lab.engines.ocr import Recognition
from lighton_lab.models.grounding import PROMPT, Block

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
        if label == "title":
            text = "# " + " ".join(line.text for line in paragraph)
        elif label == "section":
            text = "## " + " ".join(line.text for line in paragraph)
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
