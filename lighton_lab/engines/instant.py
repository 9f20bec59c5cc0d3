"""The ``instant`` engine: answers at once with no text, for the client-capacity benchmark only.

It never decodes the image (``needs_pixels = False``) and is never served unless asked for by name.
It is also the smallest complete engine: copy it to add one.
"""

from __future__ import annotations

from PIL import Image

from lighton_lab.engines.base import EngineError

NAME = "instant/none"


class InstantEngine:
    output_format = "text"
    needs_pixels = False  # the size is in the header: no decoding, so the benchmark measures the client

    def served_names(self, spec: str) -> list[str]:
        if spec not in ("instant", NAME):
            raise EngineError(f"unknown instant model {spec!r}: use 'instant'")
        return [NAME]

    def load(self) -> None:
        pass

    def recognize(self, model: str, image: Image.Image) -> str:
        return ""
