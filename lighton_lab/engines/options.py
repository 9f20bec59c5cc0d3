"""How the local engine server runs: one frozen record for ``lighton-lab local-server``'s flags and for
``start_local()``, which passes it to the server process as those same flags.

The API key is not an option here: it is a secret, so it travels through the server's environment
(``LIGHTON_LAB_SERVER_API_KEY``), never its command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from lighton_lab.engines.registry import DEFAULT_ENGINES

API_KEY_ENV = "LIGHTON_LAB_SERVER_API_KEY"
# LightOnOCR-1B's context (vLLM's --max-model-len for the 1B models): max_tokens and prompt + output are
# checked against it as vLLM checks them.
DEFAULT_MAX_MODEL_LEN = 16384


@dataclass(frozen=True)
class LocalServerOptions:
    """Every setting of the local server, with its default (the one home of each)."""

    engines: str = DEFAULT_ENGINES
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None  # OCR processes; None: one per CPU
    served_model_names: tuple[tuple[str, str], ...] = ()  # (alias, engine) pairs
    max_payload_mb: float = 20.0  # megabytes of 10^6 bytes
    cache_size: int = 512  # deterministic-result cache entries; 0: off
    max_model_len: int = DEFAULT_MAX_MODEL_LEN
    faults: str = ""
    start_delay: float = 0.0

    HELP = {
        "engines": "comma-separated: rapidocr, tesseract, tesseract/fra+deu, ... (missing ones are skipped "
        "when left at the default)",
        "host": "bind address (default: loopback only; another one without an API key is warned about)",
        "port": "port to listen on",
        "workers": "OCR processes (default: CPU count)",
        "served_model_names": "also serve ENGINE's model as ALIAS (repeatable), e.g. "
        "lightonai/LightOnOCR-2-1B=rapidocr/ppocr-v6, like vLLM's --served-model-name",
        "max_payload_mb": "largest request body, in MB of 10^6 bytes",
        "cache_size": "deterministic-result cache entries (0: off)",
        "max_model_len": "context length that max_tokens and prompt + output are checked against, as vLLM's "
        "--max-model-len (LightOnOCR-1B's 16384)",
        "faults": "fault injection, e.g. 'error_rate=0.2,drop_rate=0.1,seed=1' (see engines/faults.py)",
        "start_delay": "seconds to wait before listening (a cold start)",
    }

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self.served_model_names)

    def argv(self) -> list[str]:
        """The flags that give these options (every value that is not the default)."""
        out: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            flag = (
                "--" + f.name.replace("_", "-").removesuffix("s") if f.name == "served_model_names" else None
            )
            if flag:
                out += [part for alias, engine in value for part in (flag, f"{alias}={engine}")]
            else:
                out += ["--" + f.name.replace("_", "-"), str(value)]
        return out

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """The server's flags, with these defaults and help texts."""
        for f in fields(cls):
            default = f.default
            if f.name == "served_model_names":
                parser.add_argument(
                    "--served-model-name",
                    action="append",
                    default=[],
                    metavar="ALIAS=ENGINE",
                    help=cls.HELP[f.name],
                )
                continue
            kind = {"int": int, "float": float, "int | None": int}.get(f.type, str)
            shown = "" if default in (None, "", ()) else f" (default: {default})"
            parser.add_argument(
                "--" + f.name.replace("_", "-"), type=kind, default=default, help=cls.HELP[f.name] + shown
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> LocalServerOptions:
        values = {f.name: getattr(args, f.name) for f in fields(cls) if f.name != "served_model_names"}
        pairs = tuple(_alias_pair(spec) for spec in args.served_model_name)
        return cls(**values, served_model_names=pairs)


def _alias_pair(spec: str) -> tuple[str, str]:
    """``ALIAS=ENGINE`` (ENGINE may be short: ``rapidocr``; empty: the first served engine)."""
    alias, _, target = spec.partition("=")
    if not alias.strip():
        raise ValueError(
            f"--served-model-name {spec!r}: use ALIAS=ENGINE, e.g. lightonai/LightOnOCR-2-1B=rapidocr"
        )
    return alias.strip(), target.strip()
