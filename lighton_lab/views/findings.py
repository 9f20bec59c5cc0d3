"""What a sweep found, in sentences: the first thing the report, the panel and notebook 02 say.

A table of intervals answers every question at once and none in particular; a reader first wants to know
what changed CER on the same pages. ``findings(frame)`` says it in plain words, from the paired comparisons
of ``frames.stats`` (never from marginal intervals over different pages):

- failed requests first (a sweep whose requests failed must say so before any score);
- configurations swept on different page sets (a stopped sweep), compared on their shared pages only;
- per model and cap, the DPI whose CER differs most from the highest DPI's when the paired 95% interval
  excludes 0, the other DPIs that differ too, or that none does;
- per model and DPI, the same for the cap; across models, each against the first at the highest DPI;
- where answers have boxes, the layout F1 of each configuration with its interval.

>>> findings(frame)  # doctest: +SKIP
['rapidocr · cap 1540: 50 DPI has 0.017 more CER than 200 DPI [+0.005, +0.029] on the same 18 pages
  (worse on 11, better on 4); 72-150 DPI: no significant difference.']
"""

from __future__ import annotations

import pandas as pd

from lighton_lab.errors import LabError
from lighton_lab.frames.stats import compare, config_label, differences, summary

ERRORS_SHOWN = 3  # distinct failure messages quoted


def findings(frame) -> list[str]:
    """The sweep's findings as sentences (see the module docstring); an empty frame says so."""
    if frame is None or len(frame) == 0:
        return ["Nothing was swept: the frame has no rows."]
    out = failures(frame)
    table = summary(frame, intervals=False)
    partial = table[table["partial"]]
    if len(partial):
        names = ", ".join(config_label(r) for r in partial.to_dict("records")[:4])
        out.append(
            f"{len(partial)} configuration(s) lack pages others have ({names}{', ...' if len(partial) > 4 else ''}):"
            " a stopped sweep; their rates are over fewer pages, and comparisons use the shared pages only."
        )
    if not frame["cer"].notna().any():
        return out + ["No page has ground truth here: nothing to score (add NAME.gt.txt beside a document)."]
    out += _axis(frame, "dpi", "DPI", "DPI")
    out += _axis(frame, "max_side", "cap", "cap")
    out += _models(frame)
    out += _layout(frame)
    return out


def failures(frame) -> list[str]:
    """How many requests failed, and the first distinct messages (or nothing when none failed)."""
    failed = frame[frame["error"].notna()] if "error" in frame else frame.iloc[:0]
    if not len(failed):
        return []
    messages = list(dict.fromkeys(frame.attrs.get("errors") or []))
    if not messages:
        messages = list(dict.fromkeys(_message(e) for e in failed["error"]))
    quoted = "; ".join(f"“{m}”" for m in messages[:ERRORS_SHOWN])
    return [
        f"{len(failed)} of {len(frame)} results failed (no text, not scored): {quoted}"
        + (f" and {len(messages) - ERRORS_SHOWN} other message(s)" if len(messages) > ERRORS_SHOWN else "")
        + ". See the error column."
    ]


def _message(error: str) -> str:
    """A stored error without the page it happened on (``doc.pdf p.3: ...``), so equal causes count once."""
    head, sep, rest = error.partition(": ")
    return rest if sep and (" p." in head or head.endswith((".pdf", ".png", ".jpg", ".tif"))) else error


def _axis(frame, axis: str, noun: str, unit: str) -> list[str]:
    """Per line (the other configuration columns), the paired differences along ``axis`` in a sentence;
    lines where nothing differs share one sentence."""
    if axis not in frame or frame[axis].nunique() < 2:
        return []
    table = differences(frame, axis)
    if table.empty:  # no line has two values of the axis (two models at their own caps, say)
        return []
    out, quiet_lines = [], {}
    for line, rows in table.groupby("line", sort=False):
        ref = rows["reference"].iloc[0]
        others = rows[rows[axis] != ref]
        if others.empty:
            continue
        found, quiet = others[others["significant"]], others[~others["significant"]]
        if found.empty:
            quiet_lines.setdefault((ref, int(others["pages"].max())), []).append(line)
            continue
        top = found.loc[found["difference"].abs().idxmax()]
        text = f"{line}: {_difference(top, _names([top[axis]], unit), _names([ref], unit))}"
        rest = [v for v in found[axis] if v != top[axis]]
        if rest:
            text += f"; also significant at {_names(rest, unit)}"
        if len(quiet):
            text += f"; no significant difference at {_names(list(quiet[axis]), unit)}"
        out.append(text + ".")
    for (ref, pages), lines in quiet_lines.items():
        out.append(
            f"No {noun} changes CER significantly against {_names([ref], unit)} for {'; '.join(lines)} "
            f"on the same {pages} pages (every paired 95% interval spans 0)."
        )
    return out


