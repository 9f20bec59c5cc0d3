"""The engines the local server can serve, by the first part of their model names.

Adding an engine: write ``engines/<name>.py`` with a class that has ``served_names``, ``load`` and
``recognize`` (see ``base.Engine``; ``instant.py`` is the smallest), then add one line to ``ENGINES``.
"""

from __future__ import annotations

from lighton_lab.engines.base import Engine, EngineError
from lighton_lab.engines.instant import InstantEngine
from lighton_lab.engines.rapidocr import RapidOCREngine
from lighton_lab.engines.tesseract import TesseractEngine

ENGINES: dict[str, Engine] = {
    "rapidocr": RapidOCREngine(),
    "tesseract": TesseractEngine(),
    "instant": InstantEngine(),  # benchmark only: never part of a default
}
DEFAULT_ENGINES = "rapidocr,tesseract"  # the embedded default and the classical baseline


def engine_of(model: str) -> Engine:
    """The engine that serves a model name such as ``tesseract/fra``."""
    try:
        return ENGINES[model.split("/", 1)[0]]
    except KeyError:
        raise EngineError(f"no engine serves {model!r}: known engines are {', '.join(ENGINES)}") from None


def resolve_engines(specs: list[str], skip_missing: bool = False) -> list[str]:
    """``["rapidocr", "tesseract"]`` -> served model names, in order, without repeats.

    An engine that is not installed raises EngineError saying how to install it, unless ``skip_missing``
    (the default engine list on a machine without Tesseract still serves RapidOCR).
    """
    models: list[str] = []
    errors: list[str] = []
    for spec in (s.strip() for s in specs):
        if not spec:
            continue
        try:
            models += engine_of(spec).served_names(spec)
        except EngineError as exc:
            if not skip_missing:
                raise
            errors.append(str(exc))
    if not models:
        raise EngineError("; ".join(errors) or "no engine given: use e.g. --engines rapidocr,tesseract")
    return list(dict.fromkeys(models))


def available_models() -> list[str]:
    """Model names this machine can serve from the default engines, default first."""
    return resolve_engines(DEFAULT_ENGINES.split(","), skip_missing=True)


def engine_versions(models: list[str]) -> dict[str, str | None]:
    """What each engine behind ``models`` is, for a run's provenance: RapidOCR's package version, the
    Tesseract binary's (``tesseract --version``); None when it cannot be told."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for engine in dict.fromkeys(m.split("/", 1)[0] for m in models):
        try:
            if engine == "tesseract":
                out = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=10)
                found[engine] = (out.stdout or out.stderr).splitlines()[0].strip() or None
            elif engine == "rapidocr":
                found[engine] = version("rapidocr")
            else:
                found[engine] = None
        except (OSError, subprocess.SubprocessError, PackageNotFoundError, IndexError):
            found[engine] = None
    return found
