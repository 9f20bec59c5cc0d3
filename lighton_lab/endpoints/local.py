"""``start_local()``: the CPU engine server of this package in a background process (no account needed).

The server answers as vLLM does (``lighton_lab.engines``), so everything downstream runs unchanged against
it or a GPU endpoint.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from lighton_lab.endpoints.endpoint import Endpoint, free_port, launch, wait_healthy
from lighton_lab.engines.registry import DEFAULT_ENGINES
from lighton_lab.errors import EndpointError


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
            return _start_local_once(
                engines,
                workers,
                port or free_port(),
                faults,
                cache_size,
                max_payload_mb,
                start_delay,
                timeout,
                wait,
                require_api_key,
                served_model_names or {},
            )
        except EndpointError as exc:
            if port or attempt == 3 or "address already in use" not in str(exc).lower():
                raise


def _start_local_once(
    engines: str,
    workers: int | None,
    port: int,
    faults: str | None,
    cache_size: int,
    max_payload_mb: float,
    start_delay: float,
    timeout: float,
    wait: bool,
    require_api_key: bool,
    aliases: dict[str, str],
) -> Endpoint:
    cmd = [
        sys.executable,
        "-m",
        "lighton_lab.engines.server",
        "--port",
        str(port),
        "--engines",
        engines,
        "--cache-size",
        str(cache_size),
        "--max-payload-mb",
        str(max_payload_mb),
    ]
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
