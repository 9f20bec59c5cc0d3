"""Charts from a sweep DataFrame: the paired CER change against a reference DPI, CER against DPI with
95% intervals, the CER spread, and layout F1 against DPI.

The first answers the question a DPI sweep asks, "on the same pages, how much worse is 72 DPI than 200?":
each point is a paired difference with its paired bootstrap interval (``frames.stats.differences``), so a
blurred scan next to clean ones does not widen it. The marginal CER-by-DPI plot stays, its intervals over
different pages; a line whose intervals all overlap is labelled so (a slope between two points of noise
must not read as a finding).

Figures are drawn with matplotlib's object API (``Figure`` on an Agg canvas), never through pyplot or
``matplotlib.use``: making a report or a panel image leaves the notebook's own backend alone, so the user's
``plt.plot(...)`` still shows inline. A returned ``Chart`` shows itself in a notebook as a PNG; with ``ax=``
the chart is drawn into the caller's axes instead (a pyplot figure of theirs, say).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lighton_lab.frames.stats import config_label, differences, summary

_INTERVALS = {"micro_cer": ("cer_low", "cer_high"), "micro_wer": ("wer_low", "wer_high")}
LINE_COLUMNS = ["variant", "max_side", "temperature", "mode"]  # what tells two lines of a DPI chart apart
DODGE = 1.5  # DPI between the points of two lines at one DPI, so their bars do not hide each other


class Chart(Figure):
    """A matplotlib Figure drawn off pyplot, on its own Agg canvas, that a notebook shows as a PNG."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        FigureCanvasAgg(self)

    def _repr_png_(self) -> bytes:
        return to_png(self)


def figure(ax=None, size: tuple[float, float] = (7, 4)):
    """``(figure, axes)``: the caller's axes and their figure, or a new ``Chart``."""
    if ax is not None:
        return ax.figure, ax
    fig = Chart(figsize=size)
    return fig, fig.add_subplot()


