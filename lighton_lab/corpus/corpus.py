"""A corpus is a folder of documents with their ground truth, read once into a list of pages.

The folder format (README, "Corpus format"):

- Documents: ``*.pdf``, ``*.png``, ``*.jpg``/``*.jpeg``, ``*.tif``/``*.tiff`` (multi-page TIFF gives several
  pages), ``*.webp``, ``*.bmp``; subfolders too, whose names become tags.
- Ground truth beside each document: ``NAME.gt.txt`` or ``NAME.gt.md`` (``NAME`` without the document's
  extension); several pages are separated by a form feed (``\\f``), the ``pdftotext`` convention.
  A document without ground truth is still OCR'd; its scores are missing, not zero.
- Optional ``manifest.jsonl``: one object per page or document, ``{"path": ..., "page": 1-based or absent
  for all pages, "ground_truth": ... or "ground_truth_path": ..., "tags": [...]}``.
- ``reference="text-layer"`` takes a born-digital PDF's own text as (silver) ground truth where no
  sidecar gives one.

Everything is checked at load time so that a sweep never dies half-way on a file it could have refused
up front: unreadable files are skipped and listed in ``Corpus.skipped`` (or raise with ``strict=True``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from lighton_lab.config import DocumentKind, TextFormat
from lighton_lab.corpus.groundtruth import (
    GT_SUFFIXES,
    Layout,
    layouts_beside,
    read_text,
    sidecar_truth,
    split_pages,
)
from lighton_lab.errors import CorpusError

PDF_SUFFIXES = {".pdf"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
DOCUMENT_SUFFIXES = PDF_SUFFIXES | IMAGE_SUFFIXES
# Files that may live in a corpus folder without being documents: never reported as skipped.
_QUIET_SUFFIXES = {
    ".txt",
    ".md",
    ".json",
    ".jsonl",
    ".csv",
    ".tsv",
    ".yml",
    ".yaml",
    ".xml",
    ".html",
    ".hocr",
    ".sqlite",
}
_QUIET_NAMES = {"license", "licence", "copying", "notice", "authors", "readme"}  # a dataset's paperwork
MANIFEST = "manifest.jsonl"


@dataclass(frozen=True)
class Page:
    """One page to OCR: where it comes from and what it should read."""

    document: str  # path relative to the corpus root, e.g. "scans/letter.png"
    page_number: int  # 1-based, as a person counts pages (and as every row and message says)
    path: Path
    kind: DocumentKind
    ground_truth: str | None = None
    reference: str | None = None  # where the ground truth came from: sidecar, manifest, text-layer
    tags: tuple[str, ...] = ()
    # "text" (.gt.txt, text layer) or "markdown" (.gt.md): how the reference is normalised
    ground_truth_format: TextFormat | None = None
    # regions and lines with boxes (ALTO, PAGE-XML, hOCR sidecar), in the file's reading order
    layout: Layout | None = field(default=None, repr=False)

    @property
    def index(self) -> int:
        """0-based position in the file, for code that seeks into it (pdfium, a TIFF's frames)."""
        return self.page_number - 1

    @property
    def id(self) -> str:
        """A readable key, e.g. ``letter.pdf#2`` for the second page."""
        return f"{self.document}#{self.page_number}"


@dataclass
class Corpus:
    """The pages of a folder, in a stable order (document name, then page)."""

    root: Path
    pages: list[Page]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path | list, strict: bool = False, reference: str | None = None) -> Corpus:
        """Read a corpus folder (or a single document file, or a list of folders read as one corpus).

        With ``strict=False`` (default) bad files are skipped and listed in ``skipped`` as
        ``(file, reason)``; with ``strict=True`` the first one raises ``CorpusError``.
        """
        if isinstance(path, (list, tuple)):
            return cls.combine([cls.load(p, strict, reference) for p in path])
        if reference not in (None, "text-layer"):
            raise CorpusError(f"reference={reference!r} is not known: use None (sidecars) or 'text-layer'")
        if not str(path).strip():
            raise CorpusError(
                "Corpus.load('') names no folder: pass a folder of documents, e.g. 'data/sample'"
            )
        root = Path(path)
        if not root.exists():
            raise CorpusError(
                f"{root.resolve()}: no such file or folder. Point Corpus.load at a folder of documents."
            )
        files = [root] if root.is_file() else _walk(root)
        base = root.parent if root.is_file() else root
        manifest = _read_manifest(base / MANIFEST) if root.is_dir() else {}
        pages: list[Page] = []
        skipped: list[tuple[str, str]] = []
        for file in files:
            name = file.relative_to(base).as_posix()
            try:
                if file.suffix.lower() not in DOCUMENT_SUFFIXES:
                    raise CorpusError(
                        f"{name}: unsupported file type '{file.suffix}'. "
                        f"Convert it to PDF or PNG (supported: {', '.join(sorted(DOCUMENT_SUFFIXES))})."
                    )
                pages.extend(_load_document(file, name, manifest.get(name, {}), reference))
            except CorpusError as error:
                if strict:
                    raise
                skipped.append((name, str(error)))
        missing = sorted(set(manifest) - {p.document for p in pages} - {s[0] for s in skipped})
        for name in missing:
            error = CorpusError(f"{MANIFEST}: {name} is listed but not found under {base}. Fix the path.")
            if strict:
                raise error
            skipped.append((name, str(error)))
        return cls(root=base, pages=pages, skipped=skipped)

    def why_empty(self) -> str:
        """What to tell a user whose corpus has no pages: where it looked and what it skipped."""
        found = "; ".join(f"{name}: {reason}" for name, reason in self.skipped[:3])
        where = f"{Path(self.root).resolve()} has no readable pages"
        return where + (
            f" ({found})" if found else f": put PDFs or images ({', '.join(sorted(DOCUMENT_SUFFIXES))}) there"
        )

    @classmethod
    def combine(cls, corpora: list[Corpus]) -> Corpus:
        """Several corpora as one (the first one's root). Document names must not repeat across them."""
        seen: dict[str, Path] = {}
        for corpus in corpora:
            for name in corpus.documents:
                if name in seen:
                    raise CorpusError(
                        f"{name} is in both {seen[name]} and {corpus.root}: rename one of them "
                        "(results are keyed by content, names only label rows)"
                    )
                seen[name] = corpus.root
        return cls(
            root=corpora[0].root if corpora else Path("."),
            pages=[p for c in corpora for p in c],
            skipped=[s for c in corpora for s in c.skipped],
        )

    def __iter__(self) -> Iterator[Page]:
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)

    def __getitem__(self, i: int) -> Page:
        return self.pages[i]

    @property
    def documents(self) -> list[str]:
        return sorted({p.document for p in self.pages})

    def filter(
        self,
        documents: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        where: Callable[[Page], bool] | None = None,
    ) -> Corpus:
        """A sub-corpus: pages of the named documents (or names containing the string), having all
        ``tags``, and for which ``where(page)`` is true."""
        if isinstance(documents, str):
            documents = [documents]
        names = list(documents or [])
        wanted_tags = set(tags or [])
        keep = [
            p
            for p in self.pages
            if (not names or any(n == p.document or n in p.document for n in names))
            and wanted_tags <= set(p.tags)
            and (where is None or where(p))
        ]
        return Corpus(root=self.root, pages=keep, skipped=list(self.skipped))

    def head(self, n: int) -> Corpus:
        return Corpus(root=self.root, pages=self.pages[:n], skipped=list(self.skipped))

    def describe(self) -> str:
        """One line for notebooks and logs."""
        with_gt = sum(p.ground_truth is not None for p in self.pages)
        text = f"{len(self.pages)} pages from {len(self.documents)} documents ({with_gt} with ground truth)"
        return text + (f"; {len(self.skipped)} files skipped" if self.skipped else "")


