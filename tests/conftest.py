"""Shared fixtures: the sample corpus, the real scans in ../shared, a local engine server on loopback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REALDOCS = ROOT.parent / "shared" / "realdocs"
HAS_TESSERACT = shutil.which("tesseract") is not None


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's real state or secrets."""
    for name in ("LIGHTON_LAB_URL", "LIGHTON_LAB_BACKEND", "MODAL_KEY", "MODAL_SECRET", "LIGHTON_LAB_API_KEY",
                 "OPENAI_API_KEY", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path_factory.mktemp("modal") / ".modal.toml"))


@pytest.fixture(scope="session")
def sample() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def realdocs() -> Path:
    if not REALDOCS.is_dir():
        pytest.skip("../shared/realdocs is not present")
    return REALDOCS


def make_pdf(path: Path, pages: list[str], size: tuple[float, float] = (612, 792)) -> Path:
    """A born-digital PDF with one text block per page (fpdf2, core font)."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt", format=size)
    pdf.set_margins(20, 20, 20)
    for text in pages:
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 16, text)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="session")
def engines() -> str:
    return "rapidocr,tesseract" if HAS_TESSERACT else "rapidocr"


@pytest.fixture(scope="session")
def local_server(engines):
    """One CPU engine server for the whole session (starting one costs ~2 s)."""
    from lighton_lab.endpoints import start_local

    endpoint = start_local(engines=engines, workers=2)
    yield endpoint
    endpoint.stop()


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
