"""A small corpus with exact ground truth, made from scratch: ``python -m lighton_lab.synth [OUT]``.

Real ground truth is scarce and never quite exact (reading order, typewriter habits), so the workbench
ships pages whose text it wrote itself: born-digital PDFs in several layouts and scan-like raster pages
(slight rotation, blur, noise, JPEG artefacts) as PNG, JPEG and multi-page TIFF. Fonts are the DejaVu
faces that ship inside matplotlib's wheel, so the output is the same on every machine; the texts are
this project's own, plus two public-domain passages (the 1789 Declaration, Goethe's Erlkönig).

The committed copy lives in ``data/sample`` (under 3 MB); ``tests/test_synth.py`` regenerates it into
a temporary folder and checks that it still matches its ground truth layout.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

LETTER = (612.0, 792.0)  # points
A4 = (595.28, 841.89)


def font_path(style: str = "DejaVuSerif") -> Path:
    """A TTF that ships in matplotlib's wheel (no system fonts needed)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{style}.ttf"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: reinstall matplotlib (pip install --force-reinstall matplotlib)"
        )
    return path


REPORT = [
    [
        "# Field notes on reading machines",
        "Optical character recognition turns the picture of a page into text that a computer can search, "
        "count and quote. The task looks simple until one meets real documents: faded ink, narrow columns, "
        "tables that run across the fold and footnotes set in tiny type.",
        "This report compares several ways of reading the same pages. Each engine receives an image of the "
        "page and returns plain text, and every answer is checked against a transcription made by hand.",
        "The measure we use is the character error rate: the number of insertions, deletions and "
        "substitutions needed to turn the output into the reference, divided by the length of the reference.",
        "Page 1 of 3",
    ],
    [
        "## Method",
        "We rendered each page at three resolutions, 100, 150 and 200 dots per inch, and capped the longest "
        "side of the image at 1540 pixels. Pages were sent one at a time, and the time of every request was "
        "written down together with the answer.",
        "A second pass repeated the whole run on the next day. The answers were identical, which shows that "
        "the engines are deterministic when the temperature is low.",
        "Small print and low resolution remain the main sources of error. At 100 dots per inch, letters such "
        "as e, c and o begin to merge, and digits like 3 and 8 are confused.",
        "Page 2 of 3",
    ],
    [
        "## Results and a formula",
        "The error rate of a page is given by the formula below, where S, D and I count substitutions, "
        "deletions and insertions and N is the number of characters in the reference.",
        "CER = (S + D + I) / N",
        "For the area of a circle we also checked the line A = πr² and the roots "
        "x = (−b ± √(b² − 4ac)) / 2a, which test symbols that plain text engines rarely see.",
        "In short: render at 200 dots per inch, keep the cap, and always look at the worst pages yourself.",
        "Page 3 of 3",
    ],
]

TWO_COLUMNS = [
    "# The Harbour Gazette",
    "The morning ferry left the harbour at seven, carrying eighty passengers, two horses and a crate of "
    "apples for the market on the island. The captain reported calm water and a light wind from the west.",
    "At the fish market, prices fell for the third week in a row. Traders blame the warm autumn, which kept "
    "the boats at sea longer than usual and filled the stalls with mackerel and herring.",
    "The town council met on Tuesday to discuss the new lighthouse. Members agreed that the old lamp should "
    "be kept in the museum, where children can see how it turned on its bed of mercury.",
    "Repairs to the north pier will begin in March. The works are expected to last six months, during which "
    "small boats will moor at the old quay beside the customs house.",
    "Weather: cloudy in the morning, clearing by noon. Sea temperature 14 degrees. High tide at 11:42.",
]

TABLE_ROWS = [
    ["Item", "Quantity", "Unit price", "Total"],
    ["Notebook, lined", "12", "2.40", "28.80"],
    ["Pencil HB", "48", "0.35", "16.80"],
    ["Eraser", "10", "0.90", "9.00"],
    ["Ruler 30 cm", "6", "1.75", "10.50"],
    ["Stapler", "2", "8.20", "16.40"],
]

