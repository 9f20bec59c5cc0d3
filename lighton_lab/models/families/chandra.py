"""Chandra 2 (Datalab): the page as HTML layout blocks, each a ``div`` with its box and label.

Source: ``chandra-ocr`` 0.2.0 on PyPI (``datalab-to/chandra``): ``chandra/prompts.py`` (``ocr_layout`` and
``ocr``, built here as they build them: the instruction, then the allowed tags and attributes as Python list
literals, then the guidelines), ``chandra/model/vllm.py`` (the image first, then the prompt; temperature 0,
top_p 0.1; retried warmer, ``min(0.2 (k + 1), 0.8)``, when the output repeats), ``chandra/settings.py``
(``MAX_OUTPUT_TOKENS`` 12384, PDFs at 192 DPI), ``chandra/scripts/vllm.py`` (``--max-model-len 18000`` and the
processor's pixel bounds), ``chandra/output.py`` (top-level divs; page headers and footers left out by
default; ``<math>`` as ``$...$``). Boxes: ``data-bbox="x0 y0 x1 y1"`` on 0-1000 of the image sent.

The HTML of each block becomes Markdown as ``chandra/output.py`` ``parse_markdown`` makes it: markdownify
with their options (ATX headings, ``-`` bullets, ``$`` math, tables kept as HTML, ``_``/``*``/``$`` escaped),
each top-level ``div`` a block; image and figure blocks (a description, not the page's text) are not scored,
and the page furniture follows the workbench's ``furniture`` choice (Chandra drops it by default).
"""

from __future__ import annotations

from functools import cache

from lighton_lab.models.family import Family, Prompt, Published, Reading
from lighton_lab.models.grounding import Block, Furniture

TAGS = ["math", "br", "i", "b", "u", "del", "sup", "sub", "table", "tr", "td", "p", "th", "div", "pre", "h1", "h2",
        "h3", "h4", "h5", "ul", "ol", "li", "input", "a", "span", "img", "hr", "tbody", "small", "caption", "strong",
        "thead", "big", "code", "chem"]  # fmt: skip
ATTRIBUTES = ["class", "colspan", "rowspan", "display", "checked", "type", "border", "value", "style", "href", "alt",
              "align", "data-bbox", "data-label"]  # fmt: skip
LAYOUT_LABELS = ["Caption", "Footnote", "Equation-Block", "List-Group", "Page-Header", "Page-Footer", "Image",
                 "Section-Header", "Table", "Text", "Complex-Block", "Code-Block", "Form", "Table-Of-Contents",
                 "Figure", "Chemical-Block", "Diagram", "Bibliography", "Blank-Page"]  # fmt: skip
ENDING = f"""Only use these tags {TAGS}, and these attributes {ATTRIBUTES}.

Guidelines:
* Inline math: Surround math with <math>...</math> tags. Math expressions should be rendered in KaTeX-compatible LaTeX. Use display for block math.
* Tables: Use colspan and rowspan attributes to match table structure.
* Formatting: Maintain consistent formatting with the image, including spacing, indentation, subscripts/superscripts, and special characters.
* Images: Include a description of any images in the alt attribute of an <img> tag. Do not fill out the src property. Describe in detail inside the div tag. Also convert charts to high fidelity data, and convert diagrams to mermaid.
* Forms: Mark checkboxes and radio buttons properly.
* Text: join lines together properly into paragraphs using <p>...</p> tags.  Use <br> tags for line breaks within paragraphs, but only when absolutely necessary to maintain meaning.
* Chemistry: Use <chem>...</chem> tags for chemical formulas with reactive SMILES.
* Lists: Preserve indents and proper list markers.
* Use the simplest possible HTML structure that accurately represents the content of the block.
* Make sure the text is accurate and easy for a human to read and interpret.  Reading order should be correct and natural."""  # noqa: E501
LAYOUT = (
    "OCR this image to HTML, arranged as layout blocks.  Each layout block should be a div with the data-bbox "
    "attribute representing the bounding box of the block in x0 y0 x1 y1 format.  Bboxes are normalized 0-1000. "
    "The data-label attribute is the label for the block.\n\nUse the following labels:\n"
    + "\n".join(f"- {label}" for label in LAYOUT_LABELS)
    + f"\n\n{ENDING}"
)
OCR = f"OCR this image to HTML.\n\n{ENDING}"
LABELS = {"Caption": "caption", "Footnote": "footnote", "Equation-Block": "formula", "List-Group": "list",
          "Page-Header": "header", "Page-Footer": "footer", "Image": "image", "Figure": "image",
          "Diagram": "image", "Section-Header": "section", "Table": "table", "Text": "text",
          "Code-Block": "code", "Chemical-Block": "formula"}  # fmt: skip


