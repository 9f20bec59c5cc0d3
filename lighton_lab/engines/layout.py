"""Reading order for engines that return loose text boxes (RapidOCR): columns, lines, paragraphs, with
the boxes kept so a grounding answer can say where each paragraph is.

A recursive XY-cut: split the boxes at the widest empty band, horizontal or vertical, and read the
parts top to bottom, left to right. A vertical cut is a column gutter only if every side is at least a
quarter of the region wide; narrower splits are table cells, read row by row like a person would.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median


@dataclass(frozen=True)
class Box:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


Y_CUT = 0.5  # a horizontal band this many line heights tall separates blocks
X_CUT = 1.0  # a vertical band this wide may be a column gutter...
MIN_COLUMN = 0.25  # ...if each side is at least this share of the region's width
PARAGRAPH_GAP = 0.6  # a gap between lines this tall (in line heights) starts a new paragraph


Paragraph = tuple[Box, ...]  # the lines of one paragraph, each a Box of its words, in reading order


def reading_order(boxes: list[Box]) -> list[Paragraph]:
    """The boxes as paragraphs of lines in reading order; each line is one Box (its words joined by
    spaces, its box their union)."""
    boxes = [b for b in boxes if b.text.strip() and b.x1 > b.x0 and b.y1 > b.y0]
    if not boxes:
        return []
    h = median(b.height for b in boxes)
    paragraphs: list[list[Box]] = []
    for block in _xy_cut(boxes, h):
        previous = None
        for line in _lines(block, h):
            top = min(b.y0 for b in line)
            if previous is None or top - previous > PARAGRAPH_GAP * h:
                paragraphs.append([])
            paragraphs[-1].append(merge(line))
            previous = max(b.y1 for b in line)
    return [tuple(p) for p in paragraphs]


def merge(words: list[Box]) -> Box:
    """One line from its words: the texts joined by spaces, the boxes' union."""
    return Box(
        " ".join(b.text.strip() for b in words),
        min(b.x0 for b in words),
        min(b.y0 for b in words),
        max(b.x1 for b in words),
        max(b.y1 for b in words),
    )


def text_of(paragraphs: list[Paragraph]) -> str:
    """Lines joined by line breaks, paragraphs by blank lines: the page as plain text."""
    return "\n\n".join("\n".join(line.text for line in p) for p in paragraphs)


def _xy_cut(boxes: list[Box], h: float) -> list[list[Box]]:
    if len(boxes) < 2:
        return [boxes]
    y_gap, y_at = _widest_gap([(b.y0, b.y1) for b in boxes])
    x_gap, x_at = _widest_gap([(b.x0, b.x1) for b in boxes])
    width = max(b.x1 for b in boxes) - min(b.x0 for b in boxes)
    if x_gap >= X_CUT * h and x_gap >= y_gap:
        left = [b for b in boxes if b.x1 <= x_at]
        right = [b for b in boxes if b.x0 >= x_at]
        if _span(left) >= MIN_COLUMN * width and _span(right) >= MIN_COLUMN * width:
            return _xy_cut(left, h) + _xy_cut(right, h)
    if y_gap >= Y_CUT * h:
        top = [b for b in boxes if b.y1 <= y_at]
        bottom = [b for b in boxes if b.y0 >= y_at]
        return _xy_cut(top, h) + _xy_cut(bottom, h)
    return [boxes]


def _span(boxes: list[Box]) -> float:
    return max(b.x1 for b in boxes) - min(b.x0 for b in boxes)


def _widest_gap(intervals: list[tuple[float, float]]) -> tuple[float, float]:
    """The widest stretch covered by no interval, as (width, midpoint); (0, 0) if none."""
    intervals = sorted(intervals)
    best, at = 0.0, 0.0
    reach = intervals[0][1]
    for start, end in intervals[1:]:
        if start - reach > best:
            best, at = start - reach, (start + reach) / 2
        reach = max(reach, end)
    return best, at


def _lines(boxes: list[Box], h: float) -> list[list[Box]]:
    """Boxes grouped into lines by vertical overlap, each line sorted left to right."""
    lines: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: b.cy):
        if lines:
            last = lines[-1]
            centre = sum(b.cy for b in last) / len(last)
            if abs(box.cy - centre) < 0.5 * min(h, box.height):
                last.append(box)
                continue
        lines.append([box])
    return [sorted(line, key=lambda b: b.x0) for line in lines]
