"""``start_local()``: the CPU engine server of this package in a background process (no account needed).

The server answers as vLLM does (``lighton_lab.engines``), so everything downstream runs unchanged against
it or a GPU endpoint.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from lighton_lab.config import ENV_API_KEY
from lighton_lab.endpoints.endpoint import Endpoint, free_port, launch, wait_healthy
from lighton_lab.engines.options import API_KEY_ENV, LocalServerOptions
from lighton_lab.engines.registry import DEFAULT_ENGINES
from lighton_lab.errors import EndpointError


def start_local(
    engines: str | list[str] = DEFAULT_ENGINES,
    workers: int | None = None,
    port: int | None = None,
    faults: str | dict | None = None,
    timeout: float = 180.0,
    wait: bool = True,
    require_api_key: bool = False,
    served_model_names: dict[str, str] | None = None,
    **options,
) -> Endpoint:
    """Start the CPU engine server in the background and return its Endpoint once healthy.

    The process stops at ``endpoint.stop()`` or when the interpreter exits. ``faults`` takes the
    ``--faults`` syntax or a dict of ``engines.faults.Faults`` fields. ``wait=False`` returns at once
    (for cold-start tests: the port refuses connections until the server is up). ``require_api_key``
    makes the server demand ``LIGHTON_LAB_API_KEY`` as a bearer token, like ``vllm serve --api-key``;
    the key travels to the server process through its environment, never its command line.
    ``served_model_names`` ({alias: engine}) serves an engine under another name too, as vLLM's
    ``--served-model-name`` does, so a client wired to ``lightonai/LightOnOCR-2-1B`` can use the baseline.
    Other keywords are fields of ``LocalServerOptions`` (``cache_size``, ``max_payload_mb``,
    ``max_model_len``, ``start_delay``), with its defaults.
    """
    if isinstance(faults, dict):
        faults = ",".join(f"{k}={v}" for k, v in faults.items())
    settings = LocalServerOptions(
        engines=",".join(engines) if isinstance(engines, (list, tuple)) else engines,
        workers=workers,
        faults=faults or "",
        served_model_names=tuple((served_model_names or {}).items()),
        **options,
    )
    for attempt in range(1, 4):  # a free port can be taken by someone else before the server binds it
        try:
            return _start_local_once(
                replace(settings, port=port or free_port()), timeout, wait, require_api_key
            )
        except EndpointError as exc:
            if port or attempt == 3 or "address already in use" not in str(exc).lower():
                raise


def _start_local_once(
    options: LocalServerOptions, timeout: float, wait: bool, require_api_key: bool
) -> Endpoint:
    cmd = [sys.executable, "-m", "lighton_lab.engines.server", "--port", str(options.port), *options.argv()]
    env = dict(os.environ)
    env.pop(API_KEY_ENV, None)
    headers = {}
    if require_api_key:
        key = os.environ.get(ENV_API_KEY)
        if not key:
            raise EndpointError(f"require_api_key=True needs {ENV_API_KEY} in the environment")
        env[API_KEY_ENV] = key
        headers = {"Authorization": f"Bearer {key}"}
    endpoint = Endpoint(
        f"http://127.0.0.1:{options.port}", "", headers, "local", server=launch(cmd, "local", env)
    )
    if not wait:
        return endpoint
    wait_healthy(endpoint, timeout)
    capacity = options.workers or os.cpu_count() or 2  # one page per worker process
    return replace(endpoint.described(), capacity=capacity)
