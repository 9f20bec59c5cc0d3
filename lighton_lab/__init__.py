"""lighton-lab: a research workbench for document OCR with LightOnOCR (vLLM on Modal) and CPU baselines.

Every public name is imported from here, ``from lighton_lab import Corpus, Grid, run_sweep``, grouped below
by the step of the flow it belongs to (corpus -> pages -> endpoint -> requests -> store -> scores ->
DataFrame -> views). The names are loaded lazily, so ``import lighton_lab`` stays cheap and the Modal
container (which needs only ``lighton_lab.models``) never imports pandas or the OCR engines; the
``TYPE_CHECKING`` block below is the same table as real imports, for editors and type checkers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"

# name -> the module that defines it (one import path per name)
_EXPORTS = {
    # corpus: documents and their ground truth
    "Corpus": "corpus.corpus",
    "Page": "corpus.corpus",
    # pages: rendering
    "render_page": "render",
    "render_info": "render",
    "to_data_url": "render",
    "image_hash": "render",
    # models and where they run
    "resolve_model": "models.variants",
    "VARIANTS": "models.variants",
    "resolve_gpu": "models.gpus",
    "GPUS": "models.gpus",
    "PUBLISHED_THROUGHPUT": "models.gpus",
    "cost_per_1000_pages": "models.gpus",
    "ServeConfig": "models.serving",
    "FAMILIES": "models.variants",
    "parse_grounding": "models.grounding",
    "Block": "models.grounding",
    # endpoints
    "Endpoint": "endpoints.endpoint",
    "connect": "endpoints.connect",
    "start_local": "endpoints.local",
    "start_modal": "endpoints.modal_serve",
    "start_vllm": "endpoints.vllm_serve",
    "open_endpoint": "endpoints.open",
    # requests
    "OCRClient": "client.ocr",
    "AsyncOCRClient": "client.ocr",
    "OCRResult": "client.ocr",
    "RetryPolicy": "client.ocr",
    # the store
    "Store": "store.store",
    # scores
    "score": "scoring.text",
    "Score": "scoring.text",
    "normalize": "scoring.text",
    "aggregate": "scoring.text",
    "Aggregate": "scoring.text",
    "score_layout": "scoring.layout",
    "LayoutScore": "scoring.layout",
    # sweeps and DataFrames
    "Grid": "sweep.grid",
    "run_sweep": "sweep.run",
    "plan_sweep": "sweep.plan",
    "load_results": "frames.rows",
    "rescore": "frames.rows",
    "summary": "frames.stats",
    "compare": "frames.stats",
    "compact": "frames.stats",
    "differences": "frames.stats",
    "best": "frames.stats",
    "worst_pages": "frames.stats",
    # views
    "SweepPanel": "views.widgets",
    "PageViewer": "views.widgets",
    "side_by_side": "views.widgets",
    "cer_vs_dpi": "views.plots",
    "cer_distribution": "views.plots",
    "cer_change_vs_dpi": "views.plots",
    "layout_vs_dpi": "views.plots",
    "findings": "views.findings",
    "write_report": "views.report",
    "errors_by_class": "views.analysis",
    "errors_by_document": "views.analysis",
    "confusion_pairs": "views.analysis",
    # benchmarks
    "benchmark": "benchmarks.throughput",
    "run_olmocr_bench": "benchmarks.olmocr_bench",
    "olmocr_bench_table": "benchmarks.olmocr_bench",
    "published_olmocr_bench": "benchmarks.olmocr_bench",
    # errors
    "LabError": "errors",
    "CorpusError": "errors",
    "RenderError": "errors",
    "ModelError": "errors",
    "EndpointError": "errors",
    "OCRRequestError": "errors",
    "StoreError": "errors",
}

if TYPE_CHECKING:
    from lighton_lab.benchmarks.olmocr_bench import (
        olmocr_bench_table,
        published_olmocr_bench,
        run_olmocr_bench,
    )
    from lighton_lab.benchmarks.throughput import benchmark
    from lighton_lab.client.ocr import AsyncOCRClient, OCRClient, OCRResult, RetryPolicy
    from lighton_lab.corpus.corpus import Corpus, Page
    from lighton_lab.endpoints.connect import connect
    from lighton_lab.endpoints.endpoint import Endpoint
    from lighton_lab.endpoints.local import start_local
    from lighton_lab.endpoints.modal_serve import start_modal
    from lighton_lab.endpoints.open import open_endpoint
    from lighton_lab.endpoints.vllm_serve import start_vllm
    from lighton_lab.errors import (
        CorpusError,
        EndpointError,
        LabError,
        ModelError,
        OCRRequestError,
        RenderError,
        StoreError,
    )
    from lighton_lab.frames.rows import load_results, rescore
    from lighton_lab.frames.stats import best, compact, compare, differences, summary, worst_pages
    from lighton_lab.models.gpus import GPUS, PUBLISHED_THROUGHPUT, cost_per_1000_pages, resolve_gpu
    from lighton_lab.models.grounding import Block, parse_grounding
    from lighton_lab.models.serving import ServeConfig
    from lighton_lab.models.variants import FAMILIES, VARIANTS, resolve_model
    from lighton_lab.render import image_hash, render_info, render_page, to_data_url
    from lighton_lab.scoring.layout import LayoutScore, score_layout
    from lighton_lab.scoring.text import Aggregate, Score, aggregate, normalize, score
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.plan import plan_sweep
    from lighton_lab.sweep.run import run_sweep
    from lighton_lab.views.analysis import confusion_pairs, errors_by_class, errors_by_document
    from lighton_lab.views.findings import findings
    from lighton_lab.views.plots import cer_change_vs_dpi, cer_distribution, cer_vs_dpi, layout_vs_dpi
    from lighton_lab.views.report import write_report
    from lighton_lab.views.widgets import PageViewer, SweepPanel, side_by_side

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"lighton_lab.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lighton_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
