"""The command line's argument types: every value is checked while the arguments are parsed, before any server
starts, and a bad one ends the command with one line that names the option and the fix (exit status 2).

Implausible but legal values are warned about on stderr and kept: a DPI above ``DPI_WARN`` (a 1200 DPI
Letter page is 10,200 x 13,200 px before the cap), a cap below ``CAP_WARN`` pixels (a page the model
cannot read).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DPI_WARN = 1200
CAP_WARN = 64
SQLITE_HEADER = b"SQLite format 3\x00"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``lighton-lab sweep: --dpi: 'abc' is not a number ...`` and exit 2, no usage
    block (``--help`` still prints it)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type, what: str):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _at_least(text: str, kind: type, what: str, lowest, why: str):
    """``text`` as a ``kind`` of at least ``lowest``; else the one-line error ``why``."""
    value = _number(text, kind, what)
    if value < lowest:
        raise argparse.ArgumentTypeError(why.format(text=text))
    return value


def count(text: str) -> int:
    return _at_least(text, int, "a whole number", 0, "{text} must be 0 or more")


def positive_int(text: str) -> int:
    return _at_least(text, int, "a whole number", 1, "{text} must be 1 or more")


def mode(text: str) -> str:
    if text not in ("plain", "grounding"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a mode: use plain or grounding (LightOnOCR-3)")
    return text


def dpi(text: str) -> float:
    value = _number(text, float, "a number (DPI, e.g. 200)")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a resolution: give DPIs above 0, e.g. 100,150,200")
    if value > DPI_WARN:
        _warn(f"{value:g} DPI is above {DPI_WARN}: pages render very large before the model's cap")
    return value


def cap(text: str) -> int:
    value = _number(text, int, "a whole number of pixels (e.g. 1540)")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{text} px is not a size: give a longest side of 1 px or more, e.g. 1540"
        )
    if value < CAP_WARN:
        _warn(f"a longest side of {value} px leaves nothing legible on a page")
    return value


def temperature(text: str) -> float:
    """A number; its range is the server's to judge (vLLM's own message comes back as the failure)."""
    return _number(text, float, "a number (e.g. 0.2)")


def listed(item):
    """``"100,150,200"`` -> [item(v), ...]: a comma-separated list of one type."""

    def parse(text: str) -> list:
        values = [item(part.strip()) for part in text.split(",") if part.strip()]
        if not values:
            raise argparse.ArgumentTypeError("give at least one value, e.g. 100,200")
        return values

    parse.__name__ = f"list of {item.__name__}"
    return parse


def page(text: str) -> int:
    return _at_least(text, int, "a page number (1, 2, ...)", 1, "{text}: pages are numbered from 1")


def store(text: str) -> Path:
    """A path for the result store: a new file, or a SQLite file; never a folder or another kind of file."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{path.resolve()} is a folder: give a file name, e.g. {path}/lab.sqlite"
        )
    if path.is_file() and path.stat().st_size:
        with path.open("rb") as handle:
            if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                raise argparse.ArgumentTypeError(
                    f"{path.resolve()} is not a result store (not a SQLite file): give a .sqlite file a sweep "
                    "wrote, or a new name to start one"
                )
    return path


def existing(text: str) -> Path:
    path = Path(text).expanduser()
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a file or folder")
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path.resolve()} does not exist")
    return path
