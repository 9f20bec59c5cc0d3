"""Charts from a sweep DataFrame: CER against DPI (one line per model and temperature) and CER spread.

Both return a matplotlib Figure so notebooks show them and the report embeds them; neither draws
anything that is not in the DataFrame.
"""

from __future__ import annotations

from .sweep import summary


def cer_vs_dpi(frame, metric: str = "micro_cer", ax=None):
    """Micro CER (length-weighted) per requested DPI; the x axis also notes the effective DPI range."""
    import matplotlib.pyplot as plt

    table = summary(frame)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for (variant, temperature, max_side), group in table.groupby(["variant", "temperature", "max_side"], dropna=False):
        group = group.sort_values("dpi")
        label = f"{variant} · T={temperature:g}" + (f" · cap {int(max_side)}" if max_side == max_side else "")
        ax.plot(group["dpi"], group[metric], marker="o", label=label)
    ax.set_xlabel("requested DPI")
    ax.set_ylabel(metric.replace("_", " ").upper().replace("MICRO ", "micro ").replace("MACRO ", "macro "))
    ax.set_title(f"{metric.replace('_', ' ')} by DPI")
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
    ax.set_yticks(range(1, len(groups) + 1), [f"{v} · {d:g} dpi · T={t:g}" for (v, d, t), _ in groups], fontsize=7)
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
