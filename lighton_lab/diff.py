"""Character-level differences between a reference and an OCR output, for people to read.

Both sides go through the same normalisation as the scores, so what is coloured is what was counted.
"""

from __future__ import annotations

import html
from difflib import SequenceMatcher

from .metrics import normalize

STYLE = ("<style>.lab-diff{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.5}"
         ".lab-diff del{background:#ffd7d5;color:#82071e;text-decoration:line-through}"
         ".lab-diff ins{background:#ccffd8;color:#055d20;text-decoration:none}</style>")


def opcodes(reference: str, hypothesis: str, profile: str = "markdown") -> list[tuple[str, str, str]]:
    """``[(tag, reference_part, hypothesis_part)]`` with tags equal / replace / delete / insert."""
    ref = " ".join(normalize(reference or "", profile).split())
    hyp = " ".join(normalize(hypothesis or "", profile).split())
    matcher = SequenceMatcher(None, ref, hyp, autojunk=False)
    return [(tag, ref[i1:i2], hyp[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes()]


def diff_html(reference: str, hypothesis: str, profile: str = "markdown") -> str:
    """HTML: deletions (in the reference, missing from the output) red, insertions green."""
    parts = []
    for tag, ref, hyp in opcodes(reference, hypothesis, profile):
        if tag == "equal":
            parts.append(html.escape(ref))
        if tag in ("replace", "delete"):
            parts.append(f"<del>{html.escape(ref)}</del>")
        if tag in ("replace", "insert"):
            parts.append(f"<ins>{html.escape(hyp)}</ins>")
    return f'{STYLE}<div class="lab-diff">{"".join(parts)}</div>'
