"""Ground truth beside a document: ``.gt.txt`` / ``.gt.md`` text (pages split at form feeds) and structured
ALTO (v2-v4), PAGE-XML (2010-2019) and hOCR, parsed with lxml into regions and lines in reading order.

Libraries, archives and OCR-D, eScriptorium and Transkribus users keep their best ground truth in these
formats. A ``Layout`` keeps its regions (blocks) with their lines and boxes in the file's reading order:

- ALTO: ``TextBlock``s (also inside ``ComposedBlock``) in document order, or along their ``IDNEXT`` chain
  when the file gives one; ``TextLine``/``String@CONTENT`` with ``SP`` as spaces and ``HYP`` (the printed
  hyphen) at line ends; ``HPOS``/``VPOS``/``WIDTH``/``HEIGHT`` boxes. One ``Page`` per document page.
- PAGE-XML: ``ReadingOrder`` (``OrderedGroup``/``UnorderedGroup``, nested, by ``@index``) first, regions
  it does not name after it in document order; a region's own ``TextEquiv`` is its text, else its lines';
  boxes from ``Coords@points``. One page per file.
- hOCR: ``ocr_par`` (else ``ocr_carea``) regions, ``ocr_line``-like lines of ``ocrx_word``s, ``bbox`` from
  ``title``; one ``ocr_page`` per document page.

Each region keeps its type where the file gives one (``Region.type``: PAGE's ``@type`` and region kind,
ALTO's ``TAGREFS`` tag label, e.g. eScriptorium's SegmOnto zones), and each layout the size of the page the
coordinates are on (PAGE ``imageWidth``/``imageHeight``, ALTO ``Page@WIDTH``/``HEIGHT``, hOCR ``ocr_page``
bbox), so boxes can be compared with a model's on any render of the page (``scoring.layout``). PAGE's and
ALTO's non-text regions (tables, images, graphics, formulas, charts) are regions without text.

The flattened text (``Layout.text``): lines joined by line breaks, regions by a blank line. Anything
malformed (not XML, an unknown namespace or version, a reading order naming a missing region, a page count
that differs from the image's) raises ``CorpusError`` naming the file and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lighton_lab.errors import CorpusError

Box = tuple[int, int, int, int]  # x0, y0, x1, y1

ALTO = {
    "http://www.loc.gov/standards/alto/ns-v2#": 2,
    "http://www.loc.gov/standards/alto/ns-v3#": 3,
    "http://www.loc.gov/standards/alto/ns-v4#": 4,
}
PAGE = {
    f"http://schema.primaresearch.org/PAGE/gts/pagecontent/{date}": date
    for date in ("2010-03-19", "2013-07-15", "2016-07-15", "2017-07-15", "2018-07-15", "2019-07-15")
}
SUFFIXES = {".alto.xml": "alto", ".page.xml": "page", ".hocr": "hocr"}
# PAGE's non-text regions kept as layout regions (no text); separators, noise and unknown regions are not
# content a model is asked to find.
PAGE_FIGURES = ("TableRegion", "ImageRegion", "GraphicRegion", "ChartRegion", "MathsRegion", "ChemRegion")
GT_SUFFIXES = (".gt.txt", ".gt.md")


@dataclass(frozen=True)
class Line:
    text: str
    box: Box | None = None


@dataclass(frozen=True)
class Region:
    id: str
    lines: tuple[Line, ...]
    box: Box | None = None
    text_override: str | None = None  # PAGE: the region's own TextEquiv
    type: str | None = None  # as the file says: "heading", "page-number", "TableRegion", "NumberingZone", ...

    @property
    def text(self) -> str:
        return (
            self.text_override
            if self.text_override is not None
            else "\n".join(line.text for line in self.lines)
        )


@dataclass(frozen=True)
class Layout:
    """One page's regions in reading order."""

    regions: tuple[Region, ...]
    source: str  # "alto", "page" or "hocr"
    width: int | None = None  # the size of the page the boxes are on, in the file's units
    height: int | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(r.text for r in self.regions if r.text.strip())


