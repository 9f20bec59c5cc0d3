"""Rendering at a DPI with the 1540 px cap, the effective DPI, raster resampling, encoding and hashing."""

import base64
import io

import pytest
from conftest import make_pdf
from PIL import Image

from lighton_lab.corpus.corpus import Corpus, Page
from lighton_lab.errors import RenderError
from lighton_lab.render import image_hash, render_info, render_page, to_data_url

LETTER = (612, 792)
A4 = (595.28, 841.89)


def _page(tmp_path, size, name="p.pdf"):
    make_pdf(tmp_path / name, ["Some text on the page"], size=size)
    return Corpus.load(tmp_path / name)[0]


@pytest.mark.parametrize("size", [LETTER, A4], ids=["letter", "a4"])
def test_letter_and_a4_at_200_dpi_hit_the_cap_exactly(tmp_path, size):
    image = render_page(_page(tmp_path, size), dpi=200)
    assert max(image.size) == 1540
    info = render_info(image)
    assert info.capped
    assert info.requested_dpi == 200
    assert info.effective_dpi == pytest.approx(1540 / (max(size) / 72), abs=0.01)
    assert 130 < info.effective_dpi < 145
    assert image.width / image.height == pytest.approx(size[0] / size[1], abs=0.002)


def test_small_page_is_under_the_cap_and_unchanged(tmp_path):
    image = render_page(_page(tmp_path, (3 * 72, 5 * 72)), dpi=200)
    assert image.size == (600, 1000)
    assert not render_info(image).capped
    assert render_info(image).effective_dpi == 200


def test_sizes_grow_with_dpi_up_to_the_cap(tmp_path):
    page = _page(tmp_path, LETTER)
    sizes = [max(render_page(page, dpi=d).size) for d in (100, 150, 200, 300)]
    assert sizes == sorted(sizes)
    assert sizes[0] == 1100 and sizes[1] == 1540 - 0 or sizes[1] <= 1540
    assert sizes[-2:] == [1540, 1540]


def test_no_cap_when_max_side_is_none(tmp_path):
    assert render_page(_page(tmp_path, LETTER), dpi=300, max_side=None).size == (2550, 3300)


def test_raster_uses_its_own_dpi(tmp_path):
    Image.new("L", (1800, 3000), 255).save(tmp_path / "scan.png", dpi=(600, 600))
    image = render_page(Corpus.load(tmp_path)[0], dpi=200)
    assert image.size == (600, 1000)
    assert render_info(image).effective_dpi == 200


def test_raster_without_dpi_is_assumed_200(tmp_path):
    Image.new("RGB", (600, 1000), "white").save(tmp_path / "nodpi.jpg")
    page = Corpus.load(tmp_path)[0]
    assert render_page(page, dpi=200).size == (600, 1000)
    assert render_page(page, dpi=100).size == (300, 500)


def test_huge_jpeg_is_reduced_while_decoding(tmp_path):
    Image.new("L", (12000, 9000), 255).save(tmp_path / "huge.jpg", dpi=(300, 300))
    image = render_page(Corpus.load(tmp_path)[0], dpi=200)
    assert max(image.size) == 1540


def test_multipage_tiff_frames_and_modes(sample):
    pages = Corpus.load(sample).filter("minutes.tif").pages
    first, second = (render_page(p) for p in pages)
    assert first.mode == "L"
    assert image_hash(first) != image_hash(second)


def test_data_url_round_trip():
    image = Image.new("RGB", (40, 30), (10, 200, 30))
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        url = to_data_url(image, format=fmt)
        header, data = url.split(",", 1)
        assert header == f"data:{mime};base64"
        decoded = Image.open(io.BytesIO(base64.b64decode(data)))
        assert decoded.size == (40, 30)


def test_hash_is_stable_and_content_sensitive(sample):
    page = Corpus.load(sample)[0]
    assert image_hash(render_page(page)) == image_hash(render_page(page))
    assert image_hash(render_page(page, dpi=100)) != image_hash(render_page(page, dpi=200))


def test_bad_page_names_file_and_page(tmp_path):
    page = Page(document="ghost.pdf", page_number=1, path=tmp_path / "ghost.pdf", kind="pdf")
    (tmp_path / "ghost.pdf").write_bytes(b"%PDF-1.4 nonsense")
    with pytest.raises(RenderError, match="ghost.pdf#1"):
        render_page(page)


def test_bad_arguments():
    page = Page(document="x.png", page_number=1, path=__import__("pathlib").Path("x.png"), kind="image")
    with pytest.raises(RenderError, match="dpi"):
        render_page(page, dpi=0)


def test_real_scans_render_under_the_cap(realdocs):
    for page in Corpus.load(realdocs):
        image = render_page(page)
        assert max(image.size) <= 1540
        assert image.mode in ("L", "RGB")
