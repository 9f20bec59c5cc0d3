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

_FRACTION_SLASH = "\u2215"  # a \\frac of compound parts: spaced like a binary operator, shown as "/"
_SUP_CHARS, _SUB_CHARS = set("0123456789+-=()ni"), set("0123456789+-=()")
_SUPERSCRIPT = str.maketrans("0123456789+-=()ni", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿⁱ")
_SUBSCRIPT = str.maketrans("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎")
_SUP = re.compile(r"\^(?:\{([0-9+\-=()ni]+)\}|([0-9ni]))")
_SUB = re.compile(r"_(?:\{([0-9+\-=()]+)\}|([0-9]))")


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin
    from mdit_py_plugins.dollarmath.index import math_inline_dollar
    from mdit_py_plugins.texmath import texmath_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.use(dollarmath_plugin, allow_space=False, allow_digits=True, double_inline=True, allow_labels=False)
    md.inline.ruler.at("math_inline", _pandoc_digits(math_inline_dollar(False, True, True)))
    return md.use(texmath_plugin, delimiters="brackets")


def _pandoc_digits(rule):
    """Pandoc's rule for ``$``: no digit right before the opening one or right after the closing one
    (``$12.50 or $3`` is prose). mdit-py-plugins' own check (``allow_digits=False``) reads the character
    before an opening ``$`` at position 0 as the paragraph's last one (``src[-1]``), so a paragraph that
    starts with math and ends in a digit kept its LaTeX raw; this wrapper checks the two sides itself."""

    def checked(state, silent: bool) -> bool:
        start = state.pos
        if start > 0 and state.src[start - 1].isdigit():
            return False
        if not rule(state, True):  # finds the closing $ (and moves past it) without emitting a token
            return False
        end, state.pos = state.pos, start
        if end < len(state.src) and state.src[end].isdigit():
            return False
        return rule(state, silent)

    return checked


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
        return f"{parts[0]}{_FRACTION_SLASH}{parts[1]}" if any(compound) else f"{parts[0]}/{parts[1]}"

    db = get_default_latex_context_db().filter_context()  # a copy: pylatexenc's default stays as it is
    db.add_context_category(
        "lighton-lab",
        prepend=True,
        macros=[MacroTextSpec(name, simplify_repl=frac) for name in ("frac", "dfrac", "tfrac")],
    )
    return LatexNodes2Text(latex_context=db, math_mode="text", strict_latex_spaces=False)


def latex_to_text(latex: str) -> str:
    """LaTeX math as Unicode text, spaced as TeX sets it: symbols by pylatexenc, digit super- and subscripts
    as Unicode ones, one space around relations and binary operators, none elsewhere around them (TeX
    ignores the spaces typed in math, so ``a+b\\leq c`` and ``a + b \\leq c`` read the same).

    >>> latex_to_text(r"A = \\pi r^2"), latex_to_text(r"\\frac{S + D + I}{N}"), latex_to_text(r"\\alpha+\\beta\\leq-1")
    ('A = πr²', '(S + D + I) / N', 'α + β ≤ -1')
    """
    latex = _tight(latex)
    latex = _SUP.sub(lambda m: (m.group(1) or m.group(2)).translate(_SUPERSCRIPT), latex)
    latex = _SUB.sub(lambda m: (m.group(1) or m.group(2)).translate(_SUBSCRIPT), latex)
    try:
        text = _latex().latex_to_text(latex)
    except Exception:  # pylatexenc is lenient; anything it still refuses is kept as written
        return latex.strip()
    return _tex_spacing(text)


# TeX's spacing in math: a thick space around relations, a medium one around binary operators (but not
# after an opening bracket, an operator or the start, where + and - are signs), a thin one after a comma.
_RELATIONS = set("=<>≤≥≠≈≡∼≃≅∝→←↔⇒⇐⇔↦∈∉∋⊂⊃⊆⊇⊊⊋≪≫⊥∥∣")
_BINARY = set("+-−±∓×÷·∘∗⋅∪∩∧∨⊕⊗⊖⊙∖") | {_FRACTION_SLASH}
_SPACED = re.compile(r"\s*([" + re.escape("".join(_RELATIONS | _BINARY)) + r",])\s*")


_TEXT_GROUPS = ("\\text{", "\\mathrm{", "\\textrm{", "\\textit{", "\\textbf{", "\\mbox{", "\\operatorname{")


def _tight(latex: str) -> str:
    """The LaTeX without the spaces TeX ignores in math: every whitespace run goes, except one after a
    control word followed by a letter (``\\alpha x``) and inside text groups (``\\text{for all}``)."""
    out, i = [], 0
    while i < len(latex):
        group = next((g for g in _TEXT_GROUPS if latex.startswith(g, i)), None)
        if group:  # copied whole, up to its closing brace
            depth, j = 0, i + len(group) - 1
            while j < len(latex):
                depth += {"{": 1, "}": -1}.get(latex[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append(latex[i:j])
            i = j
        elif latex[i] == "\\":
            word = re.match(r"\\([A-Za-z]+|.?)", latex[i:]).group(0)
            i += len(word)
            out.append(word)
            gap = re.match(r"\s+", latex[i:])
            if gap:
                i += gap.end()
                if word[1:].isalpha() and i < len(latex) and latex[i].isalpha():
                    out.append(" ")
        elif latex[i].isspace():
            i += 1
        else:
            out.append(latex[i])
            i += 1
    return "".join(out)


def _tex_spacing(text: str) -> str:
    parts = _SPACED.split(text.strip())
    out = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out += part
        elif part == ",":
            out += ", "
        elif part in _RELATIONS or (part in _BINARY and out and not out.endswith(("(", "[", "{", " "))):
            out += f" {'/' if part == _FRACTION_SLASH else part} "
        else:
            out += part
    return re.sub(r" {2,}", " ", out).strip()


def markdown_to_text(text: str) -> str:
    """What a reader sees of a Markdown document (see the module docstring).

    >>> markdown_to_text("## Title\\n\\n| a | b |\\n|---|---|\\n| **1** | 2 |")
    'Title\\n\\na b\\n1 2'
    >>> markdown_to_text("12. March 2024 the council met.")  # a list item shows its number
    '12. March 2024 the council met.'
    """
    out: list[str] = []
    for token in _markdown().parse(text):
        kind = token.type
        if kind == "inline":
            out.append(_inline(token.children or []))
        elif kind == "list_item_open":  # the marker as written: "12." or "1)" is visible, "-" too
            out.append(f"{token.info}{token.markup} ")
        elif kind in ("paragraph_close", "heading_close", "table_close", "blockquote_close"):
            out.append("\n\n")
        elif kind in ("list_item_close", "tr_close", "hr"):
            out.append("\n")
        elif kind in ("th_close", "td_close"):
            out.append(" ")
        elif kind in ("fence", "code_block"):
            out.append(_fenced(token) + "\n\n")
        elif kind in ("math_block", "math_block_label", "math_block_eqno"):
            out.append(latex_to_text(token.content) + "\n\n")
        elif kind == "html_block":
            out.append(html_to_text(token.content) + "\n\n")
    return _tidy("".join(out))


def _fenced(token) -> str:
    """A fence's content as written, except a fence that declares Markdown or HTML (models wrap whole
    answers in ```` ```markdown ````): that is read as what it says it is."""
    language = (token.info or "").strip().split(maxsplit=1)[0].lower() if token.info else ""
    if language in ("markdown", "md"):
        return markdown_to_text(token.content)
    if language == "html":
        return html_to_text(token.content)
    return token.content


def _inline(children) -> str:
    """Inline tokens as text; inside ``<sup>``/``<sub>`` the text is raised or lowered as LaTeX's ``^``/``_``
    are (``m<sup>2</sup>`` reads ``m²`` like ``$m^2$``)."""
    out: list[str] = []
    shift: list[str] = []  # the open <sup>/<sub> elements
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(_shifted(child.content, shift[-1]) if shift else child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in ("math_inline", "math_inline_double", "math_single"):
            out.append(latex_to_text(child.content))
        elif kind == "html_inline":
            tag = _TAG.match(child.content.strip())
            name = tag.group(1).lower() if tag else ""
            if name in ("sup", "sub"):
                if child.content.lstrip().startswith("</"):
                    shift = shift[:-1]
                else:
                    shift.append(name)
                continue
            out.append(_inline_html(child.content))
        # image (LightOnOCR's placeholders and bbox markup), link/emphasis open/close: no text
    return "".join(out)


def _shifted(text: str, how: str) -> str:
    """Text set as a superscript or subscript: Unicode's raised or lowered characters where every character
    has one, else ``^``/``_`` and the text, as pylatexenc writes ``x^{ab}``."""
    table, mark, allowed = (_SUPERSCRIPT, "^", _SUP_CHARS) if how == "sup" else (_SUBSCRIPT, "_", _SUB_CHARS)
    return text.translate(table) if text and set(text) <= allowed else f"{mark}{text}"


def _inline_html(tag: str) -> str:
    match = _TAG.match(tag.strip())
    if not match or match.group(1).lower() not in HTML_ELEMENTS:
        return tag  # "<y and y>" in "x<y and y>z" is text, not a tag
    return "\n" if match.group(1).lower() == "br" else ""


class _Text(HTMLParser):
    """An HTML fragment's text, still to be read as Markdown inline: ``&`` is escaped again after the
    parser decoded character references, so ``&amp;lt;`` is decoded once (to ``&lt;``), not twice."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0
        self.shift: list[str] = []  # open <sup>/<sub> elements

    def handle_starttag(self, tag, attrs):
        if tag not in HTML_ELEMENTS or any(value is None for _, value in attrs):
            self.out.append(self.get_starttag_text() or "")
        elif tag in ("sup", "sub"):
            self.shift.append(tag)
        elif tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br" or (tag in _BLOCK and tag not in _ROWS):
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag not in HTML_ELEMENTS:
            self.out.append(f"</{tag}>")
        elif tag in ("sup", "sub"):
            self.shift = self.shift[:-1]
        elif tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            data = _shifted(data, self.shift[-1]) if self.shift else data
            self.out.append(data.replace("&", "&amp;"))


def html_to_text(html: str) -> str:
    """Text of an HTML fragment: cells separated by spaces, rows and blocks by line breaks; the text
    inside cells is read as Markdown inline (LightOnOCR writes ``**bold**`` and ``$x^2$`` in cells).

    >>> html_to_text("<table><tr><td>a</td><td>$x^2$</td></tr><tr><td>b&amp;c &amp;lt; m<sup>2</sup></td></tr></table>")
    'a x²\\nb&c &lt; m²'
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