def read_layouts(path: Path) -> list[Layout]:
    """The layouts of every page in a ground-truth file (format from its name)."""
    kind = next((k for suffix, k in SUFFIXES.items() if path.name.endswith(suffix)), None)
    if kind is None:
        raise CorpusError(f"{path.name}: not a ground-truth format (use {', '.join(SUFFIXES)})")
    return {"alto": read_alto, "page": read_page, "hocr": read_hocr}[kind](path)


def _parse_xml(path: Path):
    from lxml import etree

    try:
        return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    except etree.XMLSyntaxError as exc:
        raise CorpusError(f"{path.name}: not well-formed XML ({exc}). Fix or re-export the file.") from None


def _namespace(root, known: dict, path: Path, what: str) -> str:
    ns = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if ns not in known:
        raise CorpusError(
            f"{path.name}: unknown {what} namespace {ns or '(none)'!r}; supported: {', '.join(known)}"
        )
    return ns


def _int(value) -> int:
    return int(round(float(value)))


# ---- ALTO ----------------------------------------------------------------------------------------


def read_alto(path: Path) -> list[Layout]:
    root = _parse_xml(path)
    ns = {"a": _namespace(root, ALTO, path, "ALTO")}
    layouts = []
    tags = {t.get("ID"): t.get("LABEL") for t in root.iterfind("a:Tags/*", ns) if t.get("ID")}
    for page in root.iterfind(".//a:Layout/a:Page", ns):
        blocks = page.findall(".//a:TextBlock", ns)
        regions = {b.get("ID") or f"block{i}": _alto_block(b, ns, i, tags) for i, b in enumerate(blocks)}
        ordered = _alto_order(blocks, regions, path)
        figures = [
            Region(e.get("ID") or f"{e.tag.split('}')[-1]}{i}", (), _alto_box(e), None, e.tag.split("}")[-1])
            for i, e in enumerate(page.iter(f"{{{ns['a']}}}Illustration", f"{{{ns['a']}}}GraphicalElement"))
        ]
        width, height = _size(page.get("WIDTH"), page.get("HEIGHT"))
        layouts.append(Layout(tuple(ordered + figures), "alto", width, height))
    if not layouts:
        raise CorpusError(f"{path.name}: no Layout/Page in the ALTO file")
    return layouts


def _alto_box(element) -> Box | None:
    try:
        x, y = _int(element.get("HPOS")), _int(element.get("VPOS"))
        return x, y, x + _int(element.get("WIDTH")), y + _int(element.get("HEIGHT"))
    except (TypeError, ValueError):
        return None


def _alto_block(block, ns, index: int, tags: dict[str, str]) -> Region:
    lines = []
    for line in block.iterfind("a:TextLine", ns):
        children = [(child.tag.split("}")[-1], child) for child in line]
        if any(tag == "SP" for tag, _ in children):  # spaces as the file gives them
            text = "".join(
                c.get("CONTENT", "") if tag == "String" else " " if tag == "SP" else c.get("CONTENT", "-")
                for tag, c in children
                if tag in ("String", "SP", "HYP")
            )
        else:  # no SP elements: words are separated by spaces, the hyphen is glued to the last word
            text = " ".join(c.get("CONTENT", "") for tag, c in children if tag == "String")
            text += "".join(c.get("CONTENT", "-") for tag, c in children if tag == "HYP")
        lines.append(Line(" ".join(text.split()), _alto_box(line)))
    labels = [tags[t] for t in (block.get("TAGREFS") or "").split() if tags.get(t)]
    kind = labels[0] if labels else None
    return Region(block.get("ID") or f"block{index}", tuple(lines), _alto_box(block), None, kind)


