"""One home for the workbench's choices, defaults and configuration precedence.

Precedence, everywhere: an explicit argument (or command-line flag), then an environment variable, then
the default here. Environment variables are read only for endpoints, secrets and paths:

| variable | what it sets | read by |
|---|---|---|
| ``LIGHTON_LAB_URL`` | an endpoint to connect to | ``connect()``, the CLI's ``--url``, ``open_endpoint()`` |
| ``LIGHTON_LAB_BACKEND`` | notebooks' backend: ``local``, ``modal`` or a URL | ``open_endpoint()`` |
| ``LIGHTON_LAB_API_KEY`` (or ``OPENAI_API_KEY``) | bearer token sent to the endpoint | ``auth_headers()`` |
| ``MODAL_KEY`` / ``MODAL_SECRET`` | Modal proxy-auth headers | ``auth_headers()`` |
| ``LIGHTON_LAB_STORE`` | the result store's path | ``Store()``, the CLI's ``--store`` |
| ``XDG_CONFIG_HOME`` | deployed apps' API keys (``lighton-lab/keys.json``, 0600) | ``start_modal()``, ``connect()`` |

``open_endpoint("local")`` follows the same rule: its argument wins, and the environment only fills in
when the notebook leaves the backend unset (``None``). Secrets are sent as headers and written nowhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

# ---- choices ----------------------------------------------------------------------------------------
TextFormat = Literal["text", "markdown"]  # how a text is written, hence how it is normalised
Normalization = Literal["exact", "plain", "markdown"]  # the text rules of scoring (see scoring.text)
Mode = Literal["plain", "grounding"]  # what a request asks of the model: text, or text with boxes
EndpointKind = Literal["local", "modal", "vllm", "remote"]
DocumentKind = Literal["pdf", "image"]
Parallelism = Literal["data", "tensor"]  # several GPUs: replicas, or shards of one model

# ---- defaults ---------------------------------------------------------------------------------------
STORE_PATH = Path("runs") / "lab.sqlite"
# DPIs a sweep tries when told nothing: from where resolution starts to hurt the CPU engines (50; 72 is not
# yet significant on the sample) up to the model cards' 200. On Letter/A4 the 1540 px cap wins above ~140 DPI.
SWEEP_DPIS = (50, 72, 100, 150, 200)

# ---- environment --------------------------------------------------------------------------------------
ENV_URL = "LIGHTON_LAB_URL"
ENV_BACKEND = "LIGHTON_LAB_BACKEND"
ENV_API_KEY = "LIGHTON_LAB_API_KEY"
ENV_STORE = "LIGHTON_LAB_STORE"


def setting(explicit, variable: str | None, default=None, env: dict[str, str] | None = None):
    """The precedence rule in one place: ``explicit`` unless None, else ``$variable`` unless empty, else
    ``default``.

    >>> setting("a", "NO_SUCH_VARIABLE", "c"), setting(None, "NO_SUCH_VARIABLE", "c")
    ('a', 'c')
    """
    if explicit is not None:
        return explicit
    value = (os.environ if env is None else env).get(variable, "") if variable else ""
    return value if value.strip() else default


def store_path(explicit: str | Path | None = None) -> Path:
    """Where the result store lives: the argument, else ``$LIGHTON_LAB_STORE``, else ``runs/lab.sqlite``."""
    return Path(setting(explicit, ENV_STORE, STORE_PATH))
