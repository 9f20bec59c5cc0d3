"""Pages to images exactly as LightOnOCR expects them: rendered at a DPI, longest side capped.

The model cards render PDFs at 200 DPI with the longest side capped at 1540 px, aspect kept. On Letter
and A4 pages the cap wins above ~140 DPI, so every image records the *effective* DPI it was rendered
at (``image.info["dpi"]``) beside the requested one (``image.info["requested_dpi"]``): a DPI sweep
that changes nothing must be visible as such.

Raster inputs follow the same rule from their own resolution (the file's DPI, or 200 where it has
none): a 600 DPI scan asked for at 200 DPI is reduced to a third, then capped.

pdfium is not thread-safe: PDF rendering holds a process-wide lock; sweeps render in processes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageOps

from lighton_lab.corpus.corpus import Page, allow_large_images
from lighton_lab.errors import RenderError

DEFAULT_DPI = 200
MAX_SIDE = 1540
ASSUMED_IMAGE_DPI = 200.0  # for raster files that carry no resolution

_PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class RenderInfo:
    """What was actually sent: requested vs effective DPI and the pixel size."""

    requested_dpi: float
    effective_dpi: float
    width: int
    height: int
    capped: bool  # True when max_side, not the DPI, decided the size


def cap_for(model: str | None) -> int:
    """The page size a served model expects: its profile's longest edge (1540 or 2048 px), else ``MAX_SIDE``
    (the local CPU engines have no profile)."""
    from lighton_lab.models.variants import profile_for

    profile = profile_for(model)
    return profile.longest_edge if profile else MAX_SIDE


def render_page(page: Page, dpi: float = DEFAULT_DPI, max_side: int | None = MAX_SIDE) -> Image.Image:
    """The page as a PIL image (mode ``L`` for grey sources, ``RGB`` otherwise).

    ``image.info`` carries ``dpi`` (effective, as a pair), ``requested_dpi`` and ``capped``.
    Raises ``RenderError`` naming the file and page when it cannot be rendered.
    """
    if dpi <= 0:
        raise RenderError(f"dpi must be positive, got {dpi}")
    if max_side is not None and max_side < 16:
        raise RenderError(f"max_side must be at least 16 px, got {max_side}")
    try:
        if page.kind == "pdf":
            image, effective, longest = _render_pdf(page, dpi, max_side)
        else:
            image, effective, longest = _load_raster(page, dpi, max_side)
    except RenderError:
        raise
    except Exception as error:  # a library's own failure: say which page and what to do
        raise RenderError(
            f"{page.id}: could not render ({type(error).__name__}: {error}). "
            "The file may be corrupt or truncated: re-export it, or remove it from the corpus."
        ) from error
    if max(image.size) != longest:
        factor = longest / max(image.size)
        size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    image.info["dpi"] = (round(effective, 2), round(effective, 2))
    image.info["requested_dpi"] = dpi
    image.info["capped"] = effective < dpi - 1e-6
    return image


def render_info(image: Image.Image) -> RenderInfo:
    dpi = image.info.get("dpi", (0, 0))[0]
    return RenderInfo(
        requested_dpi=float(image.info.get("requested_dpi", dpi)),
        effective_dpi=float(dpi),
        width=image.width,
        height=image.height,
        capped=bool(image.info.get("capped", False)),
    )


def _target_scale(width: int, height: int, scale: float, max_side: int | None) -> float:
    if max_side is not None and max(width, height) * scale > max_side:
        return max_side / max(width, height)
    return scale


def _render_pdf(page: Page, dpi: float, max_side: int | None) -> tuple[Image.Image, float, int]:
    """Render straight at the final scale (sharper than rendering big and reducing)."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(page.path)
        try:
            pdf_page = pdf[page.index]
            width_pt, height_pt = pdf_page.get_size()
            scale = _target_scale(width_pt, height_pt, dpi / 72.0, max_side)
            image = pdf_page.render(scale=scale).to_pil()
        finally:
            pdf.close()
    image = image.convert("L") if _is_gray(image) else image.convert("RGB")
    target = (round(width_pt * scale), round(height_pt * scale))
    if image.size in (target, target[::-1]):
        return image, scale * 72.0, max(target)
    if abs(image.width - target[0]) <= 2 and abs(image.height - target[1]) <= 2:
        # pdfium truncates sizes (2549.99 -> 2549): pad or crop the page margin, never resample for 1 px.
        canvas = Image.new(image.mode, target, "white")
        canvas.paste(image, (0, 0))
        image = canvas
    return image, scale * 72.0, max(target)


def _is_gray(image: Image.Image) -> bool:
    """True when R, G and B are equal everywhere: most documents. Sending them as ``L`` keeps every pixel
    value (the server expands to RGB) while PNG encoding and upload shrink threefold."""
    if image.mode == "L":
        return True
    r, g, b = image.convert("RGB").split()
    return ImageChops.difference(r, g).getbbox() is None and ImageChops.difference(g, b).getbbox() is None


