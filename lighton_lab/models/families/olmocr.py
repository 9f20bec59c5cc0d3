"""olmOCR-2 (Allen Institute for AI): a Qwen2.5-VL-7B fine-tune that answers YAML front matter, then the page.

Source: ``allenai/olmocr`` (0.4.27, f7cfe4c) ``olmocr/prompts/prompts.py`` ``build_no_anchoring_v4_yaml_prompt``
(the text, before the image, no system prompt: ``olmocr/pipeline.py`` ``build_page_query``); pages rendered so
the longest side is 1288 px (``--target_longest_image_dim``, the model card); ``max_tokens`` 8000; temperature
0.1 on the first attempt, then the ladder ``TEMPERATURE_BY_ATTEMPT`` on failures; served with
``--max-model-len 16384``. The front matter (``primary_language``, ``is_rotation_valid``,
``rotation_correction``, ``is_table``, ``is_diagram``) is parsed as ``olmocr/train/front_matter.py`` does and
kept as metadata; only the text after it (``natural_text``) is scored, as olmOCR's bench runner scores it.
"""

from __future__ import annotations

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import Block, Furniture

PROMPT = (
    "Attached is one page of a document that you must process. Just return the plain text representation of "
    "this document as if you were reading it naturally. Convert equations to LateX and tables to HTML.\n"
    "If there are any figures or charts, label them with the following markdown syntax "
    "![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
    "Return your output as markdown, with a front matter section on top specifying values for the "
    "primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)
FIELDS = {"primary_language": str, "is_rotation_valid": bool, "rotation_correction": int, "is_table": bool,
          "is_diagram": bool}  # fmt: skip
LADDER = (0.1, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1.0)  # olmocr/pipeline.py TEMPERATURE_BY_ATTEMPT


def front_matter(raw: str) -> tuple[dict, str, list[str]]:
    """``(fields, text, problems)``: ``FrontMatterParser``'s split (``---\\n`` ... ``\\n---``), its fields read as
    YAML scalars (``True``/``false``/``null``, integers), the text after it stripped."""
    if not raw.startswith("---\n"):
        return {}, raw.strip(), ["no front matter"]
    end = raw.find("\n---", 4)
    if end < 0:
        return {}, raw.strip(), ["front matter not closed"]
    fields, problems = {}, []
    for line in raw[4:end].splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            problems.append(f"front matter line {line!r}")
            continue
        fields[key.strip()] = _scalar(value.strip(), FIELDS.get(key.strip(), str))
    problems += [f"front matter lacks {name}" for name in FIELDS if name not in fields]
    return fields, raw[end + 4 :].strip(), problems


def _scalar(value: str, kind: type):
    if value.lower() in ("null", "~", ""):
        return None
    if kind is bool:
        return value.lower() in ("true", "yes", "on")
    if kind is int:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    fields, text, problems = front_matter(raw)
    return Reading(text, None, fields, tuple(problems))


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    """olmOCR-2's answer shape: its five fields (an upright page, no table or diagram claimed), then the text."""
    head = "primary_language: en\nis_rotation_valid: True\nrotation_correction: 0\nis_table: False\nis_diagram: False"
    return f"---\n{head}\n---\n{text}"


FAMILY = Family(
    key="olmocr",
    name="olmOCR-2",
    architecture="Qwen2_5_VLForConditionalGeneration",
    prompts={"plain": Prompt(PROMPT, text_first=True)},
    default_mode="plain",
    licence='Apache-2.0 ("intended for research and educational use", Ai2\'s Responsible Use Guidelines)',
    longest_edge=1288,
    dpi=200,
    sampling={"temperature": 0.1, "max_tokens": 8000},
    ladder=LADDER,
    vllm_flags=("--max-model-len", "16384", "--limit-mm-per-prompt", '{"image": 1}'),
    published=(
        Published(
            "82.4",
            "olmOCR README, olmOCR-2-7B-1025-FP8 with the olmOCR toolkit (retries, rotation)",
            True,
            "Ai2 made both the model and the benchmark",
        ),
    ),
    sources=(
        "allenai/olmocr olmocr/prompts/prompts.py, olmocr/pipeline.py, olmocr/train/front_matter.py (0.4.27)",
    ),
    adapt=adapt,
    emulate=emulate,
)
VARIANTS = (
    dict(short_name="olmocr-2", hf_id="allenai/olmOCR-2-7B-1025-FP8", note="olmOCR-2 7B, FP8 (the toolkit's default)",
         aliases=("olmocr", "olmocr-2-fp8")),
    dict(short_name="olmocr-2-bf16", hf_id="allenai/olmOCR-2-7B-1025", note="olmOCR-2 7B, full BF16 weights",
         aliases=("olmocr-2-7b",)),
)  # fmt: skip
