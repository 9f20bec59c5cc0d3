"""PaddleOCR-VL (PaddlePaddle): a 0.9B model for page elements, asked ``OCR:`` for a whole page.

Source: ``paddlex`` 3.7.2 on PyPI ``paddlex/inference/pipelines/paddleocr_vl/pipeline.py`` (the task prompts;
``use_layout_detection=False`` with ``prompt_label="ocr"`` sends the whole page with ``OCR:``, the pipeline's
page-level fallback: its default first finds blocks with PP-DocLayout, then reads each) and
``paddlex/inference/models/doc_vlm/predictor.py`` (the image first, then the prompt, no system message;
temperature 0; ``max_tokens`` 4096 in the pipeline; per request ``mm_processor_kwargs`` with 112,896 to
1,003,520 pixels). vLLM's recipe: ``--trust-remote-code --max-num-batched-tokens 16384
--no-enable-prefix-caching --mm-processor-cache-gb 0``. The published 80.0 used the layout pipeline, which a
single whole-page request does not reproduce.
"""

from __future__ import annotations

from lighton_lab.models.family import Family, Prompt, Published

FAMILY = Family(
    key="paddleocr_vl",
    name="PaddleOCR-VL",
    architecture="PaddleOCRVLForConditionalGeneration",
    prompts={"plain": Prompt("OCR:")},
    default_mode="plain",
    licence="Apache-2.0",
    longest_edge=None,
    dpi=200,
    sampling={"temperature": 0.0, "max_tokens": 4096},
    extra_body={"mm_processor_kwargs": {"min_pixels": 112_896, "max_pixels": 1_003_520}},
    vllm_flags=(
        "--trust-remote-code",
        "--max-num-batched-tokens",
        "16384",
        "--no-enable-prefix-caching",
        "--mm-processor-cache-gb",
        "0",
        "--limit-mm-per-prompt",
        '{"image": 1}',
    ),  # fmt: skip
    output_format="markdown",
    published=(
        Published("80.0", "olmOCR README (reported by the authors; layout pipeline, not one request)", True),
    ),
    sources=(
        "paddlex 3.7.2 (PyPI) paddlex/inference/pipelines/paddleocr_vl/pipeline.py, models/doc_vlm/predictor.py",
        "vllm-project/recipes PaddlePaddle/PaddleOCR-VL.md",
    ),  # fmt: skip
)
VARIANTS = (
    dict(short_name="paddleocr-vl", hf_id="PaddlePaddle/PaddleOCR-VL", note="PaddleOCR-VL 0.9B"),
    dict(short_name="paddleocr-vl-1.5", hf_id="PaddlePaddle/PaddleOCR-VL-1.5", note="PaddleOCR-VL 1.5", published=()),
)  # fmt: skip