def adapt(raw: str, mode: str, width: int, height: int, furniture: Furniture) -> Reading:
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(raw, "html.parser")
    divs = soup.find_all("div", recursive=False)
    if not divs:  # the OCR prompt: HTML without layout blocks
        return Reading(to_markdown(raw))
    blocks, parts, problems = [], [], []
    for node in soup.contents:
        if isinstance(node, NavigableString):  # text outside any block
            if node.strip():
                parts.append(to_markdown(str(node)))
            continue
        name = node.get("data-label") or "Text"
        if name == "Blank-Page":
            continue
        label = LABELS.get(name, name.lower())
        text = to_markdown(node.decode_contents())
        try:
            x1, y1, x2, y2 = (int(float(v)) for v in (node.get("data-bbox") or "").replace(",", " ").split())
            blocks.append(Block(label, (x1, y1, x2, y2), text))
        except ValueError:
            problems.append(f"{label} block with box {node.get('data-bbox')!r}")
        if label == "image" or (furniture == "drop" and label in ("header", "footer")):
            continue
        parts.append(text)
    return Reading("\n\n".join(p for p in parts if p), tuple(blocks), {}, tuple(problems))


def to_markdown(html: str) -> str:
    """Chandra's HTML as Markdown, as ``chandra/output.py`` ``parse_markdown`` converts it."""
    return _converter().convert(html).strip()


@cache  # one converter: it holds only options, and every block of every row is converted with it
def _converter():
    from markdownify import MarkdownConverter

    class Markdownify(MarkdownConverter):  # chandra/output.py's subclass: math, tables, escaped dollars
        def convert_math(self, el, text, parent_tags):
            if el.get("display") == "block":
                return f"\n$${text.strip()}$$\n"
            return f" ${text.strip()}$ "

        def convert_table(self, el, text, parent_tags):
            return "\n\n" + str(el) + "\n\n"

        def escape(self, text, parent_tags=None):
            return super().escape(text, parent_tags).replace("$", r"\$")

    return Markdownify(heading_style="ATX", bullets="-", escape_misc=False, escape_underscores=True,
                       escape_asterisks=True, sub_symbol="<sub>", sup_symbol="<sup>")  # fmt: skip


def emulate(text: str, blocks: list[Block], width: int, height: int, mode: str) -> str:
    import html

    if mode != "grounding":
        return "\n".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    names = {v: k for k, v in LABELS.items()} | {"page_number": "Page-Footer"}  # Chandra has no folio label
    out = []
    for b in blocks:
        body = html.escape(b.text.lstrip("# ")).replace("\n", "<br>")
        out.append(f'<div data-bbox="{" ".join(map(str, b.box))}" data-label="{names.get(b.label, "Text")}">'
                   f"<p>{body}</p></div>")  # fmt: skip
    return "\n".join(out)


FAMILY = Family(
    key="chandra",
    name="Chandra",
    architecture="Qwen3_5ForConditionalGeneration",  # inferred (README: "Qwen 3.5", 4B); its config.json not read
    prompts={"grounding": Prompt(LAYOUT), "plain": Prompt(OCR)},
    default_mode="grounding",
    licence="Modified OpenRAIL-M (AI Pubs Open RAIL-M, modified)",
    commercial_note="no use by companies over $2M revenue or funding (except personal or research use), "
    "nor in a product competing with Datalab",
    longest_edge=3072,
    dpi=192,
    sampling={"temperature": 0.0, "top_p": 0.1, "max_tokens": 12384},
    ladder=(0.2, 0.4, 0.6, 0.8),
    vllm_flags=(
        "--max-model-len",
        "18000",
        "--mm-processor-kwargs",
        '{"min_pixels": 3136, "max_pixels": 6291456}',
        "--limit-mm-per-prompt",
        '{"image": 1}',
    ),  # fmt: skip
    published=(Published("85.9", "chandra-ocr 0.2.0 README, Chandra 2", True),),
    sources=(
        "chandra-ocr 0.2.0 (PyPI) chandra/prompts.py, model/vllm.py, settings.py, output.py, scripts/vllm.py",
    ),
    adapt=adapt,
    emulate=emulate,
)
VARIANTS = (
    dict(
        short_name="chandra-2", hf_id="datalab-to/chandra-ocr-2", note="Chandra 2, 4B", aliases=("chandra",)
    ),
)
