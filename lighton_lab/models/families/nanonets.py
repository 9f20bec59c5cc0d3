"""Nanonets-OCR2 (Nanonets): a Qwen2.5-VL-3B fine-tune whose answer tags page numbers, watermarks and images.

Source: the ``nanonets/Nanonets-OCR2-3B`` model card (its vLLM example: the image, then the prompt, no system
message; temperature 0; ``max_tokens`` 15000); the same prompt is in ``allenai/olmocr``
``olmocr/bench/runners/run_nanonetsocr_2.py``. Its answer wraps page numbers in ``<page_number>``, watermarks
in ``<watermark>``, image descriptions in ``<img>``: the descriptions are not page text and are left out; page
numbers are page furniture. The card declares no licence (its base, Qwen2.5-VL-3B, is under Qwen's research
licence).
"""

from __future__ import annotations

import re

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import Block, Furniture

PROMPT = (
    "Extract the text from the above document as if you were reading it naturally. Return the tables in html "
    "format. Return the equations in LaTeX representation. If there is an image in the document and image caption "
    "is not present, add a small description of the image inside the <img></img> tag; otherwise, add the image "
    "caption inside <img></img>. Watermarks should be wrapped in brackets. Ex: <watermark>OFFICIAL COPY</watermark>. "
    "Page numbers should be wrapped in brackets. Ex: <page_number>14</page_number> or "
    "<page_number>9/22</page_number>. Prefer using ☐ and ☑ for check boxes."
)
_IMG = re.compile(r"<img>.*?</img>", re.S)
_PAGE_NUMBER = re.compile(r"<page_number>(.*?)</page_number>", re.S)
_WRAPPERS = re.compile(r"</?(?:watermark|signature)>")


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    text = _IMG.sub("", raw)
    text = _PAGE_NUMBER.sub("" if furniture == "drop" else r"\1", text)
    return Reading(_WRAPPERS.sub("", text).strip())


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    if blocks and blocks[-1].label == "page_number":
        head = text[: text.rfind(blocks[-1].text)].rstrip() if blocks[-1].text in text else text
        return f"{head}\n\n<page_number>{blocks[-1].text}</page_number>"
    return text


FAMILY = Family(
    key="nanonets",
    name="Nanonets-OCR2",
    architecture="Qwen2_5_VLForConditionalGeneration",
    prompts={"plain": Prompt(PROMPT)},
    default_mode="plain",
    licence="none declared on the model card (base model under the Qwen research licence)",
    commercial_note="unclear: the card declares no licence; the Qwen research licence of its base "
    "forbids commercial use",
    longest_edge=None,
    dpi=200,
    sampling={"temperature": 0.0, "max_tokens": 15000},
    vllm_flags=("--limit-mm-per-prompt", '{"image": 1}'),
    published=(
        Published("69.5", "olmOCR README (measured by Ai2: shortest side 1280 px, max_tokens 4096)", False),
    ),
    sources=(
        "nanonets/Nanonets-OCR2-3B model card; allenai/olmocr olmocr/bench/runners/run_nanonetsocr_2.py",
    ),
    adapt=adapt,
    emulate=emulate,
)
VARIANTS = (dict(short_name="nanonets-ocr2", hf_id="nanonets/Nanonets-OCR2-3B", note="Nanonets-OCR2 3B"),)
