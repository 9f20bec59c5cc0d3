"""LightOnOCR-3 grounding: parsed as LightOn parses it (a committed case table of their parser's output), turned
back into Markdown as their ``to_markdown`` does, bad input counted instead of refused; layout scores against
real PAGE-XML and ALTO pages; the local server answers grounding requests; a sweep asks both modes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.models.grounding import Block, grounding_markdown, parse_grounding, problems
from lighton_lab.scoring.layout import region_box, region_label, score_layout

ROOT = Path(__file__).resolve().parents[1]
CASES = json.loads((ROOT / "tests" / "fixtures" / "grounding_cases.json").read_text())["cases"]
REAL = ROOT / "data" / "real"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_blocks_are_lightons(case):
    got = [[b.label, list(b.box), b.text, b.continues] for b in parse_grounding(case["input"])]
    assert got == case["blocks"]


@pytest.mark.parametrize("case", [c for c in CASES if "markdown_keep" in c], ids=lambda c: c["name"])
def test_markdown_is_lightons_to_markdown(case):
    blocks = parse_grounding(case["input"])
    assert grounding_markdown(blocks, "keep") == case["markdown_keep"]
    assert grounding_markdown(blocks, "drop") == case["markdown_drop"]


PROBLEM_CASES = [
    ("![text](0,0,1000,1000) fine", []),
    ("preamble\n![text](0,0,10,10) x", ["text before the first marker"]),
    ("![text](0,0,1200,10) x", ["outside 0-1000"]),
    ("![text](500,10,100,20) x", ["inverted or empty"]),
    ("![text](0,0,10,10)\n![text](0,20,10,30) y", ["empty text block"]),
    ("![image](0,0,10,10)", []),  # an image block has no text by nature
    ("![text](0,0,10,10) a ![text](1.5,2,3,4) b", ["malformed marker"]),
    ("![text](0,0,10) a", ["malformed marker"]),  # one defect, counted once
    ("intro ![text](0,0,10) a", ["text before the first marker", "malformed marker"]),
]


@pytest.mark.parametrize("text, expected", PROBLEM_CASES)
def test_problems_are_counted_not_raised(text, expected):
    found = problems(text)
    assert len(found) == len(expected)
    for line, part in zip(found, expected):
        assert part in line


def test_to_pixels_scales_each_axis():
    assert Block("text", (100, 250, 500, 1000), "x").to_pixels(2000, 1000) == (200.0, 250.0, 1000.0, 1000.0)


# ---- layout scores on real pages ---------------------------------------------------------------------


def real_pages():
    return [p for p in Corpus.load(REAL) if p.layout is not None]


def truth_blocks(page) -> list[Block]:
    """An answer that draws exactly the ground truth's regions (rounded to LightOn's integer grid)."""
    layout = page.layout
    return [
        Block(
            region_label(r, layout.source) or "text", tuple(round(v) for v in region_box(r, layout)), r.text
        )
        for r in layout.regions
    ]


def test_real_pages_have_page_and_alto_layouts_with_types():
    sources = {p.layout.source for p in real_pages()}
    assert sources == {"page", "alto"}
    assert all(p.layout.width and p.layout.height for p in real_pages())
    assert all(any(r.type for r in p.layout.regions) for p in real_pages())


@pytest.mark.parametrize("page", real_pages(), ids=lambda p: p.id)
def test_ground_truth_boxes_score_perfectly(page):
    s = score_layout(page, truth_blocks(page), text_format="text")
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)
    assert s.mean_iou > 0.97  # only the rounding to 0-1000
    assert s.reading_order == 1.0 and s.label_accuracy == 1.0
    assert s.block_cer is not None and s.block_cer < 0.01


@pytest.mark.parametrize("page", real_pages(), ids=lambda p: p.id)
def test_boxes_moved_by_40_percent_of_the_width_do_not_match(page):
    moved = [replace(b, box=(b.box[0] + 400, b.box[1], b.box[2] + 400, b.box[3])) for b in truth_blocks(page)]
    assert score_layout(page, moved).f1 < 0.4


@pytest.mark.parametrize("page", [p for p in real_pages() if len(p.layout.regions) >= 2], ids=lambda p: p.id)
def test_half_the_blocks_dropped_halves_recall(page):
    blocks = truth_blocks(page)
    kept = blocks[::2]
    s = score_layout(page, kept)
    assert s.precision == 1.0
    assert s.recall == pytest.approx(len(kept) / len(blocks))
    assert 0.5 <= s.recall <= 0.67


def test_labels_are_mapped_and_confused():
    page = next(p for p in real_pages() if p.layout.source == "page")
    blocks = [replace(b, label="text") for b in truth_blocks(page)]
    s = score_layout(page, blocks)
    assert s.label_accuracy < 1.0
    assert ("page_number", "text", 1) in s.confusion


def test_reading_order_of_matched_blocks():
    page = next(p for p in real_pages() if len(p.layout.regions) >= 4)
    s = score_layout(page, list(reversed(truth_blocks(page))))
    assert s.f1 == 1.0 and s.reading_order == 0.0


def test_a_grounding_answer_text_is_scored_as_it_is_parsed():
    page = real_pages()[0]
    answer = "\n".join(b.marker() for b in truth_blocks(page))
    assert score_layout(page, answer).f1 == 1.0


# ---- the local server and sweeps ----------------------------------------------------------------------


def test_local_server_answers_grounding_in_lightons_format(local_server):
    from lighton_lab.client.ocr import OCRClient
    from lighton_lab.render import render_page

    page = next(p for p in real_pages() if p.layout.source == "page")
    image = render_page(page, 100, 1540)
    with OCRClient(local_server.with_model("rapidocr/ppocr-v6")) as client:
        plain = client.ocr(image).text
        grounded = client.ocr(image, mode="grounding").text
    blocks = parse_grounding(grounded)
    assert blocks and problems(grounded) == []
    assert all(0 <= v <= 1000 for b in blocks for v in b.box)
    assert {b.label for b in blocks} <= {"title", "section", "text", "header", "footer", "page_number"}
    assert "".join(grounding_markdown(blocks).split()) == "".join(plain.split())
    assert score_layout(page, blocks).matched >= 1


def test_sweep_asks_both_modes_and_scores_layout(local_server, tmp_path):
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep

    pages = [p for p in real_pages() if p.layout.source == "page"]
    grid = Grid(model=["rapidocr/ppocr-v6"], mode=["plain", "grounding"], dpi=100)
    frame = run_sweep(pages, grid, local_server, Store(tmp_path / "s.sqlite"), progress=False)
    assert sorted(frame["mode"].unique()) == ["grounding", "plain"]
    assert len(frame) == 2 * len(pages) and frame["error"].isna().all()
    grounded, plain = frame[frame["mode"] == "grounding"], frame[frame["mode"] == "plain"]
    assert grounded["layout_f1"].notna().all() and plain["layout_f1"].isna().all()
    assert (grounded["grounding_errors"] == 0).all() and grounded["blocks"].gt(0).all()
    assert grounded["cer"].notna().all()  # grounding rows are scored on their text too
    # the modes are different requests: different keys, both stored
    assert set(grounded["key"]).isdisjoint(plain["key"])


def test_grounding_on_a_model_without_it_is_refused_before_anything_runs():
    from lighton_lab.errors import ModelError
    from lighton_lab.sweep.grid import Grid

    with pytest.raises(ModelError, match="Grounding needs a LightOnOCR-3 model"):
        Grid(model=["2-1b"], mode=["grounding"])
