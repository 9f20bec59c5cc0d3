"""Endpoints as values and the server processes behind them: the types every way of serving shares.

``Endpoint`` is an immutable value (URL, model, headers, what kind of server, its capacity); ``Server`` is
the process this package started for it, if any, and knows how to end it. ``wait_healthy`` polls
``/health`` through a cold start. Secrets live only in ``Endpoint.headers``, which never appear in
``repr``, logs, stores or reports.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from lighton_lab.config import EndpointKind
from lighton_lab.errors import EndpointError

HEALTH_POLL_S = 1.0
STOP_WAIT_S = 30.0  # `modal serve` tears its app down after SIGINT: give it time before forcing


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible server and the model to ask there: an immutable value.

    ``capacity`` is how many requests the deployment takes at once without queueing (Modal: inputs per
    container x max containers); sweeps use it as their default concurrency. ``server`` is the process
    this package started for it, if any (``stop()``, ``log()``), kept out of equality and repr.
    """

    base_url: str  # server root, without /v1
    model: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    kind: EndpointKind = "remote"
    gpu: str | None = None  # for the cost model
    models: tuple[str, ...] = ()
    capacity: int | None = None
    server: Server | None = field(default=None, repr=False, compare=False)
    formats: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # (model, format) the server says
    serve_config: dict | None = field(
        default=None, repr=False, compare=False
    )  # a Modal app's, for provenance

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", root_url(self.base_url))
        object.__setattr__(self, "models", tuple(self.models))
        formats = self.formats.items() if isinstance(self.formats, dict) else self.formats
        object.__setattr__(self, "formats", tuple(formats))

    def output_format(self, model: str | None = None) -> str:
        """How a model's answers are read when scored: what its server says in ``/v1/models`` (the local
        server's cards carry ``lighton_lab.output_format``: its engines write plain text), else the family's
        (Markdown for every registered VLM), else ``"text"`` for the local server and ``"markdown"`` elsewhere.
        The same answer is so scored the same whether the server was started here or reached by URL."""
        from lighton_lab.models.variants import profile_for

        model = model or self.model
        said = dict(self.formats).get(model)
        if said:
            return said
        profile = profile_for(model)
        if profile is not None:
            return profile.family.output_format
        return "text" if self.kind == "local" else "markdown"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def with_model(self, model: str) -> Endpoint:
        """The same server, another of its models (the local server serves several)."""
        return replace(self, model=model)

    def health(self, timeout: float = 5.0) -> bool:
        try:
            return (
                httpx.get(self.base_url + "/health", headers=self.headers, timeout=timeout).status_code == 200
            )
        except httpx.HTTPError:
            return False

    def list_models(self, timeout: float = 10.0) -> list[str]:
        return [card["id"] for card in self.model_cards(timeout)]

    def model_cards(self, timeout: float = 10.0) -> list[dict]:
        """``GET /v1/models``'s cards (vLLM's: id, root, max_model_len, ...)."""
        response = httpx.get(self.openai_base_url + "/models", headers=self.headers, timeout=timeout)
        response.raise_for_status()
        return list(response.json()["data"])

    def described(self, timeout: float = 10.0) -> Endpoint:
        """This endpoint with what its server lists: its models and, where the cards say, their formats."""
        cards = self.model_cards(timeout)
        formats = tuple(
            (c["id"], c["lighton_lab"]["output_format"])
            for c in cards
            if isinstance(c.get("lighton_lab"), dict) and c["lighton_lab"].get("output_format")
        )
        model = self.model or cards[0]["id"]
        return replace(self, models=tuple(c["id"] for c in cards), formats=formats, model=model)

    def metrics(self, timeout: float = 10.0) -> str:
        """The server's Prometheus text (vLLM and the local server both have ``/metrics``)."""
        response = httpx.get(self.base_url + "/metrics", headers=self.headers, timeout=timeout)
        response.raise_for_status()
        return response.text

    # The process this package started, if any: one place, the Server object.
    @property
    def process(self) -> subprocess.Popen | None:
        return self.server.process if self.server else None

    @property
    def log_path(self) -> Path | None:
        return self.server.log_path if self.server else None

    @property
    def command(self) -> list[str]:
        return list(self.server.command) if self.server else []

    def log(self, lines: int = 40) -> str:
        """The last lines of the server's log, for a process this package started."""
        return self.server.log(lines) if self.server else ""

    def stop(self) -> None:
        """End the server this package started (no-op for ``connect`` and deployments)."""
        if self.server is not None:
            self.server.stop()

    def info(self) -> dict:
        """What a store may record about this endpoint: no headers, no secrets."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "kind": self.kind,
            "gpu": self.gpu,
            "capacity": self.capacity,
            "serve_config": self.serve_config,
        }

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Server:
    """A server process this package started: its command, handle and log, and how to end it.

    ``modal serve`` only tears its ephemeral app down on a normal exit or Ctrl-C (SIGINT), not on
    SIGTERM, so ``stop()`` sends SIGINT first and waits; then, with the app id read from the CLI's
    output, ``modal app stop`` makes sure no GPU container is left running.
    """

    command: list[str]
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    app_id: str | None = None  # an ephemeral Modal app, once the CLI has printed it
    interrupt_first: bool = False  # True for `modal serve`
    env: dict[str, str] | None = field(default=None, repr=False)

    def log(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            if self.interrupt_first:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    pass
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if self.interrupt_first and self.app_id:
            app_id, self.app_id = self.app_id, None  # once
            subprocess.run(
                modal_cli() + ["app", "stop", app_id],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=self.env,
                timeout=60,
                check=False,
            )  # already stopped by the SIGINT: the CLI says so, nothing to do


def root_url(url: str) -> str:
    """The server's root: an OpenAI base URL (``.../v1``) or a root, with or without a trailing slash."""
    url = url.rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def auth_headers(env: dict[str, str] | None = None) -> dict[str, str]:
    """Proxy-auth or bearer headers from the environment (never from arguments that get logged)."""
    env = os.environ if env is None else env
    headers = {}
    if env.get("MODAL_KEY") and env.get("MODAL_SECRET"):
        headers["Modal-Key"] = env["MODAL_KEY"]
        headers["Modal-Secret"] = env["MODAL_SECRET"]
    token = env.get("LIGHTON_LAB_API_KEY") or env.get("OPENAI_API_KEY")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(endpoint: Endpoint, timeout: float, progress: Callable[[float], None] | None = None) -> None:
    """Poll ``/health`` until 200; fail early if the server process died, with its log."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        process = endpoint.process
        if process is not None and process.poll() is not None:
            raise EndpointError(
                f"the server exited with code {process.returncode} before it was healthy:\n{endpoint.log()}"
            )
        if endpoint.health(timeout=min(10.0, HEALTH_POLL_S * 5)):
            return
        if progress is not None:
            progress(time.monotonic() - started)
        time.sleep(HEALTH_POLL_S if endpoint.kind != "local" else 0.2)
    endpoint.stop()
    raise EndpointError(f"{endpoint.base_url}/health was not ready after {timeout:.0f} s:\n{endpoint.log()}")


def launch(command: list[str], name: str, env: dict[str, str] | None = None, **options) -> Server:
    """Start ``command`` in the background, its output in a log file, stopped at exit."""
    log_path = Path(tempfile.mkstemp(prefix=f"lighton-lab-{name}-", suffix=".log")[1])
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = Server(command, process, log_path, **options)
    atexit.register(server.stop)
    return server


def modal_cli() -> list[str]:
    """The ``modal`` command of this environment (beside the interpreter), else ``python -m modal``."""
    beside = Path(sys.executable).with_name("modal")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "modal"]


def progress_printer() -> Callable[[float], None]:
    state = {"last": -30.0}

    def show(elapsed: float) -> None:
        if elapsed - state["last"] >= 15:
            state["last"] = elapsed
            print(
                f"  waiting for /health: {elapsed:.0f} s (a cold start downloads weights and boots vLLM)",
                flush=True,
            )

    return show
