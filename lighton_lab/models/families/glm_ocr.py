"""GLM-OCR (Zhipu AI): a 0.9B model asked ``Text Recognition:``.

Source: ``zai-org/GLM-OCR`` (cef4d0e) ``glmocr/dataloader/page_loader.py`` (the image first, then the prompt, no
system message), ``glmocr/config.yaml`` (temperature 0, top_p 0.00001, top_k 1, repetition_penalty 1.1,
``max_tokens`` 8192; PDFs at 200 DPI, the longest side capped at 3500 px) and its README (vLLM >= 0.19,
transformers >= 5.3). The authors' document pipeline finds regions with PP-DocLayoutV3 first and drops page
headers, footers and numbers; vLLM's recipe and the model card send the whole page, as here.
"""

from __future__ import annotations

from lighton_lab.models.family import Family, Prompt, Published

FAMILY = Family(
    key="glm_ocr",
    name="GLM-OCR",
    architecture="GlmOcrForConditionalGeneration",
    prompts={"plain": Prompt("Text Recognition:")},
    default_mode="plain",
    licence="MIT",
    longest_edge=3500,
    dpi=200,
    sampling={
        "temperature": 0.0,
        "top_p": 0.00001,
        "top_k": 1,
        "repetition_penalty": 1.1,
        "max_tokens": 8192,
    },
    vllm_flags=("--limit-mm-per-prompt", '{"image": 1}'),
    published=(
        Published(
            "75.2",
            "GLM-OCR model page (excluding headers/footers, through the ZAI API)",
            True,
            "not comparable: one category left out, a hosted pipeline",
        ),
    ),  # fmt: skip
    sources=("zai-org/GLM-OCR glmocr/dataloader/page_loader.py, glmocr/config.yaml (cef4d0e)",),
)
VARIANTS = (dict(short_name="glm-ocr", hf_id="zai-org/GLM-OCR", note="GLM-OCR 0.9B"),)
