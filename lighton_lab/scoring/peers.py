"""Page measures as olmOCR and OmniDocBench compute them, so our numbers sit next to published tables.

Both are a normalised edit distance, Levenshtein distance over the longer string, after each project's
own text normaliser. Written here from their published code (both Apache-2.0) and checked against values
computed by running that code (``tests/fixtures/peer_ned_cases.json``):

- ``olmocr_ned``: ``olmocr.bench.tests.normalize_text`` of the released olmocr 0.4.27 (the version LightOn's
  published figures used; olmOCR's later GitHub main differs): ``<br>`` to a space, whitespace runs to one
  space *first*, then Markdown bold (``**``, ``__``), ``<b>``/``<i>`` tags and italics (``*``, then ``_``,
  in two passes) removed, Unicode NFC, and a table of typographic characters to ASCII (quotes, dashes,
  minus, full-width low line, micro sign). A test checks it against the package when it is installed.
- ``omnidocbench_ned``: OmniDocBench's text-block normaliser, ``clean_string(textblock2unicode(text))``:
  inline formulas (``$...$``, ``\\(...\\)``) holding ``\\``, ``^`` or ``_`` become Unicode through pylatexenc,
  then everything but word characters and CJK ideographs is removed. OmniDocBench matches blocks to
  blocks before measuring; this is its normaliser applied to the whole page, as a page-level figure.
  The values equal OmniDocBench's code run with pylatexenc 2.x (this package's dependency); with the
  alpha that OmniDocBench pins (pylatexenc 3.0a30) formulas with unbalanced braces convert differently.
"""

from __future__ import annotations

import re
import unicodedata

from rapidfuzz.distance import Levenshtein

# olmOCR ------------------------------------------------------------------------------------------------
_OLMOCR_ASCII = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "＿": "_",
    "–": "-",
    "—": "-",
    "‑": "-",
    "‒": "-",
    "−": "-",
    "\u00b5": "\u03bc",
}
_OLMOCR_STEPS = (  # olmocr 0.4.27 olmocr/bench/tests.py normalize_text, in its order
    (re.compile(r"<br/?>"), " "),
    (re.compile(r"\s+"), " "),
    (re.compile(r"\*\*(.*?)\*\*"), r"\1"),
    (re.compile(r"__(.*?)__"), r"\1"),
    (re.compile(r"</?b>"), ""),
    (re.compile(r"</?i>"), ""),
    (re.compile(r"\*(.*?)\*"), r"\1"),
    (re.compile(r"_(.*?)_"), r"\1"),
)


def olmocr_normalize(text: str) -> str:
    for pattern, replacement in _OLMOCR_STEPS:
        text = pattern.sub(replacement, text)
    text = unicodedata.normalize("NFC", text)
    for fancy, plain in _OLMOCR_ASCII.items():
        text = text.replace(fancy, plain)
    return text


# OmniDocBench -----------------------------------------------------------------------------------------
_INLINE_FORMULA = re.compile(r"\$(.*?)\$|\\\((.*?)\\\)")
_ESCAPED = re.compile(r"\\([\\_&%^])")
_NOT_KEPT = re.compile(r"[^\w\u4e00-\u9fff]")


def _formula_to_unicode(latex: str) -> str:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text().latex_to_text(latex)  # pylatexenc's defaults, as OmniDocBench calls it


def omnidocbench_normalize(text: str) -> str:
    replacements = []
    for match in _INLINE_FORMULA.finditer(text):
        content = match.group(1) if match.group(1) is not None else match.group(2)
        content = _ESCAPED.sub("", content)
        if any(ch in content for ch in "\\^_"):
            if content.endswith("\\"):
                content += " "
            try:
                replacements.append((match.start(), match.end(), _formula_to_unicode(content)))
            except Exception:  # OmniDocBench keeps a formula pylatexenc refuses as it is
                continue
    for start, end, unicode in sorted(replacements, reverse=True):
        text = text[:start] + unicode.strip() + text[end:]
    for literal in ("\\t", "\\n", "\t", "\n", "/t", "/n"):
        text = text.replace(literal, "")
    return _NOT_KEPT.sub("", text)


def _ned(a: str, b: str) -> float:
    longest = max(len(a), len(b))
    return Levenshtein.distance(a, b) / longest if longest else 0.0


def olmocr_ned(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over the longer text after olmOCR's ``normalize_text``; 0.0 when both are empty."""
    return _ned(olmocr_normalize(reference), olmocr_normalize(hypothesis or ""))


def omnidocbench_ned(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over the longer text after OmniDocBench's text normaliser; 0.0 when both are empty."""
    return _ned(omnidocbench_normalize(reference), omnidocbench_normalize(hypothesis or ""))
