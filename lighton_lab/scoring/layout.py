"""Layout scores: a model's boxes against the regions of a page's structured ground truth.

``score_layout(page, output)`` compares the blocks of a grounding answer (LightOn's ``![label](x1,y1,x2,y2)``
format, or ``Block``s from any family's adapter) with the regions of the page's ALTO, PAGE-XML or hOCR file.
Both are put on LightOn's 0-1000 grid of the page: a model's boxes are on 0-1000 of the image it was sent,
which is the page scaled (never cropped), and the regions are divided by the size of the page their file
gives (``Layout.width``/``height``), so any DPI or cap compares with the same ground truth.

- Matching is one-to-one on IoU (Hungarian, ``scipy.optimize.linear_sum_assignment`` on 1 - IoU), as
  detection benchmarks match; a pair counts when its IoU is at least ``IOU_THRESHOLD`` (0.5).
  ``precision`` = matched / blocks, ``recall`` = matched / regions, ``f1`` their harmonic mean,
  ``mean_iou`` over the matched pairs.
- Granularity is not reconciled: LightOn's blocks are paragraphs and a ``text+`` block is a block of its
  own (a paragraph split at a column break is two boxes, as a PAGE file splits it into two regions); a
  ground truth whose regions are whole columns (eScriptorium's ``MainZone``) against paragraph blocks
  scores low on purpose: they do not describe the same boxes. Blocks and regions without a box are left
  out of the matching and counted in ``blocks``/``regions``.
- ``block_cer``: the matched pairs' character edits over their reference characters, texts normalised as
  the page scores normalise them (regions without text, such as images, are left out).
- ``reading_order``: 1 - the share of discordant pairs (Kendall) between the regions' order in the file and
  their blocks' order in the answer, over matched pairs: 1.0 is the same order.
- Labels: where the ground truth has types, each is mapped to LightOn's labels (``PAGE_LABELS``,
  ``ALTO_LABELS``: PAGE region types and kinds, SegmOnto zones as eScriptorium writes them in ALTO tags);
  ``confusion`` counts (truth, block label) over matched pairs, and ``label_accuracy`` is the share that
  agree, ``title`` and ``section`` counting as the same (PAGE's ``heading`` is either). hOCR has no region
  types: ``label_accuracy`` is None.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from lighton_lab.corpus.groundtruth import Layout, Region
from lighton_lab.errors import LabError
from lighton_lab.models.grounding import Block, parse_grounding
from lighton_lab.scoring.text import collapse, normalize

IOU_THRESHOLD = 0.5
# PAGE-XML 2019: TextRegion@type (TextTypeSimpleType) and the non-text region kinds, in LightOn's labels.
PAGE_LABELS = {
    "paragraph": "text", "heading": "section", "caption": "caption", "header": "header", "footer": "footer",
    "page-number": "page_number", "drop-capital": "text", "credit": "text", "floating": "aside_text",
    "signature-mark": "footer", "catch-word": "footer", "marginalia": "aside_text", "footnote": "footnote",
    "footnote-continued": "footnote", "endnote": "footnote", "TOC-entry": "list", "list-label": "list",
    "other": "text", "TableRegion": "table", "ImageRegion": "image", "GraphicRegion": "image",
    "ChartRegion": "chart", "MathsRegion": "formula", "ChemRegion": "formula",
}  # fmt: skip
# SegmOnto zones (eScriptorium's ALTO TAGREFS labels; "MainZone:column" is a MainZone) and ALTO's figures.
ALTO_LABELS = {
    "MainZone": "text", "NumberingZone": "page_number", "RunningTitleZone": "header", "MarginTextZone": "aside_text",
    "QuireMarksZone": "footer", "TitlePageZone": "title", "DropCapitalZone": "text", "GraphicZone": "image",
    "StampZone": "image", "SealZone": "image", "MusicZone": "image", "TableZone": "table",
    "Illustration": "image", "GraphicalElement": "image",
}  # fmt: skip
SAME = {"title": "heading", "section": "heading"}  # labels that agree with each other


@dataclass(frozen=True)
class LayoutScore:
    """How a page's blocks match its ground-truth regions (see the module docstring)."""

    blocks: int
    regions: int
    matched: int
    precision: float
    recall: float
    f1: float
    mean_iou: float | None  # None: nothing matched
    block_cer: float | None
    reading_order: float | None
    label_accuracy: float | None  # None: the ground truth has no types
    confusion: tuple[tuple[str, str, int], ...]  # (truth label, block label, matched pairs)
    pairs: tuple[tuple[int, int, float], ...]  # (region index, block index, IoU) of the matched pairs


def region_label(region: Region, source: str) -> str | None:
    """A region's type in LightOn's labels (None when the file gives none); unknown types kept as written."""
    if not region.type:
        return None
    table = PAGE_LABELS if source == "page" else ALTO_LABELS
    return table.get(region.type, table.get(region.type.split(":")[0], region.type))


