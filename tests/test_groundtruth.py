"""ALTO, PAGE-XML and hOCR ground truth: several versions and namespaces, reading order that differs from file
order, bad files as clear errors; and region-level scoring that tells reordering from misreading."""

import pytest
from PIL import Image

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.corpus.groundtruth import read_layouts
from lighton_lab.errors import CorpusError
from lighton_lab.scoring.regions import score_regions

ALTO_V2 = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v2#"><Layout><Page ID="p1" WIDTH="800" HEIGHT="600">
<PrintSpace>
 <TextBlock ID="b1" HPOS="10" VPOS="10" WIDTH="700" HEIGHT="80">
  <TextLine HPOS="10" VPOS="10" WIDTH="700" HEIGHT="30">
   <String CONTENT="Die"/><SP/><String CONTENT="Frau"/><SP/><String CONTENT="und" /><SP/><String CONTENT="der"/>
   <SP/><String CONTENT="Sozia" SUBS_TYPE="HypPart1" SUBS_CONTENT="Sozialismus"/><HYP CONTENT="-"/></TextLine>
  <TextLine><String CONTENT="lismus" SUBS_TYPE="HypPart2" SUBS_CONTENT="Sozialismus"/><SP/><String CONTENT="1879."/></TextLine>
 </TextBlock>
 <ComposedBlock ID="c1"><TextBlock ID="b2"><TextLine><String CONTENT="Zweiter"/><String CONTENT="Absatz"/></TextLine>
 </TextBlock></ComposedBlock>
</PrintSpace></Page></Layout></alto>"""

ALTO_V4_IDNEXT = """<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Layout><Page ID="p1"><PrintSpace>
 <TextBlock ID="foot" IDNEXT="" HPOS="0" VPOS="900" WIDTH="100" HEIGHT="20"><TextLine><String CONTENT="Seite"/><SP/><String CONTENT="3"/></TextLine></TextBlock>
 <TextBlock ID="title" IDNEXT="body"><TextLine><String CONTENT="Titel"/></TextLine></TextBlock>
 <TextBlock ID="body"><TextLine><String CONTENT="Text"/><SP/><String CONTENT="hier."/></TextLine></TextBlock>
</PrintSpace></Page></Layout></alto>"""


def page_xml(ns: str, order: str, regions: str) -> str:
    return (
        f'<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/{ns}"><Metadata/>'
        f'<Page imageFilename="x.png" imageWidth="800" imageHeight="600">{order}{regions}</Page></PcGts>'
    )


REGIONS = """
<TextRegion id="r_foot"><Coords points="10,550 300,550 300,580 10,580"/>
 <TextLine id="l1"><TextEquiv><Unicode>page 7</Unicode></TextEquiv></TextLine></TextRegion>
<TextRegion id="r_head"><Coords points="10,10 700,10 700,40 10,40"/>
 <TextEquiv><Unicode>A Heading</Unicode></TextEquiv>
 <TextLine id="l2"><TextEquiv><Unicode>line text differs</Unicode></TextEquiv></TextLine></TextRegion>
<TextRegion id="r_body"><Coords points="10,60 700,60 700,500 10,500"/>
 <TextLine id="l3"><TextEquiv index="2"><Unicode>second choice</Unicode></TextEquiv>
  <TextEquiv index="1"><Unicode>First body line</Unicode></TextEquiv></TextLine>
 <TextLine id="l4"><TextEquiv><Unicode>second body line</Unicode></TextEquiv></TextLine></TextRegion>"""
ORDER = """<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="1" regionRef="r_body"/>
 <RegionRefIndexed index="0" regionRef="r_head"/></OrderedGroup></ReadingOrder>"""

HOCR = """<html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body>
<div class="ocr_page" title="bbox 0 0 800 600">
 <div class="ocr_carea"><p class="ocr_par" id="par1" title="bbox 10 10 700 90">
  <span class="ocr_line" title="bbox 10 10 700 40"><span class="ocrx_word">Hello</span> <span class="ocrx_word">world,</span></span>
  <span class="ocr_line" title="bbox 10 50 700 90"><span class="ocrx_word">second</span> <span class="ocrx_word">line</span></span>
 </p><p class="ocr_par" id="par2"><span class="ocr_line"><span class="ocrx_word">Next</span> <span class="ocrx_word">paragraph</span></span></p></div>
