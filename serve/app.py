# # LightOnOCR on Modal: vLLM's OpenAI-compatible server for one model variant
#
#     modal serve serve/app.py                 # ephemeral, live logs; Ctrl-C stops it
#     MODEL_ID=32k GPU=H100 modal deploy serve/app.py
#     modal run serve/app.py                   # health check + one OCR request
#
# Most users start it from a notebook with `lighton_lab.endpoints.start_modal(model="1b", gpu="H100")`,
# which runs `modal serve` with every key of `lighton_lab.serving.ServeConfig` set in its environment and
# returns an Endpoint once /health answers.
#
# Configuration comes from the environment *of the machine that runs `modal`*. Modal does not forward it
# into the container, so it is read here at import time and baked into the image environment: the
# container re-imports this file with the same values, and `MODEL_ID=32k modal deploy` really serves 32k.

import modal

from lighton_lab.models.serving import MINUTES, REQUEST_TIMEOUT_MINUTES, STARTUP_TIMEOUT_MINUTES, ServeConfig
from lighton_lab.models.variants import TRANSFORMERS_VERSION, VLLM_VERSION

# ## Configuration: MODEL_ID, GPU, GPU_COUNT, PARALLELISM, FAST_BOOT, REQUIRE_PROXY_AUTH, SCALEDOWN_MINUTES,
# MAX_INPUTS, TARGET_INPUTS, MIN_CONTAINERS, MAX_CONTAINERS, MODEL_REVISION, APP_NAME (see ServeConfig)

CONFIG = ServeConfig.from_env()
VARIANT, GPU_TYPE = CONFIG.variant, CONFIG.card
APP_NAME = CONFIG.resolved_app_name  # one app per variant: several can serve side by side
MAX_INPUTS = CONFIG.resolved_max_inputs  # = what vLLM batches: Modal's cap per container is a hard one
TARGET_INPUTS = CONFIG.resolved_target_inputs  # the autoscaler adds a container above this
VLLM_PORT = 8000
CACHE = "/root/.cache"

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

# ## The container image: CUDA 13, the vLLM release known to run LightOnOCR, and this package for its flags

vllm_image = (
    modal.Image.from_registry(CUDA_IMAGE, add_python="3.12")
    .entrypoint([])
    .uv_pip_install(
        f"vllm=={VLLM_VERSION}",  # 0.27.1 makes the models loop; see README
        f"transformers=={TRANSFORMERS_VERSION}",  # 5.17 breaks the 1B models on vLLM 0.30.0
        "huggingface-hub[hf_xet]>=0.34",
    )
    .env(IMAGE_ENV)
    .add_local_python_source("lighton_lab")  # models.py / serving.py: the one vLLM command builder
)

# ## Volumes: weights download once, compiled kernels survive restarts

hf_cache_vol = modal.Volume.from_name("lightonocr-huggingface-cache", create_if_missing=True)
vllm_cache_vol = modal.Volume.from_name("lightonocr-vllm-cache", create_if_missing=True)
VOLUMES = {f"{CACHE}/huggingface": hf_cache_vol, f"{CACHE}/vllm": vllm_cache_vol}

app = modal.App(APP_NAME)


def command() -> list[str]:
    """The exact argv `serve` runs (tests compare it with lighton_lab.endpoints.start_vllm's)."""
    return CONFIG.vllm_command(port=VLLM_PORT, host="0.0.0.0")


def ensure_weights() -> None:
    """Download the weights into the volume the first time; later cold starts read them from there."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(VARIANT.hf_id, revision=CONFIG.revision, local_files_only=True)
    except Exception:  # not cached yet (or partial): fetch and persist for the next container
        snapshot_download(VARIANT.hf_id, revision=CONFIG.revision)
        hf_cache_vol.commit()


@app.function(
    image=vllm_image,
    gpu=f"{GPU_TYPE.name}:{CONFIG.gpu_count}",
    scaledown_window=CONFIG.scaledown_minutes * MINUTES,
    timeout=REQUEST_TIMEOUT_MINUTES * MINUTES,
    startup_timeout=STARTUP_TIMEOUT_MINUTES * MINUTES,  # without it Modal gives the boot only `timeout`
    min_containers=CONFIG.min_containers,
    max_containers=CONFIG.max_containers,
    volumes=VOLUMES,
)
@modal.concurrent(max_inputs=MAX_INPUTS, target_inputs=TARGET_INPUTS)
@modal.web_server(
    port=VLLM_PORT,
    startup_timeout=STARTUP_TIMEOUT_MINUTES * MINUTES,
    requires_proxy_auth=CONFIG.require_proxy_auth,
)
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
def smoke_test(timeout_minutes: int = STARTUP_TIMEOUT_MINUTES + 5):
    from PIL import Image, ImageDraw

    from lighton_lab.client.ocr import OCRClient
    from lighton_lab.endpoints.endpoint import Endpoint, auth_headers, wait_healthy

    url = serve.get_web_url()
    endpoint = Endpoint(url, VARIANT.hf_id, auth_headers(), "modal", GPU_TYPE.name)
    print(f"waiting for {url}/health (cold start: weights + vLLM boot) ...")
    wait_healthy(endpoint, timeout_minutes * MINUTES, progress=lambda s: print(f"  {s:.0f} s", flush=True))
    page = Image.new("RGB", (1190, 1540), "white")
    ImageDraw.Draw(page).text((100, 100), "LightOnOCR on Modal: smoke test 42", fill="black", font_size=48)
    result = OCRClient(endpoint).ocr(page)  # the variant's profile: temperature, top_p, no max_tokens
    print(f"{result.latency_s:.1f} s, {result.completion_tokens} tokens, finish={result.finish_reason}:")
    print(result.text)


if __name__ == "__main__":
    print(" ".join(command()))