def _difference(row, this: str, reference: str) -> str:
    more = "more" if row["difference"] > 0 else "less"
    digits = 3 if abs(row["difference"]) >= 0.01 else 4  # a small difference keeps a significant digit
    return (
        f"{this} has {abs(row['difference']):.{digits}f} {more} CER than {reference} "
        f"[{row['low']:+.{digits}f}, {row['high']:+.{digits}f}] on the same {row['pages']} pages "
        f"(worse on {row['worse']}, better on {row['better']})"
    )


def _names(values: list, unit: str) -> str:
    """``72 DPI``, ``72, 100 and 150 DPI``; ``cap 1024``, ``caps 1024 and 1280``."""
    shown = [f"{v:g}" for v in sorted(values)]
    joined = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
    return f"{joined} {unit}" if unit == "DPI" else f"{unit}{'s' if len(shown) > 1 else ''} {joined}"


def _models(frame) -> list[str]:
    """Each model against the first one, at the highest DPI and each model's own cap and temperature."""
    variants = list(dict.fromkeys(frame["variant"].dropna()))
    if len(variants) < 2:
        return []
    dpi = frame["dpi"].max()
    out = []
    first = variants[0]
    for other in variants[1:]:
        try:
            c = compare(frame, _own(frame, first, dpi), _own(frame, other, dpi))
        except LabError:  # no page scored by both
            continue
        if c.significant:
            more = "more" if c.difference > 0 else "less"
            out.append(
                f"At {dpi:g} DPI, {other} has {abs(c.difference):.3f} {more} CER than {first} "
                f"[{c.low:+.3f}, {c.high:+.3f}] on the same {c.pages} pages (worse on {c.losses_b}, "
                f"better on {c.wins_b})."
            )
        else:
            out.append(
                f"At {dpi:g} DPI, {other} and {first}: no significant difference on the same {c.pages} pages "
                f"(CER {c.micro_cer_b:.3f} and {c.micro_cer_a:.3f}; the paired 95% interval spans 0)."
            )
    return out


def _own(frame, variant: str, dpi: float) -> dict:
    """One configuration of a model at a DPI: its largest cap, its first temperature, plain before grounding."""
    rows = frame[(frame["variant"] == variant) & (frame["dpi"] == dpi)]
    config = {"variant": variant, "dpi": dpi}
    for column, pick in (("max_side", max), ("temperature", min), ("mode", min)):
        values = rows[column].dropna().unique() if column in rows else []
        if len(values):
            config[column] = pick(values)
    return config


def _layout(frame) -> list[str]:
    """Layout F1 in one sentence when every configuration scores alike, else the best and the worst."""
    if "layout_f1" not in frame or not frame["layout_f1"].notna().any():
        return []
    table = summary(frame[frame["layout_f1"].notna()]).sort_values("layout_f1", kind="stable")
    rows = table.to_dict("records")

    def said(r) -> str:
        return (f"F1 {r['layout_f1']:.2f} [{r['layout_f1_low']:.2f}, {r['layout_f1_high']:.2f}], mean IoU of "
                f"matched boxes {or_dash(r['layout_iou'])}, on {r['layout_pages']} pages with regions")  # fmt: skip

    if rows[-1]["layout_f1"] - rows[0]["layout_f1"] < 0.005:
        return [f"Layout (boxes against the ground truth's regions, IoU ≥ 0.5): {said(rows[-1])}, in every "
                f"configuration ({len(rows)})."]  # fmt: skip
    return [
        f"Layout (boxes against the ground truth's regions, IoU ≥ 0.5): best {config_label(rows[-1])}, "
        f"{said(rows[-1])}; worst {config_label(rows[0])}, {said(rows[0])}."
    ]


def or_dash(value) -> str:
    """A score with two decimals, or a dash where there is none."""
    return "–" if value is None or pd.isna(value) else f"{value:.2f}"