def cer_change_vs_dpi(frame, reference=None, ax=None):
    """CER of each DPI minus CER at the reference DPI (default: the highest), on the same pages, per model and
    cap, with the paired 95% bootstrap interval; filled markers where the interval excludes 0."""
    table = differences(frame, "dpi", reference)
    fig, ax = figure(ax)
    ax.axhline(0, color="#57606a", lw=1)
    if table.empty:
        ax.text(0.5, 0.5, "one DPI only: nothing to compare", ha="center", transform=ax.transAxes)
    lines = list(table.groupby(["line", "reference"], sort=False)) if len(table) else []
    for i, ((line, ref), group) in enumerate(lines):
        group = group.sort_values("dpi")
        x = _dodged(group["dpi"], i, len(lines))
        values = group["difference"].to_numpy(float)
        low, high = group["low"].to_numpy(float), group["high"].to_numpy(float)
        # a percentile interval need not hold its point estimate on few pages: draw it without negative bars
        spans = [np.maximum(values - low, 0), np.maximum(high - values, 0)]
        bars = ax.errorbar(x, values, yerr=spans, capsize=3, marker="",
                           label=f"{line} (vs {ref:g} DPI, {int(group['pages'].max())} pages)")  # fmt: skip
        colour = bars[0].get_color()
        significant = group["significant"].to_numpy(bool)
        ax.scatter(x[significant], values[significant], color=colour, zorder=3, s=36)
        ax.scatter(x[~significant], values[~significant], facecolor="white", edgecolor=colour,
                   zorder=3, s=36)  # fmt: skip
    refs = sorted(table["reference"].unique()) if len(table) else []
    ax.set_xlabel("requested DPI")
    ax.set_ylabel("CER difference (micro), same pages")
    ax.set_title(
        f"CER change against {', '.join(f'{r:g}' for r in refs) or 'the highest'} DPI on the same pages\n"
        "(bars: paired 95% bootstrap intervals; filled: the interval excludes 0; above 0: more errors)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    if len(table):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cer_vs_dpi(frame, metric: str = "micro_cer", ax=None):
    """Micro CER (length-weighted) per requested DPI, with 95% bootstrap intervals over pages as error bars
    (marginal: each point over its own pages; ``cer_change_vs_dpi`` pairs them)."""
    table = summary(frame)
    fig, ax = figure(ax)
    low_col, high_col = _INTERVALS.get(metric, (None, None))
    lines = [c for c in LINE_COLUMNS if c in table]
    groups = list(table.groupby(lines, dropna=False, sort=True))
    for i, (key, group) in enumerate(groups):
        group = group.sort_values("dpi")
        x = _dodged(group["dpi"], i, len(groups))
        label = config_label(dict(zip(lines, key if isinstance(key, tuple) else (key,))))
        if group["partial"].any():
            label += " (hollow: fewer pages, a stopped sweep)"
        if low_col in group:
            values, low, high = (group[c].to_numpy(float) for c in (metric, low_col, high_col))
            if len(group) > 1 and np.nanmax(low) <= np.nanmin(high):
                label += " (intervals over pages overlap: the paired chart tests the change)"
            bars = ax.errorbar(x, values, yerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)],
                               marker="o", capsize=3, label=label)  # fmt: skip
            partial = group["partial"].to_numpy(bool)
            ax.scatter(x[partial], values[partial], facecolor="white",
                       edgecolor=bars[0].get_color(), zorder=3)  # fmt: skip
        else:
            ax.plot(x, group[metric], marker="o", label=label)
    ax.set_xlabel("requested DPI")
    ax.set_ylabel(metric.replace("_", " ").upper().replace("MICRO ", "micro ").replace("MACRO ", "macro "))
    ax.set_title(f"{metric.replace('_', ' ')} by DPI (bars: 95% bootstrap intervals over pages)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def layout_vs_dpi(frame, ax=None):
    """Mean layout F1 (boxes matched to the ground truth's regions at IoU 0.5) per DPI and cap, with 95%
    intervals over pages: rows with boxes on pages with layout ground truth."""
    rows = frame[frame["layout_f1"].notna()] if "layout_f1" in frame else frame.iloc[:0]
    fig, ax = figure(ax)
    if rows.empty:
        ax.text(0.5, 0.5, "no answer with boxes on a page with regions", ha="center", transform=ax.transAxes)
        return fig
    table = summary(rows)
    lines = [c for c in LINE_COLUMNS if c in table]
    groups = list(table.groupby(lines, dropna=False, sort=True))
    for i, (key, group) in enumerate(groups):
        group = group.sort_values("dpi")
        values, low, high = (
            group[c].to_numpy(float) for c in ("layout_f1", "layout_f1_low", "layout_f1_high")
        )
        label = config_label(dict(zip(lines, key if isinstance(key, tuple) else (key,))))
        bars = [np.maximum(values - low, 0), np.maximum(high - values, 0)]
        ax.errorbar(
            _dodged(group["dpi"], i, len(groups)), values, yerr=bars, marker="o", capsize=3, label=label
        )
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("requested DPI")
    ax.set_ylabel("layout F1 (IoU ≥ 0.5)")
    ax.set_title("Layout F1 by DPI (bars: 95% bootstrap intervals over pages)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cer_distribution(frame, ax=None):
    """Per-page CER for each configuration: the spread that a mean hides."""
    scored = frame[frame["cer"].notna()]
    columns = [c for c in ("variant", "dpi", "max_side", "temperature", "mode") if c in scored]
    groups = list(scored.groupby(columns, dropna=False))
    fig, ax = figure(ax, (7, max(3, 0.3 * len(groups) + 1.2)))
    ax.boxplot([g["cer"].to_numpy() for _, g in groups], orientation="horizontal")
    ax.set_yticks(
        range(1, len(groups) + 1),
        [config_label(dict(zip(columns, key))) for key, _ in groups],
        fontsize=7,
    )
    ax.set_xlabel("CER per page")
    ax.set_title("CER distribution", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def _dodged(dpis, i: int, lines: int):
    """Line ``i`` of ``lines`` moved sideways a little, so equal points and bars do not hide each other."""
    return dpis.to_numpy(float) + DODGE * (i - (lines - 1) / 2)


def to_png(fig, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def png(make, frame) -> bytes:
    """``make(frame)`` drawn to PNG bytes (reports and widgets): off pyplot, so nothing is left open."""
    return to_png(make(frame))


def has_values(frame, column: str) -> bool:
    """Whether a chart of ``column`` would show anything."""
    return column in frame and bool(pd.notna(frame[column]).any())
