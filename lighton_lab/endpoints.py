"""Where OCR requests go: a running OpenAI-compatible server, and the helpers that start one.

- ``start_local()``: the CPU engine server of this package, in a background process (no account needed).
- ``start_modal()``: ``modal serve serve/app.py`` (or ``modal deploy``) for one LightOnOCR variant.
- ``start_vllm()``: ``vllm serve`` on this machine's own GPU, with the same flags as the Modal app.
- ``connect(url)``: an existing deployment.

Configuration precedence, everywhere in this module: explicit arguments, then environment variables
(``LIGHTON_LAB_URL``, ``MODAL_KEY``/``MODAL_SECRET`` for Modal proxy auth, ``LIGHTON_LAB_API_KEY`` or
``OPENAI_API_KEY`` for a bearer token), then defaults. Secrets live only in ``Endpoint.headers``, which
never appear in ``repr``, logs, stores or reports.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from .errors import EndpointError

HEALTH_POLL_S = 1.0


@dataclass
class Endpoint:
    """An OpenAI-compatible server and the model to ask there."""

    base_url: str  # server root, without /v1
    model: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    kind: str = "remote"  # local, modal, vllm or remote
    gpu: str | None = None  # for the cost model
    models: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)
    log_path: Path | None = field(default=None, repr=False, compare=False)
    command: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.base_url = _root(self.base_url)

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    def with_model(self, model: str) -> Endpoint:
        """The same server, another of its models (the local server serves several)."""
        return replace(self, model=model)

    def health(self, timeout: float = 5.0) -> bool:
        try:
            return httpx.get(self.base_url + "/health", headers=self.headers, timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def list_models(self, timeout: float = 10.0) -> list[str]:
        response = httpx.get(self.openai_base_url + "/models", headers=self.headers, timeout=timeout)
        response.raise_for_status()
        return [m["id"] for m in response.json()["data"]]

    def metrics(self, timeout: float = 10.0) -> str:
        """The server's Prometheus text (vLLM and the local server both have ``/metrics``)."""
        response = httpx.get(self.base_url + "/metrics", headers=self.headers, timeout=timeout)
        response.raise_for_status()
        return response.text

    def log(self, lines: int = 40) -> str:
        """The last lines of the server's log, for a process this package started."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """End the server process this package started (no-op for ``connect``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def info(self) -> dict:
        """What a store may record about this endpoint: no headers, no secrets."""
        return {"base_url": self.base_url, "model": self.model, "kind": self.kind, "gpu": self.gpu}

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _root(url: str) -> str:
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


def connect(url: str | None = None, model: str | None = None, headers: dict[str, str] | None = None,
            gpu: str | None = None, timeout: float = 30.0) -> Endpoint:
    """An Endpoint for a running server; the model defaults to the first the server lists."""
    url = url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise EndpointError("connect() needs a URL (or LIGHTON_LAB_URL), e.g. https://you--lightonocr-1b-serve.modal.run")
    endpoint = Endpoint(url, model or "", headers if headers is not None else auth_headers(), "remote", gpu)
    try:
        endpoint.models = endpoint.list_models(timeout=timeout)
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        if not model:
            raise EndpointError(
                f"{endpoint.base_url}/v1/models did not answer ({exc}). Check the URL, that the app is running "
                "(`modal app list`), and MODAL_KEY/MODAL_SECRET if it requires proxy auth."
            ) from None
    if not endpoint.model:
        endpoint.model = endpoint.models[0]
    return endpoint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(endpoint: Endpoint, timeout: float, progress: Callable[[float], None] | None = None) -> None:
    """Poll ``/health`` until 200; fail early if the server process died, with its log."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if endpoint.process is not None and endpoint.process.poll() is not None:
            raise EndpointError(
                f"the server exited with code {endpoint.process.returncode} before it was healthy:\n{endpoint.log()}"
            )
        if endpoint.health(timeout=min(10.0, HEALTH_POLL_S * 5)):
            return
        if progress is not None:
            progress(time.monotonic() - started)
        time.sleep(HEALTH_POLL_S if endpoint.kind != "local" else 0.2)
    endpoint.stop()
    raise EndpointError(f"{endpoint.base_url}/health was not ready after {timeout:.0f} s:\n{endpoint.log()}")


def start_local(
    engines: str | list[str] = "rapidocr,tesseract",
    workers: int | None = None,
    port: int | None = None,
    faults: str | dict | None = None,
    cache_size: int = 512,
    max_payload_mb: float = 20.0,
    start_delay: float = 0.0,
    timeout: float = 180.0,
    wait: bool = True,
    require_api_key: bool = False,
) -> Endpoint:
    """Start the CPU engine server in the background and return its Endpoint once healthy.

    The process stops at ``endpoint.stop()`` or when the interpreter exits. ``faults`` takes the
    ``--faults`` syntax or a dict of ``engines.faults.Faults`` fields. ``wait=False`` returns at once
    (for cold-start tests: the port refuses connections until the server is up). ``require_api_key``
    makes the server demand ``LIGHTON_LAB_API_KEY`` as a bearer token, like ``vllm serve --api-key``;
    the key travels to the server process through its environment, never its command line.
    """
    if isinstance(engines, (list, tuple)):
        engines = ",".join(engines)
    if isinstance(faults, dict):
        faults = ",".join(f"{k}={v}" for k, v in faults.items())
    for attempt in range(3):  # a free port can be taken by someone else before the server binds it
        try:
            return _start_local_once(engines, workers, port or free_port(), faults, cache_size, max_payload_mb,
                                     start_delay, timeout, wait, require_api_key)
        except EndpointError as exc:
            if port or attempt == 2 or "address already in use" not in str(exc).lower():
                raise
    raise AssertionError("unreachable")


def _launch(endpoint: Endpoint, name: str, env: dict[str, str] | None = None) -> None:
    """Start ``endpoint.command`` in the background, its output in a log file, stopped at exit."""
    endpoint.log_path = Path(tempfile.mkstemp(prefix=f"lighton-lab-{name}-", suffix=".log")[1])
    with endpoint.log_path.open("wb") as sink:
        endpoint.process = subprocess.Popen(endpoint.command, stdout=sink, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
    atexit.register(endpoint.stop)


def _start_local_once(engines: str, workers: int | None, port: int, faults: str | None, cache_size: int,
                      max_payload_mb: float, start_delay: float, timeout: float, wait: bool,
                      require_api_key: bool) -> Endpoint:
    cmd = [sys.executable, "-m", "lighton_lab.engines.server", "--port", str(port), "--engines", engines,
           "--cache-size", str(cache_size), "--max-payload-mb", str(max_payload_mb)]
    if workers:
        cmd += ["--workers", str(workers)]
    if faults:
        cmd += ["--faults", faults]
    if start_delay:
        cmd += ["--start-delay", str(start_delay)]
    env = dict(os.environ)
    env.pop("LIGHTON_LAB_SERVER_API_KEY", None)
    headers = {}
    if require_api_key:
        key = os.environ.get("LIGHTON_LAB_API_KEY")
        if not key:
            raise EndpointError("require_api_key=True needs LIGHTON_LAB_API_KEY in the environment")
        env["LIGHTON_LAB_SERVER_API_KEY"] = key
        headers = {"Authorization": f"Bearer {key}"}
    endpoint = Endpoint(f"http://127.0.0.1:{port}", "", headers, "local", None, [], None, None, cmd)
    _launch(endpoint, "local", env)
    if not wait:
        return endpoint
    wait_healthy(endpoint, timeout)
    endpoint.models = endpoint.list_models()
    endpoint.model = endpoint.models[0]
    return endpoint


# ---- Modal ---------------------------------------------------------------------------------------

APP_PATH = Path(__file__).resolve().parents[1] / "serve" / "app.py"
URL_WAIT_S = 20 * 60  # the first `modal serve` builds the vLLM image: several minutes before the URL shows
COLD_START_S = 15 * 60  # weights download + vLLM boot on a fresh container
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\]8;[^\x07\x1b]*(?:\x07|\x1b\\)")
_WEB_URL = re.compile(r"https://[A-Za-z0-9.-]+\.modal\.run[^\s\x1b\]\)]*")
NO_TOKEN_HELP = (
    "No Modal token on this machine. Run `modal token new` in a terminal (it opens a browser to log in), "
    "or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET, then call start_modal() again. "
    "Meanwhile start_local() runs the CPU engines."
)


def find_web_url(output: str) -> str | None:
    """The web function's URL in `modal serve` / `modal deploy` output, whatever the CLI version.

    Modal 1.x prints the URL on its own line under ``Created web function serve``; 0.6x printed
    ``Created web function serve => https://...``; older ones ``Created serve => https://...``. Terminal
    colours and hyperlink escapes are removed first. Dashboard links (modal.com/apps/...) are not it.
    """
    for line in _ANSI.sub("", output).splitlines():
        match = _WEB_URL.search(line)
        if match:
            return match.group(0).rstrip(".,;")
    return None


def modal_env(model: str = "1b", gpu: str = "A100-40GB", gpu_count: int = 1, fast_boot: bool = False,
              require_proxy_auth: bool = False, scaledown_minutes: int = 15, max_inputs: int = 64,
              base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `serve/app.py` reads (it bakes it into the container image)."""
    from .models import resolve_gpu, resolve_model

    variant, card = resolve_model(model), resolve_gpu(gpu)
    env = dict(os.environ if base is None else base)
    env.update({
        "MODEL_ID": variant.hf_id, "GPU": card.name, "GPU_COUNT": str(gpu_count),
        "FAST_BOOT": "1" if fast_boot else "0", "REQUIRE_PROXY_AUTH": "1" if require_proxy_auth else "0",
        "SCALEDOWN_MINUTES": str(scaledown_minutes), "MAX_INPUTS": str(max_inputs),
        "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "200",
    })
    return env


def _modal_cli() -> list[str]:
    beside = Path(sys.executable).with_name("modal")
    return [str(beside)] if beside.exists() else [sys.executable, "-m", "modal"]


def start_modal(model: str = "1b", gpu: str = "A100-40GB", gpu_count: int = 1, fast_boot: bool = False,
                deploy: bool = False, require_proxy_auth: bool = False, scaledown_minutes: int = 15,
                max_inputs: int = 64, app_path: str | Path | None = None, timeout: float = COLD_START_S,
                url_timeout: float = URL_WAIT_S, show_log: bool = True, wait: bool = True) -> Endpoint:
    """Run ``modal serve serve/app.py`` (or ``modal deploy``) for one variant and return its Endpoint.

    The CLI's log is echoed (``show_log``) and kept in ``endpoint.log()``. The URL comes from the CLI
    output; for deployments, from ``modal.Function.from_name(app, "serve").get_web_url()`` as a check.
    Then ``/health`` is polled through the cold start. ``endpoint.stop()`` ends ``modal serve`` (and so
    the ephemeral app); a deployment keeps running until ``modal app stop``.
    Without a Modal token it fails at once, saying to run ``modal token new``.
    """
    from .models import resolve_gpu, resolve_model

    variant, card = resolve_model(model), resolve_gpu(gpu)
    env = modal_env(model, gpu, gpu_count, fast_boot, require_proxy_auth, scaledown_minutes, max_inputs)
    cmd = _modal_cli() + ["deploy" if deploy else "serve", str(app_path or APP_PATH)]
    log = Path(tempfile.mkstemp(prefix=f"lighton-lab-modal-{variant.app_name}-", suffix=".log")[1])
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=env, text=True, bufsize=1)
    endpoint = Endpoint("https://pending.modal.run", variant.hf_id, auth_headers(), "modal", card.name,
                        [variant.hf_id], process if not deploy else None, log, cmd)
    lines = _pump(process, log, show_log)
    if not deploy:
        atexit.register(endpoint.stop)
    url = _wait_for_url(process, lines, url_timeout, deploy)
    if deploy:
        url = _deployed_url(variant.app_name) or url
    endpoint.base_url = _root(url)
    if show_log:
        print(f"endpoint: {endpoint.base_url}/v1  (model {variant.hf_id}, {gpu_count}x {card.name})", flush=True)
    if wait:
        wait_healthy(endpoint, timeout, progress=_progress_printer() if show_log else None)
    return endpoint


