"""Corpus loading: the sample corpus, sidecars, manifests, text layers, filters and every bad-input case."""

import json

import pytest
from conftest import make_pdf
from PIL import Image

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.errors import CorpusError, LabError


def test_sample_corpus_covers_every_format(sample):
    corpus = Corpus.load(sample, strict=True)
    assert len(corpus) >= 12
    assert len(corpus.documents) >= 5
    assert all(p.ground_truth for p in corpus)
    suffixes = {p.path.suffix for p in corpus}
    assert {".pdf", ".png", ".jpg", ".tif"} <= suffixes
    pages_per_pdf = {d: sum(p.document == d for p in corpus) for d in corpus.documents if d.endswith(".pdf")}
    assert max(pages_per_pdf.values()) >= 3
    tiff_pages = [p for p in corpus if p.path.suffix == ".tif"]
    assert [p.page_number for p in tiff_pages] == [1, 2]
    assert corpus.skipped == []


def test_pages_know_document_index_and_truth(sample):
    corpus = Corpus.load(sample)
    report = [p for p in corpus if p.document == "report.pdf"]
    assert [p.page_number for p in report] == [1, 2, 3]
    assert report[1].ground_truth.startswith("Method")
    assert report[1].id == "report.pdf#2"
    assert report[0].reference == "sidecar"


def test_filter_by_document_and_tags(sample):
    corpus = Corpus.load(sample)
    assert {p.document for p in corpus.filter(documents=["report.pdf"])} == {"report.pdf"}
    scans = corpus.filter(tags=["scan"])
    assert scans.documents == ["minutes.tif", "scan_letter.png", "scan_receipt.jpg"]
    assert corpus.filter(tags=["fr"]).documents == ["fr_de.pdf"]
    assert len(corpus.filter(where=lambda p: p.page_number == 1)) == len(corpus.documents)


def test_form_feeds_split_pages_and_trailing_one_is_ignored(tmp_path):
    make_pdf(tmp_path / "two.pdf", ["first page", "second page"])
    (tmp_path / "two.gt.txt").write_text("first page\fsecond page\f", encoding="utf-8")
    corpus = Corpus.load(tmp_path, strict=True)
    assert [p.ground_truth for p in corpus] == ["first page", "second page"]


def test_gt_md_sidecar_and_missing_truth(tmp_path):
    make_pdf(tmp_path / "a.pdf", ["alpha"])
    make_pdf(tmp_path / "b.pdf", ["beta"])
    (tmp_path / "a.gt.md").write_text("# alpha", encoding="utf-8")
    corpus = Corpus.load(tmp_path)
    assert [p.ground_truth for p in corpus] == ["# alpha", None]


