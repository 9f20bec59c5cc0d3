"""RapidOCR 3.x with onnxruntime: the PP-OCRv6 detection and recognition models ship inside the wheel,
so nothing is downloaded. The text-direction classifier is off: on upright pages it turns long lines
upside down now and then (6-17% CER on a clean page with it, 0.3-0.4% without). Loose text boxes are
put in reading order by ``layout.reading_order`` (XY-cut)."""

from __future__ import annotations

from PIL import Image

from lighton_lab.engines.base import EngineError
from lighton_lab.engines.layout import Paragraph

NAME = "rapidocr/ppocr-v6"


class RapidOCREngine:
    output_format = "text"  # plain lines; it prints footnote marks such as "**)" that are not Markdown
    needs_pixels = True

    def __init__(self) -> None:
        self._engine = None

    def available(self) -> bool:
        try:
            import onnxruntime  # noqa: F401
            import rapidocr  # noqa: F401
        except ImportError:
            return False
        return True

    def served_names(self, spec: str) -> list[str]:
        if spec not in ("rapidocr", NAME):
            raise EngineError(f"unknown RapidOCR model {spec!r}: use 'rapidocr' ({NAME})")
        if not self.available():
            raise EngineError("rapidocr is not installed: pip install 'lighton-lab[local]'")
        return [NAME]

    def load(self) -> None:
        """Load, then run once: onnxruntime's first run is 2-3x slower than the next; pay it before ready."""
        from PIL import ImageDraw

        image = Image.new("RGB", (320, 96), "white")
        ImageDraw.Draw(image).text((10, 30), "warm up 123", fill="black", font_size=32)
        self.recognize(NAME, image)

    def _rapidocr(self):
        if self._engine is None:
            from rapidocr import RapidOCR

            self._engine = RapidOCR(
                params={
                    "Global.use_cls": False,
                    "Global.log_level": "critical",
                    "EngineConfig.onnxruntime.intra_op_num_threads": 1,  # one worker per core
                    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                }
            )
        return self._engine

    def recognize(self, model: str, image: Image.Image) -> list[Paragraph]:
        import numpy as np

        from lighton_lab.engines.layout import Box, reading_order

        result = self._rapidocr()(np.asarray(image))
        if result.boxes is None or result.txts is None:
            return []
        boxes = [
            Box(text, float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))
            for q, text in zip(result.boxes, result.txts)
        ]
        return reading_order(boxes)
