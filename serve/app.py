# # LightOnOCR on Modal: vLLM's OpenAI-compatible server for one model variant
#
#     modal serve serve/app.py                 # ephemeral, live logs; Ctrl-C stops it
#     MODEL_ID=32k GPU=H100 modal deploy serve/app.py
#     modal run serve/app.py                   # health check + one OCR request
#
# Most users start it from a notebook with `lighton_lab.endpoints.start_modal(model="1b", gpu="A100-40GB")`,
# which runs `modal serve` with the environment below and returns an Endpoint once /health answers.
#
# Configuration comes from the environment *of the machine that runs `modal`*. Modal does not forward it
# into the container, so it is read here at import time and baked into the image environment: the
# container re-imports this file with the same values, and `MODEL_ID=32k modal deploy` really serves 32k.

import os

import modal

from lighton_lab.models import GPUS, VLLM_VERSION, TRANSFORMERS_VERSION, resolve_gpu, resolve_model, vllm_command

MINUTES = 60  # seconds

# ## Configuration (environment variable, default)

VARIANT = resolve_model(os.environ.get("MODEL_ID", "1b"))  # short name (1b, 32k, 16k, 2-1b, ...) or HF id
MODEL_REVISION = os.environ.get("MODEL_REVISION") or None  # pin a commit to avoid surprises when repos update
GPU_TYPE = resolve_gpu(os.environ.get("GPU", "A100-40GB"))  # one of lighton_lab.models.GPUS
GPU_COUNT = int(os.environ.get("GPU_COUNT", "1"))  # >1 shards the model with tensor parallelism
FAST_BOOT = os.environ.get("FAST_BOOT", "0").lower() in ("1", "true", "yes")  # --enforce-eager: ~1 min boots
REQUIRE_PROXY_AUTH = os.environ.get("REQUIRE_PROXY_AUTH", "0").lower() in ("1", "true", "yes")
SCALEDOWN_MINUTES = int(os.environ.get("SCALEDOWN_MINUTES", "15"))  # idle time before the GPU is released
MAX_INPUTS = int(os.environ.get("MAX_INPUTS", "64"))  # requests one container takes at once; vLLM batches them
TIMEOUT_MINUTES = 10  # longest a single request may run inside the container
STARTUP_TIMEOUT_MINUTES = 10  # weights download + vLLM boot on a cold container
VLLM_PORT = 8000
APP_NAME = os.environ.get("APP_NAME") or VARIANT.app_name  # one app per variant: several can serve side by side

if GPU_COUNT < 1:
    raise ValueError(f"GPU_COUNT must be at least 1, got {GPU_COUNT}")

# What the container needs to rebuild the same configuration when it imports this file.
IMAGE_ENV = {
    "MODEL_ID": VARIANT.hf_id,
    "GPU": GPU_TYPE.name,
    "GPU_COUNT": str(GPU_COUNT),
    "FAST_BOOT": "1" if FAST_BOOT else "0",
    "REQUIRE_PROXY_AUTH": "1" if REQUIRE_PROXY_AUTH else "0",
    "SCALEDOWN_MINUTES": str(SCALEDOWN_MINUTES),
    "MAX_INPUTS": str(MAX_INPUTS),
    "APP_NAME": APP_NAME,
    **({"MODEL_REVISION": MODEL_REVISION} if MODEL_REVISION else {}),
    "HF_XET_HIGH_PERFORMANCE": "1",  # fast weight downloads (hf_xet)
    "HF_HOME": "/root/.cache/huggingface",
    "TORCH_CUDA_ARCH_LIST": GPU_TYPE.cuda_arch,  # compile kernels for this GPU only
    "VLLM_CACHE_ROOT": "/root/.cache/vllm",
}

# ## The container image: CUDA, a vLLM release known to run LightOnOCR, and this package for its flags

