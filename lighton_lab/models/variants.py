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

from lighton_lab.errors import ModelError

# The release LightOn's own client pins as working for every generation (with transformers 5.16.1):
# vLLM 0.27.1 makes the models loop, and transformers 5.17 breaks the 1B models on 0.30.0.
VLLM_VERSION = "0.30.0"
TRANSFORMERS_VERSION = "5.16.1"

CARD_FLAGS = (
    "--limit-mm-per-prompt",
    '{"image": 1}',
    "--mm-processor-cache-gb",
    "0",
    "--no-enable-prefix-caching",
)
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
        Variant(
            "1b",
            "lightonai/LightOnOCR-1B-1025",
            151_936,
            "default; full vocabulary, every language",
            1,
            attention_heads=16,
            aliases=("lightonocr-1b",),
        ),
        Variant(
            "32k",
            "lightonai/LightOnOCR-0.9B-32k-1025",
            32_768,
            "pruned 32k vocabulary, European languages",
            1,
            attention_heads=16,
            aliases=("lightonocr-1b-32k", "lightonai/lightonocr-1b-32k", "0.9b-32k"),
        ),
        Variant(
            "16k",
            "lightonai/LightOnOCR-0.9B-16k-1025",
            16_384,
            "pruned 16k vocabulary, European languages",
            1,
            attention_heads=16,
            aliases=("lightonocr-1b-16k", "lightonai/lightonocr-1b-16k", "0.9b-16k"),
        ),
        Variant(
            "2-1b",
            "lightonai/LightOnOCR-2-1B",
            151_936,
            "second generation, best accuracy of the 1B models",
            2,
            attention_heads=16,
            aliases=("2", "lightonocr-2", "lightonocr-2-1b"),
        ),
        Variant(
            "3-1b",
            "lightonai/LightOnOCR-3-1B",
            None,
            "third generation, Pixtral encoder; grounding mode",
            3,
            top_p=1.0,
            temperature=0.1,
            vllm_flags=("--max-model-len", "16384"),
            aliases=("lightonocr-3-1b",),
        ),
        Variant(
            "3-0.8b",
            "lightonai/LightOnOCR-3-0.8B",
            None,
            "third generation, Qwen3.5-based; 2048 px pages",
            3,
            longest_edge=2048,
            top_p=1.0,
            temperature=0.1,
            vllm_flags=("--max-model-len", "18000") + NO_THINKING,
            aliases=("lightonocr-3-0.8b",),
        ),
        Variant(
            "3-4b",
            "lightonai/LightOnOCR-3-4B",
            None,
            "third generation, largest; 2048 px pages",
            3,
            longest_edge=2048,
            top_p=1.0,
            temperature=0.1,
            vllm_flags=("--max-model-len", "18000") + NO_THINKING,
            aliases=("lightonocr-3-4b",),
        ),
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
        return (
            resolve_model(served_name)
            if "lightonocr" in served_name.lower() or served_name.lower() in _lookup()
            else None
        )
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
        return Variant(short, hf_id, None, f"custom checkpoint (generation {generation} profile)", generation)
    pixtral = "lightonocr-3-1b" in lower
    flags = ("--max-model-len", "16384") if pixtral else ("--max-model-len", "18000") + NO_THINKING
    return Variant(
        short,
        hf_id,
        None,
        "custom checkpoint (LightOnOCR-3 profile)",
        generation,
        longest_edge=1540 if pixtral else 2048,
        top_p=1.0,
        temperature=0.1,
        vllm_flags=flags,
    )