def _alto_order(blocks, regions: dict[str, Region], path: Path) -> list[Region]:
    nexts = {b.get("ID"): b.get("IDNEXT") for b in blocks if b.get("IDNEXT")}
    if not nexts:
        return list(regions.values())
    missing = sorted(n for n in nexts.values() if n not in regions)
    if missing:
        raise CorpusError(f"{path.name}: IDNEXT names block(s) {missing} that the page does not have")
    ordered, targets = [], set(nexts.values())
    for start in [i for i in regions if i not in targets]:
        current = start
        while current is not None and regions[current] not in ordered:
            ordered.append(regions[current])
            current = nexts.get(current)
    return ordered + [r for r in regions.values() if r not in ordered]


# ---- PAGE-XML --------------------------------------------------------------------------------------


def read_page(path: Path) -> list[Layout]:
    root = _parse_xml(path)
    ns = {"p": _namespace(root, PAGE, path, "PAGE-XML")}
    page = root.find("p:Page", ns)
    if page is None:
        raise CorpusError(f"{path.name}: no Page element in the PAGE-XML file")
    regions = {}
    kinds = [f"{{{ns['p']}}}{kind}" for kind in ("TextRegion", *PAGE_FIGURES)]
    for element in page.iter(*kinds):
        kind = element.tag.split("}")[-1]
        if kind != "TextRegion":
            regions[element.get("id")] = Region(element.get("id"), (), _points_box(element, ns), None, kind)
            continue
        lines = tuple(
            Line(_equiv(line, ns) or "", _points_box(line, ns)) for line in element.iterfind("p:TextLine", ns)
        )
        region_text = _equiv(element, ns)
        regions[element.get("id")] = Region(
            element.get("id"), lines, _points_box(element, ns), region_text, element.get("type")
        )
    order = page.find("p:ReadingOrder", ns)
    named = _reading_order(order[0], ns) if order is not None and len(order) else []
    skipped = {e.get("id") for e in page.iter() if isinstance(e.tag, str) and e.tag.endswith("Region")}
    named = [r for r in named if r in regions or r not in skipped]  # separators, noise: not content
    missing = [r for r in named if r not in regions]
    if missing:
        raise CorpusError(f"{path.name}: ReadingOrder names region(s) {missing} that the page does not have")
    ordered = [regions[r] for r in named]
    width, height = _size(page.get("imageWidth"), page.get("imageHeight"))
    return [Layout(tuple(ordered + [r for i, r in regions.items() if i not in named]), "page", width, height)]


def _size(width, height) -> tuple[int | None, int | None]:
    try:
        return _int(width), _int(height)
    except (TypeError, ValueError):
        return None, None


def _reading_order(group, ns) -> list[str]:
    """Region ids of an OrderedGroup/UnorderedGroup, nested groups flattened, indexed children by @index."""
    children = [
        c
        for c in group
        if c.tag.split("}")[-1]
        in (
            "RegionRefIndexed",
            "RegionRef",
            "OrderedGroupIndexed",
            "UnorderedGroupIndexed",
            "OrderedGroup",
            "UnorderedGroup",
        )
    ]
    if all(c.get("index") is not None for c in children):
        children.sort(key=lambda c: int(c.get("index")))
    ids: list[str] = []
    if group.get("regionRef"):
        ids.append(group.get("regionRef"))
    for child in children:
        if child.tag.split("}")[-1].startswith("RegionRef"):
            ids.append(child.get("regionRef"))
        else:
            ids += _reading_order(child, ns)
    return ids


def _equiv(element, ns) -> str | None:
    equivs = element.findall("p:TextEquiv", ns)
    if not equivs:
        return None
    equivs.sort(key=lambda e: int(e.get("index", "0")))
    unicode = equivs[0].find("p:Unicode", ns)
    return unicode.text or "" if unicode is not None else None


def _points_box(element, ns) -> Box | None:
    coords = element.find("p:Coords", ns)
    points = coords.get("points") if coords is not None else None
    if not points:
        return None
    xy = [tuple(_int(v) for v in p.split(",")) for p in points.split()]
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return min(xs), min(ys), max(xs), max(ys)