def _pump(process: subprocess.Popen, log: Path, echo: bool) -> list[str]:
    """Copy the CLI's output to the log (and the notebook) in a thread; return the live line list."""
    lines: list[str] = []

    def run() -> None:
        with log.open("a", encoding="utf-8") as sink:
            for line in process.stdout:
                lines.append(line)
                sink.write(line)
                sink.flush()
                if echo:
                    print(_ANSI.sub("", line), end="", flush=True)

    threading.Thread(target=run, daemon=True, name="modal-log").start()
    return lines


def _wait_for_url(process: subprocess.Popen, lines: list[str], timeout: float, deploy: bool) -> str:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        text = "".join(lines)
        if "Token missing" in text or "modal token new" in text:
            process.kill()
            raise EndpointError(NO_TOKEN_HELP)
        url = find_web_url(text)
        if url and (not deploy or process.poll() is not None):
            return url
        if process.poll() is not None:
            time.sleep(0.2)  # let the pump thread drain the last lines
            text = "".join(lines)
            if "Token missing" in text or "modal token new" in text:
                raise EndpointError(NO_TOKEN_HELP)
            url = find_web_url(text)
            if url and process.returncode == 0:
                return url
            tail = "\n".join(_ANSI.sub("", text).splitlines()[-25:])
            raise EndpointError(f"`modal` exited with code {process.returncode} before giving a URL:\n{tail}")
        time.sleep(0.1)
    process.kill()
    raise EndpointError(f"no web URL from `modal` after {timeout:.0f} s; see its log above")


