"""Markup to the text a reader sees, with parsers: Markdown (CommonMark + GFM tables) through markdown-it-py,
HTML through the standard library's HTML parser, LaTeX math to Unicode through pylatexenc.

Applied only to text that *is* markup (an output of LightOnOCR, a ``.gt.md`` reference): plain text is
never parsed as Markdown, so ``12. March`` at the start of a line or ``a<b`` stay what they are.

- Markdown: syntax goes (headings, emphasis, list markers, links, tables, fences, escapes), text stays;
  images and LightOnOCR's image/bbox placeholders (``![image](...)``) go; table cells are separated by a
  space and rows by a line break, as a reader reads them.
- Math is math only when delimited as math and shaped like it: ``$...$`` with no space inside the
  delimiters and no digit right after the closing one (Pandoc's rule: ``$12.50 or $3`` is prose),
  ``$$...$$``, ``\\(...\\)``, ``\\[...\\]`` blocks. Its LaTeX becomes Unicode (``\\pi r^2`` -> ``πr²``,
  ``\\frac{a+b}{c}`` -> ``(a+b) / c``), so a LaTeX transcription and a Unicode one of the same formula
  compare as equal as they read.
- HTML: only real HTML elements with valued attributes are markup. ``<td colspan="2">``, ``<br>``,
  ``<sup>`` are; ``x<y and y>z`` and ``a<b and c>d`` are text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from html.parser import HTMLParser

# HTML's elements (WHATWG, plus the obsolete ones still seen in OCR output); anything else is text.
HTML_ELEMENTS = frozenset(
    [
        "a",
        "abbr",
        "address",
        "area",
        "article",
        "aside",
        "audio",
        "b",
        "base",
        "bdi",
        "bdo",
        "blockquote",
        "body",
        "br",
        "button",
        "canvas",
        "caption",
        "center",
        "cite",
        "code",
        "col",
        "colgroup",
        "data",
        "datalist",
        "dd",
        "del",
        "details",
        "dfn",
        "dialog",
        "div",
        "dl",
        "dt",
        "em",
        "embed",
        "fieldset",
        "figcaption",
        "figure",
        "font",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "head",
        "header",
        "hgroup",
        "hr",
        "html",
        "i",
        "iframe",
        "img",
        "input",
        "ins",
        "kbd",
        "label",
        "legend",
        "li",
        "link",
        "main",
        "map",
        "mark",
        "math",
        "menu",
        "meta",
        "meter",
        "nav",
        "noscript",
        "object",
        "ol",
        "optgroup",
        "option",
        "output",
        "p",
        "param",
        "picture",
        "pre",
        "progress",
        "q",
        "rp",
        "rt",
        "ruby",
        "s",
        "samp",
        "script",
        "section",
        "select",
        "slot",
        "small",
        "source",
        "span",
        "strike",
        "strong",
        "style",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "template",
        "textarea",
        "tfoot",
        "th",
        "thead",
        "time",
        "title",
        "tr",
        "track",
        "tt",
        "u",
        "ul",
        "var",
        "video",
        "wbr",
    ]
)
_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    ]
)
_ROWS = frozenset(["tr", "thead", "tbody", "tfoot"])  # a line break where they end, not where they start
_HIDDEN = frozenset(["script", "style", "head", "title"])
# A tag is markup when it names an HTML element and every attribute has a value (``<td colspan="2">``):
# ``a<b and c>d`` in prose is a comparison, not a bold tag with attributes "and" and "c".
_TAG = re.compile(
    r"""^</?([A-Za-z][A-Za-z0-9-]*)((?:\s+[^\s=>/"']+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))*)\s*/?>$"""
)

_SUPERSCRIPT = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP = re.compile(r"\^(?:\{([0-9+\-=()ni]+)\}|([0-9ni]))")
_SUB = re.compile(r"_(?:\{([0-9+\-=()]+)\}|([0-9]))")


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.texmath import texmath_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True, allow_labels=False)
    return md.use(texmath_plugin, delimiters="brackets")


@lru_cache(maxsize=1)
def _latex():
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

    def frac(node, l2tobj) -> str:
        parts = [
            l2tobj.nodelist_to_text([arg]).strip() if arg is not None else ""
            for arg in node.nodeargd.argnlist[-2:]
        ]
        compound = [bool(re.search(r"[\s+\-−*/=±]", p)) for p in parts]
        parts = [f"({p})" if c else p for p, c in zip(parts, compound)]
        return f"{parts[0]} / {parts[1]}" if any(compound) else f"{parts[0]}/{parts[1]}"

    db = get_default_latex_context_db().filter_context()  # a copy: pylatexenc's default stays as it is
    db.add_context_category(
        "lighton-lab",
        prepend=True,
        macros=[MacroTextSpec(name, simplify_repl=frac) for name in ("frac", "dfrac", "tfrac")],
    )
    return LatexNodes2Text(latex_context=db, math_mode="text", strict_latex_spaces=False)


def latex_to_text(latex: str) -> str:
    """LaTeX math as Unicode text: symbols by pylatexenc, digit super- and subscripts as Unicode ones.

    >>> latex_to_text(r"A = \\pi r^2"), latex_to_text(r"\\frac{S + D + I}{N}")
    ('A = πr²', '(S + D + I) / N')
    """
    latex = _SUP.sub(lambda m: (m.group(1) or m.group(2)).translate(_SUPERSCRIPT), latex)
    latex = _SUB.sub(lambda m: (m.group(1) or m.group(2)).translate(_SUBSCRIPT), latex)
    try:
        return _latex().latex_to_text(latex).strip()
    except Exception:  # pylatexenc is lenient; anything it still refuses is kept as written
        return latex.strip()


def markdown_to_text(text: str) -> str:
    """What a reader sees of a Markdown document (see the module docstring).

    >>> markdown_to_text("## Title\\n\\n| a | b |\\n|---|---|\\n| **1** | 2 |")
    'Title\\n\\na b\\n1 2'
    """
    out: list[str] = []
    for token in _markdown().parse(text):
        kind = token.type
        if kind == "inline":
            out.append(_inline(token.children or []))
        elif kind in ("paragraph_close", "heading_close", "table_close", "blockquote_close"):
            out.append("\n\n")
        elif kind in ("list_item_close", "tr_close", "hr"):
            out.append("\n")
        elif kind in ("th_close", "td_close"):
            out.append(" ")
        elif kind in ("fence", "code_block"):
            out.append(token.content + "\n\n")
        elif kind in ("math_block", "math_block_label", "math_block_eqno"):
            out.append(latex_to_text(token.content) + "\n\n")
        elif kind == "html_block":
            out.append(html_to_text(token.content) + "\n\n")
    return _tidy("".join(out))


def _inline(children) -> str:
    out: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in ("math_inline", "math_inline_double", "math_single"):
            out.append(latex_to_text(child.content))
        elif kind == "html_inline":
            out.append(_inline_html(child.content))
        # image (LightOnOCR's placeholders and bbox markup), link/emphasis open/close: no text
    return "".join(out)


def _inline_html(tag: str) -> str:
    match = _TAG.match(tag.strip())
    if not match or match.group(1).lower() not in HTML_ELEMENTS:
        return tag  # "<y and y>" in "x<y and y>z" is text, not a tag
    return "\n" if match.group(1).lower() == "br" else ""


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag not in HTML_ELEMENTS or any(value is None for _, value in attrs):
            self.out.append(self.get_starttag_text() or "")
        elif tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br" or (tag in _BLOCK and tag not in _ROWS):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag not in HTML_ELEMENTS:
            self.out.append(f"</{tag}>")
        elif tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Text of an HTML fragment: cells separated by spaces, rows and blocks by line breaks; the text
    inside cells is read as Markdown inline (LightOnOCR writes ``**bold**`` and ``$x^2$`` in cells).

    >>> html_to_text("<table><tr><td>a</td><td>$x^2$</td></tr><tr><td>b&amp;c</td></tr></table>")
    'a x²\\nb&c'
    """
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [
        _inline(_markdown().parseInline(line)[0].children or []) if line.strip() else ""
        for line in "".join(parser.out).split("\n")
    ]
    return _tidy("\n".join(lines))


def _tidy(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
