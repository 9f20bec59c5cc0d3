"""What the notebooks' parameter cells need: one call from a backend name to a live Endpoint.

Precedence is the workbench's one rule (``lighton_lab.config``): the ``backend`` argument wins; when it is
``None`` (the notebooks' default), ``$LIGHTON_LAB_BACKEND`` or ``$LIGHTON_LAB_URL`` decide, so a headless
run (papermill, nbmake, CI) can point every notebook elsewhere without editing it; else ``"local"``.
"""

from __future__ import annotations

from lighton_lab.config import ENV_BACKEND, ENV_URL, setting
from lighton_lab.endpoints.connect import connect
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.endpoints.local import start_local
from lighton_lab.endpoints.modal_serve import start_modal
from lighton_lab.engines.registry import DEFAULT_ENGINES
from lighton_lab.errors import UsageError
from lighton_lab.models.gpus import DEFAULT_GPU
from lighton_lab.models.variants import DEFAULT_MODEL


def choose_backend(backend: str | None = None, env: dict[str, str] | None = None) -> str:
    """``backend``, else ``$LIGHTON_LAB_BACKEND``, else ``$LIGHTON_LAB_URL``, else ``"local"``."""
    return setting(backend, ENV_BACKEND, None, env) or setting(None, ENV_URL, "local", env)


def open_endpoint(
    backend: str | None = None,
    model: str = DEFAULT_MODEL,
    gpu: str = DEFAULT_GPU,
    engines: str = DEFAULT_ENGINES,
    **modal_options,
) -> Endpoint:
    """``"local"``: the CPU engine server; ``"modal"``: ``modal serve serve/app.py`` for ``model`` on ``gpu``;
    a URL: an existing deployment; ``None``: the environment decides (see the module docstring)."""
    backend = choose_backend(backend)
    if backend == "local":
        return start_local(engines=engines)
    if backend == "modal":
        return start_modal(model=model, gpu=gpu, **modal_options)
    if backend.startswith(("http://", "https://")):
        return connect(backend)
    raise UsageError(f"BACKEND must be 'local', 'modal' or an http(s) URL, got {backend!r}")
