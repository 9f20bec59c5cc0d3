"""Character-level differences between a reference and an OCR output, for people to read.

Both sides are prepared exactly as ``metrics.score`` prepares them and aligned by the same jiwer alignment,
so what is coloured is what was counted: the deletions, insertions and substitutions shown add up to the
score's edit counts.
"""

from __future__ import annotations

import html

from lighton_lab.scoring.text import char_alignment, prepared

STYLE = (
    "<style>.lab-diff{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.5}"
    ".lab-diff del{background:#ffd7d5;color:#82071e;text-decoration:line-through}"
    ".lab-diff ins{background:#ccffd8;color:#055d20;text-decoration:none}</style>"
)
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


def diff_html(
    reference: str,
    hypothesis: str,
    normalization: str = "markdown",
    reference_format: str = "text",
    hypothesis_format: str = "markdown",
) -> str:
    """HTML: deletions (in the reference, missing from the output) red, insertions green."""
    parts = []
    for tag, ref, hyp in opcodes(reference, hypothesis, normalization, reference_format, hypothesis_format):
        if tag == "equal":
            parts.append(html.escape(ref))
        if tag in ("replace", "delete"):
            parts.append(f"<del>{html.escape(ref)}</del>")
        if tag in ("replace", "insert"):
            parts.append(f"<ins>{html.escape(hyp)}</ins>")
    return f'{STYLE}<div class="lab-diff">{"".join(parts)}</div>'
