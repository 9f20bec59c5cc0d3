"""Character-level differences between a reference and an OCR output, as the scores count them.

Both sides are prepared exactly as ``scoring.text.score`` prepares them and aligned by the same jiwer
alignment, so the deletions, insertions and substitutions listed add up to the score's edit counts
(``views.textdiff`` draws them for people; ``views.analysis`` counts them by character class).
"""

from __future__ import annotations

from lighton_lab.scoring.text import char_alignment, prepared

_TAGS = {"equal": "equal", "substitute": "replace", "delete": "delete", "insert": "insert"}


def opcodes(
    reference: str,
    hypothesis: str,
    normalization: str = "markdown",
    reference_format: str = "text",
    hypothesis_format: str = "markdown",
) -> list[tuple[str, str, str]]:
    """``[(tag, reference_part, hypothesis_part)]`` with tags equal / replace / delete / insert."""
    ref, hyp = prepared(reference or "", hypothesis, normalization, reference_format, hypothesis_format)
    return [(_TAGS[kind], ref[r0:r1], hyp[h0:h1]) for kind, r0, r1, h0, h1 in char_alignment(ref, hyp)]
