"""Results as DataFrames: one row per (page, configuration), scored; summaries with intervals; comparisons.

Scores are computed here from the stored text (never stored), so a stored sweep can be rescored under
another normalisation without a request. The score columns are the fields of ``metrics.Score``.

Uncertainty: ``summary`` gives each configuration's micro CER and WER with a 95% bootstrap interval
(pages resampled with replacement, ``BOOTSTRAP_SAMPLES`` draws, fixed seed, percentile method), and
``compare`` the paired difference of two configurations on the same pages with its interval and the
page-level wins, losses and ties: with a dozen pages a 0.0002 difference is noise, and the tables say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields

import numpy as np

from .errors import LabError
from .metrics import Score, looped, rate, score
from .models import output_format
from .peers import olmocr_ned, omnidocbench_ned
from .regions import score_regions
from .store import Result, Store

PEER_COLUMNS = ["olmocr_ned", "omnidocbench_ned"]  # the peers' own normalisers on the raw texts (``peers``)
SCORE_COLUMNS = [f.name for f in fields(Score) if f.type in ("float", "int")] + ["char_edits", "word_edits"] \
    + PEER_COLUMNS
CONFIG_COLUMNS = ["variant", "model", "dpi", "max_side", "temperature"]
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same frame always gives the same interval
LEVEL = 0.95


def row(result: Result, profile: str = "markdown", tags: tuple = (), reference: str | None = None,
        reference_format: str | None = None) -> dict:
    """One result as a row; ``reference``/``reference_format`` (the page's, when known) win over the stored ones."""
    reference = result.reference if reference is None else reference
    ref_format = reference_format or result.reference_format or "text"
    hyp_format = result.output_format or output_format(result.endpoint)
    values = {
        "document": result.document, "page": result.page, "variant": result.variant, "model": result.model,
        "dpi": result.dpi, "effective_dpi": result.effective_dpi, "max_side": result.max_side,
        "width": result.width, "height": result.height, "image_hash": result.image_hash,
        "temperature": result.params.get("temperature"), "top_p": result.params.get("top_p"),
        "max_tokens": result.params.get("max_tokens"), "text": result.text, "reference": reference,
        "reference_format": ref_format, "output_format": hyp_format,
        "finish_reason": result.finish_reason, "truncated": result.finish_reason == "length",
        "looped": looped(result.text) if result.text else False,
        "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
        "latency_s": result.latency_s, "ttft_s": result.ttft_s, "attempts": result.attempts, "error": result.error,
        "started": result.started, "finished": result.finished, "endpoint": result.endpoint, "key": result.key,
        "run_id": result.run_id, "params": result.params, "tags": ",".join(tags), "gpu": None,
    }
    values.update(scores(reference, result.text, profile, ref_format, hyp_format))
    return values


def region_columns(layout, text: str | None, profile: str = "markdown", output_format_: str = "markdown") -> dict:
    """``region_cer`` and ``reading_order`` for a page whose ground truth has regions (ALTO, PAGE, hOCR)."""
    if layout is None or text is None:
        return {"region_cer": None, "reading_order": None}
    result = score_regions(layout, text, profile, output_format_)
    return {"region_cer": result.region_cer, "reading_order": result.reading_order}


def scores(reference: str | None, text: str | None, profile: str = "markdown", reference_format: str = "text",
           output_format_: str = "markdown") -> dict:
    if reference is None or text is None:
        return {c: None for c in SCORE_COLUMNS}
    s = score(reference, text, profile, reference_format=reference_format, hypothesis_format=output_format_)
    values = {c: getattr(s, c) for c in SCORE_COLUMNS if c not in PEER_COLUMNS}
    values.update(olmocr_ned=olmocr_ned(reference, text), omnidocbench_ned=omnidocbench_ned(reference, text))
    return values


def results_to_dataframe(results: Iterable[Result], profile: str = "markdown", tags: Mapping | None = None):
    import pandas as pd

    rows = [row(r, profile, (tags or {}).get(r.document, ())) for r in results]
    frame = pd.DataFrame(rows) if rows else empty_frame(profile)
    frame.attrs["profile"] = profile
    return frame


def empty_frame(profile: str = "markdown"):
    import pandas as pd

    blank = Result("", "", 0, None, 0, None, None, None, None, "", "", {}, None)
    return pd.DataFrame(columns=list(row(blank, profile).keys()))


def from_store(store: Store, run_id: int | None = None, profile: str = "markdown"):
    """Every stored result (or one run's), scored under ``profile``."""
    return results_to_dataframe(store.results(run_id), profile=profile)


def to_parquet(store: Store, path, run_id: int | None = None, profile: str = "markdown"):
    """The scored rows of a store (or of one run) as a Parquet file (``pip install 'lighton-lab[parquet]'``)."""
    from pathlib import Path

    path = Path(path)
    from_store(store, run_id, profile).drop(columns=["params"]).to_parquet(path, index=False)
    return path


def rescore(frame, profile: str):
    """The same rows scored under another normalisation profile, from the stored text: no requests."""
    frame = frame.copy()
    values = [scores(ref, text, profile, rf or "text", of or "markdown") for ref, text, rf, of in
              zip(frame["reference"], frame["text"], frame["reference_format"], frame["output_format"])]
    for column in SCORE_COLUMNS:
        frame[column] = [v[column] for v in values]
    frame.attrs["profile"] = profile
    return frame


# ---- summaries -------------------------------------------------------------------------------------


def _micro(edits: np.ndarray, lengths: np.ndarray) -> float | None:
    return rate(int(edits.sum()), int(lengths.sum())) if len(edits) else None


def bootstrap(edits, lengths, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% percentile interval of the micro rate sum(edits)/sum(lengths), pages resampled with replacement."""
    edits, lengths = np.asarray(edits, dtype=float), np.asarray(lengths, dtype=float)
    if len(edits) == 0:
        return (np.nan, np.nan)
    idx = np.random.default_rng(seed).integers(0, len(edits), size=(samples, len(edits)))
    totals = lengths[idx].sum(axis=1)
    rates = np.where(totals > 0, edits[idx].sum(axis=1) / np.maximum(totals, 1), (edits[idx].sum(axis=1) > 0) * 1.0)
    low, high = np.quantile(rates, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


def summary(frame, by: list[str] | None = None, intervals: bool = True):
    """One row per configuration: pages, failures, truncations, loops, micro CER with its 95% interval,
    macro CER, NED (bounded in [0, 1], unlike CER), micro/macro WER with interval, bag-of-words F1 (exact
    and folded), latency, observed pages/s and tokens. Micro rates weigh pages by length; macro is the
    page mean. CER can exceed 1 when the output is longer than the reference (a loop): NED cannot."""
    import pandas as pd

    by = [c for c in (by or CONFIG_COLUMNS) if c in frame.columns]
    rows = []
    for key, group in frame.groupby(by, dropna=False, sort=True):
        scored = group[group["cer"].notna()]
        ok = group[group["error"].isna()]
        wall = (ok["finished"].max() - ok["started"].min()) if len(ok) else None
        ce, cl = scored["char_edits"].to_numpy(float), scored["ref_chars"].to_numpy(float)
        we, wl = scored["word_edits"].to_numpy(float), scored["ref_words"].to_numpy(float)
        entry = {**dict(zip(by, key if isinstance(key, tuple) else (key,))),
                 "pages": len(group), "failures": int(group["error"].notna().sum()),
                 "truncated": int(group["truncated"].sum()), "looped": int(group["looped"].sum()),
                 "micro_cer": _micro(ce, cl)}
        if intervals:
            entry["cer_low"], entry["cer_high"] = bootstrap(ce, cl)
        entry.update(macro_cer=scored["cer"].mean() if len(scored) else None,
                     ned=scored["ned"].mean() if len(scored) else None, micro_wer=_micro(we, wl))
        if intervals:
            entry["wer_low"], entry["wer_high"] = bootstrap(we, wl)
        entry.update(macro_wer=scored["wer"].mean() if len(scored) else None,
                     bow_f1=scored["bow_f1"].mean() if len(scored) else None,
                     bow_f1_exact=scored["bow_f1_exact"].mean() if len(scored) else None,
                     mean_latency_s=ok["latency_s"].mean() if len(ok) else None,
                     pages_per_s=len(ok) / wall if wall else None,
                     completion_tokens=ok["completion_tokens"].sum() if len(ok) else 0)
        entry["usd_per_1000_pages"] = _usd_per_1000(group, entry["pages_per_s"])
        if "region_cer" in group and group["region_cer"].notna().any():  # pages with ALTO/PAGE/hOCR regions
            entry.update(region_cer=group["region_cer"].mean(), reading_order=group["reading_order"].mean())
        rows.append(entry)
    return pd.DataFrame(rows)


def _usd_per_1000(group, pages_per_s: float | None) -> float | None:
    """At the GPU table's price and the throughput observed in this sweep; None off a GPU."""
    from .models import cost_per_1000_pages

    gpus = group["gpu"].dropna().unique() if "gpu" in group else []
    return cost_per_1000_pages(pages_per_s, gpus[0]) if len(gpus) == 1 and pages_per_s else None


def compact(table):
    """``summary`` in the few columns that fit a notebook: configuration, pages, CER [95% interval], WER,
    loops, truncations, pages/s and $/1000 pages (GPU endpoints)."""
    import pandas as pd

    def config(row) -> str:
        parts = [str(row.get("variant", "")), f"{row['dpi']:g} dpi" if "dpi" in row else ""]
        if row.get("max_side") == row.get("max_side") and row.get("max_side") is not None:
            parts.append(f"cap {int(row['max_side'])}")
        t = row.get("temperature")
        if t is not None and t == t:
            parts.append(f"T={t:g}")
        return " · ".join(p for p in parts if p)

    def shown(value, low=None, high=None) -> str:
        if value is None or value != value:
            return "–"
        return f"{value:.4f} [{low:.4f}, {high:.4f}]" if low is not None and low == low else f"{value:.4f}"

    rows = [{"configuration": config(r), "pages": r["pages"],
             "CER [95% CI]": shown(r["micro_cer"], r.get("cer_low"), r.get("cer_high")), "WER": shown(r["micro_wer"]),
             "loops": r["looped"], "truncated": r["truncated"],
             "pages/s": "–" if not r["pages_per_s"] else f"{r['pages_per_s']:.2f}",
             "$/1000 pages": "–" if r.get("usd_per_1000_pages") is None else f"{r['usd_per_1000_pages']:.3f}"}
            for r in table.to_dict("records")]
    return pd.DataFrame(rows)


def _select(frame, config: Mapping):
    mask = np.ones(len(frame), dtype=bool)
    for column, value in config.items():
        if column not in frame.columns:
            raise LabError(f"compare(): no column {column!r}; use configuration columns such as {CONFIG_COLUMNS}")
        mask &= (frame[column] == value).to_numpy()
    return frame[mask & frame["cer"].notna().to_numpy()]


def compare(frame, a: Mapping, b: Mapping, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> dict:
    """Configuration ``b`` minus configuration ``a`` on the pages both scored (paired): micro CER difference
    with its 95% bootstrap interval, page wins/losses/ties (by page CER) and a verdict in plain words.

    ``compare(frame, {"dpi": 100}, {"dpi": 200})``; a negative difference means ``b`` has fewer errors.
    """
    left, right = _select(frame, a), _select(frame, b)
    pages = ["document", "page"]
    paired = left.merge(right, on=pages, suffixes=("_a", "_b"))
    if paired.empty:
        raise LabError(f"compare(): no page was scored under both {dict(a)} and {dict(b)}")
    if paired.duplicated(pages).any():
        raise LabError("compare(): a configuration matches several rows per page; name more columns "
                       f"(e.g. variant, dpi, max_side, temperature) in {dict(a)} and {dict(b)}")
    ea, eb = paired["char_edits_a"].to_numpy(float), paired["char_edits_b"].to_numpy(float)
    n = paired["ref_chars_a"].to_numpy(float)
    difference = _micro(eb, n) - _micro(ea, n)
    idx = np.random.default_rng(seed).integers(0, len(n), size=(samples, len(n)))
    totals = np.maximum(n[idx].sum(axis=1), 1)
    diffs = (eb[idx].sum(axis=1) - ea[idx].sum(axis=1)) / totals
    low, high = (float(x) for x in np.quantile(diffs, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]))
    cer_a, cer_b = paired["cer_a"].to_numpy(float), paired["cer_b"].to_numpy(float)
    if low <= 0 <= high:
        verdict = "no significant difference"
    else:
        verdict = f"{'b' if difference < 0 else 'a'} has fewer errors (95% interval excludes 0)"
    return {"a": dict(a), "b": dict(b), "pages": len(paired), "micro_cer_a": _micro(ea, n), "micro_cer_b": _micro(eb, n),
            "difference": difference, "low": low, "high": high, "wins_b": int((cer_b < cer_a).sum()),
            "losses_b": int((cer_b > cer_a).sum()), "ties": int((cer_b == cer_a).sum()), "verdict": verdict}


def best(frame, metric: str = "micro_cer"):
    """The configuration with the lowest ``metric`` (a Series from ``summary``)."""
    table = summary(frame).dropna(subset=[metric])
    if table.empty:
        raise LabError("no scored pages: the corpus needs ground truth for best() to compare configurations")
    return table.sort_values(metric, kind="stable").iloc[0]


def worst_pages(frame, n: int = 10, metric: str = "cer"):
    """The ``n`` rows with the highest ``metric`` (failed requests first)."""
    import pandas as pd

    failed = frame[frame["error"].notna()]
    scored = frame[frame[metric].notna()].sort_values(metric, ascending=False, kind="stable")
    return pd.concat([failed, scored]).head(n)
