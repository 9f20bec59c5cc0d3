# # LightOnOCR on Modal: vLLM's OpenAI-compatible server for one model variant
#
#     modal serve serve/app.py                 # ephemeral, live logs; Ctrl-C stops it
#     MODEL_ID=32k GPU=H100 modal deploy serve/app.py
#     modal run serve/app.py                   # health check + one OCR request
#
# Most users start it from a notebook with `lighton_lab.endpoints.start_modal(model="1b", gpu="H100")`,
# which runs `modal serve` with every key of `lighton_lab.models.serving.ServeConfig` set in its environment
# and returns an Endpoint once /health answers (or raises with vLLM's last log lines if it does not boot).
#
# Configuration comes from the environment *of the machine that runs `modal`*. Modal does not forward it
# into the container, so it is read here at import time and baked into the image environment: the
# container re-imports this file with the same values, and `MODEL_ID=32k modal deploy` really serves 32k.
# The one exception is the API key: it travels as a Modal Secret, never in the image (see below).
#
# Any registered model serves here, LightOnOCR or a peer (`MODEL_ID=olmocr-2`): the image installs that
# family's pins and vLLM gets that family's flags (lighton_lab/models/families/).

import collections
import os
import shlex
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterable

import modal

from lighton_lab.models.serving import (
    MINUTES,
    MODAL_STARTUP_TIMEOUT_MINUTES,
    OPEN_APP_WARNING,
    REQUEST_TIMEOUT_MINUTES,
    STARTUP_TIMEOUT_MINUTES,
    ServeConfig,
    boot_failure_report,
    image_packages,
)

# ## Configuration: MODEL_ID, GPU, GPU_COUNT, PARALLELISM, FAST_BOOT, REQUIRE_PROXY_AUTH, SCALEDOWN_MINUTES,
# MAX_INPUTS, TARGET_INPUTS, MIN_CONTAINERS, MAX_CONTAINERS, MODEL_REVISION, APP_NAME, MAX_NUM_SEQS,
# REQUIRE_API_KEY (see ServeConfig)

CONFIG = ServeConfig.from_env()
VARIANT, GPU_TYPE = CONFIG.variant, CONFIG.card
APP_NAME = CONFIG.resolved_app_name  # one app per variant: several can serve side by side
MAX_INPUTS = CONFIG.resolved_max_inputs  # = what vLLM batches: Modal's cap per container is a hard one
TARGET_INPUTS = CONFIG.resolved_target_inputs  # the autoscaler adds a container above this
VLLM_PORT = 8000
CACHE = "/root/.cache"

# The boot watchdog: vLLM is polled every second while it boots. If it exits (a bad flag, out of memory, a
# missing kernel), the container fails at once with vLLM's last log lines, instead of holding the GPU until
# Modal's startup limit; if it neither exits nor answers /health within STARTUP_TIMEOUT_MINUTES, likewise.
BOOT_TIMEOUT_S = STARTUP_TIMEOUT_MINUTES * MINUTES
BOOT_POLL_S = 1.0
LOG_TAIL_LINES = 40  # enough for a Python traceback and the line before it


def api_key() -> str | None:
    """The key vLLM demands of every /v1 request (it reads VLLM_API_KEY), or None for an open app.

    `start_modal` passes a fresh key (or, for a deployment, the stored one) as VLLM_API_KEY in the
    environment of `modal serve|deploy`; run by hand, the app takes the key stored for its name in
    ~/.config/lighton-lab/keys.json (made on first use), so `connect(url)` finds it. In the container the
    key arrives from the Modal Secret below. It is never printed, logged or baked into the image.
    """
    if not CONFIG.require_api_key:
        if modal.is_local():
            warnings.warn(OPEN_APP_WARNING, stacklevel=2)
        return None
    given = os.environ.get("VLLM_API_KEY", "").strip()
    if given or not modal.is_local():
        return given or None
    from lighton_lab.endpoints.keys import app_key, keys_path

    print(f"API key of {APP_NAME}: stored in {keys_path()} (connect(url) reads it there)", flush=True)
    return app_key(APP_NAME)


API_KEY = api_key()
SECRETS = [modal.Secret.from_dict({"VLLM_API_KEY": API_KEY})] if API_KEY else []

# The vllm 0.30.0 wheel is built for CUDA 13 (libcudart.so.13, torch on cuda-toolkit 13.0), so the image's
# toolkit is 13.0 too: FlashInfer's top-p/top-k sampler JIT-compiles with this nvcc. vLLM 0.30.0 uses it for
# requests with top_p < 1 or top_k on GPUs of compute capability 8.0-12.1 only (v1/attention/backends/
# flashinfer.py, gpu_input_batch.py): LightOnOCR-1/2's top_p 0.9 on an A100/L4/H100/B200, never LightOnOCR-3's
# top_p 1.0, never a T4 (7.5).
# CUDA 13 needs an NVIDIA driver >= 580 on the host: Modal's GPUs have it; check `nvidia-smi` elsewhere.
CUDA_IMAGE = "nvidia/cuda:13.0.0-devel-ubuntu24.04"

