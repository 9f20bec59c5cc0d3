"""Bad input and secrets, end to end: every bad file is a clear, named error and never costs the results
of the good ones; secrets set in the environment never reach the store, logs, reports or notebooks."""

import dataclasses
import json
import struct
import subprocess
import sys
import zlib

import httpx
import pytest
from conftest import ROOT, make_pdf
from PIL import Image

from lighton_lab.client.ocr import OCRClient, RetryPolicy
from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.endpoint import Endpoint, auth_headers
from lighton_lab.endpoints.local import start_local
from lighton_lab.endpoints.modal_serve import start_modal
from lighton_lab.errors import ModelError, OCRRequestError
from lighton_lab.models.gpus import resolve_gpu
from lighton_lab.models.variants import resolve_model
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep
from lighton_lab.views.report import write_report


def _png_0x0() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 0, 8, 0, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


def _pdf_without_pages() -> bytes:
    """A well-formed PDF whose page tree is empty (/Count 0)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def _bad_corpus(folder):
    from fpdf import FPDF

    make_pdf(folder / "good.pdf", ["The good page survives"])
    (folder / "good.gt.txt").write_text("The good page survives")
    Image.new("L", (600, 200), 255).save(folder / "blank.png")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\nnot really")
    whole = make_pdf(folder / "t.pdf", ["x " * 500]).read_bytes()
    (folder / "t.pdf").unlink()
    (folder / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    pdf = FPDF()
    pdf.add_page()
    pdf.set_encryption(owner_password="o", user_password="u")
    pdf.output(str(folder / "encrypted.pdf"))
    (folder / "zero_pages.pdf").write_bytes(_pdf_without_pages())
    (folder / "empty.png").write_bytes(b"")
    (folder / "zero.png").write_bytes(_png_0x0())
    make_pdf(folder / "pages.pdf", ["1", "2"])
    (folder / "pages.gt.txt").write_text("only one page")
    make_pdf(folder / "latin1.pdf", ["é"])
    (folder / "latin1.gt.txt").write_bytes("é".encode("latin-1"))
    return {
        "corrupt.pdf": "corrupt",
        "truncated.pdf": "corrupt or truncated",
        "encrypted.pdf": "password",
        "zero_pages.pdf": "no pages",
        "empty.png": "0 bytes",
        "zero.png": "readable image",
        "pages.pdf": "has 2",
        "latin1.pdf": "UTF-8",
    }


def test_bad_input_matrix_in_a_sweep(local_server, tmp_path):
    expected = _bad_corpus(tmp_path)
    corpus = Corpus.load(tmp_path)
    assert sorted(p.document for p in corpus) == ["blank.png", "good.pdf"]
    reasons = dict(corpus.skipped)
    assert sorted(reasons) == sorted(expected)
    for name, words in expected.items():
        assert words in reasons[name], (name, reasons[name])
    frame = run_sweep(
        corpus,
        Grid(dpi=[100], model=[local_server.model]),
        local_server,
        store=Store(tmp_path / "s.sqlite"),
        progress=False,
    )
    assert len(frame) == 2 and frame["error"].isna().all()
    assert frame[frame["document"] == "good.pdf"]["cer"].iloc[0] < 0.1
    assert frame[frame["document"] == "blank.png"]["cer"].isna().all()  # no ground truth: missing, not zero


@pytest.mark.slow
def test_huge_image_renders_under_the_cap_in_bounded_memory(tmp_path):
    Image.new("1", (20000, 20000), 1).save(tmp_path / "huge.png")
    code = (
        "import resource, sys; from lighton_lab import Corpus; from lighton_lab.render import render_page;"
        f"im = render_page(Corpus.load({str(tmp_path)!r}, strict=True)[0]);"
        "print(im.size, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    size, peak_mb = out.rsplit(")", 1)
    assert size.strip() + ")" == "(1540, 1540)"
    assert int(peak_mb) < 2000, f"peak memory {peak_mb} MB"


@pytest.mark.slow
def test_malformed_answers_become_stored_page_errors(tmp_path, sample):
    corpus = Corpus.load(sample).filter("scan_receipt")
    store = Store(tmp_path / "m.sqlite")
    with start_local(engines="rapidocr", workers=1, faults={"malformed_rate": 1.0}) as broken:
        frame = run_sweep(
            corpus,
            Grid(dpi=[100, 150], model=[broken.model]),
            broken,
            store=store,
            progress=False,
            retry=RetryPolicy(attempts=2, backoff_s=0.01),
        )
    assert len(frame) == 2
    assert frame["error"].str.contains("malformed").all()
    assert frame["error"].str.contains("scan_receipt.jpg#1").all()
    assert all(r.error for r in store.results())
    with start_local(engines="rapidocr", workers=1) as healthy:  # a rerun asks again and completes
        again = run_sweep(
            corpus, Grid(dpi=[100, 150], model=[healthy.model]), healthy, store=store, progress=False
        )
    assert again["error"].isna().all() and again.attrs["requests"] == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: resolve_model("llama-3"), "Known: 1b"),
        (lambda: resolve_model("olmocr2"), "did you mean 'olmocr-2'"),
        (lambda: resolve_model("3_4b"), "did you mean '3-4b'"),
        (lambda: resolve_gpu("RTX-9090"), "T4, L4, A10"),
        (lambda: start_modal(model="1b", gpu="RTX-9090", show_log=False), "Known: T4"),
        (lambda: start_modal(model="nope", show_log=False), "Known: 1b"),
    ],
)
def test_unknown_model_or_gpu_names(call, words):
    with pytest.raises(ModelError, match=words):
        call()


SECRETS = {
    "MODAL_KEY": "wk-fakeKEY-7f3a9c",
    "MODAL_SECRET": "ws-fakeSECRET-51d2e8",
    "LIGHTON_LAB_API_KEY": "sk-fake-API-0b77",
}


@pytest.mark.slow
def test_secrets_are_sent_as_headers_and_written_nowhere(sample, tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    corpus = Corpus.load(sample).filter("table.pdf")
    store = Store(tmp_path / "secret.sqlite")
    with start_local(engines="rapidocr", workers=1, require_api_key=True) as endpoint:
        response = httpx.post(endpoint.openai_base_url + "/chat/completions", json={"messages": []})
        assert response.status_code == 401  # the server really demands the key...
        with pytest.raises(OCRRequestError, match="LIGHTON_LAB_API_KEY"):
            OCRClient(Endpoint(endpoint.base_url, endpoint.model), retry=RetryPolicy(attempts=1)).ocr(
                Image.new("L", (64, 64), 255)
            )
        endpoint = dataclasses.replace(
            endpoint, headers=auth_headers()
        )  # ...and gets it, with Modal's pair, as headers
        assert endpoint.headers["Modal-Key"] == SECRETS["MODAL_KEY"]
        frame = run_sweep(
            corpus, Grid(dpi=[100], model=[endpoint.model]), endpoint, store=store, progress=False
        )
        assert frame["error"].isna().all()
        shown = repr(endpoint) + json.dumps(endpoint.info()) + " ".join(endpoint.command)
        log = endpoint.log_path.read_bytes()
    report = write_report(frame, tmp_path / "report.html").read_bytes()
    store.close()
    database = b"".join(p.read_bytes() for p in tmp_path.glob("secret.sqlite*"))
    notebook = _run_quickstart(tmp_path, monkeypatch)
    for secret in SECRETS.values():
        for name, blob in (
            ("store", database),
            ("report", report),
            ("server log", log),
            ("notebook", notebook),
            ("repr/info/argv", shown.encode()),
        ):
            assert secret.encode() not in blob, f"{secret} leaked into the {name}"


def _run_quickstart(tmp_path, monkeypatch) -> bytes:
    """Execute the quickstart notebook with the secrets in the environment; return its saved outputs."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(ROOT / "notebooks" / "01_quickstart.ipynb", as_version=4)
    monkeypatch.setenv("LIGHTON_LAB_BACKEND", "local")
    NotebookClient(book, timeout=180, resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    path = tmp_path / "executed.ipynb"
    nbformat.write(book, path)
    return path.read_bytes()
