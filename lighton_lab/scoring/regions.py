"""Region-level scoring: which output paragraph reads which reference region, how well, and in what order.

A model that reads every region right but in another order must not look like one that misreads, and a
page CER mixes both. Here each reference region (ALTO block, PAGE region, hOCR paragraph) is matched to one
output paragraph (blank-line separated) by the Hungarian algorithm on their normalised edit distance, as
OmniDocBench matches text blocks (``scipy.optimize.linear_sum_assignment`` on a NED cost matrix):

- ``region_cer``: edits of the matched pairs over the reference characters, an unmatched region counting
  as deleted whole: what was misread, regardless of order;
- ``reading_order``: 1 - the share of discordant pairs (Kendall) between the reference order of the
  matched regions and the order of their paragraphs in the output: 1.0 is the same order, 0.0 reversed.
"""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from lighton_lab.corpus.groundtruth import Layout
from lighton_lab.scoring.text import collapse, normalize


@dataclass(frozen=True)
class RegionScore:
    regions: int
    paragraphs: int
    matched: int
    region_cer: float
    reading_order: float
    pairs: tuple[tuple[int, int, float], ...]  # (region index, paragraph index, NED)


def paragraphs(text: str, normalization: str = "markdown", text_format: str = "markdown") -> list[str]:
    """The output's paragraphs, each normalised as the scores normalise text."""
    blocks = normalize(text or "", normalization, text_format).split("\n\n")
    return [collapse(b) for b in blocks if b.strip()]


def score_regions(
    layout: Layout, hypothesis: str, normalization: str = "markdown", hypothesis_format: str = "markdown"
) -> RegionScore:
    """Match regions to paragraphs and score them (see the module docstring)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    refs = [collapse(normalize(r.text, normalization, "text")) for r in layout.regions]
    refs = [r for r in refs if r]
    outs = paragraphs(hypothesis, normalization, hypothesis_format)
    if not refs:
        return RegionScore(0, len(outs), 0, 0.0, 1.0, ())
    cost = np.ones((len(refs), max(1, len(outs))))
    for i, ref in enumerate(refs):
        for j, out in enumerate(outs):
            cost[i, j] = Levenshtein.distance(ref, out) / max(len(ref), len(out))
    rows, cols = linear_sum_assignment(cost) if outs else ([], [])
    pairs = tuple((int(i), int(j), float(cost[i, j])) for i, j in zip(rows, cols))
    edits = sum(Levenshtein.distance(refs[i], outs[j]) for i, j, _ in pairs)
    matched = {i for i, _, _ in pairs}
    edits += sum(len(refs[i]) for i in range(len(refs)) if i not in matched)
    order = [j for _, j, _ in sorted(pairs)]
    total = len(order) * (len(order) - 1) // 2
    discordant = sum(1 for a in range(len(order)) for b in range(a + 1, len(order)) if order[a] > order[b])
    return RegionScore(
        len(refs),
        len(outs),
        len(pairs),
        edits / sum(len(r) for r in refs),
        1.0 - discordant / total if total else 1.0,
        pairs,
    )