def region_box(region: Region, layout: Layout) -> tuple[float, float, float, float] | None:
    """A region's box on 0-1000 of its page."""
    if region.box is None:
        return None
    x0, y0, x1, y1 = region.box
    w, h = layout.width, layout.height
    return (x0 * 1000 / w, y0 * 1000 / h, x1 * 1000 / w, y1 * 1000 / h)


def blocks_of(output) -> list[Block]:
    """Blocks from a grounding answer's text, a ``Reading`` (any family's adapter) or a list of Blocks."""
    if isinstance(output, str):
        return parse_grounding(output)
    blocks = getattr(output, "blocks", output)
    return list(blocks or ())


def page_layout(page) -> Layout:
    """The page's layout with its size known: from the file, else from the page's image."""
    layout = getattr(page, "layout", page)
    if not isinstance(layout, Layout):
        raise LabError(f"{getattr(page, 'id', 'page')}: no layout ground truth (put NAME.alto.xml, NAME.page.xml "
                       "or NAME.hocr beside the document)")  # fmt: skip
    if layout.width and layout.height:
        return layout
    path = getattr(page, "path", None)
    if path is not None and str(path).lower().endswith(
        (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
    ):
        from dataclasses import replace

        from PIL import Image

        with Image.open(path) as image:
            return replace(layout, width=image.width, height=image.height)
    raise LabError(f"{getattr(page, 'id', 'page')}: its layout file gives no page size (PAGE imageWidth/"
                   "imageHeight, ALTO Page WIDTH/HEIGHT); add it to the file")  # fmt: skip


def score_layout(page, output, normalization: str = "markdown", text_format: str = "markdown") -> LayoutScore:
    """Score the blocks of ``output`` against the regions of ``page`` (a ``Page`` with a layout, or a
    ``Layout`` with its size); ``text_format`` is how block texts read (LightOn's: Markdown)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    layout = page_layout(page)
    blocks = blocks_of(output)
    regions = [(i, r, region_box(r, layout)) for i, r in enumerate(layout.regions)]
    truth = [(i, r, box) for i, r, box in regions if box is not None]
    found = [(j, b) for j, b in enumerate(blocks)]
    pairs: list[tuple[int, int, float]] = []
    if truth and found:
        a = np.array([box for _, _, box in truth], dtype=float)
        b = np.array([block.box for _, block in found], dtype=float)
        iou = _iou_matrix(a, b)
        rows, cols = linear_sum_assignment(-iou)
        pairs = [
            (truth[r][0], found[c][0], float(iou[r, c]))
            for r, c in zip(rows, cols)
            if iou[r, c] >= IOU_THRESHOLD
        ]
    matched = len(pairs)
    precision = matched / len(blocks) if blocks else (1.0 if not layout.regions else 0.0)
    recall = matched / len(layout.regions) if layout.regions else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    by_region = {i: r for i, r, _ in regions}
    return LayoutScore(
        blocks=len(blocks),
        regions=len(layout.regions),
        matched=matched,
        precision=precision,
        recall=recall,
        f1=f1,
        mean_iou=sum(p[2] for p in pairs) / matched if matched else None,
        block_cer=_block_cer(pairs, by_region, blocks, normalization, text_format),
        reading_order=_kendall([j for _, j, _ in sorted(pairs)]) if matched else None,
        label_accuracy=_label_accuracy(pairs, by_region, blocks, layout.source),
        confusion=_confusion(pairs, by_region, blocks, layout.source),
        pairs=tuple(sorted(pairs)),
    )


def _iou_matrix(a, b):
    import numpy as np

    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _block_cer(pairs, regions, blocks, normalization, text_format) -> float | None:
    edits = length = 0
    for i, j, _ in pairs:
        reference = collapse(normalize(regions[i].text, normalization, "text"))
        if not reference:
            continue
        edits += Levenshtein.distance(
            reference, collapse(normalize(blocks[j].text, normalization, text_format))
        )
        length += len(reference)
    return edits / length if length else None


def _kendall(order: list[int]) -> float:
    total = len(order) * (len(order) - 1) // 2
    discordant = sum(1 for a in range(len(order)) for b in range(a + 1, len(order)) if order[a] > order[b])
    return 1.0 - discordant / total if total else 1.0


def _labelled(pairs, regions, blocks, source) -> list[tuple[str, str]]:
    out = []
    for i, j, _ in pairs:
        truth = region_label(regions[i], source)
        if truth is not None:
            out.append((truth, blocks[j].label))
    return out


def _label_accuracy(pairs, regions, blocks, source) -> float | None:
    labelled = _labelled(pairs, regions, blocks, source)
    if not labelled:
        return None
    return sum(SAME.get(t, t) == SAME.get(p, p) for t, p in labelled) / len(labelled)


def _confusion(pairs, regions, blocks, source) -> tuple[tuple[str, str, int], ...]:
    counts = Counter(_labelled(pairs, regions, blocks, source))
    return tuple((t, p, n) for (t, p), n in sorted(counts.items()))