# What the container needs to rebuild the same configuration when it imports this file, and where the
# JIT caches live: on the volume, so only the first container of a GPU type compiles them.
IMAGE_ENV = {
    **CONFIG.to_env(),
    "HF_XET_HIGH_PERFORMANCE": "1",  # fast weight downloads (hf_xet)
    "HF_HOME": f"{CACHE}/huggingface",
    "VLLM_CACHE_ROOT": f"{CACHE}/vllm",  # torch.compile artefacts
    "FLASHINFER_WORKSPACE_BASE": f"{CACHE}/vllm/flashinfer",  # FlashInfer appends .cache/flashinfer/...
    "FLASHINFER_CUDA_ARCH_LIST": GPU_TYPE.cuda_arch,  # JIT only for this GPU's architecture
    "TRITON_CACHE_DIR": f"{CACHE}/vllm/triton",
}

# ## The container image: CUDA 13, the vLLM release known to run LightOnOCR, the family's pins, this package
#
# The packages (vLLM, the family's transformers pin and extra packages) come before the configuration's ENV
# layer, so every model of the same pins shares one built image layer.

vllm_image = (
    modal.Image.from_registry(CUDA_IMAGE, add_python="3.12")
    .entrypoint([])
    .uv_pip_install(*image_packages(VARIANT))
    .env(IMAGE_ENV)
    .add_local_python_source("lighton_lab")  # models/: the one vLLM command builder
)

# ## Volumes: weights download once, compiled kernels survive restarts

hf_cache_vol = modal.Volume.from_name("lightonocr-huggingface-cache", create_if_missing=True)
vllm_cache_vol = modal.Volume.from_name("lightonocr-vllm-cache", create_if_missing=True)
VOLUMES = {f"{CACHE}/huggingface": hf_cache_vol, f"{CACHE}/vllm": vllm_cache_vol}

app = modal.App(APP_NAME)


class BootFailed(RuntimeError):
    """vLLM did not become healthy; the message says why, with its last log lines."""


def command(weights: str | None = None, port: int = VLLM_PORT) -> list[str]:
    """The exact argv `serve` runs (tests compare it with lighton_lab.endpoints.start_vllm's). With
    `weights`, the snapshot path is served under the Hugging Face id (`--served-model-name`)."""
    return CONFIG.vllm_command(port=port, host="0.0.0.0", weights=weights)


def ensure_weights() -> str:
    """The model's snapshot at its revision, resolved to a commit now: from the volume when it holds it
    (the first commit downloaded, unless MODEL_REVISION pins another), else downloaded into it. The path
    ends in the commit, and vLLM shows it as the model's `root` in /v1/models."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(VARIANT.hf_id, revision=CONFIG.revision, local_files_only=True)
    except Exception:  # not cached yet (or partial): fetch and persist for the next container
        path = snapshot_download(VARIANT.hf_id, revision=CONFIG.revision)
        hf_cache_vol.commit()
        return path


def fail(reason: str, log_tail: Iterable[str] = ()) -> None:
    """Print the report `start_modal` reads from the log, then fail the container with the same text."""
    log_tail = list(log_tail)
    print(boot_failure_report(reason, log_tail), flush=True)
    raise BootFailed("\n".join([reason, *(["vLLM's last log lines:", *log_tail] if log_tail else [])]))


def healthy(port: int) -> bool:
    import http.client
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except (OSError, http.client.HTTPException):
        return False


def boot(cmd: list[str], port: int = VLLM_PORT, timeout: float = BOOT_TIMEOUT_S) -> subprocess.Popen:
    """Start vLLM and watch it until /health answers; fail (see `fail`) the moment it exits, or at `timeout`.

    vLLM's output is relayed line by line to the container's log and its last lines are kept for the report.
    """
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            cmd,  # an argv, no shell: the JSON flags need no quoting
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # its own process group: a stuck vLLM is stopped with its workers
        )
    except OSError as exc:
        fail(f"cannot start {cmd[0]!r}: {exc}")
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    relay = threading.Thread(target=_relay, args=(process, tail), daemon=True, name="vllm-log")
    relay.start()
    while True:
        waited = time.monotonic() - started
        if process.poll() is not None:
            _stop(process)  # workers it started may outlive it
            relay.join(timeout=5)  # its last lines say why
            fail(
                f"vLLM exited with code {process.returncode} after {waited:.0f} s, before it was healthy",
                tail,
            )
        if healthy(port):
            print(f"vLLM is healthy after {waited:.0f} s", flush=True)
            return process
        if waited >= timeout:
            _stop(process)
            relay.join(timeout=5)
            fail(f"vLLM did not answer /health within {timeout:.0f} s: stuck or too slow to boot", tail)
        time.sleep(BOOT_POLL_S)


def _relay(process: subprocess.Popen, tail: collections.deque) -> None:
    for line in process.stdout:
        tail.append(line.rstrip("\n"))
        print(line, end="", flush=True)


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def start_server(timeout: float = BOOT_TIMEOUT_S, port: int = VLLM_PORT) -> subprocess.Popen:
    """The body of `serve`, a plain function: the weights at a commit, then vLLM, watched until healthy.

    Raises BootFailed, after printing the report `start_modal` reads, when no key reached the container,
    the weights cannot be had, or vLLM exits or stays silent until `timeout`.
    """
    if CONFIG.require_api_key and not os.environ.get("VLLM_API_KEY"):
        fail("no VLLM_API_KEY reached the container: start it with start_modal() or see docs/modal.md")
    try:
        weights = ensure_weights()
    except Exception as exc:
        fail(f"the weights of {VARIANT.hf_id} at {CONFIG.revision or 'main'} could not be had: {exc}")
    cmd = command(weights, port)
    print("starting:", shlex.join(cmd), flush=True)  # the key is in the environment, not in the argv
    return boot(cmd, port, timeout)


def exit_with(process: subprocess.Popen) -> None:
    """Once serving, end the container when vLLM dies, so Modal starts a fresh one instead of keeping a GPU
    behind a dead port (Modal's web_server only watches the port, not the process)."""

    def watch() -> None:
        code = process.wait()
        time.sleep(1)  # let the relay print vLLM's last lines
        print(f"vLLM exited with code {code} while serving: ending the container", flush=True)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="vllm-watch").start()


