"""The worker-process side of the local server: load the engines once, then OCR one encoded page.

Requests run through ``recognize`` in a process pool, so the server's event loop never blocks on OCR.
The image is prepared as vLLM's media loader prepares it: decoded with Pillow under its decompression
limit, alpha composited on white, converted to RGB.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass

from PIL import Image

from lighton_lab.engines.layout import Paragraph, text_of
from lighton_lab.engines.registry import engine_of
from lighton_lab.procs import exit_with_parent
from lighton_lab.render import to_model_mode

# Pillow refuses images over twice its MAX_IMAGE_PIXELS (DecompressionBombError); vLLM decodes with
# Pillow too, so the same page is refused by both. The number is Pillow's: 2 x 89,478,485 pixels.
MAX_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


@dataclass(frozen=True)
class Recognition:
    """What an engine read: the page's paragraphs with their boxes (None for a text-only engine) and text."""

    text: str
    paragraphs: tuple[Paragraph, ...] | None
    seconds: float
    width: int
    height: int

    @classmethod
    def of(cls, read: str | list[Paragraph], seconds: float, width: int, height: int) -> Recognition:
        if isinstance(read, str):
            return cls(read, None, seconds, width, height)
        return cls(text_of(read), tuple(read), seconds, width, height)


class ImageRejected(ValueError):
    """The request's image cannot be decoded or is too large; the message is the 400's."""


def init_worker(models: list[str], parent: int | None = None) -> None:
    """Load every engine the server serves, once per worker process (the pool's initializer)."""
    exit_with_parent(parent)
    for engine in {id(engine_of(m)): engine_of(m) for m in models}.values():
        engine.load()


def open_image(image_bytes: bytes) -> Image.Image:
    """Open (lazily) and check the size before any pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(image_bytes))
    except Image.DecompressionBombError as exc:
        raise ImageRejected(too_many_pixels(str(exc))) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(failed_to_load(exc)) from None
    if image.width * image.height > MAX_PIXELS:
        raise ImageRejected(
            too_many_pixels(f"{image.width}x{image.height} = {image.width * image.height:,} pixels")
        )
    return image


def recognize(model: str, image_bytes: bytes, engine_model: str | None = None) -> Recognition:
    """OCR one encoded image with the engine behind ``model``; runs in a worker process."""
    started = time.perf_counter()
    image = open_image(image_bytes)
    engine = engine_of(engine_model or model)
    if not getattr(engine, "needs_pixels", True):
        return Recognition.of(engine.recognize(model, image), time.perf_counter() - started, *image.size)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(failed_to_load(exc)) from None
    read = engine.recognize(engine_model or model, to_model_mode(image).convert("RGB"))
    return Recognition.of(read, time.perf_counter() - started, *image.size)


def failed_to_load(exc: Exception) -> str:
    """vLLM's words for an image Pillow cannot read, without the object's address."""
    return re.sub(r" at 0x[0-9a-f]+>", ">", f"Failed to load image: {exc}")


def too_many_pixels(detail: str) -> str:
    return (
        f"The image is too large to decode ({detail}; the limit is {MAX_PIXELS:,} pixels, Pillow's "
        "decompression-bomb limit, which vLLM applies too). Render the page smaller: LightOnOCR expects "
        "1540 or 2048 px on the longest side."
    )
