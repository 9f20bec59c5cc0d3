"""LightOnOCR (LightOn): generations 1-2 read a page into Markdown; generation 3 also grounds it.

Source: ``lightonai/LightOnOCR`` (commit 36755d4) ``lightonocr/client.py``, ``models.py``, ``grounding.py``
and its README. One user message, no system prompt: the page image alone (plain), or the image and the
text ``"grounding"`` (LightOnOCR-3), answered as ``![label](x1,y1,x2,y2) text`` blocks on a 0-1000 grid.
Pages at 1540 px on the longest side (Pixtral-based: generations 1-2 and 3-1B) or 2048 px (3-0.8B, 3-4B);
top_p 0.9 for generations 1-2, 1.0 for 3; temperature 0.2 (the client) or 0.1 (the README's tip, used for
generation 3); ``enable_thinking`` off on every request.

Output cap: 12,288 tokens, LightOn's own benchmark value (``benchmarks/ocr_bench/providers/__init__.py``:
"QwenProvider's 16384 default is the whole context"), with ``--max-model-len 24576`` for the Qwen3-based
checkpoints (3-0.8B, 3-4B) as their benchmark serves them. LightOn's client sends no cap (the rest of the
context); an explicit one bounds what a page can cost when nobody cuts it (a request that is not streamed, a
loop the detector does not see) and is above what any page the models read whole needs.
"""

from __future__ import annotations

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import (
    PROMPT,
    Block,
    Furniture,
    grounding_markdown,
    parse_grounding,
    problems,
)

NO_THINKING = ("--default-chat-template-kwargs", '{"enable_thinking": false}')


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    if mode != "grounding":
        return Reading(raw)
    blocks = parse_grounding(raw)
    return Reading(grounding_markdown(blocks, furniture), tuple(blocks), {}, tuple(problems(raw, blocks)))


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    return "\n".join(b.marker() for b in blocks) if mode == "grounding" else text


FAMILY = Family(
    key="lightonocr",
    name="LightOnOCR",
    architecture="LightOnOCRForConditionalGeneration",
    prompts={"plain": Prompt(None), "grounding": Prompt(PROMPT)},
    default_mode="plain",
    licence="Apache-2.0",
    longest_edge=1540,
    dpi=200,
    sampling={"temperature": 0.2, "top_p": 0.9, "max_tokens": 12288},
    extra_body={"chat_template_kwargs": {"enable_thinking": False}},
    vllm_flags=(
        "--limit-mm-per-prompt",
        '{"image": 1}',
        "--mm-processor-cache-gb",
        "0",
        "--no-enable-prefix-caching",
    ),
    published=(
        Published("76.1", "LightOn, LightOnOCR-1B-1025 model card", True),
        Published("83.2", "LightOn, LightOnOCR-2-1B (excluding headers/footers)", True),
        Published("84.5-86.1", "LightOn, LightOnOCR-3 (0.8B, 1B, 4B; olmocr 0.4.27)", True),
    ),
    sources=("lightonai/LightOnOCR lightonocr/client.py, models.py, grounding.py (36755d4)",),
    adapt=adapt,
    emulate=emulate,
)
GEN3 = {"temperature": 0.1, "top_p": 1.0, "modes": ("plain", "grounding")}

VARIANTS = (
    dict(short_name="1b", hf_id="lightonai/LightOnOCR-1B-1025", vocab_size=151_936, generation=1,
         note="default; full vocabulary, every language", attention_heads=16, modes=("plain",),
         aliases=("lightonocr-1b",)),
    dict(short_name="32k", hf_id="lightonai/LightOnOCR-0.9B-32k-1025", vocab_size=32_768, generation=1,
         note="pruned 32k vocabulary, European languages", attention_heads=16, modes=("plain",),
         aliases=("lightonocr-1b-32k", "lightonai/lightonocr-1b-32k", "0.9b-32k")),
    dict(short_name="16k", hf_id="lightonai/LightOnOCR-0.9B-16k-1025", vocab_size=16_384, generation=1,
         note="pruned 16k vocabulary, European languages", attention_heads=16, modes=("plain",),
         aliases=("lightonocr-1b-16k", "lightonai/lightonocr-1b-16k", "0.9b-16k")),
    dict(short_name="2-1b", hf_id="lightonai/LightOnOCR-2-1B", vocab_size=151_936, generation=2,
         note="second generation, best accuracy of the 1B models", attention_heads=16, modes=("plain",),
         aliases=("2", "lightonocr-2", "lightonocr-2-1b")),
    dict(short_name="3-1b", hf_id="lightonai/LightOnOCR-3-1B", generation=3,
         note="third generation, Pixtral encoder; grounding mode", vllm_flags=("--max-model-len", "16384"),
         aliases=("lightonocr-3-1b",), **GEN3),
    dict(short_name="3-0.8b", hf_id="lightonai/LightOnOCR-3-0.8B", generation=3,
         note="third generation, Qwen3.5-based; 2048 px pages", longest_edge=2048,
         vllm_flags=("--max-model-len", "24576", *NO_THINKING), aliases=("lightonocr-3-0.8b",), **GEN3),
    dict(short_name="3-4b", hf_id="lightonai/LightOnOCR-3-4B", generation=3,
         note="third generation, largest; 2048 px pages", longest_edge=2048,
         vllm_flags=("--max-model-len", "24576", *NO_THINKING), aliases=("lightonocr-3-4b",), **GEN3),
)  # fmt: skip
