"""Summaries with intervals, paired comparisons and rankings of a results DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lighton_lab.errors import LabError
from lighton_lab.frames.rows import CONFIG_COLUMNS, LAYOUT_COLUMNS
from lighton_lab.scoring.text import rate

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same frame always gives the same interval
LEVEL = 0.95
PAGE_KEY = ["document", "page_number"]  # pages are resampled in this order, whatever the frame's row order
# the layout scores summary averages: every one of ``frames.rows.LAYOUT_COLUMNS``, those given an interval first
LAYOUT_INTERVALS = ("layout_f1", "layout_iou")
LAYOUT_MEANS = [*LAYOUT_INTERVALS, *(c for c in LAYOUT_COLUMNS if c not in LAYOUT_INTERVALS)]


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
    page mean. CER can exceed 1 when the output is longer than the reference (a loop): NED cannot.

    ``partial`` marks a configuration that lacks pages other configurations have (a stopped sweep): its
    rates are over fewer pages, and ``compare`` pairs it with others on the shared pages only. Rows with
    boxes on pages with layout ground truth add the means of the ``layout_*`` scores (F1 and IoU with
    their 95% intervals over pages). ``pages_per_s`` is left out (None) when the rows come from several
    runs: a rate over the time between two sessions says nothing about the endpoint.
    """
    if frame is None or len(frame) == 0:
        raise LabError("summary(): the frame has no rows: nothing was swept (check the corpus and the grid)")
    by = [c for c in (by or CONFIG_COLUMNS) if c in frame.columns]
    every_page = _pages(frame)
    by_config = not set(by) & set(PAGE_KEY)  # rows per configuration: one may lack pages others have
    rows = []
    for key, group in frame.groupby(by, dropna=False, sort=True):
        group = _in_page_order(group)
        scored = group[group["cer"].notna()]
        ok = group[group["error"].isna()]
        one_run = "run_id" not in ok or ok["run_id"].nunique(dropna=False) <= 1
        wall = (ok["finished"].max() - ok["started"].min()) if len(ok) and one_run else None
        ce, cl = scored["char_edits"].to_numpy(float), scored["ref_chars"].to_numpy(float)
        we, wl = scored["word_edits"].to_numpy(float), scored["ref_words"].to_numpy(float)
        entry = {
            **dict(zip(by, key if isinstance(key, tuple) else (key,))),
            "pages": len(group),
            "partial": by_config and len(_pages(group)) < len(every_page),
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
        entry.update(_layout(group, intervals))
        rows.append(entry)
    return pd.DataFrame(rows)


def _pages(frame) -> set:
    return set(zip(frame["document"], frame["page_number"])) if "page_number" in frame else set(frame.index)


def _layout(group, intervals: bool) -> dict:
    """Means of the layout scores over the rows that have them (answers with boxes, pages with regions),
    F1 and IoU with a 95% bootstrap interval of the mean (pages resampled, as for CER)."""
    if "layout_f1" not in group or not group["layout_f1"].notna().any():
        return {}
    rows = group[group["layout_f1"].notna()]
    entry = {"layout_pages": len(rows)}
    for column in LAYOUT_MEANS:
        values = rows[column].dropna().to_numpy(float) if column in rows else np.array([])
        entry[column] = float(values.mean()) if len(values) else None
        if intervals and column in LAYOUT_INTERVALS:
            entry[f"{column}_low"], entry[f"{column}_high"] = bootstrap(values, np.ones(len(values)))
    if "grounding_errors" in rows:
        entry["grounding_errors"] = int(rows["grounding_errors"].fillna(0).sum())
    return entry


def _usd_per_1000(group, pages_per_s: float | None) -> float | None:
    """At the GPU table's price and the throughput observed in this sweep; None off a GPU."""
    from lighton_lab.models.gpus import cost_per_1000_pages

    gpus = group["gpu"].dropna().unique() if "gpu" in group else []
    return cost_per_1000_pages(pages_per_s, gpus[0]) if len(gpus) == 1 and pages_per_s else None


def config_label(row: Mapping, leave_out: tuple[str, ...] = ()) -> str:
    """A configuration in words, only what has a value: ``rapidocr · 72 dpi · cap 1540``, ``1b · 200 dpi ·
    cap 1540 · T=0.2 · grounding`` (no temperature for engines that take none, no mode when plain)."""
    parts = []
    if "variant" not in leave_out and row.get("variant") is not None:
        parts.append(str(row["variant"]))
    if "dpi" not in leave_out and not pd.isna(row.get("dpi")):
        parts.append(f"{row['dpi']:g} dpi")
    if "max_side" not in leave_out and not pd.isna(row.get("max_side")):
        parts.append(f"cap {int(row['max_side'])}")
    if "temperature" not in leave_out and not pd.isna(row.get("temperature")):
        parts.append(f"T={row['temperature']:g}")
    if "mode" not in leave_out and row.get("mode") not in (None, "plain") and not pd.isna(row.get("mode")):
        parts.append(str(row["mode"]))
    return " · ".join(parts)


def compact(table):
    """``summary`` in the few columns that fit a notebook: configuration, pages (``12 of 18, partial`` after
    a stop), failed requests, CER [95% interval], WER, layout F1 [95% interval] where answers have boxes,
    loops, truncations, pages/s and $/1000 pages (GPU endpoints; a lower bound, ``models.gpus.COST_NOTE``)."""
    every = int(table["pages"].max()) if len(table) else 0

    def shown(value, low=None, high=None) -> str:
        if value is None or pd.isna(value):
            return "–"
        return f"{value:.4f} [{low:.4f}, {high:.4f}]" if not pd.isna(low) else f"{value:.4f}"

    rows = []
    for r in table.to_dict("records"):
        entry = {
            "configuration": config_label(r),
            "pages": f"{r['pages']} of {every}, partial" if r.get("partial") else r["pages"],
            "failures": r["failures"],
            "CER [95% CI]": shown(r["micro_cer"], r.get("cer_low"), r.get("cer_high")),
            "WER": shown(r["micro_wer"]),
        }
        if "layout_f1" in table:
            entry["layout F1 [95% CI]"] = shown(
                r.get("layout_f1"), r.get("layout_f1_low"), r.get("layout_f1_high")
            )
            entry["layout IoU"] = shown(r.get("layout_iou"))
        usd = r.get("usd_per_1000_pages")
        entry.update(
            {
                "loops": r["looped"],
                "truncated": r["truncated"],
                "pages/s": _number(r["pages_per_s"], 2),
                "$/1000 pages (at least)": _number(usd, 3),
            }
        )
        rows.append(entry)
    return pd.DataFrame(rows)


def _number(value, digits: int) -> str:
    return "–" if value is None or pd.isna(value) or not value else f"{value:.{digits}f}"


def differences(frame, axis: str = "dpi", reference=None):
    """Each configuration against a reference value of ``axis`` on the same pages (paired), per line of
    the other configuration columns (model, cap, temperature, mode): the CER difference with its paired 95%
    bootstrap interval and the pages it got worse and better on (``compare``'s numbers, one row per value).

    ``reference`` is the value to compare against (default: the line's highest, e.g. 200 DPI); the
    reference's own row has difference 0. A positive ``difference`` means more errors than the reference.
    Lines with a single value of ``axis`` have nothing to compare and are left out.
    """
    lines = [c for c in CONFIG_COLUMNS if c in frame.columns and c not in (axis, "model")]
    rows = []
    scored = frame[frame["cer"].notna()]
    for key, group in scored.groupby(lines, dropna=False, sort=True) if lines else [((), scored)]:
        values = sorted(group[axis].dropna().unique())
        if len(values) < 2:
            continue
        fixed = dict(zip(lines, key if isinstance(key, tuple) else (key,)))
        ref = reference if reference in values else values[-1]
        for value in values:
            try:
                c = compare(group, {axis: ref}, {axis: value})
            except LabError:  # no shared page, or several rows per page: nothing to pair
                continue
            rows.append({**fixed, "line": config_label(fixed, (axis,)), axis: value, "reference": ref,
                         "pages": c.pages, "difference": c.difference, "low": c.low, "high": c.high,
                         "worse": c.losses_b, "better": c.wins_b, "same": c.ties,
                         "significant": value != ref and c.significant})  # fmt: skip
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

    def _repr_html_(self) -> str:
        """In a notebook: the two configurations, the paired numbers and the verdict, as a small table."""
        rows = [("a", _said(self.a)), ("b", _said(self.b)), ("pages (both scored)", self.pages),
                ("micro CER a / b", f"{self.micro_cer_a:.4f} / {self.micro_cer_b:.4f}"),
                ("b - a [95% interval]", f"{self.difference:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"),
                ("pages b better / worse / same", f"{self.wins_b} / {self.losses_b} / {self.ties}"),
                ("verdict", self.verdict)]  # fmt: skip
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>"
                       for k, v in rows)  # fmt: skip
        return f"<table>{body}</table>"


def _said(config: Mapping) -> str:
    import html

    return html.escape(", ".join(f"{k}={v}" for k, v in config.items()))


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
