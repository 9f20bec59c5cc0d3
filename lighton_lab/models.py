"""LightOnOCR variants and GPUs: one source of truth for serve/app.py, start_vllm, the client and costs.

| short name | Hugging Face id                      | vocab   | page size | extra vLLM flags                         |
|------------|--------------------------------------|---------|-----------|------------------------------------------|
| 1b         | lightonai/LightOnOCR-1B-1025         | 151,936 | 1540 px   |                                          |
| 32k        | lightonai/LightOnOCR-0.9B-32k-1025   | 32,768  | 1540 px   |                                          |
| 16k        | lightonai/LightOnOCR-0.9B-16k-1025   | 16,384  | 1540 px   |                                          |
| 2-1b       | lightonai/LightOnOCR-2-1B            | 151,936 | 1540 px   |                                          |
| 3-1b       | lightonai/LightOnOCR-3-1B            |         | 1540 px   | --max-model-len 16384                    |
| 3-0.8b     | lightonai/LightOnOCR-3-0.8B          |         | 2048 px   | --max-model-len 18000, thinking off      |
| 3-4b       | lightonai/LightOnOCR-3-4B            |         | 2048 px   | --max-model-len 18000, thinking off      |

"32k" and "16k" are what users call the pruned-vocabulary models; the model cards display them as
``LightOnOCR-1B-32k`` / ``-16k``, which are not repository ids: both spellings map to the ``0.9B-...-1025``
ids. Any other ``owner/name`` passes through (newer releases, fine-tunes) with a profile guessed from
its name the way LightOn's own client does (LightOnOCR-3 at 2048 px when the name says nothing).

Every variant is served with the model cards' flags: one image per prompt, no multimodal processor
cache and no prefix caching (each page is a new image: those caches only cost memory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import ModelError

# The release LightOn's own client pins as working for every generation (with transformers 5.16.1):
# vLLM 0.27.1 makes the models loop, and transformers 5.17 breaks the 1B models on 0.30.0.
VLLM_VERSION = "0.30.0"
TRANSFORMERS_VERSION = "5.16.1"

CARD_FLAGS = ("--limit-mm-per-prompt", '{"image": 1}', "--mm-processor-cache-gb", "0", "--no-enable-prefix-caching")
NO_THINKING = ("--default-chat-template-kwargs", '{"enable_thinking": false}')


@dataclass(frozen=True)
class Variant:
    short_name: str
    hf_id: str
    vocab_size: int | None
    note: str
    generation: int | None
    longest_edge: int = 1540  # page size the model was trained on, px
    top_p: float = 0.9  # the card's sampling (with temperature 0.2)
    temperature: float = 0.2
    vllm_flags: tuple[str, ...] = field(default=())
    aliases: tuple[str, ...] = field(default=())

    @property
    def app_name(self) -> str:
        """Modal app name: one per variant, so several can serve side by side."""
        return "lightonocr-" + re.sub(r"[^a-z0-9]+", "-", self.short_name.lower()).strip("-")


VARIANTS: dict[str, Variant] = {
    v.short_name: v
    for v in (
        Variant("1b", "lightonai/LightOnOCR-1B-1025", 151_936, "default; full vocabulary, every language", 1,
                aliases=("lightonocr-1b",)),
        Variant("32k", "lightonai/LightOnOCR-0.9B-32k-1025", 32_768, "pruned 32k vocabulary, European languages", 1,
                aliases=("lightonocr-1b-32k", "lightonai/lightonocr-1b-32k", "0.9b-32k")),
        Variant("16k", "lightonai/LightOnOCR-0.9B-16k-1025", 16_384, "pruned 16k vocabulary, European languages", 1,
                aliases=("lightonocr-1b-16k", "lightonai/lightonocr-1b-16k", "0.9b-16k")),
        Variant("2-1b", "lightonai/LightOnOCR-2-1B", 151_936, "second generation, best accuracy of the 1B models", 2,
                aliases=("2", "lightonocr-2", "lightonocr-2-1b")),
        Variant("3-1b", "lightonai/LightOnOCR-3-1B", None, "third generation, Pixtral encoder; grounding mode", 3,
                top_p=1.0, temperature=0.1, vllm_flags=("--max-model-len", "16384"), aliases=("lightonocr-3-1b",)),
        Variant("3-0.8b", "lightonai/LightOnOCR-3-0.8B", None, "third generation, Qwen3.5-based; 2048 px pages", 3,
                longest_edge=2048, top_p=1.0, temperature=0.1, vllm_flags=("--max-model-len", "18000") + NO_THINKING,
                aliases=("lightonocr-3-0.8b",)),
        Variant("3-4b", "lightonai/LightOnOCR-3-4B", None, "third generation, largest; 2048 px pages", 3,
                longest_edge=2048, top_p=1.0, temperature=0.1, vllm_flags=("--max-model-len", "18000") + NO_THINKING,
                aliases=("lightonocr-3-4b",)),
    )
}
DEFAULT_MODEL = "1b"


def _lookup() -> dict[str, Variant]:
    table = {}
    for v in VARIANTS.values():
        for name in (v.short_name, v.hf_id, v.hf_id.split("/")[1], *v.aliases):
            table[name.lower()] = v
    return table


def resolve_model(name: str | None = None) -> Variant:
    """A short name, alias or Hugging Face id to its Variant; unknown names list the known ones."""
    name = (name or DEFAULT_MODEL).strip()
    found = _lookup().get(name.lower())
    if found:
        return found
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name):
        return _guess(name)
    known = ", ".join(f"{v.short_name} ({v.hf_id})" for v in VARIANTS.values())
    raise ModelError(f"unknown model {name!r}. Known: {known}; or pass any Hugging Face id as owner/name.")


def _guess(hf_id: str) -> Variant:
    """A profile for an id we do not list, from its name (LightOn's client does the same)."""
    lower = hf_id.lower()
    m = re.search(r"lightonocr-(\d+)-", lower)
    generation = int(m.group(1)) if m else (1 if "lightonocr-1b" in lower else None)
    short = hf_id.split("/")[1].lower()
    if generation in (1, 2):
        return Variant(short, hf_id, None, "custom checkpoint (generation %d profile)" % generation, generation)
    pixtral = "lightonocr-3-1b" in lower
    flags = ("--max-model-len", "16384") if pixtral else ("--max-model-len", "18000") + NO_THINKING
    return Variant(short, hf_id, None, "custom checkpoint (LightOnOCR-3 profile)", generation,
                   longest_edge=1540 if pixtral else 2048, top_p=1.0, temperature=0.1, vllm_flags=flags)


@dataclass(frozen=True)
class GPU:
    name: str  # Modal's GPU type string
    cuda_arch: str  # for TORCH_CUDA_ARCH_LIST
    memory_gb: int
    usd_per_hour: float  # Modal's list price, May 2026 (modal.com/pricing); override in cost()
    max_num_seqs: int  # concurrent sequences vLLM schedules for a ~1B model with 1540 px pages
    note: str = ""


GPUS: dict[str, GPU] = {
    g.name: g
    for g in (
        GPU("T4", "7.5", 16, 0.59, 16, "no bfloat16: vLLM runs float16; slow, for trying things out"),
        GPU("L4", "8.9", 24, 0.80, 32),
        GPU("A10", "8.6", 24, 1.10, 32),
        GPU("L40S", "8.9", 48, 1.95, 64),
        GPU("A100-40GB", "8.0", 40, 2.10, 64, "the user guide measured 1.23 pages/s at 64 parallel"),
        GPU("A100-80GB", "8.0", 80, 2.50, 128),
        GPU("H100", "9.0", 80, 3.95, 128, "LightOn publishes 5.71 pages/s for LightOnOCR-1B"),
        GPU("H200", "9.0", 141, 4.54, 256),
        GPU("B200", "10.0", 180, 6.25, 256),
    )
}
DEFAULT_GPU = "A100-40GB"


def resolve_gpu(name: str | None = None) -> GPU:
    name = (name or DEFAULT_GPU).strip()
    for gpu in GPUS.values():
        if gpu.name.lower() == name.lower() or (name.upper() == "A100" and gpu.name == "A100-40GB"):
            return gpu
    raise ModelError(f"unknown GPU {name!r}. Known: {', '.join(GPUS)}.")


def vllm_command(model: str | Variant, port: int = 8000, host: str | None = None, gpu: str | GPU | None = None,
                 gpu_count: int = 1, fast_boot: bool = False, max_num_seqs: int | None = None,
                 served_model_name: str | None = None, revision: str | None = None) -> list[str]:
    """The exact ``vllm serve`` argv for a variant, as the model cards give it.

    >>> " ".join(vllm_command("32k", gpu="H100", fast_boot=True))  # doctest: +NORMALIZE_WHITESPACE
    'vllm serve lightonai/LightOnOCR-0.9B-32k-1025 --port 8000 --limit-mm-per-prompt {"image": 1}
     --mm-processor-cache-gb 0 --no-enable-prefix-caching --max-num-seqs 128 --enforce-eager'
    """
    variant = model if isinstance(model, Variant) else resolve_model(model)
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    cmd = ["vllm", "serve", variant.hf_id]
    if revision:
        cmd += ["--revision", revision]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    if host:
        cmd += ["--host", host]
    cmd += ["--port", str(port), *CARD_FLAGS, *variant.vllm_flags]
    cmd += ["--max-num-seqs", str(max_num_seqs or card.max_num_seqs * gpu_count)]
    if fast_boot:
        cmd.append("--enforce-eager")  # no torch.compile, no CUDA graphs: boots in ~1 min instead of ~3
    if gpu_count > 1:
        cmd += ["--tensor-parallel-size", str(gpu_count)]
    return cmd


def cost_per_1000_pages(pages_per_second: float, gpu: str | GPU, gpu_count: int = 1,
                        usd_per_hour: float | None = None) -> float:
    """Dollars for 1,000 pages at a measured throughput on a GPU of the table."""
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    if pages_per_second <= 0:
        raise ValueError("pages_per_second must be positive: measure it with `lighton-lab bench` first")
    hourly = (usd_per_hour if usd_per_hour is not None else card.usd_per_hour) * gpu_count
    return hourly / 3600 / pages_per_second * 1000
