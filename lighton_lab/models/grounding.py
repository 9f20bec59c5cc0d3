"""LightOnOCR-3's grounding output: one block per marker ``![label](x1,y1,x2,y2) text``, boxes normalised to
0-1000 on both axes of the image that was sent, ``label+`` for a block that continues the previous one.

Parsed as LightOn's own package parser parses it (``lightonai/LightOnOCR`` ``lightonocr/grounding.py``
``parse_blocks``, commit 36755d4): markers are found anywhere (mid-line, inside a table cell); a block's
text runs to the next marker and is stripped; text before the first marker is dropped; unknown labels are
kept as written; boxes are kept as the model wrote them (none clipped, swapped or dropped). What does not
look right is reported apart, by ``problems``, so a row can count it (``grounding_errors``) instead of the
parser refusing a page.

Back to text, as LightOn's ``to_markdown`` does it: blocks joined by blank lines, a continuation appended
to the block it continues with one space (unless that block was dropped or empty), and LightOn's two
choices: keep every block, or drop the page furniture (``HEADER_FOOTER``: headers, footers, page numbers,
footnotes and the ``page_*`` labels), the set behind LightOn's model-card olmOCR-Bench figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

PROMPT = "grounding"  # the text part that asks a LightOnOCR-3 model for grounding
LABELS = (
    "title", "section", "text", "list", "caption", "footnote", "aside_text", "header", "footer", "page_number",
    "table", "chart", "formula", "code", "image",
)  # fmt: skip
HEADER_FOOTER = (
    "header", "footer", "page_number", "footnote", "page_header", "page_footer", "page_footnote",
    "header_image", "footer_image",
)  # fmt: skip
# LightOn's marker, character for character: a label starting with a letter or underscore, one optional
# "+", four non-negative integers separated by commas (spaces allowed), the spaces or tabs after it.
MARKER = re.compile(r"!\[([A-Za-z_][\w-]*?)(\+?)\]\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)[ \t]*")
# Something that was probably meant as a marker (a word label, then numbers), to report when MARKER misses it.
_NEAR_MARKER = re.compile(r"!\[[^\]\n]{1,40}\]\(\s*-?[\d.]+\s*(?:,\s*-?[\d.]*\s*)*\)")
Furniture = Literal["keep", "drop"]


@dataclass(frozen=True)
class Block:
    """One grounded block: its label (without the ``+``), its box (x1, y1, x2, y2) on a 0-1000 grid of the
    image that was sent, its text, and whether it continues the previous block."""

    label: str
    box: tuple[int, int, int, int]
    text: str
    continues: bool = False

    def to_pixels(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The box in the pixels of an image of that size (LightOn's ``to_pixels``: no rounding)."""
        x1, y1, x2, y2 = self.box
        return (x1 * width / 1000, y1 * height / 1000, x2 * width / 1000, y2 * height / 1000)

    def marker(self) -> str:
        """The block as the model writes it."""
        x1, y1, x2, y2 = self.box
        return f"![{self.label}{'+' if self.continues else ''}]({x1},{y1},{x2},{y2}) {self.text}"


def parse_grounding(text: str) -> list[Block]:
    """The blocks of a grounding answer, exactly as LightOn's parser finds them (see the module docstring).

    >>> [(b.label, b.box, b.text, b.continues) for b in parse_grounding("![title](10,20,990,60) # Report\\n"
    ...     "![text](10,80,480,900) Left column ends\\n![text+](520,80,990,900) here.")]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('title', (10, 20, 990, 60), '# Report', False), ('text', (10, 80, 480, 900), 'Left column ends', False),
     ('text', (520, 80, 990, 900), 'here.', True)]
    """
    marks = list(MARKER.finditer(text or ""))
    blocks = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        box = (int(m.group(3)), int(m.group(4)), int(m.group(5)), int(m.group(6)))
        blocks.append(Block(m.group(1), box, text[m.end() : end].strip(), m.group(2) == "+"))
    return blocks


def problems(text: str, blocks: list[Block] | None = None) -> list[str]:
    """What in a grounding answer is not as the format says, one line each: text before the first marker,
    marker-like strings the format does not accept, boxes outside 0-1000 or inverted, empty blocks."""
    text = text or ""
    blocks = parse_grounding(text) if blocks is None else blocks
    found = []
    first = MARKER.search(text)
    lead = text[: first.start()] if first else text
    near = _NEAR_MARKER.search(lead)
    lead = (
        lead[: near.start()] if near else lead
    )  # what follows a malformed marker is its block: counted below
    if lead.strip():
        found.append(f"text before the first marker: {lead.strip()[:60]!r}")
    valid = {m.start() for m in MARKER.finditer(text)}
    found += [
        f"malformed marker {m.group(0)[:60]!r}" for m in _NEAR_MARKER.finditer(text) if m.start() not in valid
    ]
    for b in blocks:
        x1, y1, x2, y2 = b.box
        if max(b.box) > 1000:
            found.append(f"{b.label} box {b.box} outside 0-1000")
        if x1 >= x2 or y1 >= y2:
            found.append(f"{b.label} box {b.box} inverted or empty")
        if not b.text and b.label not in ("image", "chart"):
            found.append(f"empty {b.label} block")
    return found


def grounding_markdown(blocks: list[Block], furniture: Furniture = "keep") -> str:
    """The blocks as Markdown for text scoring: LightOn's ``to_markdown``, with the page furniture kept
    (``"keep"``) or dropped (``"drop"``: ``HEADER_FOOTER``)."""
    drop = HEADER_FOOTER if furniture == "drop" else ()
    parts: list[str] = []
    previous_kept = False
    for b in blocks:
        if b.label in drop or not b.text:
            previous_kept = False
            continue
        if b.continues and previous_kept:
            parts[-1] = f"{parts[-1]} {b.text}"
        else:
            parts.append(b.text)
        previous_kept = True
    return "\n\n".join(parts)
