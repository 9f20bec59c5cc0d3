"""Scoring OCR output against ground truth: text normalisation profiles, CER/WER and aggregates.

LightOnOCR answers in Markdown (HTML tables, LaTeX), while ground truth is usually plain text, and CPU
engines give plain lines. Comparing them raw would count ``**`` and ``<td>`` as OCR errors, so both sides
go through the same ``normalize`` profile before jiwer measures edits.

Rules worth knowing:

- CER and WER are computed on the normalised text with every run of whitespace (newlines included)
  folded into one space: a line break where the reference has a space is not an OCR error.
- An empty reference never crashes and never gives NaN: if the hypothesis is empty too the page
  scores 0.0, otherwise 1.0 (every character is an insertion, capped at one error per reference unit,
  as ``ned`` is). The insertions still count in ``aggregate``'s micro figures.
- Reading order differs between references and outputs more often than not, so each ``Score`` also
  carries ``bow_f1``: the F1 of the multiset of words, blind to order.

>>> score("Total: 5", "**Total:** 5").cer
0.0
>>> round(score("abc", "abd").cer, 4)
0.3333
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import jiwer

PROFILES = ("exact", "plain", "markdown")

# Typographic variants that OCR engines and transcribers pick freely; one form each.
_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2039": "'", "\u203a": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
        "\u00ad": None,  # soft hyphen: invisible in print
        "\u200b": None, "\ufeff": None,  # zero-width space, BOM
    }
)

_HTML_BLOCK_BREAK = re.compile(r"</?(tr|p|div|br|li|h[1-6]|table|thead|tbody|caption)\b[^>]*>", re.I)
_HTML_CELL_END = re.compile(r"</t[dh]\s*>", re.I)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # LightOnOCR image placeholders and grounding boxes
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.M)
_MD_QUOTE = re.compile(r"^\s{0,3}>\s?", re.M)
_MD_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+", re.M)
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$", re.M)
_MD_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*(\n|$)", re.M)
_MD_HRULE = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.M)
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S)
_MD_EM = re.compile(r"(?<![\w*])([*_])(?=\S)(.+?)(?<=\S)\1(?![\w*])", re.S)
_MD_CODE = re.compile(r"`([^`]*)`")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|$])")
_LATEX_DELIM = re.compile(r"\$\$|\\\[|\\\]|\\\(|\\\)|(?<!\\)\$")
_SPACES = re.compile(r"[ \t\f\v]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str, profile: str = "markdown") -> str:
    """Text as it should be compared under ``profile``.

    - ``exact``: unchanged.
    - ``plain``: Unicode NFKC (ligatures, long s, full-width forms), one form for quotes and dashes,
      runs of spaces folded, lines trimmed, at most one blank line between paragraphs.
    - ``markdown``: ``plain`` after removing Markdown and HTML syntax, keeping the text a reader sees
      (headings, emphasis, list markers, links, tables, image/bbox markup, LaTeX delimiters).

    >>> normalize("## Title\\n\\n| a | b |\\n|---|---|\\n| **1** | 2 |")
    'Title\\n\\na b\\n1 2'
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown normalisation profile {profile!r}: use one of {', '.join(PROFILES)}")
    if profile == "exact":
        return text
    if profile == "markdown":
        text = _strip_markup(text)
    return _plain(text)


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _strip_markup(text: str) -> str:
    text = _HTML_CELL_END.sub(" ", text)
    text = _HTML_BLOCK_BREAK.sub("\n", text)
    text = html.unescape(_HTML_TAG.sub("", text))
    text = _MD_FENCE.sub("", text)
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_TABLE_RULE.sub("", text)
    text = _MD_HRULE.sub("", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_LIST.sub("", text)
    text = _MD_STRONG.sub(r"\2", text)
    text = _MD_EM.sub(r"\2", text)
    text = _MD_CODE.sub(r"\1", text)
    text = text.replace("|", " ")
    text = _LATEX_DELIM.sub("", text)
    return _MD_ESCAPE.sub(r"\1", text)


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Score:
    """Edit counts and rates of one page. Rates are floats in [0, inf) for cer/wer and [0, 1] for ned."""

    cer: float
    wer: float
    ned: float  # character edits / max(len(reference), len(hypothesis)): bounded, unlike CER
    bow_f1: float  # order-independent: F1 of the word multisets
    char_hits: int
    char_substitutions: int
    char_deletions: int
    char_insertions: int
    word_hits: int
    word_substitutions: int
    word_deletions: int
    word_insertions: int
    ref_chars: int
    ref_words: int
    hyp_chars: int
    profile: str = "markdown"

    def __post_init__(self) -> None:
        for name in ("cer", "wer", "ned", "bow_f1"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise ValueError(f"Score.{name} must be a non-negative number, got {value}")

    @property
    def char_edits(self) -> int:
        return self.char_substitutions + self.char_deletions + self.char_insertions

    @property
    def word_edits(self) -> int:
        return self.word_substitutions + self.word_deletions + self.word_insertions


def score(reference: str, hypothesis: str, profile: str = "markdown") -> Score:
    """Compare one page's output with its reference after ``normalize(..., profile)``.

    >>> s = score("the cat sat", "the cat sat down")
    >>> s.wer, s.word_insertions
    (0.3333333333333333, 1)
    """
    if reference is None:
        raise ValueError("score() needs a reference text; pages without ground truth are not scored")
    ref = _collapse(normalize(reference, profile))
    hyp = _collapse(normalize(hypothesis or "", profile))
    chars = _char_counts(ref, hyp)
    words = _word_counts(ref, hyp)
    ref_words = words[0] + words[1] + words[2]
    char_edits = chars[1] + chars[2] + chars[3]
    return Score(
        cer=_rate(chars[1] + chars[2] + chars[3], len(ref)),
        wer=_rate(words[1] + words[2] + words[3], ref_words),
        ned=char_edits / max(len(ref), len(hyp)) if (ref or hyp) else 0.0,
        bow_f1=_bow_f1(ref.split(), hyp.split()),
        char_hits=chars[0], char_substitutions=chars[1], char_deletions=chars[2], char_insertions=chars[3],
        word_hits=words[0], word_substitutions=words[1], word_deletions=words[2], word_insertions=words[3],
        ref_chars=len(ref), ref_words=ref_words, hyp_chars=len(hyp), profile=profile,
    )


def _rate(edits: int, length: int) -> float:
    """Edits per reference unit; the empty-reference rule of the module docstring."""
    if length == 0:
        return 1.0 if edits else 0.0
    return edits / length


def _char_counts(ref: str, hyp: str) -> tuple[int, int, int, int]:
    if not ref or not hyp:  # jiwer has no alignment to make with an empty side
        return 0, 0, len(ref), len(hyp)
    out = jiwer.process_characters(ref, hyp)
    return out.hits, out.substitutions, out.deletions, out.insertions


def _word_counts(ref: str, hyp: str) -> tuple[int, int, int, int]:
    if not ref or not hyp:
        return 0, 0, len(ref.split()), len(hyp.split())
    out = jiwer.process_words(ref, hyp)
    return out.hits, out.substitutions, out.deletions, out.insertions


def _bow_f1(ref_words: list[str], hyp_words: list[str]) -> float:
    if not ref_words and not hyp_words:
        return 1.0
    common = sum((Counter(ref_words) & Counter(hyp_words)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(hyp_words), common / len(ref_words)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Aggregate:
    """Corpus-level figures. Micro weighs pages by length (summed edits / summed reference length);
    macro is the mean of the per-page rates, so short pages count as much as long ones."""

    micro_cer: float
    macro_cer: float
    micro_wer: float
    macro_wer: float
    mean_bow_f1: float
    pages: int
    ref_chars: int
    char_edits: int
    word_edits: int = field(default=0)


def aggregate(scores: Iterable[Score]) -> Aggregate:
    """Micro and macro CER/WER over pages.

    >>> a = aggregate([score("a" * 100, "a" * 90), score("bb", "")])
    >>> round(a.micro_cer, 4), a.macro_cer
    (0.1176, 0.55)
    """
    scores = list(scores)
    if not scores:
        raise ValueError("aggregate() got no scores: score at least one page with ground truth first")
    ref_chars = sum(s.ref_chars for s in scores)
    ref_words = sum(s.ref_words for s in scores)
    char_edits = sum(s.char_edits for s in scores)
    word_edits = sum(s.word_edits for s in scores)
    n = len(scores)
    return Aggregate(
        micro_cer=_rate(char_edits, ref_chars),
        macro_cer=sum(s.cer for s in scores) / n,
        micro_wer=_rate(word_edits, ref_words),
        macro_wer=sum(s.wer for s in scores) / n,
        mean_bow_f1=sum(s.bow_f1 for s in scores) / n,
        pages=n,
        ref_chars=ref_chars,
        char_edits=char_edits,
        word_edits=word_edits,
    )
