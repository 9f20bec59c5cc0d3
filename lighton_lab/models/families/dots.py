"""dots.ocr (rednote-hilab): the page's layout as a JSON list of cells, each with its box, category and text.

Source: ``rednote-hilab/dots.ocr`` (36d7248) ``dots_ocr/utils/prompts.py`` (``prompt_layout_all_en``,
``prompt_ocr``), ``dots_ocr/model/inference.py`` (the image first, then the prompt, prefixed with the image
placeholder string ``<|img|><|imgpad|><|endofimg|>``), ``dots_ocr/parser.py`` (temperature 0.1, top_p 1.0,
``max_completion_tokens`` 16384, PDFs at 200 DPI, no resize on the client: the server resizes),
``dots_ocr/utils/format_transformer.py`` (``layoutjson2md``: cells joined by blank lines, pictures give no
text, formulas in ``$$``, page headers and footers dropped in the ``_nohf`` output the README recommends for
olmOCR-Bench). Served with ``--trust-remote-code --chat-template-content-format string``. Boxes are pixels
of the image after the server's ``smart_resize`` (factor 28, 3,136 to 11,289,600 pixels).
"""

from __future__ import annotations

import json
import math

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import Block, Furniture

PLACEHOLDER = "<|img|><|imgpad|><|endofimg|>"
LAYOUT_ALL = """Please output the layout information from the PDF image, including each layout element's bbox, its category, and the corresponding text content within the bbox.

1. Bbox format: [x1, y1, x2, y2]

2. Layout Categories: The possible categories are ['Caption', 'Footnote', 'Formula', 'List-item', 'Page-footer', 'Page-header', 'Picture', 'Section-header', 'Table', 'Text', 'Title'].

3. Text Extraction & Formatting Rules:
    - Picture: For the 'Picture' category, the text field should be omitted.
    - Formula: Format its text as LaTeX.
    - Table: Format its text as HTML.
    - All Others (Text, Title, etc.): Format their text as Markdown.

4. Constraints:
    - The output text must be the original text from the image, with no translation.
    - All layout elements must be sorted according to human reading order.

5. Final Output: The entire output must be a single JSON object.
"""  # noqa: E501  (the authors' prompt, verbatim, ending in a newline)
OCR = "Extract the text content from this image."
LABELS = {"Caption": "caption", "Footnote": "footnote", "Formula": "formula", "List-item": "list",
          "Page-footer": "footer", "Page-header": "header", "Picture": "image", "Section-header": "section",
          "Table": "table", "Text": "text", "Title": "title"}  # fmt: skip
FACTOR, MIN_PIXELS, MAX_PIXELS = 28, 3136, 11_289_600  # dots_ocr/utils/consts.py


def smart_resize(height: int, width: int) -> tuple[int, int]:
    """The size the server sends the page to the model at (``dots_ocr/utils/image_utils.py``, Qwen2-VL's)."""
    h, w = max(FACTOR, round(height / FACTOR) * FACTOR), max(FACTOR, round(width / FACTOR) * FACTOR)
    if h * w > MAX_PIXELS:
        beta = math.sqrt(height * width / MAX_PIXELS)
        h, w = math.floor(height / beta / FACTOR) * FACTOR, math.floor(width / beta / FACTOR) * FACTOR
    elif h * w < MIN_PIXELS:
        beta = math.sqrt(MIN_PIXELS / (height * width))
        h, w = math.ceil(height * beta / FACTOR) * FACTOR, math.ceil(width * beta / FACTOR) * FACTOR
    return h, w


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    if mode != "grounding":
        return Reading(raw.strip())
    problems: tuple[str, ...] = ()
    try:
        cells = json.loads(raw)
        if isinstance(cells, dict):
            cells = [cells]
        assert isinstance(cells, list) and all(isinstance(c, dict) for c in cells)
    except (
        ValueError,
        AssertionError,
    ):  # as their OutputCleaner does: keep the complete cells, flag the page
        cells = complete_cells(raw)
        problems = (f"the answer is not a JSON list of cells: {len(cells)} complete cell(s) kept",)
    rh, rw = smart_resize(height, width)
    blocks, parts = [], []
    for cell in cells:
        label = LABELS.get(cell.get("category"), str(cell.get("category", "text")).lower())
        text = str(cell.get("text") or "").strip()
        try:
            x1, y1, x2, y2 = (float(v) for v in cell["bbox"])
            box = (round(x1 * 1000 / rw), round(y1 * 1000 / rh), round(x2 * 1000 / rw), round(y2 * 1000 / rh))
        except (KeyError, TypeError, ValueError):
            box = (0, 0, 0, 0)
        blocks.append(Block(label, box, text))
        if label == "image" or not text or (furniture == "drop" and label in ("header", "footer")):
            continue
        parts.append(f"$$\n{text.strip('$').strip()}\n$$" if label == "formula" else text)
    return Reading("\n\n".join(parts), tuple(blocks), {}, problems)


def complete_cells(raw: str) -> list[dict]:
    """The whole ``{...}`` cells of a JSON answer cut short (by the output cap or a loop), in order."""
    decoder, cells, at = json.JSONDecoder(), [], raw.find("{")
    while at >= 0:
        try:
            cell, end = decoder.raw_decode(raw, at)
        except ValueError:
            at = raw.find("{", at + 1)
            continue
        if isinstance(cell, dict) and "bbox" in cell:
            cells.append(cell)
        at = raw.find("{", end)
    return cells


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    if mode != "grounding":
        return text
    rh, rw = smart_resize(height, width)
    names = {v: k for k, v in LABELS.items()} | {"page_number": "Page-footer"}  # dots.ocr has no folio label
    cells = []
    for b in blocks:
        x1, y1, x2, y2 = b.box
        cell = {"bbox": [round(x1 * rw / 1000), round(y1 * rh / 1000), round(x2 * rw / 1000), round(y2 * rh / 1000)],
                "category": names.get(b.label, "Text")}  # fmt: skip
        if b.label != "image":
            cell["text"] = b.text.lstrip("# ")
        cells.append(cell)
    return json.dumps(cells, ensure_ascii=False)


FAMILY = Family(
    key="dots",
    name="dots.ocr",
    architecture="DotsOCRForCausalLM",
    prompts={"grounding": Prompt(PLACEHOLDER + LAYOUT_ALL), "plain": Prompt(PLACEHOLDER + OCR)},
    default_mode="grounding",
    licence="dots.ocr License Agreement over MIT",
    commercial_note="commercial use allowed; §3.3(c) forbids unauthorised digitisation of publications "
    "and bulk scraping",
    longest_edge=None,
    dpi=200,
    sampling={"temperature": 0.1, "top_p": 1.0, "max_tokens": 16384},
    vllm_flags=(
        "--trust-remote-code",
        "--chat-template-content-format",
        "string",
        "--limit-mm-per-prompt",
        '{"image": 1}',
    ),  # fmt: skip
    published=(Published("79.1", "dots.ocr README", True),),
    sources=("rednote-hilab/dots.ocr dots_ocr/utils/prompts.py, model/inference.py, parser.py (36d7248)",),
    adapt=adapt,
    emulate=emulate,
)
VARIANTS = (
    dict(short_name="dots-ocr", hf_id="rednote-hilab/dots.ocr", note="dots.ocr 1.7B"),
    dict(short_name="dots-mocr", hf_id="rednote-hilab/dots.mocr", note="dots.ocr 1.5, renamed dots.mocr",
         aliases=("dots-ocr-1.5", "rednote-hilab/dots.ocr-1.5"),
         published=(Published("83.9", "dots.ocr README, dots.mocr", True),)),
)  # fmt: skip
