"""The registered models as the ``lighton-lab models`` table: per family its licence (and what it says about
commercial use), its prompts, its published olmOCR-Bench figures with who measured them, then its checkpoints.

Published figures are the sources' own: self-reported ones are marked so, and none of them is this
workbench's measurement (``lighton-lab olmocr-bench`` makes one).
"""

from __future__ import annotations

from lighton_lab.models.family import Family
from lighton_lab.models.variants import FAMILIES, TRANSFORMERS_VERSION, VARIANTS, VLLM_VERSION, Variant


def prompt_summary(family: Family) -> str:
    parts = []
    for mode, prompt in family.prompts.items():
        text = "the image alone" if prompt.text is None else repr(_short(prompt.text))
        parts.append(f"{mode}: {text}{' (before the image)' if prompt.text_first else ''}")
    return "; ".join(parts)


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def published_lines(published) -> list[str]:
    lines = []
    for p in published:
        who = "self-reported" if p.self_reported else "measured by others"
        lines.append(f"olmOCR-Bench {p.score} ({who}: {p.source}{'; ' + p.note if p.note else ''})")
    return lines


def variant_line(v: Variant) -> str:
    size = f"{v.longest_edge} px" if v.longest_edge else "native"
    return f"  {v.short_name:16} {v.hf_id:40} {size:>8}  {'/'.join(v.modes):16} {v.note}"


def catalogue() -> str:
    """The table (see the module docstring)."""
    out = [f"Every model is served by vLLM {VLLM_VERSION} with transformers {TRANSFORMERS_VERSION} "
           "(start_modal(model=NAME), lighton-lab serve --model NAME).", ""]  # fmt: skip
    for family in FAMILIES.values():
        out.append(f"{family.name} · licence: {family.licence}")
        if family.commercial_note:
            out.append(f"  commercial use: {family.commercial_note}")
        out.append(f"  prompts: {prompt_summary(family)}")
        out += [f"  {line}" for line in published_lines(family.published)]
        out.append(f"  {'name':16} {'Hugging Face id':40} {'page':>8}  {'modes':16} note")
        for v in VARIANTS.values():
            if v.family is family:
                out.append(variant_line(v))
                if v.published != family.published:
                    out += [f"    {line}" for line in published_lines(v.published)]
        out.append("")
    return "\n".join(out)