def _load_raster(page: Page, dpi: float, max_side: int | None) -> tuple[Image.Image, float, int]:
    with allow_large_images():
        image = Image.open(page.path)
        if page.index:
            image.seek(page.index)
        native, full_longest = _file_dpi(image), max(image.size)
        scale = _target_scale(image.width, image.height, dpi / native, max_side)
        if image.format == "JPEG" and scale < 0.5:
            # Decode at 1/2, 1/4 or 1/8 size: huge JPEG scans are never decoded in full.
            image.draft(image.mode, (int(image.width * scale) + 1, int(image.height * scale) + 1))
        image.load()
        image = ImageOps.exif_transpose(image)  # camera JPEGs store rotation as a tag
    return to_model_mode(image), native * scale, max(1, round(full_longest * scale))


def _file_dpi(image: Image.Image) -> float:
    dpi = image.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        value = 0.0
    return value if value >= 1 else ASSUMED_IMAGE_DPI


def to_model_mode(image: Image.Image) -> Image.Image:
    """``L`` for grey sources, else ``RGB`` with transparency composited on white, as vLLM's media loader does
    (the local server applies the same rule to what it receives)."""
    if image.mode in ("1", "L", "I;16", "I", "F"):
        return image.convert("L")
    if image.mode in ("LA", "RGBA", "PA", "P"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def to_data_url(image: Image.Image, format: str = "PNG", quality: int = 95) -> str:
    """``data:image/...;base64,...`` for a chat-completions ``image_url`` part.

    PNG is lossless and the default; JPEG is 3-5x smaller on photos and scans, at a small cost in
    fidelity. PNG uses zlib level 1: the server decodes it once, and level 6 costs 3x the time for
    10% fewer bytes.
    """
    return (
        "data:"
        + _mime(format)
        + ";base64,"
        + base64.b64encode(encode(image, format, quality)).decode("ascii")
    )


def encode(image: Image.Image, format: str = "PNG", quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    fmt = format.upper()
    if fmt == "PNG":
        image.save(buffer, format="PNG", compress_level=1)
    elif fmt in ("JPEG", "JPG"):
        image.save(buffer, format="JPEG", quality=quality)
    elif fmt == "WEBP":
        image.save(buffer, format="WEBP", quality=quality)
    else:
        raise RenderError(f"unsupported image format {format!r}: use PNG, JPEG or WEBP")
    return buffer.getvalue()


def _mime(format: str) -> str:
    fmt = format.upper()
    return {"PNG": "image/png", "JPEG": "image/jpeg", "JPG": "image/jpeg", "WEBP": "image/webp"}.get(
        fmt, "image/png"
    )


def image_hash(image: Image.Image) -> str:
    """Stable key of the pixels (not of an encoding, which varies with library versions)."""
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


# ---- rendering for requests, in worker processes ---------------------------------------------------


@dataclass(frozen=True)
class RenderedPage:
    """A page rendered for a request: the pixels' hash (part of the content key), what was really sent
    (effective DPI, size) and the encoded image. The render cache keeps the same record without ``url``."""

    image_hash: str
    effective_dpi: float
    width: int
    height: int
    url: str | None = None  # data URL of the encoded image; None when read back from the render cache


def render_job(page: Page, dpi: float, max_side: int | None, image_format: str = "PNG") -> RenderedPage:
    """Render, hash the pixels and encode for a request: what a sweep or benchmark needs of one page.
    Runs in a worker process (pdfium is not thread-safe)."""
    image = render_page(page, dpi=dpi, max_side=max_side)
    return RenderedPage(
        image_hash(image),
        image.info["dpi"][0],
        image.width,
        image.height,
        to_data_url(image, format=image_format),
    )


def render_pool(workers: int):
    """Worker processes for rendering, or threads when processes cannot start safely.

    Processes are started with "spawn" (forking a process that runs threads and an event loop is
    unsafe), and spawn re-imports the main script in every worker: a script without an
    ``if __name__ == "__main__":`` guard would run again there. Such scripts render in threads
    (pdfium under its lock), slower but correct. Notebooks and the CLI use processes.
    """
    import os
    import sys
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
    from multiprocessing import get_context
    from pathlib import Path

    from lighton_lab.procs import exit_with_parent

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and getattr(main, "__spec__", None) is None:
        try:
            guarded = "__main__" in Path(path).read_text(errors="replace")
        except OSError:
            guarded = False
        if not guarded:
            return ThreadPoolExecutor(workers, thread_name_prefix="render")
    return ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=exit_with_parent, initargs=(os.getpid(),)
    )
