"""Error analysis of a sweep DataFrame: where the errors are, by document and by character class, and
which characters get confused with which.

Counts come from the same alignment as the diff (``diff.opcodes``), on normalised text, so they add up
to what the scores measured.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

from .diff import opcodes

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


def errors_by_class(frame, profile: str | None = None):
    """Reference characters of each class and how many of them were substituted or deleted, and
    inserted characters by class; one row per class, with the class's own error rate."""
    import pandas as pd

    profile = profile or frame.attrs.get("profile", "markdown")
    total, wrong, inserted = Counter(), Counter(), Counter()
    for ref, hyp in _scored_pairs(frame):
        for tag, r, h in opcodes(ref, hyp, profile):
            for ch in r:
                total[char_class(ch)] += 1
                if tag != "equal":
                    wrong[char_class(ch)] += 1
            if tag in ("insert", "replace"):
                inserted.update(char_class(ch) for ch in h)
    rows = [{"class": c, "reference_chars": total[c], "substituted_or_deleted": wrong[c], "inserted": inserted[c],
             "error_rate": wrong[c] / total[c] if total[c] else None} for c in CLASSES]
    return pd.DataFrame(rows)


def errors_by_document(frame):
    """Micro CER per document and variant: which documents carry the errors."""
    from .sweep import summary

    return summary(frame, by=["document", "variant"]).sort_values("micro_cer", ascending=False, kind="stable")


def confusion_pairs(frame, n: int = 20, profile: str | None = None):
    """The most frequent substitutions ``reference -> output`` (character runs of equal length are
    split into single-character pairs, e.g. ``rn -> m`` stays a pair)."""
    import pandas as pd

    profile = profile or frame.attrs.get("profile", "markdown")
    pairs = Counter()
    for ref, hyp in _scored_pairs(frame):
        for tag, r, h in opcodes(ref, hyp, profile):
            if tag != "replace":
                continue
            if len(r) == len(h):
                pairs.update((a, b) for a, b in zip(r, h) if a != b)
            else:
                pairs[(r, h)] += 1
    return pd.DataFrame([{"reference": a, "output": b, "count": c} for (a, b), c in pairs.most_common(n)])


def _scored_pairs(frame):
    for ref, hyp in zip(frame["reference"], frame["text"]):
        if isinstance(ref, str) and isinstance(hyp, str):
            yield ref, hyp
