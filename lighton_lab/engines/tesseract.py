"""Tesseract through its binary, when installed (Debian: ``tesseract-ocr``, ``-fra``, ``-deu``).

``tesseract`` serves one model reading every installed language (``tesseract/eng+deu+fra``, English
first); ``tesseract/fra`` or ``tesseract/fra+deu`` name others. Its own page segmentation (``--psm 3``)
gives columns and paragraphs. ``OMP_THREAD_LIMIT=1``: with one thread per worker it is 6x faster on
2 cores than with OpenMP fighting the other workers.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from functools import lru_cache

from PIL import Image

from lighton_lab.engines.base import EngineError

TIMEOUT_S = 300  # a dense page at high DPI takes tens of seconds; a hung binary must not hang us


@lru_cache(maxsize=1)
def languages() -> tuple[str, ...]:
    """Installed Tesseract languages (without ``osd``), or () when the binary is missing."""
    binary = shutil.which("tesseract")
    if not binary:
        return ()
    try:
        out = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(
        sorted(line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd")
    )


class TesseractEngine:
    output_format = "text"
    needs_pixels = True

    def served_names(self, spec: str) -> list[str]:
        installed = languages()
        if not installed:
            raise EngineError(
                "tesseract is not installed: apt-get install tesseract-ocr (or brew install tesseract)"
            )
        if spec == "tesseract":
            return ["tesseract/" + "+".join(sorted(installed, key=lambda lang: (lang != "eng", lang)))]
        wanted = spec.split("/", 1)[1].split("+") if spec.startswith("tesseract/") else []
        missing = [lang for lang in wanted if lang not in installed]
        if not wanted or missing:
            raise EngineError(
                f"tesseract language(s) {missing or spec!r} not installed; installed: "
                f"{', '.join(installed)} (apt-get install tesseract-ocr-<lang>)"
            )
        return [spec]

    def load(self) -> None:
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")

    def recognize(self, model: str, image: Image.Image) -> str:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        proc = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", model.split("/", 1)[1], "--psm", "3"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TIMEOUT_S,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
        text = proc.stdout.decode("utf-8", errors="replace").replace("\f", "")
        paragraphs = ["\n".join(line.rstrip() for line in p.strip().splitlines()) for p in text.split("\n\n")]
        return "\n\n".join(p for p in paragraphs if p)
