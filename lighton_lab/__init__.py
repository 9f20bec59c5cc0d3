"""lighton-lab: a research workbench for document OCR with LightOnOCR (vLLM on Modal) and CPU baselines.

The public names below are imported lazily: ``import lighton_lab`` stays cheap, and the Modal container
(which only needs ``lighton_lab.models``) never imports pandas or the OCR engines.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Corpus": "corpus", "Page": "corpus",
    "render_page": "render", "to_data_url": "render", "image_hash": "render", "render_info": "render",
    "normalize": "metrics", "score": "metrics", "aggregate": "metrics", "Score": "metrics", "Aggregate": "metrics",
    "resolve_model": "models", "resolve_gpu": "models", "GPUS": "models", "VARIANTS": "models",
    "vllm_command": "models", "cost_per_1000_pages": "models",
    "Endpoint": "endpoints", "start_local": "endpoints", "start_modal": "endpoints", "start_vllm": "endpoints",
    "connect": "endpoints",
    "OCRClient": "client", "AsyncOCRClient": "client", "OCRResult": "client", "RetryPolicy": "client",
    "Store": "store",
    "Grid": "grid", "run_sweep": "sweep",
    "summary": "frames", "compare": "frames", "best": "frames", "rescore": "frames", "worst_pages": "frames",
    "from_store": "frames",
    "ServeConfig": "serving",
    "benchmark": "bench", "client_capacity": "bench",
    "write_report": "report",
    "LabError": "errors", "CorpusError": "errors", "RenderError": "errors", "ModelError": "errors",
    "EndpointError": "errors", "OCRRequestError": "errors", "StoreError": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'lighton_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
