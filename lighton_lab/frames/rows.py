"""Results as DataFrames: one row per (page, configuration), scored; summaries with intervals; comparisons.

Scores are computed here from the stored text (never stored), so a stored sweep can be rescored under
another normalisation without a request. The score columns are the fields of ``metrics.Score``.

Each answer is first read by its family's adapter (``models.family``): ``raw`` is what the model wrote,
``text`` what is scored (olmOCR's front matter apart in ``metadata``, DeepSeek's tags removed, a grounding
answer's blocks joined as LightOn joins them, with the page furniture kept or dropped: ``furniture``).
Answers with boxes get ``blocks`` and ``grounding_errors`` (what did not parse as the format says), and on
pages whose ground truth has regions, the ``layout_*`` columns (``scoring.layout``).

Uncertainty: ``summary`` gives each configuration's micro CER and WER with a 95% bootstrap interval
(pages resampled with replacement, ``BOOTSTRAP_SAMPLES`` draws, fixed seed, percentile method), and
``compare`` the paired difference of two configurations on the same pages with its interval and the
page-level wins, losses and ties: with a dozen pages a 0.0002 difference is noise, and the tables say so.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pandas as pd

from lighton_lab.client.loops import looped
from lighton_lab.config import Normalization
from lighton_lab.models.family import Reading
from lighton_lab.models.grounding import Furniture
from lighton_lab.models.variants import output_format, read_answer
from lighton_lab.scoring.layout import score_layout
from lighton_lab.scoring.peers import olmocr_ned, omnidocbench_ned
from lighton_lab.scoring.regions import score_regions
from lighton_lab.scoring.text import Score, resolve_normalization, score
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store

PEER_COLUMNS = ["olmocr_ned", "omnidocbench_ned"]  # the peers' own normalisers on the raw texts (``peers``)
SCORE_COLUMNS = (
    [f.name for f in fields(Score) if f.type in ("float", "int")]
    + ["char_edits", "word_edits"]
    + PEER_COLUMNS
)
CONFIG_COLUMNS = ["variant", "model", "dpi", "max_side", "temperature", "mode"]
LAYOUT_COLUMNS = ["layout_precision", "layout_recall", "layout_f1", "layout_iou", "layout_block_cer",
                  "layout_reading_order", "layout_labels"]  # fmt: skip


def reading(result: Result, furniture: Furniture = "keep") -> Reading | None:
    """The answer as its family's adapter reads it (None for a failed request). A model without a profile
    (the local engines) answers plain text, or LightOn's grounding format when asked for grounding."""
    if result.text is None:
        return None
    return read_answer(result.model, result.text, result.mode or "plain", result.width or 0, result.height or 0,
                       furniture)  # fmt: skip


def row(
    result: Result,
    normalization: str = "markdown",
    page=None,
    furniture: Furniture = "keep",
) -> dict:
    """One result as a row. With the ``page`` (a corpus ``Page``), its current ground truth, format, tags and
    layout are used; without it, the reference stored with the result."""
    reference = result.reference if page is None or page.ground_truth is None else page.ground_truth
    ref_format = (page.ground_truth_format if page is not None else None) or result.reference_format or "text"
    hyp_format = result.output_format or output_format(result.endpoint)
    read = reading(result, furniture)
    text = read.text if read is not None else None
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
        "mode": result.mode or "plain",
        "family": result.family,
        "ladder_step": result.ladder_step or 0,
        "text": text,
        "raw": result.text,
        "metadata": json.dumps(read.metadata, sort_keys=True) if read is not None and read.metadata else None,
        "blocks": len(read.blocks) if read is not None and read.blocks is not None else None,
        "grounding_errors": len(read.problems) if read is not None and read.blocks is not None else None,
        "problems": "; ".join(read.problems) if read is not None and read.problems else None,
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
        "tags": ",".join(page.tags) if page is not None else "",
        "gpu": None,
    }
    values.update(scores(reference, text, normalization, ref_format, hyp_format))
    layout = page.layout if page is not None else None
    values.update(region_columns(layout, text, normalization, hyp_format))
    values.update(layout_columns(page if layout is not None else None, read, normalization, hyp_format))
    return values


def region_columns(
    layout, text: str | None, normalization: str = "markdown", output_format_: str = "markdown"
) -> dict:
    """``region_cer`` and ``reading_order`` for a page whose ground truth has regions (ALTO, PAGE, hOCR)."""
    if layout is None or text is None:
        return {"region_cer": None, "reading_order": None}
    result = score_regions(layout, text, normalization, output_format_)
    return {"region_cer": result.region_cer, "reading_order": result.reading_order}


def layout_columns(page, read: Reading | None, normalization: str, text_format: str) -> dict:
    """The ``layout_*`` columns of an answer with boxes on a page with regions (``scoring.layout``)."""
    if page is None or read is None or read.blocks is None:
        return dict.fromkeys(LAYOUT_COLUMNS)
    s = score_layout(page, read, normalization, text_format)
    return {"layout_precision": s.precision, "layout_recall": s.recall, "layout_f1": s.f1,
            "layout_iou": s.mean_iou, "layout_block_cer": s.block_cer, "layout_reading_order": s.reading_order,
            "layout_labels": s.label_accuracy}  # fmt: skip


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
    furniture: Furniture = "keep",
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
        rows.append(row(result, normalization, pages.get((result.document, result.page)), furniture))
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