def _walk(root: Path) -> list[Path]:
    """Candidate document files below ``root``, sorted, without hidden files and quiet sidecars."""
    files = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root)
        if not file.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if (
            file.name.endswith(GT_SUFFIXES)
            or file.suffix.lower() in _QUIET_SUFFIXES
            or file.stem.lower() in _QUIET_NAMES
        ):
            continue
        files.append(file)
    return files


def _load_document(file: Path, name: str, entries: dict, reference: str | None) -> list[Page]:
    if file.stat().st_size == 0:
        raise CorpusError(f"{name}: the file is empty (0 bytes). Re-export or re-download it.")
    kind = "pdf" if file.suffix.lower() in PDF_SUFFIXES else "image"
    count, text_layer = (
        _inspect_pdf(file, name, reference) if kind == "pdf" else (_count_frames(file, name), None)
    )
    truths, source, fmt = sidecar_truth(file, name, count)
    layouts = layouts_beside(file, name, count)
    if truths is None and layouts is not None:
        truths, source, fmt = [layout.text for layout in layouts], "layout", "text"
    whole = entries.get(None, {})
    if "ground_truth" in whole:
        truths, source, fmt = (
            split_pages(whole["ground_truth"], count, MANIFEST, name),
            "manifest",
            _format(whole),
        )
    if truths is None and text_layer is not None:
        truths, source, fmt = text_layer, "text-layer", "text"
    folder_tags = tuple(Path(name).parts[:-1])
    pages = []
    for index in range(count):
        gt = truths[index] if truths is not None else None
        entry = entries.get(index, whole)
        tags = folder_tags + tuple(t for t in entry.get("tags", ()) if t not in folder_tags)
        page = Page(
            document=name,
            page_number=index + 1,
            path=file,
            kind=kind,
            ground_truth=gt,
            reference=source if gt is not None else None,
            tags=tags,
            ground_truth_format=fmt if gt is not None else None,
            layout=layouts[index] if layouts else None,
        )
        if index in entries and "ground_truth" in entry:
            page = replace(
                page,
                ground_truth=entry["ground_truth"],
                reference="manifest",
                ground_truth_format=_format(entry),
            )
        pages.append(page)
    bad = [i + 1 for i in entries if i is not None and i >= count]
    if bad:
        raise CorpusError(f"{MANIFEST}: {name} has {count} page(s) but the manifest names page(s) {bad}.")
    return pages