# ---- hOCR ----------------------------------------------------------------------------------------

_LINE_CLASSES = {"ocr_line", "ocrx_line", "ocr_header", "ocr_caption", "ocr_textfloat"}
_BBOX = re.compile(r"bbox\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)")


def read_hocr(path: Path) -> list[Layout]:
    from lxml import etree, html

    try:
        root = html.parse(str(path)).getroot()
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise CorpusError(f"{path.name}: not a readable hOCR file ({exc})") from None
    if root is None:
        raise CorpusError(f"{path.name}: empty hOCR file")
    pages = [e for e in root.iter() if "ocr_page" in _classes(e)]
    if not pages:
        raise CorpusError(f"{path.name}: no ocr_page element: not hOCR")
    layouts = []
    for page in pages:
        kind = "ocr_par" if any("ocr_par" in _classes(e) for e in page.iter()) else "ocr_carea"
        regions = []
        for i, area in enumerate(e for e in page.iter() if kind in _classes(e)):
            lines = tuple(
                Line(_words(line), _hocr_box(line)) for line in area.iter() if _classes(line) & _LINE_CLASSES
            )
            regions.append(Region(area.get("id") or f"{kind}{i}", lines, _hocr_box(area)))
        box = _hocr_box(page)
        width, height = (box[2] - box[0], box[3] - box[1]) if box else (None, None)
        layouts.append(Layout(tuple(regions), "hocr", width, height))
    return layouts


def _classes(element) -> set[str]:
    value = element.get("class") if isinstance(element.tag, str) else None
    return set(value.split()) if value else set()


def _words(line) -> str:
    words = [w.text_content().strip() for w in line.iter() if "ocrx_word" in _classes(w)]
    return " ".join(w for w in words if w) if words else " ".join(line.text_content().split())


def _hocr_box(element) -> Box | None:
    match = _BBOX.search(element.get("title") or "")
    return tuple(int(v) for v in match.groups()) if match else None


# ---- sidecar files beside a document ------------------------------------------------------------


def sidecar_truth(file: Path, name: str, count: int) -> tuple[list[str] | None, str | None, str | None]:
    stem = file.with_suffix("")
    for suffix in GT_SUFFIXES:
        gt_file = stem.with_name(stem.name + suffix)
        if gt_file.exists():
            fmt = "markdown" if suffix == ".gt.md" else "text"
            return split_pages(read_text(gt_file), count, gt_file.name, name), "sidecar", fmt
    return None, None, None


def layouts_beside(file: Path, name: str, count: int) -> list[Layout] | None:
    """Regions and lines from ``NAME.alto.xml``, ``NAME.page.xml`` or ``NAME.hocr`` beside the document."""
    stem = file.with_suffix("")
    for suffix in SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.exists():
            layouts = read_layouts(path)
            if len(layouts) != count:
                raise CorpusError(
                    f"{path.name}: has {len(layouts)} page(s) but {name} has {count}. "
                    "Export one page of ground truth per page of the document."
                )
            return layouts
    return None


def read_text(path: Path) -> str:
    """A ground-truth file as text; invalid UTF-8 is an error that says where, not a silent '?'."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path.name}: not valid UTF-8 (byte {error.start}: {data[error.start : error.start + 4]!r}). "
            "Re-save the ground truth as UTF-8."
        ) from None


def split_pages(text: str, count: int, gt_name: str, doc_name: str) -> list[str]:
    """Ground truth split at form feeds into ``count`` pages. A trailing form feed (as ``pdftotext``
    writes after the last page) does not make an extra page."""
    parts = text.split("\f")
    if len(parts) == count + 1 and not parts[-1].strip():
        parts = parts[:-1]
    if len(parts) != count:
        raise CorpusError(
            f"{gt_name}: has {len(parts)} page(s) of ground truth but {doc_name} has {count}. "
            "Separate pages with a form feed (\\f), one part per page."
        )
    return [p.strip("\n") for p in parts]