</div></body></html>"""


def write(tmp_path, name: str, text: str, pages: int = 1):
    (tmp_path / name).write_text(text, encoding="utf-8")
    image = tmp_path / (name.split(".")[0] + ".tif")
    frames = [Image.new("L", (80, 60), 255) for _ in range(pages)]
    frames[0].save(image, save_all=True, append_images=frames[1:])
    return image


CASES = [
    ("alto2.alto.xml", ALTO_V2, "Die Frau und der Sozia-\nlismus 1879.\n\nZweiter Absatz"),
    ("alto4.alto.xml", ALTO_V4_IDNEXT, "Seite 3\n\nTitel\n\nText hier."),
    (
        "page2013.page.xml",
        page_xml("2013-07-15", ORDER, REGIONS),
        "A Heading\n\nFirst body line\nsecond body line\n\npage 7",
    ),
    (
        "page2019.page.xml",
        page_xml("2019-07-15", ORDER, REGIONS),
        "A Heading\n\nFirst body line\nsecond body line\n\npage 7",
    ),
    (
        "page_no_order.page.xml",
        page_xml("2019-07-15", "", REGIONS),
        "page 7\n\nA Heading\n\nFirst body line\nsecond body line",
    ),
    ("scan.hocr", HOCR, "Hello world,\nsecond line\n\nNext paragraph"),
]


@pytest.mark.parametrize("name,text,expected", CASES, ids=[c[0] for c in CASES])
def test_structured_ground_truth_loads_in_reading_order(tmp_path, name, text, expected):
    write(tmp_path, name, text)
    (page,) = Corpus.load(tmp_path, strict=True)
    assert page.ground_truth == expected and page.ground_truth_format == "text"
    assert page.layout is not None and page.layout.regions


def test_boxes_and_ids_are_kept(tmp_path):
    write(tmp_path, "p.page.xml", page_xml("2013-07-15", ORDER, REGIONS))
    (layout,) = read_layouts(tmp_path / "p.page.xml")
    assert [r.id for r in layout.regions] == ["r_head", "r_body", "r_foot"]
    assert layout.regions[0].box == (10, 10, 700, 40)
    (alto,) = read_layouts(write(tmp_path, "a.alto.xml", ALTO_V2).with_name("a.alto.xml"))
    assert alto.regions[0].box == (10, 10, 710, 90) and alto.regions[0].lines[0].box == (10, 10, 710, 40)


BAD = [
    ("broken.alto.xml", "<alto><Layout>", "not well-formed XML"),
    ("old.alto.xml", ALTO_V2.replace("ns-v2#", "ns-v9#"), "unknown ALTO namespace"),
    ("odd.page.xml", page_xml("1999-01-01", ORDER, REGIONS), "unknown PAGE-XML namespace"),
    ("gap.page.xml", page_xml("2019-07-15", ORDER.replace("r_body", "r_missing"), REGIONS), "r_missing"),
    ("next.alto.xml", ALTO_V4_IDNEXT.replace('IDNEXT="body"', 'IDNEXT="nowhere"'), "nowhere"),
    ("none.hocr", "<html><body><p>plain html</p></body></html>", "no ocr_page"),
]


@pytest.mark.parametrize("name,text,words", BAD, ids=[b[0] for b in BAD])
def test_bad_structured_files_are_skipped_with_the_reason(tmp_path, name, text, words):
    write(tmp_path, name, text)
    corpus = Corpus.load(tmp_path)
    assert len(corpus) == 0 and len(corpus.skipped) == 1
    assert name in corpus.skipped[0][1] and words in corpus.skipped[0][1]
    with pytest.raises(CorpusError, match=words):
        Corpus.load(tmp_path, strict=True)


def test_a_page_count_that_differs_from_the_image_is_an_error(tmp_path):
    write(tmp_path, "two.alto.xml", ALTO_V2, pages=2)
    with pytest.raises(CorpusError, match="has 1 page"):
        Corpus.load(tmp_path, strict=True)


def test_region_scoring_tells_reordering_from_misreading(tmp_path):
    write(tmp_path, "p.page.xml", page_xml("2019-07-15", ORDER, REGIONS))
    (page,) = Corpus.load(tmp_path, strict=True)
    right = "# A Heading\n\nFirst body line\nsecond body line\n\npage 7"
    reordered = "page 7\n\nFirst body line second body line\n\n**A Heading**"
    misread = "A Heeding\n\nFirst bady lime\nsecond bodv line\n\npage 1"
    same, moved, wrong = (score_regions(page.layout, text) for text in (right, reordered, misread))
    assert same.region_cer == 0.0 and same.reading_order == 1.0
    assert moved.region_cer == 0.0 and moved.reading_order == 0.0  # every region right, the order reversed
    assert wrong.region_cer > 0.1 and wrong.reading_order == 1.0  # in order, misread
    dropped = score_regions(page.layout, "A Heading")
    assert dropped.matched == 1 and dropped.region_cer > 0.8


def test_a_sweep_reports_region_scores_for_pages_with_regions(local_server, tmp_path):
    """The reference reads the bottom block first (its ReadingOrder); the engine reads top to bottom: every
    region read right (region CER ~0) but in the other order (reading order 0)."""
    from PIL import ImageDraw, ImageFont

    from lighton_lab.corpus.synth import font_path
    from lighton_lab.frames.stats import summary
    from lighton_lab.store.store import Store
    from lighton_lab.sweep.grid import Grid
    from lighton_lab.sweep.run import run_sweep

    image = Image.new("L", (1000, 500), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(font_path()), 40)
    draw.text((40, 60), "Upper block of plain words", font=font, fill=0)
    draw.text((40, 360), "Lower block comes first", font=font, fill=0)
    image.save(tmp_path / "page.png")
    regions = (
        '<TextRegion id="top"><TextEquiv><Unicode>Upper block of plain words</Unicode></TextEquiv></TextRegion>'
        '<TextRegion id="bottom"><TextEquiv><Unicode>Lower block comes first</Unicode></TextEquiv></TextRegion>'
    )
    order = (
        '<ReadingOrder><OrderedGroup id="g"><RegionRefIndexed index="0" regionRef="bottom"/>'
        '<RegionRefIndexed index="1" regionRef="top"/></OrderedGroup></ReadingOrder>'
    )
    (tmp_path / "page.page.xml").write_text(page_xml("2019-07-15", order, regions), encoding="utf-8")
    corpus = Corpus.load(tmp_path, strict=True)
    frame = run_sweep(
        corpus,
        Grid(dpi=[200], model=[local_server.models[0]]),
        local_server,
        store=Store(tmp_path / "s.sqlite"),
        progress=False,
    )
    (row,) = frame.to_dict("records")
    assert row["region_cer"] < 0.1 and row["reading_order"] == 0.0
    assert summary(frame).iloc[0]["reading_order"] == 0.0