def _inspect_pdf(file: Path, name: str, reference: str | None) -> tuple[int, list[str] | None]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(file)
    except pdfium.PdfiumError as error:
        if _pageless(file):  # pdfium refuses a document whose page tree is empty
            raise CorpusError(f"{name}: the PDF has no pages. Remove it from the corpus.") from None
        if "password" in str(error).lower():
            raise CorpusError(
                f"{name}: the PDF is password-protected. Remove the password "
                "(e.g. `qpdf --decrypt --password=... in.pdf out.pdf`) and load the copy."
            ) from None
        raise CorpusError(
            f"{name}: not a readable PDF ({error}). The file is corrupt or truncated: re-export it."
        ) from None
    try:
        count = len(pdf)
        if count == 0:
            raise CorpusError(f"{name}: the PDF has no pages. Remove it from the corpus.")
        text = None
        if reference == "text-layer":
            text = [pdf[i].get_textpage().get_text_bounded().replace("\r\n", "\n") for i in range(count)]
        return count, text
    finally:
        pdf.close()


# Huge scans are legitimate input (a 20,000 px plan): open them, and reduce early when rendering.
MAX_IMAGE_PIXELS = 450_000_000


@contextmanager
def allow_large_images():
    """Lift Pillow's decompression-bomb guard to ``MAX_IMAGE_PIXELS`` (a 20,000 px square fits)."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _pageless(file: Path) -> bool:
    """A readable PDF structure with an empty page tree (pdfium reports no usable error for it)."""
    import re

    data = file.read_bytes()[:4_000_000]
    return bool(re.search(rb"/Type\s*/Pages\b[^>]*/Count\s+0\b", data)) and not re.search(
        rb"/Type\s*/Page\b", data
    )


def _count_frames(file: Path, name: str) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with allow_large_images(), Image.open(file) as image:
            if image.width == 0 or image.height == 0:
                raise CorpusError(f"{name}: the image is {image.width}x{image.height} pixels. Re-export it.")
            return getattr(image, "n_frames", 1)
    except Image.DecompressionBombError as error:
        raise CorpusError(f"{name}: {error} Split or downscale the image first.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise CorpusError(
            f"{name}: not a readable image ({error}). The file is corrupt: re-export it."
        ) from None


FORMATS = ("text", "markdown")


def _format(entry: dict) -> str:
    """A manifest entry's ground-truth format: its ``format`` field, else from ``ground_truth_path``'s suffix."""
    fmt = entry.get("format") or (
        "markdown" if str(entry.get("ground_truth_path", "")).endswith(".md") else "text"
    )
    if fmt not in FORMATS:
        raise CorpusError(
            f"{MANIFEST}: {entry.get('path')}: format {fmt!r} is not known; use 'text' or 'markdown'."
        )
    return fmt


def _read_manifest(path: Path) -> dict[str, dict]:
    """``{document: {page index or None: entry}}`` with ground_truth_path resolved to text."""
    if not path.exists():
        return {}
    result: dict[str, dict] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            doc = str(entry["path"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CorpusError(
                f"{MANIFEST} line {number}: expected a JSON object with a 'path'. Fix or remove the line."
            ) from None
        page = entry.get("page")
        if page is not None and (not isinstance(page, int) or page < 1):
            raise CorpusError(f"{MANIFEST} line {number}: 'page' is 1-based, got {page!r}.")
        if "ground_truth_path" in entry:
            entry["ground_truth"] = read_text(path.parent / entry["ground_truth_path"])
        result.setdefault(doc, {})[None if page is None else page - 1] = entry
    return result