@app.function(
    image=vllm_image,
    gpu=f"{GPU_TYPE.name}:{CONFIG.gpu_count}",
    scaledown_window=CONFIG.scaledown_minutes * MINUTES,
    timeout=REQUEST_TIMEOUT_MINUTES * MINUTES,
    # without it Modal gives the boot only `timeout`; the watchdog (BOOT_TIMEOUT_S) fires first
    startup_timeout=MODAL_STARTUP_TIMEOUT_MINUTES * MINUTES,
    min_containers=CONFIG.min_containers,
    max_containers=CONFIG.max_containers,
    volumes=VOLUMES,
    secrets=SECRETS,  # VLLM_API_KEY: a Secret, not an image ENV line
)
@modal.concurrent(max_inputs=MAX_INPUTS, target_inputs=TARGET_INPUTS)
@modal.web_server(
    port=VLLM_PORT,
    startup_timeout=MODAL_STARTUP_TIMEOUT_MINUTES * MINUTES,  # the port is open once `serve` returns
    requires_proxy_auth=CONFIG.require_proxy_auth,
)
def serve():
    exit_with(start_server())


@app.function(image=vllm_image, volumes=VOLUMES, timeout=30 * MINUTES)
def download_weights():
    """`modal run serve/app.py::download_weights`: warm the volume before the first serve."""
    print(ensure_weights())


# ## Smoke test: `modal run serve/app.py` starts a replica, checks /health and OCRs one generated page


@app.local_entrypoint()
def smoke_test(timeout_minutes: int = STARTUP_TIMEOUT_MINUTES + 5):
    from PIL import Image, ImageDraw

    from lighton_lab.client.ocr import OCRClient
    from lighton_lab.endpoints.endpoint import Endpoint, auth_headers, wait_healthy

    url = serve.get_web_url()
    headers = {**auth_headers(), **({"Authorization": f"Bearer {API_KEY}"} if API_KEY else {})}
    endpoint = Endpoint(url, VARIANT.hf_id, headers, "modal", GPU_TYPE.name)
    print(f"waiting for {url}/health (cold start: weights + vLLM boot) ...")
    wait_healthy(endpoint, timeout_minutes * MINUTES, progress=lambda s: print(f"  {s:.0f} s", flush=True))
    page = Image.new("RGB", (1190, 1540), "white")
    ImageDraw.Draw(page).text((100, 100), "LightOnOCR on Modal: smoke test 42", fill="black", font_size=48)
    result = OCRClient(endpoint).ocr(page)  # the variant's profile: temperature, top_p, output cap
    print(f"{result.latency_s:.1f} s, {result.completion_tokens} tokens, finish={result.finish_reason}:")
    print(result.text)


if __name__ == "__main__":
    print(shlex.join(command()))