vllm_image = (
    modal.Image.from_registry("nvidia/cuda:12.8.1-devel-ubuntu24.04", add_python="3.12")
    .entrypoint([])
    .uv_pip_install(
        f"vllm=={VLLM_VERSION}",  # 0.27.1 makes the models loop; see README
        f"transformers=={TRANSFORMERS_VERSION}",  # 5.17 breaks the 1B models on vLLM 0.30.0
        "huggingface-hub[hf_xet]>=0.34",
    )
    .env(IMAGE_ENV)
    .add_local_python_source("lighton_lab")  # models.py: the one vLLM command builder
)

# ## Volumes: weights download once, compiled kernels survive restarts

hf_cache_vol = modal.Volume.from_name("lightonocr-huggingface-cache", create_if_missing=True)
vllm_cache_vol = modal.Volume.from_name("lightonocr-vllm-cache", create_if_missing=True)
VOLUMES = {"/root/.cache/huggingface": hf_cache_vol, "/root/.cache/vllm": vllm_cache_vol}

app = modal.App(APP_NAME)


def command() -> list[str]:
    """The exact argv `serve` runs (tests compare it with lighton_lab.endpoints.start_vllm's)."""
    return vllm_command(VARIANT, port=VLLM_PORT, host="0.0.0.0", gpu=GPU_TYPE, gpu_count=GPU_COUNT,
                        fast_boot=FAST_BOOT, revision=MODEL_REVISION)


def ensure_weights() -> None:
    """Download the weights into the volume the first time; later cold starts read them from there."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(VARIANT.hf_id, revision=MODEL_REVISION, local_files_only=True)
    except Exception:  # not cached yet (or partial): fetch and persist for the next container
        snapshot_download(VARIANT.hf_id, revision=MODEL_REVISION)
        hf_cache_vol.commit()


@app.function(
    image=vllm_image,
    gpu=f"{GPU_TYPE.name}:{GPU_COUNT}",
    scaledown_window=SCALEDOWN_MINUTES * MINUTES,
    timeout=TIMEOUT_MINUTES * MINUTES,
    volumes=VOLUMES,
)
@modal.concurrent(max_inputs=MAX_INPUTS)
@modal.web_server(port=VLLM_PORT, startup_timeout=STARTUP_TIMEOUT_MINUTES * MINUTES,
                  requires_proxy_auth=REQUIRE_PROXY_AUTH)
def serve():
    import subprocess

    ensure_weights()
    cmd = command()
    print("starting:", " ".join(cmd), flush=True)
    subprocess.Popen(cmd)  # an argv, no shell: the JSON flag needs no quoting


@app.function(image=vllm_image, volumes=VOLUMES, timeout=30 * MINUTES)
def download_weights():
    """`modal run serve/app.py::download_weights`: warm the volume before the first serve."""
    ensure_weights()


# ## Smoke test: `modal run serve/app.py` starts a replica, checks /health and OCRs one generated page


@app.local_entrypoint()
def smoke_test(timeout_minutes: int = 10):
    from PIL import Image, ImageDraw

    from lighton_lab.client import OCRClient
    from lighton_lab.endpoints import Endpoint, auth_headers, wait_healthy

    url = serve.get_web_url()
    endpoint = Endpoint(url, VARIANT.hf_id, auth_headers(), "modal", GPU_TYPE.name)
    print(f"waiting for {url}/health (cold start: weights + vLLM boot) ...")
    wait_healthy(endpoint, timeout_minutes * MINUTES, progress=lambda s: print(f"  {s:.0f} s", flush=True))
    page = Image.new("RGB", (1190, 1540), "white")
    ImageDraw.Draw(page).text((100, 100), "LightOnOCR on Modal: smoke test 42", fill="black", font_size=48)
    result = OCRClient(endpoint).ocr(page, temperature=VARIANT.temperature, top_p=VARIANT.top_p)
    print(f"{result.latency_s:.1f} s, {result.completion_tokens} tokens, finish={result.finish_reason}:")
    print(result.text)


if __name__ == "__main__":
    print(" ".join(command()))
    print("GPUs:", ", ".join(GPUS))
