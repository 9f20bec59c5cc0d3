"""``modal serve|deploy serve/app.py`` from Python: the CLI run with a ServeConfig's environment, its URL and
app id read from its output, ``/health`` awaited through the cold start, a failed boot reported at once.

Each app is closed by default: a random API key reaches the container as a Modal Secret (``serve/app.py``)
and stays with the Endpoint as its ``Authorization`` header; a deployment's key is also kept in the user's
keys file (``endpoints/keys.py``) so ``connect(url)`` finds it again.
"""

from __future__ import annotations

import atexit
import re
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

from lighton_lab.config import Parallelism
from lighton_lab.endpoints import keys
from lighton_lab.endpoints.endpoint import (
    HEALTH_POLL_S,
    Endpoint,
    Server,
    auth_headers,
    modal_cli,
    progress_printer,
)
from lighton_lab.errors import EndpointError
from lighton_lab.models.gpus import DEFAULT_GPU
from lighton_lab.models.serving import (
    MINUTES,
    MODAL_STARTUP_TIMEOUT_MINUTES,
    OPEN_APP_WARNING,
    BootFailure,
    ServeConfig,
    read_boot_failure,
)
from lighton_lab.models.variants import DEFAULT_MODEL

APP_PATH = Path(__file__).resolve().parents[2] / "serve" / "app.py"
URL_WAIT_S = 20 * 60  # the first `modal serve` builds the vLLM image: several minutes before the URL shows
COLD_START_S = (MODAL_STARTUP_TIMEOUT_MINUTES + 2) * MINUTES  # Modal's own startup limit, plus the image pull
HEALTH_TIMEOUT_S = 5.0  # Modal holds a request to a booting app: each /health try gives up after this
REPORT_WAIT_S = 5.0  # a boot-failure report arrives line by line: wait this long for its end mark
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


def modal_env(
    config: ServeConfig, base: dict[str, str] | None = None, api_key: str | None = None
) -> dict[str, str]:
    """The environment for `modal serve|deploy`: the caller's, with every ServeConfig key set explicitly,
    and the app's API key as VLLM_API_KEY (serve/app.py turns it into a Modal Secret) or none at all."""
    import os

    ours = {*ServeConfig.ENV.values(), "VLLM_API_KEY"}
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ours}
    env.update(config.to_env())
    if api_key:
        env["VLLM_API_KEY"] = api_key
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
    max_num_seqs: int | None = None,
    require_api_key: bool = True,
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
    Then ``/health`` is polled through the cold start; if the app reports that vLLM exited or never
    became healthy (its boot watchdog), this raises at once with vLLM's last log lines, and an ephemeral
    app is stopped. ``endpoint.stop()`` ends ``modal serve`` with SIGINT (and so the ephemeral app, then
    ``modal app stop`` on its id); a deployment keeps running until ``modal app stop``. Without a Modal
    token it fails at once, saying to run ``modal token new``.

    ``max_num_seqs`` overrides the GPU table's batch size (a starting point: measure the knee with
    ``lighton-lab bench --parallel 32,64,128,256``). ``require_api_key`` (on by default) gives the app a
    random key that only this Endpoint (and, for a deployment, your keys file) knows; ``False`` serves an
    open endpoint, with a warning. ``require_proxy_auth`` adds Modal's own proxy auth on top.
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
        max_num_seqs=max_num_seqs,
        require_api_key=require_api_key,
    )
    key = _app_key(config, deploy)
    env = modal_env(config, api_key=key)
    cmd = modal_cli() + ["deploy" if deploy else "serve", str(app_path or APP_PATH)]
    log = Path(tempfile.mkstemp(prefix=f"lighton-lab-modal-{config.resolved_app_name}-", suffix=".log")[1])
    process = _popen(cmd, env)
    server = Server(cmd, process, log, interrupt_first=not deploy, env=env)
    lines = _pump(process, log, show_log, server)
    if not deploy:
        atexit.register(server.stop)
    url = _wait_for_url(process, lines, url_timeout, deploy)
    if deploy:
        url = _deployed_url(config.resolved_app_name) or url
        if key:
            keys.remember(config.resolved_app_name, key, url)
    headers = {**auth_headers(), **({"Authorization": f"Bearer {key}"} if key else {})}
    endpoint = Endpoint(
        url,
        config.model,
        headers,
        "modal",
        config.gpu,
        (config.model,),
        capacity=config.capacity or config.resolved_max_inputs,
        server=None if deploy else server,
        serve_config=config.provenance(),
    )
    if show_log:
        print(
            f"endpoint: {endpoint.base_url}/v1  (model {config.model}, {gpu_count}x {config.gpu}, "
            f"{endpoint.capacity} requests at once)",
            flush=True,
        )
    if wait:
        follower = _follow_logs(config.resolved_app_name, env, log, show_log) if deploy else None
        try:
            _wait_until_healthy(endpoint, follower[1] if follower else lines, config, timeout, show_log, log)
        finally:
            if follower is not None:
                follower[0].kill()
                follower[0].wait()
    return endpoint