def test_manifest_gives_tags_and_truth(tmp_path):
    make_pdf(tmp_path / "doc.pdf", ["one", "two"])
    (tmp_path / "truth2.txt").write_text("two", encoding="utf-8")
    lines = [
        {"path": "doc.pdf", "page": 1, "ground_truth": "one", "tags": ["easy"]},
        {"path": "doc.pdf", "page": 2, "ground_truth_path": "truth2.txt", "tags": ["hard"]},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    corpus = Corpus.load(tmp_path, strict=True)
    assert [(p.ground_truth, p.tags, p.reference) for p in corpus] == [
        ("one", ("easy",), "manifest"),
        ("two", ("hard",), "manifest"),
    ]


def test_manifest_naming_a_missing_file(tmp_path):
    (tmp_path / "manifest.jsonl").write_text('{"path": "nope.pdf"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="nope.pdf"):
        Corpus.load(tmp_path, strict=True)


def test_text_layer_reference(tmp_path):
    make_pdf(tmp_path / "born.pdf", ["Born digital text"])
    corpus = Corpus.load(tmp_path, reference="text-layer")
    assert corpus[0].ground_truth.strip() == "Born digital text"
    assert corpus[0].reference == "text-layer"


def test_subfolders_become_tags(tmp_path):
    (tmp_path / "fr").mkdir()
    make_pdf(tmp_path / "fr" / "lettre.pdf", ["Bonjour"])
    corpus = Corpus.load(tmp_path)
    assert corpus[0].document == "fr/lettre.pdf"
    assert corpus[0].tags == ("fr",)


def _corrupt_pdf(d):
    (d / "bad.pdf").write_bytes(b"%PDF-1.7\n this is not a pdf at all")


def _truncated_pdf(d):
    data = make_pdf(d / "whole.pdf", ["some text " * 50]).read_bytes()
    (d / "whole.pdf").unlink()
    (d / "bad.pdf").write_bytes(data[: len(data) // 3])


def _encrypted_pdf(d):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="secret")
    pdf.set_encryption(owner_password="owner", user_password="user")
    pdf.output(str(d / "bad.pdf"))


def _empty_file(d):
    (d / "bad.pdf").write_bytes(b"")


def _unsupported(d):
    (d / "bad.docx").write_bytes(b"PK\x03\x04 not a document we read")


def _wrong_page_count(d):
    make_pdf(d / "bad.pdf", ["one", "two", "three"])
    (d / "bad.gt.txt").write_text("one\ftwo", encoding="utf-8")


def _invalid_utf8(d):
    make_pdf(d / "bad.pdf", ["caf\u00e9"])
    (d / "bad.gt.txt").write_bytes("café".encode("latin-1"))


def _corrupt_image(d):
    (d / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)


def _zero_byte_image(d):
    (d / "bad.png").write_bytes(b"")


BAD_INPUTS = [
    (_corrupt_pdf, "bad.pdf", "corrupt"),
    (_truncated_pdf, "bad.pdf", "corrupt or truncated"),
    (_encrypted_pdf, "bad.pdf", "password"),
    (_empty_file, "bad.pdf", "0 bytes"),
    (_unsupported, "bad.docx", "unsupported file type"),
    (_wrong_page_count, "bad.gt.txt", "2 page.*has 3"),
    (_invalid_utf8, "bad.gt.txt", "not valid UTF-8"),
    (_corrupt_image, "bad.png", "not a readable image"),
    (_zero_byte_image, "bad.png", "0 bytes"),
]


@pytest.mark.parametrize("make,name,reason", BAD_INPUTS, ids=[b[0].__name__.strip("_") for b in BAD_INPUTS])
def test_bad_input_is_skipped_and_listed_with_a_clear_reason(tmp_path, make, name, reason):
    make_pdf(tmp_path / "good.pdf", ["fine page"])
    (tmp_path / "good.gt.txt").write_text("fine page", encoding="utf-8")
    make(tmp_path)
    corpus = Corpus.load(tmp_path)
    assert [p.document for p in corpus] == ["good.pdf"]  # the good document survives
    assert len(corpus.skipped) == 1
    file, message = corpus.skipped[0]
    assert name in message
    assert __import__("re").search(reason, message), message


@pytest.mark.parametrize("make,name,reason", BAD_INPUTS, ids=[b[0].__name__.strip("_") for b in BAD_INPUTS])
def test_bad_input_raises_corpus_error_when_strict(tmp_path, make, name, reason):
    make(tmp_path)
    with pytest.raises(CorpusError) as info:
        Corpus.load(tmp_path, strict=True)
    assert name in str(info.value)
    assert isinstance(info.value, (LabError, ValueError))


def test_zero_by_zero_image_cannot_exist_but_a_1x1_page_loads(tmp_path):
    Image.new("L", (1, 1), 255).save(tmp_path / "dot.png")
    assert len(Corpus.load(tmp_path, strict=True)) == 1


def test_missing_folder(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        Corpus.load(tmp_path / "nowhere")


def test_real_scans_load_with_ground_truth(realdocs):
    corpus = Corpus.load(realdocs, strict=True)
    assert len(corpus) == 7
    assert all(p.ground_truth for p in corpus)
    assert "ſ" in corpus.filter("clauren")[0].ground_truth + corpus.filter("bebel")[0].ground_truth
