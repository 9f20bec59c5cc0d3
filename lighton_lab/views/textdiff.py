"""The coloured diff a person reads in the PageViewer and the report: the scores' own alignment, drawn with
the reference's line breaks and with whitespace edits visible.

The scores compare texts whose whitespace runs are collapsed to one space (``scoring.text.collapse``), and
``scoring.diff`` draws exactly that string: correct, but a page becomes one paragraph and a deleted space is
a red mark that reads like a hyphen. Here each whitespace run is drawn as one character too (so the scores'
alignment applies unchanged, and what is coloured is still what was counted), but a run that held a line
break is drawn as a line break, and a deleted or inserted space or line break is drawn as a visible sign
(``␣``, ``↵``) inside its colour. A legend says what the colours and signs mean.
"""

from __future__ import annotations

import html
import re

from lighton_lab.scoring.text import char_alignment, collapse, normalize

SPACE, NEWLINE = "␣", "↵"
_RUN = re.compile(r"\s+")
_PARAGRAPH = "\u2029"  # one character standing for a blank line, drawn as one
STYLE = (
    "<style>.lab-diff{font-family:ui-monospace,monospace;white-space:pre-wrap;line-height:1.5;"
    "overflow-wrap:anywhere}.lab-diff del{background:#ffd7d5;color:#82071e;text-decoration:line-through}"
    ".lab-diff ins{background:#ccffd8;color:#055d20;text-decoration:none}"
    ".lab-legend{font-size:.85em;color:#57606a;margin:.25em 0}"
    ".lab-legend del{background:#ffd7d5;color:#82071e}.lab-legend ins{background:#ccffd8;color:#055d20;"
    "text-decoration:none}</style>"
)
LEGEND = (
    '<div class="lab-legend"><del>red, struck</del> in the reference, missing or wrong in the output · '
    "<ins>green</ins> in the output, not in the reference · "
    f"{SPACE} a space, {NEWLINE} a line break that differs · line breaks as in the reference · "
    "compared after normalization, whitespace runs as one space</div>"
)


def shown(text: str) -> str:
    """The scored string with each whitespace run as one character: a paragraph break (U+2029) if it held
    a blank line, a line break if it held one, else a space. Same length as ``collapse(text)``, character
    for character elsewhere."""
    return _RUN.sub(lambda m: _PARAGRAPH if m.group().count("\n") > 1 else "\n" if "\n" in m.group() else " ",
                    text).strip()  # fmt: skip


def diff_html(
    reference: str,
    hypothesis: str,
    normalization: str = "markdown",
    reference_format: str = "text",
    hypothesis_format: str = "markdown",
    legend: bool = True,
) -> str:
    """HTML of the scores' character alignment (see the module docstring)."""
    ref_norm = normalize(reference or "", normalization, reference_format)
    hyp_norm = normalize(hypothesis or "", normalization, hypothesis_format)
    ref, hyp = shown(ref_norm), shown(hyp_norm)  # the scored strings, index for index
    parts = []
    for kind, r0, r1, h0, h1 in char_alignment(collapse(ref_norm), collapse(hyp_norm)):
        if kind == "equal":
            parts.append(html.escape(ref[r0:r1]).replace(_PARAGRAPH, "\n\n"))
        if kind in ("substitute", "delete"):
            parts.append(f"<del>{_visible(ref[r0:r1])}</del>")
        if kind in ("substitute", "insert"):
            parts.append(f"<ins>{_visible(hyp[h0:h1])}</ins>")
    return f'{STYLE}{LEGEND if legend else ""}<div class="lab-diff">{"".join(parts)}</div>'


def _visible(text: str) -> str:
    """Whitespace made visible: a space as ␣, a line break as ↵ followed by the break itself."""
    text = html.escape(text).replace(" ", SPACE).replace("\n", NEWLINE + "\n")
    return text.replace(_PARAGRAPH, NEWLINE + "\n\n")
