"""Scoring OCR output against ground truth: normalisation, CER/WER, NED, bag-of-words F1, loops, aggregates.

LightOnOCR answers in Markdown (HTML tables, LaTeX), ground truth is plain text or Markdown, and the CPU
engines write plain lines. Each side is normalised by what it *is* (``reference_format``,
``hypothesis_format``: ``"text"`` or ``"markdown"``), then both by the same character rules, then jiwer
measures the edits. Markup is read with parsers (``markup``), never stripped by pattern from plain text.

Normalizations (``normalization=``; ``profile=`` is its old name, accepted for one release):

- ``exact``: nothing changed.
- ``plain``: the character rules of ``PLAIN_RULES`` only (markup kept as written).
- ``markdown`` (default): text in Markdown is read as a reader sees it (``markup.markdown_to_text``),
  then the ``plain`` rules.

Rules worth knowing:

- CER and WER are computed with every run of whitespace (newlines included) folded into one space: a
  line break where the reference has a space is not an OCR error.
- An empty reference never crashes and never gives NaN: if the hypothesis is empty too the page scores
  0.0, otherwise 1.0. The insertions still count in ``aggregate``'s micro figures.
- CER counts insertions, so it exceeds 1 when the output is longer than the reference (a repetition
  loop of the whole page gives CER 10 and more). ``ned`` (edits over the longer text) stays in [0, 1]:
  report it beside CER, and look at ``looped`` (``client.loops``, which the client also runs on streams).
- Reading order differs between references and outputs more often than not, so each ``Score`` also
  carries ``bow_f1``: the F1 of the multisets of words, blind to order, with case folded and
  punctuation and symbols removed (``bow_f1_exact``: the whitespace-separated tokens as written).

>>> score("Total: 5", "**Total:** 5").cer
0.0
>>> round(score("abc", "abd").cer, 4)
0.3333
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import jiwer

from lighton_lab.config import Normalization, TextFormat
from lighton_lab.errors import UsageError
from lighton_lab.scoring.markup import markdown_to_text

NORMALIZATIONS: tuple[Normalization, ...] = ("exact", "plain", "markdown")
FORMATS: tuple[TextFormat, ...] = ("text", "markdown")

# The ``plain`` normalization's character rules, one table (what, examples, why). Everything else is compared
# as written: superscripts and subscripts (m² vs m2), fractions (½), accents, case.
PLAIN_RULES = (
    ("Unicode NFC", "e + U+0301 -> é", "the same letter, composed or not"),
    ("ligatures", "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ -> fi fl ff ffi ffl st st", "a typesetting choice, not a different text"),
    ("long s", "ſ -> s", "historical print; transcription guides differ on keeping it"),
    ("quotes", "‘ ’ ‚ ‛ ′ ‹ › -> '  and  “ ” „ ‟ ″ « » -> \"", "typographic variants engines pick freely"),
    ("dashes and minus", "‐ ‑ ‒ – — ― − -> -", "the same, to a reader of OCR output"),
    ("invisible characters", "soft hyphen, zero-width space/joiners, BOM -> removed", "not visible in print"),
    ("spaces", "no-break and other Unicode spaces -> space; runs folded; lines trimmed", "layout, not text"),
    ("full-width forms", "Ａ１！ -> A1!", "East Asian typesetting of ASCII"),
    ("ellipsis", "… -> ...", "one glyph or three dots"),
)
_CHAR_MAP = str.maketrans(
    {
        "ﬁ": "fi",
        "ﬂ": "fl",
        "ﬀ": "ff",
        "ﬃ": "ffi",
        "ﬄ": "ffl",
        "ﬅ": "st",
        "ﬆ": "st",
        "ſ": "s",
        "…": "...",
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u2039": "'",
        "\u203a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00ad": None,
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
        **{chr(c): " " for c in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)},
        **{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
    }
)
_SPACES = re.compile(r"[ \t\f\v]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
_WHITESPACE = re.compile(r"\s+")
_LINE_END_HYPHEN = re.compile(r"(\w)-[ \t]*\n[ \t]*(?=[a-zà-ÿ])")
_NOT_WORD = re.compile(r"[^\w\s]+")


def _fold(text: str) -> str:
    """Case folded, punctuation and symbols removed, for the bag of words: "It's," and "its" are one word."""
    return _NOT_WORD.sub("", text.casefold())


def resolve_normalization(normalization: str | None, profile: str | None = None) -> Normalization:
    """``normalization``, or the deprecated ``profile=`` spelling of it (one release), checked.

    "profile" also names a model's request profile; text rules are called a normalization since 0.2.
    """
    if profile is not None:
        import warnings

        warnings.warn(
            "profile= is now normalization= (profile means a model's request profile)", DeprecationWarning, 3
        )
        normalization = profile  # only the old spelling was given (the new one is at its default)
    normalization = normalization or "markdown"
    if normalization not in NORMALIZATIONS:
        raise UsageError(f"unknown normalization {normalization!r}: use one of {', '.join(NORMALIZATIONS)}")
    return normalization  # type: ignore[return-value]


def normalize(
    text: str,
    normalization: Normalization = "markdown",
    format: TextFormat = "markdown",
    dehyphenate: bool = False,
    *,
    profile: str | None = None,
) -> str:
    """Text as it should be compared under ``normalization``, read as ``format`` ("text" or "markdown").

    ``dehyphenate`` joins words hyphenated at a line end (``exam-\\nple`` -> ``example``) when the next
    line starts in lower case: apply it to both sides or neither.

    >>> normalize("## Title\\n\\n| a | b |\\n|---|---|\\n| **1** | 2 |")
    'Title\\n\\na b\\n1 2'
    >>> normalize("12. March", format="text")
    '12. March'
    """
    normalization = resolve_normalization(normalization, profile)
    if format not in FORMATS:
        raise UsageError(f"unknown text format {format!r}: use one of {', '.join(FORMATS)}")
    if normalization == "exact":
        return text
    if dehyphenate:
        text = _LINE_END_HYPHEN.sub(r"\1", text.replace("\r\n", "\n"))
    if normalization == "markdown" and format == "markdown" and _MARKUP.search(text):
        text = markdown_to_text(text)
    return _plain(text)


# What can make Markdown read differently from its characters: emphasis, headings, tables, links, code, HTML,
# entities, escapes, math, and line starts that open lists, quotes, setext headings or code. A text without
# any reads as written, and skips the parser (a tenth of the time on prose; ``test_scoring`` checks both
# paths agree on every such paragraph of the real ground truth).
_MARKUP = re.compile(r"[*_#|\[\]`<>\\$~^&!{}]|(?:^|\n)[ \t]*(?:[-+=>]|\d{1,9}[.)])|(?:^|\n)(?: {4}|\t)")


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_CHAR_MAP)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def collapse(text: str) -> str:
    """Whitespace runs, line breaks included, as one space: the string the edit counts are made on."""
    return _WHITESPACE.sub(" ", text).strip()


def prepared(
    reference: str,
    hypothesis: str | None,
    normalization: str = "markdown",
    reference_format: str = "text",
    hypothesis_format: str = "markdown",
    dehyphenate: bool = False,
) -> tuple[str, str]:
    """Both sides exactly as ``score`` compares them (the diff and the error analysis use this too)."""
    return (
        collapse(normalize(reference, normalization, reference_format, dehyphenate)),
        collapse(normalize(hypothesis or "", normalization, hypothesis_format, dehyphenate)),
    )


@dataclass(frozen=True)
class Score:
    """Edit counts and rates of one page. cer/wer are in [0, inf); ned and the F1s in [0, 1]."""

    cer: float
    wer: float
    ned: float  # character edits / max(len(reference), len(hypothesis)): bounded, unlike CER
    bow_f1: float  # order-independent F1 of word multisets, case and punctuation folded
    bow_f1_exact: float  # the same over whitespace-separated tokens as written
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
    normalization: str = "markdown"

    def __post_init__(self) -> None:
        for name in ("cer", "wer", "ned", "bow_f1", "bow_f1_exact"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0:
                raise UsageError(f"Score.{name} must be a non-negative number, got {value}")

    @property
    def char_edits(self) -> int:
        return self.char_substitutions + self.char_deletions + self.char_insertions

    @property
    def word_edits(self) -> int:
        return self.word_substitutions + self.word_deletions + self.word_insertions


def score(
    reference: str,
    hypothesis: str | None,
    normalization: Normalization = "markdown",
    reference_format: TextFormat = "text",
    hypothesis_format: TextFormat = "markdown",
    dehyphenate: bool = False,
    *,
    profile: str | None = None,
) -> Score:
    """Compare one page's output with its reference, each normalised as what it is.

    >>> s = score("the cat sat", "the cat sat down")
    >>> s.wer, s.word_insertions
    (0.3333333333333333, 1)
    """
    if reference is None:
        raise UsageError("score() needs a reference text; pages without ground truth are not scored")
    normalization = resolve_normalization(normalization, profile)
    ref, hyp = prepared(
        reference, hypothesis, normalization, reference_format, hypothesis_format, dehyphenate
    )
    chars = _char_counts(ref, hyp)
    words = _word_counts(ref, hyp)
    ref_words = words[0] + words[1] + words[2]
    char_edits = chars[1] + chars[2] + chars[3]
    return Score(
        cer=rate(char_edits, len(ref)),
        wer=rate(words[1] + words[2] + words[3], ref_words),
        ned=char_edits / max(len(ref), len(hyp)) if (ref or hyp) else 0.0,
        bow_f1=_bow_f1(_fold(ref).split(), _fold(hyp).split()),
        bow_f1_exact=_bow_f1(ref.split(), hyp.split()),
        char_hits=chars[0],
        char_substitutions=chars[1],
        char_deletions=chars[2],
        char_insertions=chars[3],
        word_hits=words[0],
        word_substitutions=words[1],
        word_deletions=words[2],
        word_insertions=words[3],
        ref_chars=len(ref),
        ref_words=ref_words,
        hyp_chars=len(hyp),
        normalization=normalization,
    )


def rate(edits: int, length: int) -> float:
    """Edits per reference unit; the empty-reference rule of the module docstring."""
    if length == 0:
        return 1.0 if edits else 0.0
    return edits / length


def char_alignment(ref: str, hyp: str) -> list[tuple[str, int, int, int, int]]:
    """jiwer's character alignment of two prepared strings: ``(type, ref_start, ref_end, hyp_start, hyp_end)``
    with types equal / substitute / delete / insert. The scores count exactly these edits."""
    if not ref or not hyp:
        return [(t, 0, len(ref), 0, len(hyp)) for t in (("delete",) if ref else ("insert",) if hyp else ())]
    out = jiwer.process_characters(ref, hyp)
    return [
        (c.type, c.ref_start_idx, c.ref_end_idx, c.hyp_start_idx, c.hyp_end_idx) for c in out.alignments[0]
    ]


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


# ---- aggregates --------------------------------------------------------------------------------------


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
    word_edits: int = 0


def aggregate(scores: Iterable[Score]) -> Aggregate:
    """Micro and macro CER/WER over pages.

    >>> a = aggregate([score("a" * 100, "a" * 90), score("bb", "")])
    >>> round(a.micro_cer, 4), a.macro_cer
    (0.1176, 0.55)
    """
    scores = list(scores)
    if not scores:
        raise UsageError("aggregate() got no scores: score at least one page with ground truth first")
    ref_chars = sum(s.ref_chars for s in scores)
    ref_words = sum(s.ref_words for s in scores)
    char_edits = sum(s.char_edits for s in scores)
    word_edits = sum(s.word_edits for s in scores)
    n = len(scores)
    return Aggregate(
        micro_cer=rate(char_edits, ref_chars),
        macro_cer=sum(s.cer for s in scores) / n,
        micro_wer=rate(word_edits, ref_words),
        macro_wer=sum(s.wer for s in scores) / n,
        mean_bow_f1=sum(s.bow_f1 for s in scores) / n,
        pages=n,
        ref_chars=ref_chars,
        char_edits=char_edits,
        word_edits=word_edits,
    )
