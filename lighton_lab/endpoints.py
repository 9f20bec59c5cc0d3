"""Where OCR requests go: a running OpenAI-compatible server, and the helpers that start one.

- ``start_local()``: the CPU engine server of this package, in a background process (no account needed).
- ``start_modal()``: ``modal serve serve/app.py`` (or ``modal deploy``) for one LightOnOCR variant
  (``modal_launch``).
- ``start_vllm()``: ``vllm serve`` on this machine's own GPU, with the same flags as the Modal app.
- ``connect(url)``: an existing deployment.

Configuration precedence, everywhere in this module: explicit arguments, then environment variables
(``LIGHTON_LAB_URL``, ``MODAL_KEY``/``MODAL_SECRET`` for Modal proxy auth, ``LIGHTON_LAB_API_KEY`` or
``OPENAI_API_KEY`` for a bearer token), then defaults. Secrets live only in ``Endpoint.headers``, which
never appear in ``repr``, logs, stores or reports.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import replace

import httpx

from .engines.registry import DEFAULT_ENGINES
from .errors import EndpointError
from .modal_launch import COLD_START_S, find_app_id, find_web_url, modal_env, start_modal  # noqa: F401
from .models import DEFAULT_MODEL, batch_capacity, resolve_gpu, resolve_model, vllm_command
from .servers import Endpoint, Server, auth_headers, free_port, launch, progress_printer, wait_healthy  # noqa: F401

__all__ = ["Endpoint", "Server", "auth_headers", "connect", "start_local", "start_modal", "start_vllm",
           "wait_healthy", "free_port", "find_web_url", "find_app_id", "modal_env"]


def connect(url: str | None = None, model: str | None = None, headers: dict[str, str] | None = None,
            gpu: str | None = None, timeout: float = 30.0, capacity: int | None = None) -> Endpoint:
    """An Endpoint for a running server; the model defaults to the first the server lists."""
    url = url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise EndpointError("connect() needs a URL (or LIGHTON_LAB_URL), e.g. https://you--lightonocr-1b-serve.modal.run")
    endpoint = Endpoint(url, model or "", headers if headers is not None else auth_headers(), "remote", gpu,
                        capacity=capacity)
    try:
        served = endpoint.list_models(timeout=timeout)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        if not model:
            raise EndpointError(
                f"{endpoint.base_url}/v1/models did not answer ({exc}). Check the URL, that the app is running "
                "(`modal app list`), and MODAL_KEY/MODAL_SECRET if it requires proxy auth."
            ) from None
        served = []
    return replace(endpoint, models=tuple(served), model=model or served[0])


def start_local(
    engines: str | list[str] = DEFAULT_ENGINES,
    workers: int | None = None,
    port: int | None = None,
    faults: str | dict | None = None,
    cache_size: int = 512,
    max_payload_mb: float = 20.0,
    start_delay: float = 0.0,
    timeout: float = 180.0,
    wait: bool = True,
    require_api_key: bool = False,
    served_model_names: dict[str, str] | None = None,
) -> Endpoint:
    """Start the CPU engine server in the background and return its Endpoint once healthy.

    The process stops at ``endpoint.stop()`` or when the interpreter exits. ``faults`` takes the
    ``--faults`` syntax or a dict of ``engines.faults.Faults`` fields. ``wait=False`` returns at once
    (for cold-start tests: the port refuses connections until the server is up). ``require_api_key``
    makes the server demand ``LIGHTON_LAB_API_KEY`` as a bearer token, like ``vllm serve --api-key``;
    the key travels to the server process through its environment, never its command line.
    ``served_model_names`` ({alias: engine}) serves an engine under another name too, as vLLM's
    ``--served-model-name`` does, so a client wired to ``lightonai/LightOnOCR-2-1B`` can use the baseline.
    """
    if isinstance(engines, (list, tuple)):
        engines = ",".join(engines)
    if isinstance(faults, dict):
        faults = ",".join(f"{k}={v}" for k, v in faults.items())
    for attempt in range(1, 4):  # a free port can be taken by someone else before the server binds it
        try:
            return _start_local_once(engines, workers, port or free_port(), faults, cache_size, max_payload_mb,
                                     start_delay, timeout, wait, require_api_key, served_model_names or {})
        except EndpointError as exc:
            if port or attempt == 3 or "address already in use" not in str(exc).lower():
                raise


def _start_local_once(engines: str, workers: int | None, port: int, faults: str | None, cache_size: int,
                      max_payload_mb: float, start_delay: float, timeout: float, wait: bool,
                      require_api_key: bool, aliases: dict[str, str]) -> Endpoint:
    cmd = [sys.executable, "-m", "lighton_lab.engines.server", "--port", str(port), "--engines", engines,
           "--cache-size", str(cache_size), "--max-payload-mb", str(max_payload_mb)]
    if workers:
        cmd += ["--workers", str(workers)]
    if faults:
        cmd += ["--faults", faults]
    if start_delay:
        cmd += ["--start-delay", str(start_delay)]
    for alias, engine in aliases.items():
        cmd += ["--served-model-name", f"{alias}={engine}"]
    env = dict(os.environ)
    env.pop("LIGHTON_LAB_SERVER_API_KEY", None)
    headers = {}
    if require_api_key:
        key = os.environ.get("LIGHTON_LAB_API_KEY")
        if not key:
            raise EndpointError("require_api_key=True needs LIGHTON_LAB_API_KEY in the environment")
        env["LIGHTON_LAB_SERVER_API_KEY"] = key
        headers = {"Authorization": f"Bearer {key}"}
    endpoint = Endpoint(f"http://127.0.0.1:{port}", "", headers, "local", server=launch(cmd, "local", env))
    if not wait:
        return endpoint
    wait_healthy(endpoint, timeout)
    served = endpoint.list_models()
    return replace(endpoint, models=tuple(served), model=served[0], capacity=_local_capacity(workers))


def _local_capacity(workers: int | None) -> int:
    """The local server runs one page per worker process (default: one per CPU)."""
    return workers or os.cpu_count() or 2


def start_vllm(model: str = DEFAULT_MODEL, port: int = 8000, host: str = "127.0.0.1", gpu: str = "H100",
               gpu_count: int = 1, fast_boot: bool = False, max_num_seqs: int | None = None,
               parallelism: str = "data", timeout: float = COLD_START_S, dry_run: bool = False) -> Endpoint:
    """``vllm serve`` on this machine with the same flags as the Modal app (``models.vllm_command``).

    ``dry_run=True`` returns the Endpoint with its ``command`` and starts nothing.
    """
    variant, card = resolve_model(model), resolve_gpu(gpu)
    cmd = vllm_command(variant, port=port, host=host, gpu=card, gpu_count=gpu_count, fast_boot=fast_boot,
                       max_num_seqs=max_num_seqs, parallelism=parallelism)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    endpoint = Endpoint(f"http://{shown_host}:{port}", variant.hf_id, auth_headers(), "vllm", card.name,
                        (variant.hf_id,), capacity=batch_capacity(card, gpu_count, parallelism, max_num_seqs),
                        server=Server(cmd))
    if dry_run:
        return endpoint
    if shutil.which("vllm") is None:
        raise EndpointError("vLLM is not installed here: on a machine with an NVIDIA GPU run "
                            "pip install 'lighton-lab[vllm]', or use start_modal() / start_local().")
    endpoint = replace(endpoint, server=launch(cmd, "vllm"))
    wait_healthy(endpoint, timeout, progress=progress_printer())
    return endpoint
