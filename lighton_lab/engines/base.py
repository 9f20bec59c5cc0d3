"""What an OCR engine of the local server is: a served model name family that turns an image into text.

An engine lives in the server's worker processes: ``load()`` once per worker, then ``recognize`` per page.
Its models are named ``<registry key>/<variant>`` (``rapidocr/ppocr-v6``, ``tesseract/fra+deu``), so the
server finds the engine of any request from the model name alone. Register a new engine with one line
in ``registry.ENGINES``.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from lighton_lab.engines.layout import Paragraph


class Engine(Protocol):
    """The interface the local server needs; see ``instant.py`` for the smallest complete example."""

    output_format: str  # "text" (plain lines) or "markdown": how its output is scored

    def served_names(self, spec: str) -> list[str]:
        """Model names for an ``--engines`` entry (``"tesseract"`` or ``"tesseract/fra"``).
        Raises ValueError saying how to install the engine when it is not available here."""

    def load(self) -> None:
        """Load models once in a worker process, before ``/health`` says ready."""

    def recognize(self, model: str, image: Image.Image) -> str | list[Paragraph]:
        """The page in reading order (``image`` is RGB, alpha already composited on white): its text, or its
        paragraphs of lines with their boxes in the image's pixels (``layout.Box``), which grounding
        answers need. An engine that returns text answers grounding with one page-sized block per
        paragraph."""


class EngineError(ValueError):
    """An engine or model name that cannot be served here; the message says what to install."""
