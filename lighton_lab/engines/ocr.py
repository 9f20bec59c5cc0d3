"""The CPU OCR engines behind the local server, and the worker-process functions that run them.

Each engine is a served model name (``rapidocr/ppocr-v6``, ``tesseract/eng``, ...) that turns an image
into text in reading order. Engines load once per worker process (``init_worker``), and requests run
through ``recognize`` in those processes, so the server's event loop never blocks on OCR.

- RapidOCR 3.x with onnxruntime: the PP-OCRv6 detection and recognition models ship inside the wheel,
  so nothing is downloaded. The text-direction classifier is off: on upright pages it turns long lines
  upside down now and then (6-17% CER on a clean page with it, 0.3-0.4% without).
- Tesseract through its binary, when installed (Debian: ``tesseract-ocr``, ``-fra``, ``-deu``): ``tesseract``
  serves one model reading every installed language (``tesseract/eng+deu+fra``); ``tesseract/fra`` or
  ``tesseract/fra+deu`` name others. Its own page
  segmentation (``--psm 3``) gives columns and paragraphs. ``OMP_THREAD_LIMIT=1``: with one thread per
  worker it is 6x faster on 2 cores than with OpenMP fighting the other workers.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from ..procs import exit_with_parent

RAPIDOCR = "rapidocr/ppocr-v6"
INSTANT = "instant/none"  # benchmark-only: reads the image size and answers at once, with no text
TESSERACT_TIMEOUT_S = 300  # a dense page at high DPI takes tens of seconds; a hung binary must not hang us


@dataclass(frozen=True)
class Recognition:
    text: str
    seconds: float
    width: int
    height: int


def tesseract_languages() -> list[str]:
    """Installed Tesseract languages (without ``osd``), or [] when the binary is missing."""
    binary = shutil.which("tesseract")
    if not binary:
        return []
    try:
        out = subprocess.run([binary, "--list-langs"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd")


def rapidocr_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import rapidocr  # noqa: F401
    except ImportError:
        return False
    return True


def available_models() -> list[str]:
    """Model names this machine can serve, default first."""
    models = [RAPIDOCR] if rapidocr_available() else []
    return models + [f"tesseract/{lang}" for lang in tesseract_languages()]


def resolve_engines(names: list[str]) -> list[str]:
    """Expand ``--engines rapidocr,tesseract`` to served model names; unknown names raise ValueError."""
    known = available_models()
    models: list[str] = []
    for name in names:
        name = name.strip()
        if name in ("rapidocr", RAPIDOCR):
            if RAPIDOCR not in known:
                raise ValueError("rapidocr is not installed: pip install 'lighton-lab[local]'")
            models.append(RAPIDOCR)
        elif name in ("instant", INSTANT):  # never served unless asked for: it does no OCR
            models.append(INSTANT)
        elif name == "tesseract":  # one model reading every installed language, English first
            langs = sorted(tesseract_languages(), key=lambda lang: (lang != "eng", lang))
            if not langs:
                raise ValueError("tesseract is not installed: apt-get install tesseract-ocr (or brew install tesseract)")
            models.append("tesseract/" + "+".join(langs))
        elif name.startswith("tesseract/") and _tesseract_langs_ok(name):
            models.append(name)
        else:
            raise ValueError(f"unknown engine {name!r}: available here: {', '.join(known) or 'none'}")
    return list(dict.fromkeys(models))


def _tesseract_langs_ok(model: str) -> bool:
    installed = set(tesseract_languages())
    return bool(installed) and all(lang in installed for lang in model.split("/", 1)[1].split("+"))


# ---- worker side ---------------------------------------------------------------------------------

_rapid = None


def init_worker(models: list[str]) -> None:
    """Load the engines once in each worker process (called by the process pool)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    exit_with_parent()
    if RAPIDOCR in models:
        _warm_rapidocr()


def _warm_rapidocr() -> None:
    """onnxruntime's first run is 2-3x slower than the next: pay it before /health says ready."""
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 96), "white")
    ImageDraw.Draw(image).text((10, 30), "warm up 123", fill="black", font_size=32)
    _rapidocr()(np.asarray(image))


def _rapidocr():
    global _rapid
    if _rapid is None:
        from rapidocr import RapidOCR

        _rapid = RapidOCR(
            params={
                "Global.use_cls": False,
                "Global.log_level": "critical",
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
    return _rapid


def recognize(model: str, image_bytes: bytes) -> Recognition:
    """OCR one encoded image with one engine; runs in a worker process."""
    from PIL import Image

    started = time.perf_counter()
    image = Image.open(io.BytesIO(image_bytes))
    if model == INSTANT:  # client-capacity benchmarks: the size is in the header, no decoding
        return Recognition("", time.perf_counter() - started, image.width, image.height)
    image.load()
    if model == RAPIDOCR:
        text = _run_rapidocr(image)
    elif model.startswith("tesseract/"):
        text = _run_tesseract(model.split("/", 1)[1], image)
    else:
        raise ValueError(f"unknown model {model!r}")
    return Recognition(text, time.perf_counter() - started, image.width, image.height)


def _run_rapidocr(image) -> str:
    import numpy as np

    from .layout import Box, reading_order

    result = _rapidocr()(np.asarray(image.convert("RGB")))
    if result.boxes is None or result.txts is None:
        return ""
    boxes = [
        Box(text, float(quad[:, 0].min()), float(quad[:, 1].min()), float(quad[:, 0].max()), float(quad[:, 1].max()))
        for quad, text in zip(result.boxes, result.txts)
    ]
    return reading_order(boxes)


def _run_tesseract(langs: str, image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    proc = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", langs, "--psm", "3"],
        input=buffer.getvalue(), capture_output=True, timeout=TESSERACT_TIMEOUT_S, env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tesseract failed: {proc.stderr.decode(errors='replace').strip()[:300]}")
    text = proc.stdout.decode("utf-8", errors="replace").replace("\f", "")
    paragraphs = ["\n".join(line.rstrip() for line in p.strip().splitlines()) for p in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)
