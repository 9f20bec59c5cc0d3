"""``modal serve|deploy serve/app.py`` from Python: the CLI run with a ServeConfig's environment, its URL and
app id read from its output, ``/health`` awaited through the cold start.
"""

from __future__ import annotations

import atexit
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from lighton_lab.config import Parallelism
from lighton_lab.endpoints.endpoint import (
    Endpoint,
    Server,
    auth_headers,
    modal_cli,
    progress_printer,
    wait_healthy,
)
from lighton_lab.errors import EndpointError
from lighton_lab.models.gpus import DEFAULT_GPU
from lighton_lab.models.serving import MINUTES, STARTUP_TIMEOUT_MINUTES, ServeConfig
from lighton_lab.models.variants import DEFAULT_MODEL

APP_PATH = Path(__file__).resolve().parents[2] / "serve" / "app.py"
URL_WAIT_S = 20 * 60  # the first `modal serve` builds the vLLM image: several minutes before the URL shows
COLD_START_S = (STARTUP_TIMEOUT_MINUTES + 5) * MINUTES  # Modal's own startup limit, plus the image pull
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\]8;[^\x07\x1b]*(?:\x07|\x1b\\)")
_WEB_URL = re.compile(r"https://[A-Za-z0-9.-]+\.modal\.run[^\s\x1b\]\)]*")
_APP_ID = re.compile(r"\bap-[a-zA-Z0-9]{22}\b")  # modal._utils.name_utils.app_id_regex
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


def find_app_id(output: str) -> str | None:
    """The app id in the CLI's "View run at https://modal.com/apps/<workspace>/<env>/ap-..." line."""
    match = _APP_ID.search(_ANSI.sub("", output))
    return match.group(0) if match else None


def modal_env(config: ServeConfig, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for `modal serve|deploy`: the caller's, with every ServeConfig key set explicitly."""
    import os

    env = {
        k: v for k, v in (os.environ if base is None else base).items() if k not in ServeConfig.ENV.values()
    }
    env.update(config.to_env())
    env.update({"PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "200"})
    return env


def start_modal(
    model: str = DEFAULT_MODEL,
    gpu: str = DEFAULT_GPU,
    gpu_count: int = 1,
    fast_boot: bool = False,
    deploy: bool = False,
    require_proxy_auth: bool = False,
    scaledown_minutes: int = 15,
    max_inputs: int | None = None,
    min_containers: int = 0,
    max_containers: int | None = None,
    parallelism: Parallelism = "data",
    revision: str | None = None,
    app_name: str | None = None,
    app_path: str | Path | None = None,
    timeout: float = COLD_START_S,
    url_timeout: float = URL_WAIT_S,
    show_log: bool = True,
    wait: bool = True,
) -> Endpoint:
    """Run ``modal serve serve/app.py`` (or ``modal deploy``) for one variant and return its Endpoint.

    The arguments are a ``ServeConfig`` (checked here, before anything is built or paid for). To fan a
    sweep out over several GPUs, raise ``max_containers`` (and ``min_containers`` to keep them warm): the
    Endpoint's ``capacity`` becomes inputs-per-container x max_containers, the sweeps' default concurrency.
    The CLI's log is echoed (``show_log``) and kept in ``endpoint.log()``. The URL comes from the CLI
    output; for deployments, from ``modal.Function.from_name(app, "serve").get_web_url()`` as a check.
    Then ``/health`` is polled through the cold start. ``endpoint.stop()`` ends ``modal serve`` with
    SIGINT (and so the ephemeral app, then ``modal app stop`` on its id); a deployment keeps running
    until ``modal app stop``. Without a Modal token it fails at once, saying to run ``modal token new``.
    """
    config = ServeConfig(
        model=model,
        gpu=gpu,
        gpu_count=gpu_count,
        parallelism=parallelism,
        fast_boot=fast_boot,
        require_proxy_auth=require_proxy_auth,
        scaledown_minutes=scaledown_minutes,
        max_inputs=max_inputs,
        min_containers=min_containers,
        max_containers=max_containers,
        revision=revision,
        app_name=app_name,
    )
    env = modal_env(config)
    cmd = modal_cli() + ["deploy" if deploy else "serve", str(app_path or APP_PATH)]
    log = Path(tempfile.mkstemp(prefix=f"lighton-lab-modal-{config.resolved_app_name}-", suffix=".log")[1])
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        text=True,
        bufsize=1,
    )
    server = Server(cmd, process, log, interrupt_first=not deploy, env=env)
    lines = _pump(process, log, show_log, server)
    if not deploy:
        atexit.register(server.stop)
    url = _wait_for_url(process, lines, url_timeout, deploy)
    if deploy:
        url = _deployed_url(config.resolved_app_name) or url
    endpoint = Endpoint(
        url,
        config.model,
        auth_headers(),
        "modal",
        config.gpu,
        (config.model,),
        capacity=config.capacity or config.resolved_max_inputs,
        server=None if deploy else server,
    )
    if show_log:
        print(
            f"endpoint: {endpoint.base_url}/v1  (model {config.model}, {gpu_count}x {config.gpu}, "
            f"{endpoint.capacity} requests at once)",
            flush=True,
        )
    if wait:
        wait_healthy(endpoint, timeout, progress=progress_printer() if show_log else None)
    return endpoint


def _pump(process: subprocess.Popen, log: Path, echo: bool, server: Server | None = None) -> list[str]:
    """Copy the CLI's output to the log (and the notebook) in a thread; return the live line list.
    The app id is taken from the output as it passes, for ``stop()`` and ``logs``."""
    lines: list[str] = []

    def run() -> None:
        with log.open("a", encoding="utf-8") as sink:
            for line in process.stdout:
                lines.append(line)
                sink.write(line)
                sink.flush()
                if server is not None and server.app_id is None:
                    server.app_id = find_app_id(line)
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


def live_app_id(app_name: str) -> str:
    """The id of the newest live app of that name (deployed or ephemeral), from ``modal app list --json``.

    ``modal app logs NAME`` resolves deployed apps only; a ``modal serve`` app is found by its id.
    """
    import json

    listing = subprocess.run(
        modal_cli() + ["app", "list", "--json"], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if listing.returncode != 0:
        raise EndpointError(f"`modal app list` failed: {(listing.stdout + listing.stderr).strip()[-500:]}")
    live = [
        a
        for a in json.loads(listing.stdout or "[]")
        if a.get("Description") == app_name and str(a.get("State", "")).startswith(("deployed", "ephemeral"))
    ]
    if not live:
        raise EndpointError(
            f"no running app named {app_name!r} (see `modal app list`); pass --app-id ap-... to choose one"
        )
    return live[0]["App ID"]