SMALL_PRINT = [
    "Terms and conditions",
    "1. These terms apply to every order placed through the catalogue. By placing an order the customer "
    "accepts them in full. 2. Prices include value added tax at the current rate and exclude delivery, which "
    "is charged at cost. 3. Goods remain the property of the seller until paid for in full. 4. Claims for "
    "damage in transit must be made within seven days of delivery, with a photograph of the packaging. "
    "5. The seller is not liable for delays caused by events beyond reasonable control, including storms, "
    "strikes and failures of public networks. 6. Returns are accepted within thirty days if the goods are "
    "unused and in their original packaging; the refund is made to the original means of payment.",
    "7. Personal data are kept only as long as needed to deliver the order and to meet legal duties. "
    "8. These terms are governed by the law of the place where the seller is registered. Any dispute shall "
    "first be brought to mediation before a court is asked to decide.",
]

FRENCH = [
    "# Déclaration des droits de l'homme et du citoyen (1789)",
    "Article premier. Les hommes naissent et demeurent libres et égaux en droits. Les distinctions sociales "
    "ne peuvent être fondées que sur l'utilité commune.",
    "Article 2. Le but de toute association politique est la conservation des droits naturels et "
    "imprescriptibles de l'homme. Ces droits sont la liberté, la propriété, la sûreté, et la résistance à "
    "l'oppression.",
    "Note de l'éditeur : cette page a été composée pour vérifier les accents é, è, ê, à, ç, ô, î, û, ë et ï, "
    "ainsi que les guillemets « français » et l'apostrophe.",
]

GERMAN = [
    "# Erlkönig (Johann Wolfgang von Goethe, 1782)",
    "Wer reitet so spät durch Nacht und Wind?\nEs ist der Vater mit seinem Kind;\n"
    "Er hat den Knaben wohl in dem Arm,\nEr faßt ihn sicher, er hält ihn warm.",
    "„Mein Sohn, was birgst du so bang dein Gesicht?“\n„Siehst, Vater, du den Erlkönig nicht?\n"
    "Den Erlenkönig mit Kron' und Schweif?“\n„Mein Sohn, es ist ein Nebelstreif.“",
    "Anmerkung: Diese Seite prüft die Umlaute ä, ö, ü, Ä, Ö, Ü und das scharfe ß in Wörtern wie Straße, "
    "größer und Fußgänger.",
]

LETTER_TEXT = [
    "Dear Ms Alvarez,",
    "Thank you for your letter of 3 October. The parcel you mention was sent on 28 September by registered "
    "post, reference number 4471-220-93, and should have reached you within five working days.",
    "We have asked the post office to trace it. If it has not arrived by the end of the month, we will send "
    "a replacement at no cost to you.",
    "Yours sincerely,",
    "J. Whitfield, Customer Service",
]

RECEIPT_TEXT = [
    "CORNER BAKERY",
    "12 Mill Lane",
    "Sourdough loaf 3.20",
    "Croissant x2 2.60",
    "Apple tart 4.10",
    "Coffee 2.30",
    "TOTAL 12.20",
    "Paid by card. Thank you!",
]

TIFF_PAGES = [
    [
        "Minutes of the garden club",
        "The meeting opened at half past six with eleven members present. The treasurer reported a balance "
        "of 412 pounds after the spring plant sale.",
        "It was agreed to buy two new wheelbarrows and a set of pruning shears for the shared plots.",
    ],
    [
        "Any other business",
        "Mrs Patel proposed a competition for the largest pumpkin, to be judged at the harvest fair in "
        "October. The proposal was carried by nine votes to two.",
        "The meeting closed at eight o'clock. Next meeting: first Monday of the month.",
    ],
]