def _deployed_url(app_name: str) -> str | None:
    try:
        import modal

        return modal.Function.from_name(app_name, "serve").get_web_url()
    except Exception:  # the parsed URL stands; this is only a cross-check
        return None


def _progress_printer() -> Callable[[float], None]:
    state = {"last": -30.0}

    def show(elapsed: float) -> None:
        if elapsed - state["last"] >= 15:
            state["last"] = elapsed
            print(f"  waiting for /health: {elapsed:.0f} s (a cold start downloads weights and boots vLLM)", flush=True)

    return show


# ---- vLLM on your own GPU ------------------------------------------------------------------------


def start_vllm(model: str = "1b", port: int = 8000, host: str = "127.0.0.1", gpu: str = "H100", gpu_count: int = 1,
               fast_boot: bool = False, max_num_seqs: int | None = None, timeout: float = COLD_START_S,
               dry_run: bool = False) -> Endpoint:
    """``vllm serve`` on this machine with the same flags as the Modal app (``models.vllm_command``).

    ``dry_run=True`` returns the Endpoint with its ``command`` and starts nothing.
    """
    from .models import resolve_gpu, resolve_model, vllm_command

    variant, card = resolve_model(model), resolve_gpu(gpu)
    cmd = vllm_command(variant, port=port, host=host, gpu=card, gpu_count=gpu_count, fast_boot=fast_boot,
                       max_num_seqs=max_num_seqs)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    endpoint = Endpoint(f"http://{shown_host}:{port}", variant.hf_id, auth_headers(), "vllm", card.name,
                        [variant.hf_id], None, None, cmd)
    if dry_run:
        return endpoint
    if shutil.which("vllm") is None:
        raise EndpointError("vLLM is not installed here: on a machine with an NVIDIA GPU run "
                            "pip install 'lighton-lab[vllm]', or use start_modal() / start_local().")
    _launch(endpoint, "vllm")
    wait_healthy(endpoint, timeout, progress=_progress_printer())
    return endpoint
