"""``vllm serve`` on this machine's own GPU, with the same command as the Modal app."""

from __future__ import annotations

import shutil
from dataclasses import replace

from lighton_lab.config import Parallelism
from lighton_lab.endpoints.endpoint import (
    Endpoint,
    Server,
    auth_headers,
    launch,
    progress_printer,
    wait_healthy,
)
from lighton_lab.endpoints.modal_serve import COLD_START_S
from lighton_lab.errors import EndpointError
from lighton_lab.models.gpus import DEFAULT_GPU, resolve_gpu
from lighton_lab.models.serving import batch_capacity, vllm_command
from lighton_lab.models.variants import DEFAULT_MODEL, resolve_model


def start_vllm(
    model: str = DEFAULT_MODEL,
    port: int = 8000,
    host: str = "127.0.0.1",
    gpu: str = DEFAULT_GPU,
    gpu_count: int = 1,
    fast_boot: bool = False,
    max_num_seqs: int | None = None,
    parallelism: Parallelism = "data",
    timeout: float = COLD_START_S,
    dry_run: bool = False,
) -> Endpoint:
    """``vllm serve`` on this machine with the same flags as the Modal app (``models.vllm_command``).

    ``dry_run=True`` returns the Endpoint with its ``command`` and starts nothing.
    """
    variant, card = resolve_model(model), resolve_gpu(gpu)
    cmd = vllm_command(
        variant,
        port=port,
        host=host,
        gpu=card,
        gpu_count=gpu_count,
        fast_boot=fast_boot,
        max_num_seqs=max_num_seqs,
        parallelism=parallelism,
    )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    endpoint = Endpoint(
        f"http://{shown_host}:{port}",
        variant.hf_id,
        auth_headers(),
        "vllm",
        card.name,
        (variant.hf_id,),
        capacity=batch_capacity(card, gpu_count, parallelism, max_num_seqs),
        server=Server(cmd),
    )
    if dry_run:
        return endpoint
    if shutil.which("vllm") is None:
        raise EndpointError(
            "vLLM is not installed here: on a machine with an NVIDIA GPU run "
            "pip install 'lighton-lab[vllm]', or use start_modal() / start_local()."
        )
    endpoint = replace(endpoint, server=launch(cmd, "vllm"))
    wait_healthy(endpoint, timeout, progress=progress_printer())
    return endpoint