@dataclass
class _Pdf:
    """A thin wrapper over fpdf2 with the project's fonts."""

    size: tuple[float, float] = LETTER

    def __post_init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(unit="pt", format=self.size)
        self.pdf.set_auto_page_break(True, margin=54)
        self.pdf.set_margins(64, 64, 64)
        for style, name in (("", "DejaVuSerif"), ("B", "DejaVuSerif-Bold")):
            self.pdf.add_font("Serif", style, str(font_path(name)))
        self.pdf.add_font("Sans", "", str(font_path("DejaVuSans")))
        self.pdf.set_creator("lighton_lab.synth")
        self.pdf.set_creation_date(_FIXED_DATE)

    def paragraphs(self, blocks: list[str], size: float = 12, footer: bool = True) -> None:
        pdf = self.pdf
        pdf.add_page()
        for block in blocks:
            if block.startswith("#"):
                level = len(block) - len(block.lstrip("#"))
                pdf.set_font("Serif", "B", size * (1.6 if level == 1 else 1.3))
                pdf.multi_cell(0, size * 2, block.lstrip("# "))
                pdf.ln(size * 0.4)
            elif footer and block.startswith("Page ") and " of " in block:
                pdf.set_font("Sans", "", size * 0.8)
                pdf.set_auto_page_break(False)
                pdf.set_y(-48)
                pdf.cell(0, size, block, align="C")
                pdf.set_auto_page_break(True, margin=54)
            else:
                pdf.set_font("Serif", "", size)
                pdf.multi_cell(0, size * 1.45, block)
                pdf.ln(size * 0.7)

    def save(self, path: Path) -> None:
        self.pdf.output(str(path))


def _gt(blocks: list[str]) -> str:
    return "\n\n".join(b.lstrip("# ") for b in blocks)


def two_columns_pdf(path: Path) -> None:
    """An A4 page with a centred title over two balanced text columns (also used by the bench generator)."""
    columns = _Pdf(A4)
    pdf = columns.pdf
    pdf.add_page()
    pdf.set_font("Serif", "B", 20)
    pdf.multi_cell(0, 30, TWO_COLUMNS[0].lstrip("# "), align="C")
    pdf.ln(8)
    pdf.set_font("Serif", "", 11)
    with pdf.text_columns(ncols=2, gutter=24, text_align="LEFT", balance=True) as cols:
        for block in TWO_COLUMNS[1:]:
            cols.write(block + "\n\n")
    columns.save(path)


def table_pdf(path: Path) -> None:
    """A Letter page with a titled, ruled table of TABLE_ROWS (also used by the bench generator)."""
    table = _Pdf(LETTER)
    pdf = table.pdf
    pdf.add_page()
    pdf.set_font("Serif", "B", 18)
    pdf.multi_cell(0, 28, "Order summary")
    pdf.ln(10)
    pdf.set_font("Serif", "", 12)
    with pdf.table(text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), line_height=22) as grid:
        for row in TABLE_ROWS:
            cells = grid.row()
            for value in row:
                cells.cell(value)
    table.save(path)


def make_pdfs(out: Path) -> None:
    report = _Pdf(LETTER)
    for page in REPORT:
        report.paragraphs(page)
    report.save(out / "report.pdf")
    (out / "report.gt.txt").write_text("\f".join(_gt(p) for p in REPORT) + "\n", encoding="utf-8")

    two_columns_pdf(out / "two_columns.pdf")
    (out / "two_columns.gt.txt").write_text(_gt(TWO_COLUMNS) + "\n", encoding="utf-8")

    table_pdf(out / "table.pdf")
    md = ["# Order summary", "", "| " + " | ".join(TABLE_ROWS[0]) + " |", "|---|---:|---:|---:|"]
    md += ["| " + " | ".join(r) + " |" for r in TABLE_ROWS[1:]]
    (out / "table.gt.md").write_text("\n".join(md) + "\n", encoding="utf-8")

    small = _Pdf(LETTER)
    small.paragraphs(["# " + SMALL_PRINT[0]] + SMALL_PRINT[1:], size=7.5, footer=False)
    small.save(out / "small_print.pdf")
    (out / "small_print.gt.txt").write_text(_gt(SMALL_PRINT) + "\n", encoding="utf-8")

    languages = _Pdf(A4)
    languages.paragraphs(FRENCH, size=12)
    languages.paragraphs(GERMAN, size=12)
    languages.save(out / "fr_de.pdf")
    (out / "fr_de.gt.txt").write_text(_gt(FRENCH) + "\f" + _gt(GERMAN) + "\n", encoding="utf-8")


