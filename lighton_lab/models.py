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
    """One checkpoint and the profile its authors serve and query it with.

    ``longest_edge``, ``temperature``, ``top_p`` and ``max_tokens`` are what a request uses when the
    caller leaves them at ``None`` (see ``request_defaults``). ``max_tokens=None`` means the request
    carries no limit and vLLM allows the rest of ``--max-model-len``, as LightOn's own client does: a
    fixed 4096 would cut dense pages (tables, two columns of small print) that the model reads whole.
    """

    short_name: str
    hf_id: str
    vocab_size: int | None
    note: str
    generation: int | None
    longest_edge: int = 1540  # page size the model was trained on, px (Pixtral-based models)
    top_p: float = 0.9  # the model cards' sampling for generations 1 and 2
    temperature: float = 0.2  # the cards' value; LightOnOCR-3: 0.1 ("Use temperature 0.1, not greedy")
    max_tokens: int | None = None  # None: not sent, the server derives it from --max-model-len
    attention_heads: int | None = None  # decoder heads: tensor parallelism must divide them
    vllm_flags: tuple[str, ...] = field(default=())
    aliases: tuple[str, ...] = field(default=())

    @property
    def app_name(self) -> str:
        """Modal app name: one per variant, so several can serve side by side (Modal allows 64 characters)."""
        return app_name_for(self.short_name)

    def request_defaults(self) -> dict:
        """The request parameters of this model's profile (``max_tokens`` only when the profile sets one)."""
        defaults = {"temperature": self.temperature, "top_p": self.top_p}
        if self.max_tokens is not None:
            defaults["max_tokens"] = self.max_tokens
        return defaults


MODAL_NAME_LIMIT = 64  # modal._utils.name_utils.is_valid_object_name


def app_name_for(short_name: str) -> str:
    """``lightonocr-<name>``, shortened with a hash suffix when a long Hugging Face name would pass 64."""
    import hashlib

    name = "lightonocr-" + re.sub(r"[^a-z0-9]+", "-", short_name.lower()).strip("-")
    if len(name) <= MODAL_NAME_LIMIT:
        return name
    digest = hashlib.sha256(short_name.encode()).hexdigest()[:8]
    return name[: MODAL_NAME_LIMIT - 9].rstrip("-") + "-" + digest


