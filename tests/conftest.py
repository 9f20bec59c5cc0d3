"""Shared fixtures: the sample corpus, the real scans in ../shared, a local engine server on loopback."""

from __future__ import annotations

import contextlib
import shutil
import stat
from pathlib import Path

import pytest

from lighton_lab.frames.rows import load_results
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
REALDOCS = ROOT.parent / "shared" / "realdocs"
HAS_TESSERACT = shutil.which("tesseract") is not None


# Fixtures that start the local engine server: a test using one is `slow` (server, subprocess and notebook
# tests are; `make unit` runs the others). Tests that start servers or subprocesses themselves carry the mark.
SERVER_FIXTURES = {"local_server", "server", "clean"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's real state or secrets."""
    for name in (
        "LIGHTON_LAB_URL",
        "LIGHTON_LAB_BACKEND",
        "MODAL_KEY",
        "MODAL_SECRET",
        "LIGHTON_LAB_API_KEY",
        "OPENAI_API_KEY",
        "MODAL_TOKEN_ID",
        "MODAL_TOKEN_SECRET",
        "VLLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path_factory.mktemp("modal") / ".modal.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))  # deployed apps' API keys


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
    from lighton_lab.endpoints.local import start_local

    endpoint = start_local(engines=engines, workers=2)
    yield endpoint
    endpoint.stop()


def executable(folder: Path, name: str, text: str) -> Path:
    """A stand-in program: ``text`` written to ``folder/name`` and made executable (stand-in modal, vllm)."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def stand_in_modal(monkeypatch, folder: Path, text: str) -> Path:
    """A stand-in ``modal`` CLI (``text``, a Python script) that every launch path runs instead of Modal's."""
    import lighton_lab.endpoints.endpoint as servers
    import lighton_lab.endpoints.modal_serve as modal_launch

    script = executable(folder, "modal", text)
    monkeypatch.setattr(modal_launch, "modal_cli", lambda: [str(script)])
    monkeypatch.setattr(servers, "modal_cli", lambda: [str(script)])
    return script


def chat_posts(endpoint) -> int:
    """Chat-completion POSTs the server has answered, from its own /metrics: requests counted where they land."""
    import httpx

    text = httpx.get(endpoint.base_url + "/metrics").text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith('lighton_lab_http_requests_total{method="POST",path="/v1/chat/completions"')
    )


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(status.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class _CannedServer:
    """A real HTTP server on loopback that answers every POST with one fixed body (and records the JSON
    requests it got in ``canned_server.requests``): for client behaviour the local server never shows."""

    requests: list[dict] = []

    @contextlib.contextmanager
    def __call__(self, body: bytes, status: int = 200, content_type: str = "application/json"):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = type(self).requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("content-length") or 0))
                seen.append(json.loads(data or b"{}"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


canned_server = _CannedServer()


TEXT = "The quick brown fox jumps over the lazy dog near the river bank on a sunny day."


def frame_of(pages: dict[int, dict[int, str]], folder):
    """{dpi: {page: output}} -> scored frame of one document at two DPIs, through a real store file."""
    results = [
        Result(
            key=f"{dpi}-{page}",
            document="doc.pdf",
            page=page,
            image_hash="h",
            dpi=dpi,
            effective_dpi=dpi,
            max_side=1540,
            width=10,
            height=10,
            variant="engine",
            model="engine",
            params={},
            reference=TEXT,
            text=text,
            finish_reason="stop",
            endpoint="local",
            latency_s=1.0,
            started=0.0,
            finished=1.0,
        )
        for dpi, outputs in pages.items()
        for page, text in outputs.items()
    ]
    store = Store(folder / f"frame-{len(list(folder.iterdir()))}.sqlite")
    for result in results:
        store.put(result)
    return load_results(store)


def noisy(n: int) -> str:
    return TEXT[:10] + "x" * n + TEXT[10 + n :]