def _draw_page(
    lines: list[str], size: tuple[int, int], dpi: int, font_pt: float, style: str = "DejaVuSerif"
) -> Image.Image:
    """Text drawn on a white page, wrapped to the margins; one string may hold several paragraphs."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(font_path(style)), round(font_pt * dpi / 72))
    margin = dpi * 0.8
    y = margin
    line_height = font_pt * dpi / 72 * 1.45
    for paragraph in lines:
        for line in _wrap(paragraph, font, draw, size[0] - 2 * margin):
            draw.text((margin, y), line, font=font, fill=20)
            y += line_height
        y += line_height * 0.6
    return page


def _wrap(text: str, font: ImageFont.FreeTypeFont, draw: ImageDraw.ImageDraw, width: float) -> list[str]:
    lines: list[str] = []
    for raw in text.split("\n"):
        current = ""
        for word in raw.split():
            trial = f"{current} {word}".strip()
            if draw.textlength(trial, font=font) <= width or not current:
                current = trial
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return lines


def _scan(page: Image.Image, rng: random.Random, angle: float, blur: float, specks: int) -> Image.Image:
    """What a desk scanner does to a page: a small skew, soft focus and dust."""
    page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(blur))
    draw = ImageDraw.Draw(page)
    for _ in range(specks):
        x, y = rng.randrange(page.width), rng.randrange(page.height)
        r = rng.choice((1, 1, 1, 2))
        draw.ellipse((x, y, x + r, y + r), fill=rng.randrange(60, 160))
    return page


def make_rasters(out: Path, seed: int = 7) -> None:
    rng = random.Random(seed)
    dpi = 150
    letter = _scan(_draw_page(LETTER_TEXT, (1275, 1650), dpi, 12), rng, angle=0.8, blur=0.7, specks=900)
    letter.save(out / "scan_letter.png", dpi=(dpi, dpi), optimize=True)
    (out / "scan_letter.gt.txt").write_text("\n\n".join(LETTER_TEXT) + "\n", encoding="utf-8")

    receipt = _draw_page(RECEIPT_TEXT, (700, 1100), dpi, 13, style="DejaVuSansMono")
    receipt = _scan(receipt, rng, angle=-1.2, blur=1.0, specks=300).convert("RGB")
    receipt.save(out / "scan_receipt.jpg", quality=40, dpi=(dpi, dpi))
    (out / "scan_receipt.gt.txt").write_text("\n".join(RECEIPT_TEXT) + "\n", encoding="utf-8")

    frames = []
    for lines in TIFF_PAGES:
        page = _scan(
            _draw_page(lines, (1275, 1650), dpi, 12), rng, angle=rng.uniform(-0.6, 0.6), blur=0.5, specks=400
        )
        frames.append(page.point(lambda v: 255 if v > 150 else 0).convert("1"))  # a bilevel fax-like scan
    frames[0].save(
        out / "minutes.tif", save_all=True, append_images=frames[1:], compression="group4", dpi=(dpi, dpi)
    )
    gt = "\f".join("\n\n".join(lines) for lines in TIFF_PAGES)
    (out / "minutes.gt.txt").write_text(gt + "\n", encoding="utf-8")


def make_manifest(out: Path) -> None:
    """Tags for filtering in sweeps: layout, language and clean vs scan."""
    tags = {
        "report.pdf": ["clean", "en", "one-column", "formula"],
        "two_columns.pdf": ["clean", "en", "two-columns"],
        "table.pdf": ["clean", "en", "table"],
        "small_print.pdf": ["clean", "en", "small-print"],
        "fr_de.pdf": ["clean", "fr", "de"],
        "scan_letter.png": ["scan", "en"],
        "scan_receipt.jpg": ["scan", "en"],
        "minutes.tif": ["scan", "en", "multi-page"],
    }
    import json

    lines = [json.dumps({"path": path, "tags": t}) for path, t in tags.items()]
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


_FIXED_DATE = None  # set at import below: fpdf2 wants an aware datetime


def generate(out: str | Path) -> Path:
    """Write the sample corpus into ``out`` (created if needed) and return it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    make_pdfs(out)
    make_rasters(out)
    make_manifest(out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="data/sample", help="output folder (default: data/sample)")
    args = parser.parse_args(argv)
    out = generate(args.out)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {len(list(out.iterdir()))} files to {out} ({size / 1e6:.2f} MB)")


def _init_date() -> None:
    global _FIXED_DATE
    from datetime import datetime

    _FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


_init_date()

if __name__ == "__main__":
    main()
