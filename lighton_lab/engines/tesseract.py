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
from lighton_lab.engines.layout import Box, Paragraph, merge

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

    def recognize(self, model: str, image: Image.Image) -> list[Paragraph]:
        """Tesseract's own layout analysis (``--psm 3``: columns, blocks, paragraphs) read from its TSV output,
        so each line keeps its box: paragraphs in Tesseract's order, lines in each."""
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", compress_level=1)
        proc = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", model.split("/", 1)[1], "--psm", "3", "tsv"],
            input=buffer.getvalue(),
            capture_output=True,
            timeout=TIMEOUT_S,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        if proc.returncode != 0:
            raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
        return paragraphs_of_tsv(proc.stdout.decode("utf-8", errors="replace"))


def paragraphs_of_tsv(tsv: str) -> list[Paragraph]:
    """Tesseract's TSV (level 5 rows are words, keyed by block, paragraph and line numbers) as paragraphs
    of lines, each line one Box of its words."""
    lines: dict[tuple[int, int, int], list[Box]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        block, par, line = (int(cells[i]) for i in (2, 3, 4))
        left, top, width, height = (float(cells[i]) for i in (6, 7, 8, 9))
        lines.setdefault((block, par, line), []).append(Box(cells[11], left, top, left + width, top + height))
    paragraphs: dict[tuple[int, int], list[Box]] = {}
    for (block, par, _), words in lines.items():  # dicts keep Tesseract's order
        paragraphs.setdefault((block, par), []).append(merge(words))
    return [tuple(p) for p in paragraphs.values()]
