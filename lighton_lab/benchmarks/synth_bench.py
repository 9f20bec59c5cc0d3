"""A small bench folder in olmOCR-Bench's format, made here: PDFs with known content and tests of every
type (present, absent, order, table, math, baseline), one ``*.jsonl`` per category as in the published
benchmark. ``python -m lighton_lab.benchmarks.synth_bench data/olmocr_bench`` writes it.

It exercises the whole path (render with the model's profile, sweep, store, olmOCR's test classes,
pass rates by category with intervals) on a machine without the 1,400-page download; its numbers say
nothing about LightOnOCR on the real benchmark.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lighton_lab.corpus.synth import LETTER, REPORT, TABLE_ROWS, TWO_COLUMNS, _Pdf, table_pdf, two_columns_pdf

HEADER = "Quarterly bulletin of the reading room"
FOOTER = "Page 1 of 1"
FORMULA_TEXT = "E = mc²"  # typeset as text: a CPU engine reads it back as text, LightOnOCR writes LaTeX


def _page_with_header(path: Path, blocks: list[str]) -> None:
    doc = _Pdf(LETTER)
    pdf = doc.pdf
    pdf.add_page()
    pdf.set_font("Sans", "", 9)
    pdf.cell(0, 12, HEADER, align="C")
    pdf.ln(30)
    for block in blocks:
        bold = block.startswith("#")
        pdf.set_font("Serif", "B" if bold else "", 17 if bold else 12)
        pdf.multi_cell(0, 26 if bold else 17, block.lstrip("# "))
        pdf.ln(8)
    pdf.set_auto_page_break(False)
    pdf.set_y(-48)
    pdf.set_font("Sans", "", 9)
    pdf.cell(0, 12, FOOTER, align="C")
    doc.save(path)


def _formula(path: Path) -> None:
    doc = _Pdf(LETTER)
    pdf = doc.pdf
    pdf.add_page()
    pdf.set_font("Serif", "B", 17)
    pdf.multi_cell(0, 26, "Mass and energy")
    pdf.ln(8)
    pdf.set_font("Serif", "", 12)
    pdf.multi_cell(0, 17, "The relation between mass and energy is written as follows.")
    pdf.ln(14)
    pdf.set_font("Serif", "", 20)
    pdf.multi_cell(0, 30, FORMULA_TEXT, align="C")
    doc.save(path)


def tests() -> dict[str, list[dict]]:
    """The tests of each category (jsonl stem -> test records), as olmOCR-Bench writes them."""
    body = REPORT[0]
    table_rows = TABLE_ROWS
    return {
        "long_tiny_text": [
            {
                "pdf": "report.pdf",
                "page": 1,
                "id": "report_title",
                "type": "present",
                "text": body[0].lstrip("# "),
            },
            {
                "pdf": "report.pdf",
                "page": 1,
                "id": "report_sentence",
                "type": "present",
                "text": body[1].split(". ")[0],
                "max_diffs": 3,
            },
            {
                "pdf": "report.pdf",
                "page": 1,
                "id": "report_case",
                "type": "present",
                "text": "OPTICAL CHARACTER",
                "case_sensitive": False,
            },
        ],
        "headers_footers": [
            {"pdf": "report.pdf", "page": 1, "id": "report_no_header", "type": "absent", "text": HEADER},
            {"pdf": "report.pdf", "page": 1, "id": "report_no_footer", "type": "absent", "text": FOOTER},
        ],
        "multi_column": [
            {
                "pdf": "two_columns.pdf",
                "page": 1,
                "id": "columns_title_first",
                "type": "order",
                "before": TWO_COLUMNS[0].lstrip("# "),
                "after": TWO_COLUMNS[1][:60],
                "max_diffs": 2,
            },
            {
                "pdf": "two_columns.pdf",
                "page": 1,
                "id": "columns_left_then_right",
                "type": "order",
                "before": TWO_COLUMNS[1][:50],
                "after": TWO_COLUMNS[-1][:50],
                "max_diffs": 2,
            },
        ],
        "table_tests": [
            {
                "pdf": "table.pdf",
                "page": 1,
                "id": "table_quantity",
                "type": "table",
                "cell": table_rows[1][1],
                "left": table_rows[1][0],
                "top_heading": table_rows[0][1],
            },
            {
                "pdf": "table.pdf",
                "page": 1,
                "id": "table_total",
                "type": "table",
                "cell": table_rows[2][3],
                "up": table_rows[1][3],
                "top_heading": table_rows[0][3],
            },
        ],
        "arxiv_math": [
            {"pdf": "formula.pdf", "page": 1, "id": "formula_emc2", "type": "math", "math": "E = mc^2"},
            {
                "pdf": "formula.pdf",
                "page": 1,
                "id": "formula_title",
                "type": "present",
                "text": "Mass and energy",
            },
        ],
    }


def generate(out: str | Path) -> Path:
    """Write ``out/pdfs/*.pdf`` and ``out/<category>.jsonl``; returns ``out``."""
    out = Path(out)
    (out / "pdfs").mkdir(parents=True, exist_ok=True)
    _page_with_header(out / "pdfs" / "report.pdf", REPORT[0][:3])
    two_columns_pdf(out / "pdfs" / "two_columns.pdf")
    table_pdf(out / "pdfs" / "table.pdf")
    _formula(out / "pdfs" / "formula.pdf")
    for category, records in tests().items():
        (out / f"{category}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="data/olmocr_bench")
    print("wrote", generate(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
