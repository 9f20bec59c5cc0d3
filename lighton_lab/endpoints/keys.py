"""API keys of the Modal apps this user deployed: one file, readable by its owner only, keyed by app name.

A served or deployed app answers anyone who has its URL, and URLs end up in shared notebooks and logs, so
every app gets a random key (vLLM checks it as a bearer token on ``/v1``). An ephemeral ``start_modal``
keeps its key in memory, with its ``Endpoint``; a deployment outlives the kernel, so its key is kept here,
with the URL, for ``connect(url)`` to find again. The file is
``$XDG_CONFIG_HOME/lighton-lab/keys.json`` (default ``~/.config/lighton-lab/keys.json``), mode 0600 in a
0700 folder, written whole and atomically; nothing else on disk holds a key.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from lighton_lab.endpoints.endpoint import root_url
from lighton_lab.errors import EndpointError

KEY_BYTES = 32  # 256 random bits, URL-safe: 43 characters
# A Modal web URL's host: <workspace>[-<env>]--<app>-<function>[-dev].modal.run (`-dev` while `modal serve`)
_LABEL = re.compile(r"^[^.]*?--(?P<app>.+?)-serve(?:-dev)?\.modal\.run$")


def keys_path(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/lighton-lab/keys.json``, else ``~/.config/lighton-lab/keys.json``."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "lighton-lab" / "keys.json"


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def load() -> dict[str, dict[str, str]]:
    """``{app name: {"key": ..., "url": ...}}``; empty when the file does not exist yet."""
    path = keys_path()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EndpointError(f"{path} holds API keys but others can read it: run `chmod 600 {path}`")
    try:
        return dict(json.loads(text)["apps"])
    except (ValueError, KeyError, TypeError):
        raise EndpointError(f"{path} is not a keys file this version can read: move it away") from None


def app_key(app_name: str) -> str:
    """The key stored for an app, made and stored now if there is none (deploying again keeps the key)."""
    entry = load().get(app_name)
    if entry and entry.get("key"):
        return entry["key"]
    key = new_key()
    remember(app_name, key)
    return key


def remember(app_name: str, key: str, url: str | None = None) -> None:
    """Store (or replace) an app's key, and its URL once known."""
    apps = load()
    entry = {"key": key}
    old_url = apps.get(app_name, {}).get("url")
    if url or old_url:
        entry["url"] = root_url(url or old_url)
    apps[app_name] = entry
    _write({"apps": apps})


def forget(app_name: str) -> None:
    """Drop an app's key (the next deploy makes a new one)."""
    apps = load()
    if apps.pop(app_name, None) is not None:
        _write({"apps": apps})


def key_for_url(url: str) -> str | None:
    """The key stored for the app at ``url``: by the URL it was deployed at, else by the app name in the
    URL's host (an app deployed by ``modal deploy serve/app.py`` by hand, whose URL was never stored)."""
    apps = load()
    root = root_url(url)
    for entry in apps.values():
        if entry.get("url") == root:
            return entry.get("key")
    match = _LABEL.match(urlparse(root).hostname or "")
    entry = apps.get(match.group("app")) if match else None
    return entry.get("key") if entry else None


def _write(content: dict) -> None:
    """Write the whole file at once: a temporary 0600 file in the same folder, then an atomic rename."""
    path = keys_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keys-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "w") as sink:
            json.dump(content, sink, indent=1)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
