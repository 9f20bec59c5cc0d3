"""What the notebooks' parameter cells need: one call from a backend name to a live Endpoint.

Precedence (written once, here): the ``LIGHTON_LAB_URL`` and ``LIGHTON_LAB_BACKEND`` environment
variables override the notebook's ``BACKEND`` parameter, so a headless run (papermill, nbmake, CI) can
point every notebook elsewhere without editing it.
"""

from __future__ import annotations

import os

from .endpoints import Endpoint, connect, start_local, start_modal
from .engines.registry import DEFAULT_ENGINES
from .models import DEFAULT_GPU, DEFAULT_MODEL


def choose_backend(backend: str = "local") -> str:
    return os.environ.get("LIGHTON_LAB_URL") or os.environ.get("LIGHTON_LAB_BACKEND") or backend


def open_endpoint(backend: str = "local", model: str = DEFAULT_MODEL, gpu: str = DEFAULT_GPU,
                  engines: str = DEFAULT_ENGINES, **modal_options) -> Endpoint:
    """``"local"``: the CPU engine server; ``"modal"``: ``modal serve serve/app.py`` for ``model`` on ``gpu``;
    a URL: an existing deployment."""
    backend = choose_backend(backend)
    if backend == "local":
        return start_local(engines=engines)
    if backend == "modal":
        return start_modal(model=model, gpu=gpu, **modal_options)
    if backend.startswith(("http://", "https://")):
        return connect(backend)
    raise ValueError(f"BACKEND must be 'local', 'modal' or an http(s) URL, got {backend!r}")
