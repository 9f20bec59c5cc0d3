"""Results as DataFrames: one row per (page, configuration), scored; summaries with intervals; comparisons.

Scores are computed here from the stored text (never stored), so a stored sweep can be rescored under
another normalisation without a request. The score columns are the fields of ``metrics.Score``.

Uncertainty: ``summary`` gives each configuration's micro CER and WER with a 95% bootstrap interval
(pages resampled with replacement, ``BOOTSTRAP_SAMPLES`` draws, fixed seed, percentile method), and
``compare`` the paired difference of two configurations on the same pages with its interval and the
page-level wins, losses and ties: with a dozen pages a 0.0002 difference is noise, and the tables say so.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pandas as pd

from lighton_lab.config import Normalization
from lighton_lab.models.variants import output_format
from lighton_lab.scoring.peers import olmocr_ned, omnidocbench_ned
from lighton_lab.scoring.regions import score_regions
from lighton_lab.scoring.text import Score, looped, resolve_normalization, score
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store

PEER_COLUMNS = ["olmocr_ned", "omnidocbench_ned"]  # the peers' own normalisers on the raw texts (``peers``)
SCORE_COLUMNS = (
    [f.name for f in fields(Score) if f.type in ("float", "int")]
    + ["char_edits", "word_edits"]
    + PEER_COLUMNS
)
CONFIG_COLUMNS = ["variant", "model", "dpi", "max_side", "temperature"]


def row(
    result: Result,
    normalization: str = "markdown",
    tags: tuple = (),
    reference: str | None = None,
    reference_format: str | None = None,
) -> dict:
    """One result as a row; ``reference``/``reference_format`` (the page's, when known) win over the stored ones."""
    reference = result.reference if reference is None else reference
    ref_format = reference_format or result.reference_format or "text"
    hyp_format = result.output_format or output_format(result.endpoint)
    values = {
        "document": result.document,
        "page_number": result.page,
        "variant": result.variant,
        "model": result.model,
        "dpi": result.dpi,
        "effective_dpi": result.effective_dpi,
        "max_side": result.max_side,
        "width": result.width,
        "height": result.height,
        "image_hash": result.image_hash,
        "temperature": result.params.get("temperature"),
        "top_p": result.params.get("top_p"),
        "max_tokens": result.params.get("max_tokens"),
        "text": result.text,
        "reference": reference,
        "reference_format": ref_format,
        "output_format": hyp_format,
        "finish_reason": result.finish_reason,
        "truncated": result.finish_reason == "length",
        "looped": looped(result.text) if result.text else False,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "latency_s": result.latency_s,
        "ttft_s": result.ttft_s,
        "attempts": result.attempts,
        "error": result.error,
        "started": result.started,
        "finished": result.finished,
        "endpoint": result.endpoint,
        "key": result.key,
        "run_id": result.run_id,
        "params": json.dumps(result.params, sort_keys=True),  # a string: the frame writes to Parquet as it is
        "tags": ",".join(tags),
        "gpu": None,
    }
    values.update(scores(reference, result.text, normalization, ref_format, hyp_format))
    return values


def region_columns(
    layout, text: str | None, normalization: str = "markdown", output_format_: str = "markdown"
) -> dict:
    """``region_cer`` and ``reading_order`` for a page whose ground truth has regions (ALTO, PAGE, hOCR)."""
    if layout is None or text is None:
        return {"region_cer": None, "reading_order": None}
    result = score_regions(layout, text, normalization, output_format_)
    return {"region_cer": result.region_cer, "reading_order": result.reading_order}


def scores(
    reference: str | None,
    text: str | None,
    normalization: str = "markdown",
    reference_format: str = "text",
    output_format_: str = "markdown",
) -> dict:
    if reference is None or text is None:
        return dict.fromkeys(SCORE_COLUMNS)
    s = score(
        reference, text, normalization, reference_format=reference_format, hypothesis_format=output_format_
    )
    values = {c: getattr(s, c) for c in SCORE_COLUMNS if c not in PEER_COLUMNS}
    values.update(olmocr_ned=olmocr_ned(reference, text), omnidocbench_ned=omnidocbench_ned(reference, text))
    return values


def empty_frame(normalization: str = "markdown"):
    blank = Result(
        key="",
        document="",
        page=0,
        image_hash=None,
        dpi=0,
        effective_dpi=None,
        max_side=None,
        width=None,
        height=None,
        variant="",
        model="",
        params={},
        reference=None,
    )
    return pd.DataFrame(columns=list(row(blank, normalization).keys()))


def load_results(
    store: Store,
    run: int | None = None,
    corpus=None,
    normalization: Normalization = "markdown",
    *,
    profile: str | None = None,
):
    """Every stored result (or one run's) as a scored DataFrame: the one way from a store to a frame.

    With ``corpus``, each page's current ground truth, its format and its tags are used (and pages with
    regions get ``region_cer``/``reading_order``); without it, the reference stored with each result.
    The frame writes to Parquet as it is: ``load_results(store).to_parquet("runs/lab.parquet")``.
    """
    normalization = resolve_normalization(normalization, profile)
    pages = {(p.document, p.page_number): p for p in corpus} if corpus is not None else {}
    rows = []
    for result in store.results(run):
        page = pages.get((result.document, result.page))
        if page is None:
            rows.append(row(result, normalization))
            continue
        values = row(result, normalization, page.tags, page.ground_truth, page.ground_truth_format)
        values.update(region_columns(page.layout, result.text, normalization, values["output_format"]))
        rows.append(values)
    frame = pd.DataFrame(rows) if rows else empty_frame(normalization)
    frame.attrs["normalization"] = normalization
    return frame


def rescore(frame, normalization: Normalization | None = None, *, profile: str | None = None):
    """The same rows scored under another normalization, from the stored text: no requests."""
    normalization = resolve_normalization(normalization, profile)
    frame = frame.copy()
    values = [
        scores(ref, text, normalization, rf or "text", of or "markdown")
        for ref, text, rf, of in zip(
            frame["reference"], frame["text"], frame["reference_format"], frame["output_format"]
        )
    ]
    for column in SCORE_COLUMNS:
        frame[column] = [v[column] for v in values]
    frame.attrs["normalization"] = normalization
    return frame


# ---- summaries -------------------------------------------------------------------------------------
