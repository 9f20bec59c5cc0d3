"""DeepSeek-OCR and DeepSeek-OCR-2 (DeepSeek): document to Markdown with ``<|ref|>``/``<|det|>`` layout tags.

Source: ``deepseek-ai/DeepSeek-OCR`` (e4ac34e) ``DeepSeek-OCR-vllm/config.py`` and ``run_dpsk_ocr_pdf.py``;
``deepseek-ai/DeepSeek-OCR-2`` (2f3699e); vLLM's recipe (``vllm-project/recipes`` ``DeepSeek/DeepSeek-OCR.md``,
``models/deepseek-ai/DeepSeek-OCR*.yaml``). Prompts: ``<|grounding|>Convert the document to markdown.`` (their
default for documents: every block tagged with its label and box) or ``Free OCR.`` (text only); in a chat
request vLLM puts the image placeholder first whatever the order. Greedy (temperature 0), output up to the
end of the 8,192-token context (their ``max_tokens`` 8192 offline), ``skip_special_tokens: false`` and the
recipe's n-gram repetition guard per request (``vllm_xargs``: ngram 30, window 90, the ``<td>``/``</td>``
tokens whitelisted) with ``--logits-processors vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor``.
PDFs rendered at 144 DPI (``pdf_to_images_high_quality``); vLLM 0.30.0 tiles the page itself (1024 px global
view + 640 px crops; 768 px crops for OCR-2). Boxes are on 0-999 of the original image. The Markdown is theirs: tags
removed, images dropped, ``\\coloneqq`` written out, blank-line runs collapsed (``run_dpsk_ocr_pdf.py``).
"""

from __future__ import annotations

import re

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import HEADER_FOOTER, Block, Furniture

_TAG = re.compile(r"<\|ref\|>(.*?)<\|/ref\|><\|det\|>(.*?)<\|/det\|>", re.S)
_BOX = re.compile(r"\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]")
# DeepSeek's labels in LightOn's words (the rest are kept as written)
LABELS = {"sub_title": "section", "equation": "formula", "table_caption": "caption", "image_caption": "caption",
          "figure": "image", "header": "header", "footer": "footer"}  # fmt: skip


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    marks = list(_TAG.finditer(raw))
    if not marks:
        return Reading(_tidy(raw))
    blocks, parts, problems = [], [], []
    for i, m in enumerate(marks):
        label = LABELS.get(m.group(1).strip(), m.group(1).strip())
        text = raw[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(raw)].strip()
        boxes = _BOX.findall(m.group(2))
        if not boxes:
            problems.append(f"{label} block without a box: {m.group(2)[:40]!r}")
        for box in boxes:  # 0-999 of the image -> LightOn's 0-1000
            x1, y1, x2, y2 = (round(int(v) * 1000 / 999) for v in box)
            blocks.append(Block(label, (x1, y1, x2, y2), text))
        if label != "image" and text and not (furniture == "drop" and label in HEADER_FOOTER):
            parts.append(text)
    return Reading(_tidy("\n\n".join(parts)), tuple(blocks), {}, tuple(problems))


def _tidy(text: str) -> str:
    text = text.replace("\\coloneqq", ":=").replace("\\eqqcolon", "=:")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    if mode != "grounding":
        return text
    out = []
    for b in blocks:
        x1, y1, x2, y2 = (round(v * 999 / 1000) for v in b.box)
        label = {"section": "sub_title", "formula": "equation"}.get(b.label, b.label)
        out.append(f"<|ref|>{label}<|/ref|><|det|>[[{x1}, {y1}, {x2}, {y2}]]<|/det|>\n{b.text}\n")
    return "\n".join(out)


NGRAM = {"ngram_size": 30, "window_size": 90, "whitelist_token_ids": [128821, 128822]}
FAMILY = Family(
    key="deepseek",
    name="DeepSeek-OCR",
    architecture="DeepseekOCRForCausalLM",
    prompts={
        "grounding": Prompt("<|grounding|>Convert the document to markdown."),
        "plain": Prompt("Free OCR."),
    },
    default_mode="grounding",
    licence="MIT (DeepSeek-OCR); Apache-2.0 (DeepSeek-OCR-2)",
    longest_edge=None,
    dpi=144,
    # Their scripts run offline with max_model_len 8192 and max_tokens 8192: generation stops where the context
    # ends. Sent to vLLM 0.30.0's server, max_tokens 8192 against --max-model-len 8192 leaves no room for the
    # prompt and every request is refused (renderers/params.py's length check); sending none asks for the same
    # thing the server's way: the rest of the 8,192-token context.
    sampling={"temperature": 0.0},
    extra_body={"skip_special_tokens": False, "vllm_xargs": NGRAM},
    vllm_flags=(
        "--logits-processors",
        "vllm.model_executor.models.deepseek_ocr:NGramPerReqLogitsProcessor",
        "--no-enable-prefix-caching",
        "--mm-processor-cache-gb",
        "0",
        "--trust-remote-code",
        "--max-model-len",
        "8192",
        "--limit-mm-per-prompt",
        '{"image": 1}',
    ),  # fmt: skip
    published=(Published("75.7", "olmOCR README (measured by Ai2, settings not documented)", False),),
    sources=(
        "deepseek-ai/DeepSeek-OCR DeepSeek-OCR-vllm/config.py, run_dpsk_ocr_pdf.py (e4ac34e)",
        "vllm-project/recipes DeepSeek/DeepSeek-OCR.md, models/deepseek-ai/DeepSeek-OCR.yaml",
    ),  # fmt: skip
    adapt=adapt,
    emulate=emulate,
)
VARIANTS = (
    dict(short_name="deepseek-ocr", hf_id="deepseek-ai/DeepSeek-OCR", note="DeepSeek-OCR 3B (Gundam tiling in vLLM)"),
    dict(short_name="deepseek-ocr-2", hf_id="deepseek-ai/DeepSeek-OCR-2", note="DeepSeek-OCR-2 (768 px tiles)",
         architecture="DeepseekOCR2ForCausalLM", published=()),
)  # fmt: skip
