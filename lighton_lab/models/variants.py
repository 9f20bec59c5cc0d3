"""The models the workbench serves and asks: every checkpoint of every registered family, by name.

The registry is one line per family (``FAMILY_MODULES``); each family's file holds its checkpoints. A
``Variant`` is one checkpoint with its profile, the family's unless it says otherwise: the page size, the
sampling, the output cap and the modes. Names resolve case-insensitively from the short name, the Hugging
Face id, the id's last part or an alias; "32k" and "16k" are what users call LightOnOCR's pruned-vocabulary
models (the cards display ``LightOnOCR-1B-32k``, not a repository id). Any other ``owner/name`` passes
through as LightOnOCR with a profile guessed from its name, as LightOn's own client guesses one.

Every variant is served by vLLM 0.30.0 with transformers 5.16.1, the pair LightOn pins as working for every
LightOnOCR generation (vLLM 0.27.1 makes the models loop; transformers 5.17 breaks the 1B models on 0.30.0);
vLLM 0.30.0 needs transformers >= 5.10.4, so the older pins of some peers' own stacks cannot apply.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import re
from dataclasses import dataclass, field, replace

from lighton_lab.errors import ModelError
from lighton_lab.models.family import Family, Prompt, Published

VLLM_VERSION = "0.30.0"
TRANSFORMERS_VERSION = "5.16.1"
# One registry line per family: its module in models/families/ (FAMILY and VARIANTS).
FAMILY_MODULES = (
    "lightonocr",
    "olmocr",
    "deepseek",
    "paddleocr_vl",
    "dots",
    "chandra",
    "glm_ocr",
    "nanonets",
)
DEFAULT_MODEL = "1b"
MODAL_NAME_LIMIT = 64  # modal._utils.name_utils.is_valid_object_name


@dataclass(frozen=True)
class Variant:
    """One checkpoint and the profile its authors serve and query it with.

    ``longest_edge``, ``temperature``, ``top_p`` and ``max_tokens`` are what a request uses when the caller
    leaves them at ``None`` (``request_defaults``). ``max_tokens=None`` means the request carries no limit
    and vLLM allows the rest of ``--max-model-len`` (DeepSeek-OCR's profile: see its file); each family's
    cap is its authors' (LightOnOCR: 12,288, their benchmark's), never a fixed 4096 that would cut dense
    pages (tables, two columns of small print) the models read whole.
    """

    short_name: str
    hf_id: str
    family: Family
    note: str = ""
    generation: int | None = None
    vocab_size: int | None = None
    longest_edge: int | None = None
    dpi: float = 200
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    sampling: dict = field(default_factory=dict)  # the family's other sampling fields (top_k, ...)
    modes: tuple[str, ...] = ()
    vllm_flags: tuple[str, ...] = ()  # this checkpoint's flags, after the family's
    attention_heads: int | None = None  # decoder heads: tensor parallelism must divide them
    architecture: str = ""
    published: tuple[Published, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def app_name(self) -> str:
        """Modal app name: one per variant, so several can serve side by side (Modal allows 64 characters)."""
        return app_name_for(self.short_name, "lightonocr" if self.family.key == "lightonocr" else "ocr")

    @property
    def default_mode(self) -> str:
        return self.family.default_mode if self.family.default_mode in self.modes else self.modes[0]

    def prompt(self, mode: str | None = None) -> Prompt:
        """The prompt of a mode (None: the family's default); a mode this checkpoint lacks is refused."""
        mode = mode or self.default_mode
        if mode not in self.modes:
            hint = ""
            if mode == "grounding" and self.family.key == "lightonocr":
                hint = " Grounding needs a LightOnOCR-3 model: use mode='plain'."
            elif mode == "grounding":
                boxes = [f.name for f in FAMILIES.values() if "grounding" in f.prompts]
                hint = f" Boxes come from {', '.join(boxes)}: use mode='plain' for {self.family.name}."
            raise ModelError(f"{self.hf_id} has no {mode} mode (it has {', '.join(self.modes)}).{hint}")
        return self.family.prompt(mode)

    def request_defaults(self) -> dict:
        """The request parameters of this model's profile (``max_tokens`` only when the profile sets one)."""
        defaults = {"temperature": self.temperature, "top_p": self.top_p, **self.sampling}
        if self.max_tokens is not None:
            defaults["max_tokens"] = self.max_tokens
        return {k: v for k, v in defaults.items() if v is not None}

    def serve_flags(self) -> tuple[str, ...]:
        return self.family.vllm_flags + self.vllm_flags


def app_name_for(short_name: str, prefix: str = "lightonocr") -> str:
    """``<prefix>-<name>``, shortened with a hash suffix when a long Hugging Face name would pass 64."""
    name = f"{prefix}-" + re.sub(r"[^a-z0-9]+", "-", short_name.lower()).strip("-")
    if len(name) <= MODAL_NAME_LIMIT:
        return name
    digest = hashlib.sha256(short_name.encode()).hexdigest()[:8]
    return name[: MODAL_NAME_LIMIT - 9].rstrip("-") + "-" + digest


def make_variant(family: Family, spec: dict) -> Variant:
    """A checkpoint's profile: its family's, with what its entry says otherwise."""
    sampling = dict(family.sampling)
    values = {
        "longest_edge": family.longest_edge,
        "dpi": family.dpi,
        "temperature": sampling.pop("temperature", None),
        "top_p": sampling.pop("top_p", None),
        "max_tokens": sampling.pop("max_tokens", None),
        "sampling": sampling,
        "modes": family.modes,
        "architecture": family.architecture,
        "published": family.published,
    }
    values.update(spec)
    return Variant(family=family, **values)


def _load() -> tuple[dict[str, Family], dict[str, Variant]]:
    families, variants = {}, {}
    for name in FAMILY_MODULES:
        module = importlib.import_module(f"lighton_lab.models.families.{name}")
        families[module.FAMILY.key] = module.FAMILY
        for spec in module.VARIANTS:
            variant = make_variant(module.FAMILY, spec)
            variants[variant.short_name] = variant
    return families, variants


FAMILIES, VARIANTS = _load()
LIGHTONOCR = FAMILIES["lightonocr"]


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
    close = difflib.get_close_matches(name.lower(), _lookup(), n=1, cutoff=0.75)
    if close:
        hint = _lookup()[close[0]]
        raise ModelError(
            f"unknown model {name!r}: did you mean {hint.short_name!r} ({hint.hf_id})? "
            "`lighton-lab models` lists them all."
        )
    known = ", ".join(f"{v.short_name} ({v.hf_id})" for v in VARIANTS.values())
    raise ModelError(f"unknown model {name!r}. Known: {known}; or pass any Hugging Face id as owner/name.")


def profile_for(served_name: str | None) -> Variant | None:
    """The profile of a served model name: a registered checkpoint, or a LightOnOCR name (its profile guessed
    as LightOn's client guesses it); None for anything else, such as the local CPU engines.

    >>> profile_for("lightonai/LightOnOCR-3-4B").longest_edge, profile_for("rapidocr/ppocr-v6")
    (2048, None)
    >>> profile_for("allenai/olmOCR-2-7B-1025").family.name
    'olmOCR-2'
    """
    if not served_name:
        return None
    lower = served_name.lower()
    if lower in _lookup() or "lightonocr" in lower:
        return resolve_model(served_name)
    return None


def read_answer(model: str, raw: str, mode: str | None, width: int, height: int, furniture: str = "keep"):
    """An answer as its family's adapter reads it (``Reading``). A model without a profile (the local engines)
    answers plain text, or LightOn's grounding format when asked for grounding."""
    from lighton_lab.models.family import Reading

    profile = profile_for(model)
    mode = mode or (profile.default_mode if profile else "plain")
    family = profile.family if profile is not None else (LIGHTONOCR if mode == "grounding" else None)
    if family is None:
        return Reading(raw)
    reading = family.adapt(raw, mode, width, height, furniture)
    if mode == "grounding" and reading.blocks is None:  # asked for boxes, got none: a layout score of 0
        problem = f"no layout blocks in a grounding answer ({family.name}'s format)"
        return replace(reading, blocks=(), problems=(*reading.problems, problem))
    return reading


def output_format(endpoint_kind: str | None) -> str:
    """The format of answers stored before formats were recorded (store schema 1): the local server's
    engines wrote plain text, every other endpoint served LightOnOCR, which writes Markdown."""
    return "text" if endpoint_kind == "local" else "markdown"


def _guess(hf_id: str) -> Variant:
    """A LightOnOCR profile for an id we do not list, from its name (LightOn's client does the same)."""
    lower = hf_id.lower()
    m = re.search(r"lightonocr-(\d+)-", lower)
    generation = int(m.group(1)) if m else (1 if "lightonocr-1b" in lower else None)
    short = hf_id.split("/")[1].lower()
    if generation in (1, 2):
        spec = {"short_name": short, "hf_id": hf_id, "generation": generation, "modes": ("plain",),
                "note": f"custom checkpoint (generation {generation} profile)"}  # fmt: skip
        return make_variant(LIGHTONOCR, spec)
    pixtral = "lightonocr-3-1b" in lower
    flags = ("--max-model-len", "16384") if pixtral else ("--max-model-len", "24576", *_no_thinking())
    spec = {"short_name": short, "hf_id": hf_id, "generation": generation, "temperature": 0.1, "top_p": 1.0,
            "longest_edge": 1540 if pixtral else 2048, "vllm_flags": flags,
            "note": "custom checkpoint (LightOnOCR-3 profile)"}  # fmt: skip
    return make_variant(LIGHTONOCR, spec)


def _no_thinking() -> tuple[str, ...]:
    from lighton_lab.models.families.lightonocr import NO_THINKING

    return NO_THINKING
