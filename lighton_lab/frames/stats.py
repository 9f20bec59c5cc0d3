"""Summaries with intervals, paired comparisons and rankings of a results DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lighton_lab.errors import LabError
from lighton_lab.frames.rows import CONFIG_COLUMNS
from lighton_lab.scoring.text import rate

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same frame always gives the same interval
LEVEL = 0.95
PAGE_KEY = ["document", "page_number"]  # pages are resampled in this order, whatever the frame's row order


def _micro(edits: np.ndarray, lengths: np.ndarray) -> float | None:
    return rate(int(edits.sum()), int(lengths.sum())) if len(edits) else None


def _resample(n: int, samples: int, seed: int) -> np.ndarray:
    """Page indices of ``samples`` bootstrap draws (pages with replacement), the same for the same n and seed."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


def bootstrap(
    edits, lengths, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile interval of the micro rate sum(edits)/sum(lengths), pages resampled with replacement.

    Give the pages in a fixed order (``summary`` and ``compare`` sort them by document and page), so the
    interval does not change when the rows of a frame are shuffled.
    """
    edits, lengths = np.asarray(edits, dtype=float), np.asarray(lengths, dtype=float)
    if len(edits) == 0:
        return (np.nan, np.nan)
    idx = _resample(len(edits), samples, seed)
    totals, errors = lengths[idx].sum(axis=1), edits[idx].sum(axis=1)
    return _percentiles(np.where(totals > 0, errors / np.maximum(totals, 1), (errors > 0) * 1.0))


def _in_page_order(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [c for c in PAGE_KEY if c in frame.columns]
    return frame.sort_values(keys, kind="stable") if keys else frame


def summary(frame, by: list[str] | None = None, intervals: bool = True):
    """One row per configuration: pages, failures, truncations, loops, micro CER with its 95% interval,
    macro CER, NED (bounded in [0, 1], unlike CER), micro/macro WER with interval, bag-of-words F1 (exact
    and folded), latency, observed pages/s and tokens. Micro rates weigh pages by length; macro is the
    page mean. CER can exceed 1 when the output is longer than the reference (a loop): NED cannot."""
    by = [c for c in (by or CONFIG_COLUMNS) if c in frame.columns]
    rows = []
    for key, group in frame.groupby(by, dropna=False, sort=True):
        group = _in_page_order(group)
        scored = group[group["cer"].notna()]
        ok = group[group["error"].isna()]
        wall = (ok["finished"].max() - ok["started"].min()) if len(ok) else None
        ce, cl = scored["char_edits"].to_numpy(float), scored["ref_chars"].to_numpy(float)
        we, wl = scored["word_edits"].to_numpy(float), scored["ref_words"].to_numpy(float)
        entry = {
            **dict(zip(by, key if isinstance(key, tuple) else (key,))),
            "pages": len(group),
            "failures": int(group["error"].notna().sum()),
            "truncated": int(group["truncated"].sum()),
            "looped": int(group["looped"].sum()),
            "micro_cer": _micro(ce, cl),
        }
        if intervals:
            entry["cer_low"], entry["cer_high"] = bootstrap(ce, cl)
        entry.update(
            macro_cer=scored["cer"].mean() if len(scored) else None,
            ned=scored["ned"].mean() if len(scored) else None,
            micro_wer=_micro(we, wl),
        )
        if intervals:
            entry["wer_low"], entry["wer_high"] = bootstrap(we, wl)
        entry.update(
            macro_wer=scored["wer"].mean() if len(scored) else None,
            bow_f1=scored["bow_f1"].mean() if len(scored) else None,
            bow_f1_exact=scored["bow_f1_exact"].mean() if len(scored) else None,
            mean_latency_s=ok["latency_s"].mean() if len(ok) else None,
            pages_per_s=len(ok) / wall if wall else None,
            completion_tokens=ok["completion_tokens"].sum() if len(ok) else 0,
        )
        entry["usd_per_1000_pages"] = _usd_per_1000(group, entry["pages_per_s"])
        if "region_cer" in group and group["region_cer"].notna().any():  # pages with ALTO/PAGE/hOCR regions
            entry.update(region_cer=group["region_cer"].mean(), reading_order=group["reading_order"].mean())
        rows.append(entry)
    return pd.DataFrame(rows)


def _usd_per_1000(group, pages_per_s: float | None) -> float | None:
    """At the GPU table's price and the throughput observed in this sweep; None off a GPU."""
    from lighton_lab.models.gpus import cost_per_1000_pages

    gpus = group["gpu"].dropna().unique() if "gpu" in group else []
    return cost_per_1000_pages(pages_per_s, gpus[0]) if len(gpus) == 1 and pages_per_s else None


def compact(table):
    """``summary`` in the few columns that fit a notebook: configuration, pages, CER [95% interval], WER,
    loops, truncations, pages/s and $/1000 pages (GPU endpoints; a lower bound, ``models.gpus.COST_NOTE``)."""

    def config(row) -> str:
        parts = [str(row.get("variant", "")), f"{row['dpi']:g} dpi" if "dpi" in row else ""]
        if row.get("max_side") == row.get("max_side") and row.get("max_side") is not None:
            parts.append(f"cap {int(row['max_side'])}")
        t = row.get("temperature")
        if not pd.isna(t):
            parts.append(f"T={t:g}")
        return " · ".join(p for p in parts if p)

    def shown(value, low=None, high=None) -> str:
        if pd.isna(value):
            return "–"
        return f"{value:.4f} [{low:.4f}, {high:.4f}]" if not pd.isna(low) else f"{value:.4f}"

    rows = [
        {
            "configuration": config(r),
            "pages": r["pages"],
            "CER [95% CI]": shown(r["micro_cer"], r.get("cer_low"), r.get("cer_high")),
            "WER": shown(r["micro_wer"]),
            "loops": r["looped"],
            "truncated": r["truncated"],
            "pages/s": "–" if not r["pages_per_s"] else f"{r['pages_per_s']:.2f}",
            "$/1000 pages (at least)": "–"
            if r.get("usd_per_1000_pages") is None
            else f"{r['usd_per_1000_pages']:.3f}",
        }
        for r in table.to_dict("records")
    ]
    return pd.DataFrame(rows)


def _select(frame, config: Mapping):
    mask = np.ones(len(frame), dtype=bool)
    for column, value in config.items():
        if column not in frame.columns:
            raise LabError(
                f"compare(): no column {column!r}; use configuration columns such as {CONFIG_COLUMNS}"
            )
        mask &= (frame[column] == value).to_numpy()
    return frame[mask & frame["cer"].notna().to_numpy()]


@dataclass(frozen=True)
class Comparison:
    """Configuration ``b`` against configuration ``a`` on the pages both scored (see ``compare``)."""

    a: dict
    b: dict
    pages: int
    micro_cer_a: float
    micro_cer_b: float
    difference: float  # micro CER of b minus a: negative means b has fewer errors
    low: float  # 95% bootstrap interval of the difference
    high: float
    wins_b: int  # pages where b's CER is lower
    losses_b: int
    ties: int

    @property
    def significant(self) -> bool:
        """The 95% interval excludes 0."""
        return not self.low <= 0 <= self.high

    @property
    def verdict(self) -> str:
        if not self.significant:
            return "no significant difference"
        return f"{'b' if self.difference < 0 else 'a'} has fewer errors (95% interval excludes 0)"


def compare(
    frame, a: Mapping, b: Mapping, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> Comparison:
    """Configuration ``b`` minus configuration ``a`` on the pages both scored (paired): micro CER difference
    with its 95% bootstrap interval, page wins/losses/ties (by page CER) and a verdict in plain words.

    ``compare(frame, {"dpi": 100}, {"dpi": 200})``; a negative difference means ``b`` has fewer errors.
    """
    left, right = _select(frame, a), _select(frame, b)
    paired = left.merge(right, on=PAGE_KEY, suffixes=("_a", "_b"))
    if paired.empty:
        raise LabError(f"compare(): no page was scored under both {dict(a)} and {dict(b)}")
    if paired.duplicated(PAGE_KEY).any():
        raise LabError(
            "compare(): a configuration matches several rows per page; name more columns "
            f"(e.g. variant, dpi, max_side, temperature) in {dict(a)} and {dict(b)}"
        )
    paired = _in_page_order(paired)
    ea, eb = paired["char_edits_a"].to_numpy(float), paired["char_edits_b"].to_numpy(float)
    n = paired["ref_chars_a"].to_numpy(float)
    idx = _resample(len(n), samples, seed)
    low, high = _percentiles((eb[idx].sum(axis=1) - ea[idx].sum(axis=1)) / np.maximum(n[idx].sum(axis=1), 1))
    cer_a, cer_b = paired["cer_a"].to_numpy(float), paired["cer_b"].to_numpy(float)
    return Comparison(
        a=dict(a),
        b=dict(b),
        pages=len(paired),
        micro_cer_a=_micro(ea, n),
        micro_cer_b=_micro(eb, n),
        difference=_micro(eb, n) - _micro(ea, n),
        low=low,
        high=high,
        wins_b=int((cer_b < cer_a).sum()),
        losses_b=int((cer_b > cer_a).sum()),
        ties=int((cer_b == cer_a).sum()),
    )


def best(frame, metric: str = "micro_cer"):
    """The configuration with the lowest ``metric`` (a Series from ``summary``)."""
    table = summary(frame).dropna(subset=[metric])
    if table.empty:
        raise LabError("no scored pages: the corpus needs ground truth for best() to compare configurations")
    return table.sort_values(metric, kind="stable").iloc[0]


def worst_pages(frame, n: int = 10, metric: str = "cer"):
    """The ``n`` rows with the highest ``metric`` (failed requests first)."""
    failed = frame[frame["error"].notna()]
    scored = frame[frame[metric].notna()].sort_values(metric, ascending=False, kind="stable")
    return pd.concat([failed, scored]).head(n)
