"""What produced a run, recorded with it: enough to say in a paper which code, server, weights and rendering
made a number (LightOn's own benchmark records command, commit and revision with every result).

``provenance(endpoints, image_format)`` gathers:

- ``lighton_lab``: this package's version and, in a git checkout, its commit;
- ``packages``: the versions of what touches a result (renderer, scorer, client, engines);
- ``endpoint``: per grid model, what the workbench knows of the endpoint (kind, URL without credentials,
  GPU, the Modal app's configuration when it started it);
- ``server``: what each server says of itself: ``/version`` and its models' cards (``root``: for a Modal
  app, the snapshot path with the weights' commit; ``max_model_len``); the weights' revision read from it;
- ``render``: the renderer and its version, the DPI/cap policy and the image format;
- ``command``: how the process was started.

Secrets never enter it: URLs lose their credentials, and headers are not read.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PACKAGES = ("lighton-lab", "pypdfium2", "pillow", "jiwer", "openai", "markdown-it-py", "mdit-py-plugins",
            "pylatexenc", "rapidfuzz", "rapidocr", "onnxruntime", "numpy", "pandas", "scipy", "lxml", "modal",
            "markdownify", "beautifulsoup4", "olmocr")  # fmt: skip
_SNAPSHOT = re.compile(r"/snapshots/([0-9a-f]{40})")
KEYS = ("lighton_lab", "packages", "endpoint", "server", "render", "command")


def versions(names=PACKAGES) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def public_url(url: str) -> str:
    """The URL without user, password, query or fragment (nothing secret in a store)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.hostname or "" if not parts.port else f"{parts.hostname}:{parts.port}",
                       parts.path, "", ""))  # fmt: skip


def _commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() + ("+dirty" if dirty else "")) if out.returncode == 0 else None


def server_facts(endpoint, timeout: float = 10.0) -> dict:
    """What the server says of itself; what it would not say is recorded as unknown, never guessed."""
    import httpx

    facts: dict = {}
    try:
        answer = httpx.get(endpoint.base_url + "/version", headers=endpoint.headers, timeout=timeout)
        facts["version"] = answer.json() if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        facts["version"] = None
    try:
        answer = httpx.get(endpoint.openai_base_url + "/models", headers=endpoint.headers, timeout=timeout)
        cards = answer.json().get("data", []) if answer.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        cards = []
    facts["models"] = [
        {"id": c.get("id"), "root": c.get("root"), "max_model_len": c.get("max_model_len"),
         "revision": _revision(c.get("root"))}
        for c in cards
    ]  # fmt: skip
    return facts


def _revision(root: str | None) -> str | None:
    """The weights' commit, when the server was started from a Hugging Face snapshot folder (the Modal app
    serves the snapshot it resolved at boot, so its ``root`` names the commit)."""
    match = _SNAPSHOT.search(root or "")
    return match.group(1) if match else None


def provenance(endpoints: dict, image_format: str = "PNG", render_policy: dict | None = None) -> dict:
    """The run's provenance (see the module docstring); ``endpoints`` maps grid models to Endpoints."""
    servers = {}
    for endpoint in endpoints.values():
        url = public_url(endpoint.base_url)
        if url not in servers:
            servers[url] = server_facts(endpoint)
    return {
        "lighton_lab": {"version": versions(("lighton-lab",)).get("lighton-lab"), "commit": _commit()},
        "packages": versions(),
        "endpoint": {
            model: {**e.info(), "base_url": public_url(e.base_url)} for model, e in endpoints.items()
        },
        "server": servers,
        "render": {
            "renderer": "pypdfium2 (PDF), Pillow (images)",
            "pypdfium2": versions(("pypdfium2",)).get("pypdfium2"),
            "pillow": versions(("pillow",)).get("pillow"),
            "image_format": image_format,
            **(render_policy or {}),
        },  # fmt: skip
        "command": {
            "argv": list(sys.argv),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