def _app_key(config: ServeConfig, deploy: bool) -> str | None:
    """A fresh key for an ephemeral app; a deployment's stored key (made on first deploy); or none, warned."""
    if not config.require_api_key:
        warnings.warn(OPEN_APP_WARNING, stacklevel=3)
        return None
    return keys.app_key(config.resolved_app_name) if deploy else keys.new_key()


def _follow_logs(app_name: str, env: dict[str, str], log: Path, echo: bool) -> tuple[subprocess.Popen, list]:
    """``modal app logs NAME -f``: a deployment's container logs, where its boot watchdog reports."""
    process = _popen(modal_cli() + ["app", "logs", app_name, "-f"], env)
    return process, _pump(process, log, echo)


def _popen(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A ``modal`` command whose output (stdout and stderr, line by line) the caller reads."""
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, text=True, bufsize=1)  # fmt: skip


def _wait_until_healthy(
    endpoint: Endpoint, lines: list[str], config: ServeConfig, timeout: float, show_log: bool, log: Path
) -> None:
    """Poll ``/health`` through the cold start; raise as soon as the app reports a failed boot."""
    progress = progress_printer() if show_log else None
    started, reported = time.monotonic(), None
    while time.monotonic() - started < timeout:
        failure = read_boot_failure(_ANSI.sub("", "".join(lines)))
        if failure is not None:
            reported = reported or time.monotonic()
            if failure.complete or time.monotonic() - reported > REPORT_WAIT_S:
                endpoint.stop()  # an ephemeral app: no container retries the boot on your bill
                raise _boot_error(failure, config, deployed=endpoint.server is None, log=log)
        process = endpoint.process
        if process is not None and process.poll() is not None:
            raise EndpointError(
                f"`modal serve` exited with code {process.returncode} before the app was healthy:\n"
                f"{endpoint.log()}"
            )
        if reported is None and endpoint.health(timeout=HEALTH_TIMEOUT_S):
            return
        if progress is not None:
            progress(time.monotonic() - started)
        time.sleep(HEALTH_POLL_S if reported is None else 0.2)
    endpoint.stop()
    raise EndpointError(
        f"{endpoint.base_url}/health was not ready after {timeout:.0f} s; the app's log says why "
        f"(`lighton-lab logs --model {config.variant.short_name}`):\n{endpoint.log()}"
    )


def _boot_error(failure: BootFailure, config: ServeConfig, deployed: bool, log: Path) -> EndpointError:
    after = (
        f"The deployment stays: `modal app stop {config.resolved_app_name}` ends it."
        if deployed
        else "The app was stopped."
    )
    return EndpointError(
        f"vLLM did not boot for {config.model} on {config.gpu}: {failure.reason}. {after} Fix the cause "
        f"in vLLM's last log lines below (a larger GPU for out-of-memory, a flag vLLM refused), then start "
        f"again; the whole log is {log}.\n" + "\n".join(failure.log_tail)
    )


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
