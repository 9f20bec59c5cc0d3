"""Error analysis of a sweep DataFrame: where the errors are, by document and by character class, and
which characters get confused with which.

Counts come from the scores' own alignment (jiwer's, through ``diff.opcodes``), on the text as the scores
prepare it, so they add up to what the scores measured.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import pandas as pd

from lighton_lab.frames.stats import summary
from lighton_lab.scoring.diff import opcodes

CLASSES = ("letter", "diacritic", "digit", "punctuation", "whitespace", "other")


def char_class(ch: str) -> str:
    if ch.isspace():
        return "whitespace"
    if ch.isdigit():
        return "digit"
    if ch.isalpha():
        return "diacritic" if unicodedata.decomposition(ch) or not ch.isascii() else "letter"
    if unicodedata.category(ch).startswith("P"):
        return "punctuation"
    return "other"


def errors_by_class(frame, normalization: str | None = None):
    """Reference characters of each class and how many of them were substituted or deleted, and
    inserted characters by class; one row per class, with the class's own error rate."""
    normalization = normalization or frame.attrs.get("normalization", "markdown")
    total, wrong, inserted = Counter(), Counter(), Counter()
    for ref, hyp, formats in _scored_pairs(frame):
        for tag, r, h in opcodes(ref, hyp, normalization, *formats):
            for ch in r:
                total[char_class(ch)] += 1
                if tag != "equal":
                    wrong[char_class(ch)] += 1
            if tag in ("insert", "replace"):
                inserted.update(char_class(ch) for ch in h)
    rows = [
        {
            "class": c,
            "reference_chars": total[c],
            "substituted_or_deleted": wrong[c],
            "inserted": inserted[c],
            "error_rate": wrong[c] / total[c] if total[c] else None,
        }
        for c in CLASSES
    ]
    return pd.DataFrame(rows)


def errors_by_document(frame):
    """Micro CER per document and variant: which documents carry the errors."""
    table = summary(frame, by=["document", "variant"], intervals=False)
    return table.sort_values("micro_cer", ascending=False, kind="stable")


def confusion_pairs(frame, n: int = 20, normalization: str | None = None):
    """The most frequent substitutions ``reference -> output``. Adjacent edits of the alignment form one
    confusion (a substitution next to an insertion: ``m -> rn``); runs of equal length are split into
    single-character pairs. Pure insertions and deletions are not confusions."""
    normalization = normalization or frame.attrs.get("normalization", "markdown")
    pairs = Counter()
    for ref, hyp, formats in _scored_pairs(frame):
        for r, h in _edit_runs(opcodes(ref, hyp, normalization, *formats)):
            if len(r) == len(h):
                pairs.update((a, b) for a, b in zip(r, h) if a != b)
            elif r and h:
                pairs[(r, h)] += 1
    return pd.DataFrame([{"reference": a, "output": b, "count": c} for (a, b), c in pairs.most_common(n)])


def _edit_runs(parts):
    """Consecutive non-equal alignment parts merged: (reference run, output run)."""
    run_r, run_h = "", ""
    for tag, r, h in parts + [("equal", "", "")]:
        if tag == "equal":
            if run_r or run_h:
                yield run_r, run_h
            run_r, run_h = "", ""
        else:
            run_r, run_h = run_r + r, run_h + h


def _scored_pairs(frame):
    missing = [None] * len(frame)  # frames made by hand may lack the format columns: text vs Markdown
    formats = zip(frame.get("reference_format", missing), frame.get("output_format", missing))
    for ref, hyp, (rf, of) in zip(frame["reference"], frame["text"], formats):
        if isinstance(ref, str) and isinstance(hyp, str):
            yield ref, hyp, (rf or "text", of or "markdown")
