"""Charts from a sweep DataFrame: CER against DPI (one line per model, temperature and cap, with 95%
intervals) and CER spread.

Both return a matplotlib Figure so notebooks show them and the report embeds them; neither draws
anything that is not in the DataFrame. A line whose intervals all overlap is labelled as such: a slope
drawn between two points of noise must not read as a finding.
"""

from __future__ import annotations

import pandas as pd

from lighton_lab.frames.stats import summary

_INTERVALS = {"micro_cer": ("cer_low", "cer_high"), "micro_wer": ("wer_low", "wer_high")}


def temperature_label(value) -> str:
    """``T=0.2``, or ``T=–`` for engines that take no temperature."""
    return "T=–" if pd.isna(value) else f"T={value:g}"


def cer_vs_dpi(frame, metric: str = "micro_cer", ax=None):
    """Micro CER (length-weighted) per requested DPI, with 95% bootstrap intervals as error bars."""
    import matplotlib.pyplot as plt
    import numpy as np

    table = summary(frame)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    low_col, high_col = _INTERVALS.get(metric, (None, None))
    for (variant, temperature, max_side), group in table.groupby(
        ["variant", "temperature", "max_side"], dropna=False
    ):
        group = group.sort_values("dpi")
        label = f"{variant} · {temperature_label(temperature)}" + (
            f" · cap {int(max_side)}" if not pd.isna(max_side) else ""
        )
        if low_col in group:
            values, low, high = (
                group[metric].to_numpy(float),
                group[low_col].to_numpy(float),
                group[high_col].to_numpy(float),
            )
            if len(group) > 1 and np.nanmax(low) <= np.nanmin(high):
                label += " (intervals overlap: no significant change)"
            ax.errorbar(
                group["dpi"],
                values,
                yerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)],
                marker="o",
                capsize=3,
                label=label,
            )
        else:
            ax.plot(group["dpi"], group[metric], marker="o", label=label)
    ax.set_xlabel("requested DPI")
    ax.set_ylabel(metric.replace("_", " ").upper().replace("MICRO ", "micro ").replace("MACRO ", "macro "))
    ax.set_title(f"{metric.replace('_', ' ')} by DPI (bars: 95% bootstrap intervals over pages)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cer_distribution(frame, ax=None):
    """Per-page CER for each configuration: the spread that a mean hides."""
    import matplotlib.pyplot as plt

    scored = frame[frame["cer"].notna()]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    groups = list(scored.groupby(["variant", "dpi", "temperature"], dropna=False))
    ax.boxplot([g["cer"].to_numpy() for _, g in groups], orientation="horizontal")
    ax.set_yticks(
        range(1, len(groups) + 1),
        [f"{v} · {d:g} dpi · {temperature_label(t)}" for (v, d, t), _ in groups],
        fontsize=7,
    )
    ax.set_xlabel("CER per page")
    ax.set_title("CER distribution")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def to_png(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def png(make, frame) -> bytes:
    """``make(frame)`` drawn off-screen to PNG bytes, the figure closed (reports and widgets)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig = make(frame)
    try:
        return to_png(fig)
    finally:
        plt.close(fig)
