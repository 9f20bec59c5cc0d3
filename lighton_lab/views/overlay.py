"""Grounding boxes drawn over the page, as LightOn's own viewer draws them, with the ground truth beside.

A grounded answer's blocks (``models.grounding.Block``, any family's, read by its adapter) have boxes on a
0-1000 grid of the image that was sent; the page is rendered again at the row's DPI and cap (the same
pixels), and each block is drawn on it:

- in its label's colour (LightOn's viewer, ``app.js`` ``COLORS``: page furniture grey on purpose, any other
  label ``#9ca3af``), a 1.5 px outline over a lightly tinted fill, its number and label at its corner;
- with a dashed outline for a ``label+`` block (it continues the previous one, e.g. into the next column);
- when the page has layout ground truth (ALTO, PAGE-XML, hOCR), the region each block was matched to
  (``scoring.layout``: one-to-one on IoU >= 0.5) as a black dotted outline with the same number and the
  IoU, and the regions no block matched as grey dotted outlines: a miss is as visible as a hit.

``hidden`` leaves labels out, as the viewer's label chips do (a ``text+`` block hides with ``text``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from lighton_lab.frames.rows import reading
from lighton_lab.models.grounding import Block
from lighton_lab.scoring.layout import page_layout, region_box, region_label, score_layout
from lighton_lab.store.schema import Result
from lighton_lab.views.plots import Chart

# LightOn's viewer (lightonai/LightOnOCR, app.js COLORS): "Page furniture is grey on purpose".
COLOURS = {
    "title": "#d97706", "section": "#b45309", "text": "#2563eb", "list": "#0891b2", "caption": "#c026d3",
    "footnote": "#ea580c", "aside_text": "#4f46e5", "image": "#7c3aed", "header": "#78716c",
    "footer": "#78716c", "page_number": "#57534e", "table": "#dc2626", "chart": "#db2777",
    "formula": "#0d9488", "code": "#16a34a",
}  # fmt: skip
OTHER = "#9ca3af"  # any label the viewer does not know (colorOf)
FILL_ALPHA = (
    0.12  # the viewer tints a box's fill lightly (5-24% as it is read); enough to see the text through
)
TRUTH, MISSED = "#111111", "#9ca3af"
LEGEND_IN = 0.8  # inches under the page for the legend


def colour(label: str) -> str:
    return COLOURS.get(label, OTHER)


@dataclass(frozen=True)
class Match:
    """The ground-truth region a block was matched to: its box on 0-1000 of the page, its type in LightOn's
    labels (None when the file gives none) and the pair's IoU."""

    box: tuple[float, float, float, float]
    label: str | None
    iou: float


@dataclass(frozen=True)
class Grounded:
    """What the overlay draws for one row: the blocks, the matched region of each block (by block index),
    and the regions no block matched."""

    blocks: tuple[Block, ...]
    matches: dict
    missed: tuple[tuple[float, float, float, float], ...] = ()


def row_blocks(row, furniture: str = "keep") -> list[Block] | None:
    """The blocks of a frame row's answer as its family's adapter reads them (None: not a grounded answer)."""
    if not isinstance(row.get("raw"), str) or pd.isna(row.get("blocks")):
        return None
    result = Result(key=str(row.get("key") or ""), document=str(row["document"]), page=int(row["page_number"]),
                    image_hash=None, dpi=float(row["dpi"]), effective_dpi=None, max_side=None,
                    width=_int(row.get("width")), height=_int(row.get("height")), variant=str(row["variant"]),
                    model=str(row["model"]), params={}, reference=None, text=row["raw"], mode=row.get("mode"),
                    family=row.get("family") if isinstance(row.get("family"), str) else None)  # fmt: skip
    read = reading(result, furniture)
    return list(read.blocks) if read is not None and read.blocks is not None else None


def grounded(blocks: list[Block], page=None) -> Grounded:
    """Blocks with their matched regions, when ``page`` has layout ground truth."""
    layout = getattr(page, "layout", None)
    if layout is None:
        return Grounded(tuple(blocks), {})
    layout = page_layout(page)  # its size from the image when the file has none: read once
    score = score_layout(layout, blocks)
    matches = {}
    for region, block, iou in score.pairs:
        r = layout.regions[region]
        matches[block] = Match(region_box(r, layout), region_label(r, layout.source), iou)
    matched = {region for region, _, _ in score.pairs}
    missed = tuple(
        box
        for i, r in enumerate(layout.regions)
        if i not in matched and (box := region_box(r, layout)) is not None
    )
    return Grounded(tuple(blocks), matches, missed)


def draw(image, shown: Grounded, hidden=(), title: str | None = None, width_in: float = 6.5):
    """The page ``image`` (PIL) with the blocks over it (see the module docstring); a ``Chart``."""
    w, h = image.size
    image_in, legend_in, title_in = width_in * h / w, LEGEND_IN, 0.3 if title else 0.05
    height_in = image_in + legend_in + title_in
    fig = Chart(figsize=(width_in, height_in))
    ax = fig.add_axes((0, legend_in / height_in, 1, image_in / height_in))
    ax.imshow(image.convert("RGB"))
    ax.set_axis_off()
    sx, sy = w / 1000, h / 1000
    for box in shown.missed:
        ax.add_patch(_rect(box, sx, sy, edgecolor=MISSED, linestyle=":", lw=1.2, fill=False))
    counts: dict[str, int] = {}
    for i, block in enumerate(shown.blocks):
        if block.label in hidden:
            continue
        counts[block.label] = counts.get(block.label, 0) + 1
        c = colour(block.label)
        match = shown.matches.get(i)
        if match is not None:
            ax.add_patch(_rect(match.box, sx, sy, edgecolor=TRUTH, linestyle=":", lw=1.4, fill=False))
            note = f"{i + 1}: truth {match.label or 'untyped'}, IoU {match.iou:.2f}"
            ax.text(
                match.box[2] * sx, match.box[3] * sy, note, fontsize=5.5, ha="right", va="top", color=TRUTH
            )
        ax.add_patch(_rect(block.box, sx, sy, edgecolor=c, facecolor=c, alpha=FILL_ALPHA, lw=0))
        ax.add_patch(_rect(block.box, sx, sy, edgecolor=c, fill=False, lw=1.5,
                           linestyle="--" if block.continues else "-"))  # fmt: skip
        tag = f"{i + 1} {block.label}{'+' if block.continues else ''}"
        ax.text(block.box[0] * sx, block.box[1] * sy, tag, fontsize=6, color="white", va="bottom",
                bbox={"facecolor": c, "edgecolor": "none", "pad": 1})  # fmt: skip
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    handles = [Patch(facecolor=colour(k), alpha=0.6, label=f"{k} ({n})") for k, n in sorted(counts.items())]
    handles += [Line2D([], [], color="#444", ls="--", label="dashed: continues (label+)")]
    if shown.matches or shown.missed:
        handles += [Line2D([], [], color=TRUTH, ls=":", label="ground truth matched (IoU ≥ 0.5)"),
                    Line2D([], [], color=MISSED, ls=":", label="ground truth no block matched")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=8, y=0.995, va="top")
    return fig


def labels_of(shown: Grounded) -> dict[str, int]:
    """Blocks per label, most frequent first (the viewer's chips)."""
    counts: dict[str, int] = {}
    for block in shown.blocks:
        counts[block.label] = counts.get(block.label, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _rect(box, sx: float, sy: float, **style) -> Rectangle:
    x1, y1, x2, y2 = box
    return Rectangle((x1 * sx, y1 * sy), (x2 - x1) * sx, (y2 - y1) * sy, **style)


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)
