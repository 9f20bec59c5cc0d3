"""GPUs Modal offers, their prices and the batch sizes the app starts from; published throughput figures.

``max_num_seqs`` is a starting point, not a measurement: vLLM 0.30.0's own default is 1024 sequences on
cards of 70 GiB or more (256 below), and nothing measured says which is faster for a ~1B VLM. Measure the
knee with ``lighton-lab bench --parallel 32,64,128,256`` and pass ``start_modal(max_num_seqs=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lighton_lab.errors import ModelError, UsageError
from lighton_lab.models.variants import resolve_model


@dataclass(frozen=True)
class GPU:
    name: str  # Modal's GPU type string
    cuda_arch: str  # compute capability: FLASHINFER_CUDA_ARCH_LIST for the sampler's JIT kernels
    memory_gb: int
    usd_per_hour: float  # Modal's list price, May 2026 (modal.com/pricing); override in cost()
    max_num_seqs: int  # vLLM's batch (--max-num-seqs) to start from for a ~1B model with 1540 px pages
    max_count: int = 8  # GPUs Modal attaches to one container of this type (guide: A10 up to 4, others 8)
    note: str = ""


GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("T4", "7.5", 16, 0.59, 16, note="no bfloat16: vLLM runs float16; slow, for trying things out"),
        GPU("L4", "8.9", 24, 0.80, 32),
        GPU("A10", "8.6", 24, 1.10, 32, max_count=4),
        GPU("L40S", "8.9", 48, 1.95, 64),
        GPU("A100-40GB", "8.0", 40, 2.10, 64, note="the user guide measured 1.23 pages/s at 64 parallel"),
        GPU("A100-80GB", "8.0", 80, 2.50, 128),
        GPU("H100", "9.0", 80, 3.95, 128, note="LightOn publishes 5.71 pages/s for LightOnOCR-1B"),
        GPU("H200", "9.0", 141, 4.54, 256),
        GPU("B200", "10.0", 180, 6.25, 256),
    )
}


DEFAULT_GPU = "A100-40GB"


# Modal bills CPU and memory on top of the GPU, and applies region multipliers: every dollar figure made
# from this table is a lower bound, and is printed as one.
COST_NOTE = "GPU list price only; Modal adds CPU, memory and region multipliers: a lower bound"


@dataclass(frozen=True)
class Throughput:
    """A published throughput figure, used for estimates until a ``bench`` of your own is stored."""

    model: str
    gpu: str
    pages_per_s: float
    source: str


PUBLISHED_THROUGHPUT = (
    Throughput("1b", "H100", 5.71, "LightOn, LightOnOCR-1B model card"),
    Throughput("1b", "A100-40GB", 1.23, "the LightOnOCR user guide's benchmark, 64 parallel requests"),
)


def published_throughput(model: str | None = None, gpu: str | None = None) -> Throughput | None:
    """The published figure for this model and GPU, or None: never a figure for another pair."""
    variant, card = resolve_model(model), resolve_gpu(gpu)
    for figure in PUBLISHED_THROUGHPUT:
        if resolve_model(figure.model) == variant and figure.gpu == card.name:
            return figure
    return None


def resolve_gpu(name: str | None = None) -> GPU:
    name = (name or DEFAULT_GPU).strip()
    for gpu in GPUS.values():
        if gpu.name.lower() == name.lower() or (name.upper() == "A100" and gpu.name == "A100-40GB"):
            return gpu
    raise ModelError(f"unknown GPU {name!r}. Known: {', '.join(GPUS)}.")


def cost_per_1000_pages(
    pages_per_second: float, gpu: str | GPU, gpu_count: int = 1, usd_per_hour: float | None = None
) -> float:
    """Dollars for 1,000 pages at a measured throughput on a GPU of the table."""
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    if pages_per_second <= 0:
        raise UsageError("pages_per_second must be positive: measure it with `lighton-lab bench` first")
    hourly = (usd_per_hour if usd_per_hour is not None else card.usd_per_hour) * gpu_count
    return hourly / 3600 / pages_per_second * 1000