VARIANTS: dict[str, Variant] = {
    v.short_name: v
    for v in (
        Variant("1b", "lightonai/LightOnOCR-1B-1025", 151_936, "default; full vocabulary, every language", 1,
                attention_heads=16, aliases=("lightonocr-1b",)),
        Variant("32k", "lightonai/LightOnOCR-0.9B-32k-1025", 32_768, "pruned 32k vocabulary, European languages", 1,
                attention_heads=16, aliases=("lightonocr-1b-32k", "lightonai/lightonocr-1b-32k", "0.9b-32k")),
        Variant("16k", "lightonai/LightOnOCR-0.9B-16k-1025", 16_384, "pruned 16k vocabulary, European languages", 1,
                attention_heads=16, aliases=("lightonocr-1b-16k", "lightonai/lightonocr-1b-16k", "0.9b-16k")),
        Variant("2-1b", "lightonai/LightOnOCR-2-1B", 151_936, "second generation, best accuracy of the 1B models", 2,
                attention_heads=16, aliases=("2", "lightonocr-2", "lightonocr-2-1b")),
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


def profile_for(served_name: str | None) -> Variant | None:
    """The LightOnOCR profile of a served model name, or None for anything else (the local engines).

    >>> profile_for("lightonai/LightOnOCR-3-4B").longest_edge, profile_for("rapidocr/ppocr-v6")
    (2048, None)
    """
    if not served_name:
        return None
    try:
        return resolve_model(served_name) if "lightonocr" in served_name.lower() or served_name.lower() in _lookup() \
            else None
    except ModelError:
        return None


def output_format(endpoint_kind: str | None) -> str:
    """How an output is written, hence normalised: "text" for the local server's CPU engines (plain lines;
    RapidOCR prints marks like ``**)`` that a Markdown parser would eat), "markdown" for LightOnOCR and other
    vision-language models (Markdown with HTML tables and LaTeX)."""
    return "text" if endpoint_kind == "local" else "markdown"


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
    cuda_arch: str  # compute capability: FLASHINFER_CUDA_ARCH_LIST for the sampler's JIT kernels
    memory_gb: int
    usd_per_hour: float  # Modal's list price, May 2026 (modal.com/pricing); override in cost()
    max_num_seqs: int  # concurrent sequences vLLM schedules for a ~1B model with 1540 px pages
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


def check_parallelism(variant: Variant, gpu: GPU, gpu_count: int, parallelism: str) -> None:
    """Refuse GPU counts that Modal or vLLM would refuse later, after a paid image build and boot."""
    if parallelism not in ("data", "tensor"):
        raise ModelError(f"parallelism must be 'data' or 'tensor', got {parallelism!r}")
    if not 1 <= gpu_count <= gpu.max_count:
        raise ModelError(f"{gpu.name} containers take 1 to {gpu.max_count} GPUs, got {gpu_count}. "
                         "For more throughput raise max_containers instead: each container is one more replica.")
    if parallelism == "tensor" and gpu_count > 1:
        heads = variant.attention_heads
        if heads is None or heads % gpu_count:
            raise ModelError(
                f"tensor parallelism over {gpu_count} GPUs needs the decoder's attention heads "
                f"({heads or 'unknown'} for {variant.hf_id}) to divide evenly. A model this size fits one GPU: "
                "use parallelism='data' (one replica per GPU) or more containers.")


def vllm_command(model: str | Variant, port: int = 8000, host: str | None = None, gpu: str | GPU | None = None,
                 gpu_count: int = 1, fast_boot: bool = False, max_num_seqs: int | None = None,
                 served_model_name: str | None = None, revision: str | None = None,
                 parallelism: str = "data") -> list[str]:
    """The exact ``vllm serve`` argv for a variant, as the model cards give it.

    Several GPUs serve as data-parallel replicas by default (``--data-parallel-size``): a 1B model fits
    one GPU, and replicas add throughput without the communication that tensor parallelism costs.
    ``--max-num-seqs`` is per replica.

    >>> " ".join(vllm_command("32k", gpu="H100", fast_boot=True))  # doctest: +NORMALIZE_WHITESPACE
    'vllm serve lightonai/LightOnOCR-0.9B-32k-1025 --port 8000 --limit-mm-per-prompt {"image": 1}
     --mm-processor-cache-gb 0 --no-enable-prefix-caching --max-num-seqs 128 --enforce-eager'
    """
    variant = model if isinstance(model, Variant) else resolve_model(model)
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    check_parallelism(variant, card, gpu_count, parallelism)
    cmd = ["vllm", "serve", variant.hf_id]
    if revision:
        cmd += ["--revision", revision]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    if host:
        cmd += ["--host", host]
    cmd += ["--port", str(port), *CARD_FLAGS, *variant.vllm_flags]
    cmd += ["--max-num-seqs", str(max_num_seqs or card.max_num_seqs)]
    if fast_boot:
        cmd.append("--enforce-eager")  # no torch.compile, no CUDA graphs: boots in ~1 min instead of ~3
    if gpu_count > 1:
        flag = "--data-parallel-size" if parallelism == "data" else "--tensor-parallel-size"
        cmd += [flag, str(gpu_count)]
    return cmd


def batch_capacity(gpu: str | GPU | None, gpu_count: int = 1, parallelism: str = "data",
                   max_num_seqs: int | None = None) -> int:
    """Requests one container's vLLM runs at once: ``--max-num-seqs`` per replica times the replicas."""
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    replicas = gpu_count if parallelism == "data" else 1
    return (max_num_seqs or card.max_num_seqs) * replicas


def cost_per_1000_pages(pages_per_second: float, gpu: str | GPU, gpu_count: int = 1,
                        usd_per_hour: float | None = None) -> float:
    """Dollars for 1,000 pages at a measured throughput on a GPU of the table."""
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    if pages_per_second <= 0:
        raise ValueError("pages_per_second must be positive: measure it with `lighton-lab bench` first")
    hourly = (usd_per_hour if usd_per_hour is not None else card.usd_per_hour) * gpu_count
    return hourly / 3600 / pages_per_second * 1000

