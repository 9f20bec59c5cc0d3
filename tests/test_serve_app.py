"""serve/app.py imported offline under each variant, GPU and boot mode: its Modal configuration and the
exact vLLM argv (the same one start_vllm builds). No Modal account is used: nothing here talks to Modal."""

import importlib.util
import itertools
import json
import shlex

import pytest
from conftest import ROOT

from lighton_lab.endpoints.modal_serve import modal_env
from lighton_lab.endpoints.vllm_serve import start_vllm
from lighton_lab.errors import ModelError
from lighton_lab.models.gpus import GPUS, resolve_gpu
from lighton_lab.models.serving import ServeConfig
from lighton_lab.models.variants import resolve_model

APP = ROOT / "serve" / "app.py"
_count = itertools.count()


def load_app(monkeypatch, **env):
    for key in ServeConfig.ENV.values():
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    spec = importlib.util.spec_from_file_location(f"serve_app_{next(_count)}", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recorded(app) -> dict:
    """What Modal 1.6.4 recorded for the `serve` function when the app was imported (nothing is sent):
    the arguments its loader will put in the function definition, and the web-server configuration."""
    function = app.serve
    original = next(getattr(function, n) for n in vars(function) if n.startswith("_sync_original"))
    load = original._load
    cells = dict(zip(load.__code__.co_freevars, (c.cell_contents for c in load.__closure__)))
    webhook = original._webhook_config
    return {
        "timeout": cells["timeout"],
        "startup_timeout": cells["startup_timeout"],
        "max_inputs": cells["max_concurrent_inputs"],
        "target_inputs": cells["target_concurrent_inputs_int"],
        "min_containers": cells["min_containers"],
        "max_containers": cells["max_containers"],
        "scaledown_window": cells["scaledown_window"],
        "web_server_port": webhook.web_server_port,
        "web_server_startup_timeout": webhook.web_server_startup_timeout,
        "requires_proxy_auth": bool(webhook.requires_proxy_auth),
    }


CASES = [
    ("1b", "A100-40GB", False),
    ("32k", "H100", True),
    ("16k", "L4", False),
    ("2-1b", "L40S", True),
    ("3-1b", "H200", False),
    ("3-0.8b", "B200", True),
    ("lightonai/LightOnOCR-0.9B-32k-1025", "A10", False),
]


@pytest.mark.parametrize("model,gpu,fast_boot", CASES)
def test_app_configuration_per_variant(monkeypatch, model, gpu, fast_boot):
    app = load_app(monkeypatch, MODEL_ID=model, GPU=gpu, FAST_BOOT=int(fast_boot))
    variant, card = resolve_model(model), resolve_gpu(gpu)
    spec = app.serve._spec_  # Modal's own record of the function's resources
    assert spec.gpus == f"{card.name}:1"
    assert set(spec.volumes) == {"/root/.cache/huggingface", "/root/.cache/vllm"}
    assert app.app.name == variant.app_name == app.APP_NAME
    modal_sees = recorded(app)
    assert modal_sees["max_inputs"] == card.max_num_seqs  # what one vLLM replica batches: the GPU is filled
    assert modal_sees["target_inputs"] < modal_sees["max_inputs"]
    assert (
        modal_sees["startup_timeout"] > modal_sees["timeout"]
    )  # the boot no longer shares the request timeout
    assert modal_sees["web_server_startup_timeout"] == modal_sees["startup_timeout"] == 20 * 60
    assert modal_sees["scaledown_window"] == 15 * 60 and not modal_sees["requires_proxy_auth"]
    assert app.IMAGE_ENV["MODEL_ID"] == variant.hf_id  # baked into the image: the container sees it too
    assert app.IMAGE_ENV["FLASHINFER_CUDA_ARCH_LIST"] == card.cuda_arch
    assert app.IMAGE_ENV["FLASHINFER_WORKSPACE_BASE"].startswith(
        "/root/.cache/vllm/"
    )  # JIT cache on the volume
    assert "TORCH_CUDA_ARCH_LIST" not in app.IMAGE_ENV  # does nothing for a prebuilt vLLM 0.30 wheel
    assert app.IMAGE_ENV["HF_XET_HIGH_PERFORMANCE"] == "1"
    assert app.CUDA_IMAGE.startswith("nvidia/cuda:13.")  # the vllm 0.30.0 wheel is a CUDA 13 build
    argv = app.command()
    assert argv[:3] == ["vllm", "serve", variant.hf_id]
    assert argv[argv.index("--limit-mm-per-prompt") + 1] == '{"image": 1}'
    assert json.loads(argv[argv.index("--limit-mm-per-prompt") + 1]) == {"image": 1}
    assert argv[argv.index("--mm-processor-cache-gb") + 1] == "0"
    assert "--no-enable-prefix-caching" in argv
    assert argv[argv.index("--max-num-seqs") + 1] == str(card.max_num_seqs)
    assert argv[argv.index("--port") + 1] == "8000"
    assert ("--enforce-eager" in argv) is fast_boot
    assert "--tensor-parallel-size" not in argv and "--data-parallel-size" not in argv
    for flag in variant.vllm_flags:
        assert flag in argv
    same = start_vllm(model, port=8000, host="0.0.0.0", gpu=gpu, fast_boot=fast_boot, dry_run=True)
    assert same.command == argv


@pytest.mark.parametrize("gpu", ["H100", "H200"])
def test_max_inputs_covers_the_vllm_batch(monkeypatch, gpu):
    """Done-when of the serving issue: for H100 and H200, Modal's hard per-container cap is at least what
    vLLM batches, and the startup timeout is longer than the request timeout."""
    app = load_app(monkeypatch, GPU=gpu, GPU_COUNT=2)
    argv = app.command()
    batch = int(argv[argv.index("--max-num-seqs") + 1]) * int(argv[argv.index("--data-parallel-size") + 1])
    modal_sees = recorded(app)
    assert modal_sees["max_inputs"] >= batch == 2 * GPUS[gpu].max_num_seqs
    assert modal_sees["startup_timeout"] > modal_sees["timeout"]


def test_exact_argv_of_the_default(monkeypatch):
    app = load_app(monkeypatch)
    assert shlex.join(app.command()) == (
        "vllm serve lightonai/LightOnOCR-1B-1025 --host 0.0.0.0 --port 8000 "
        "--limit-mm-per-prompt '{\"image\": 1}' --mm-processor-cache-gb 0 --no-enable-prefix-caching "
        "--max-num-seqs 64"
    )


def test_several_gpus_proxy_auth_and_limits(monkeypatch):
    app = load_app(
        monkeypatch,
        MODEL_ID="2-1b",
        GPU="H100",
        GPU_COUNT=2,
        REQUIRE_PROXY_AUTH=1,
        SCALEDOWN_MINUTES=5,
        MAX_INPUTS=200,
        MIN_CONTAINERS=1,
        MAX_CONTAINERS=4,
    )
    assert app.serve._spec_.gpus == "H100:2"
    modal_sees = recorded(app)
    assert modal_sees["requires_proxy_auth"] and modal_sees["scaledown_window"] == 5 * 60
    assert modal_sees["max_inputs"] == 200 and modal_sees["target_inputs"] == 160
    assert (modal_sees["min_containers"], modal_sees["max_containers"]) == (1, 4)
    argv = app.command()
    assert argv[argv.index("--data-parallel-size") + 1] == "2"  # replicas: a 1B model fits one GPU
    assert argv[argv.index("--max-num-seqs") + 1] == str(GPUS["H100"].max_num_seqs)  # per replica
    assert app.IMAGE_ENV["REQUIRE_PROXY_AUTH"] == "1"


def test_tensor_parallelism_when_asked_and_the_heads_divide(monkeypatch):
    argv = load_app(monkeypatch, GPU="H100", GPU_COUNT=2, PARALLELISM="tensor").command()
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2" and "--data-parallel-size" not in argv
    with pytest.raises(ModelError, match="attention heads"):
        load_app(monkeypatch, GPU="H100", GPU_COUNT=3, PARALLELISM="tensor")


def test_lightonocr3_flags(monkeypatch):
    argv = load_app(monkeypatch, MODEL_ID="3-4b", GPU="H100").command()
    assert argv[argv.index("--max-model-len") + 1] == "18000"
    assert json.loads(argv[argv.index("--default-chat-template-kwargs") + 1]) == {"enable_thinking": False}


def test_unknown_names_fail_at_import_with_the_known_ones(monkeypatch):
    with pytest.raises(ModelError, match="Known: 1b"):
        load_app(monkeypatch, MODEL_ID="llama")
    with pytest.raises(ModelError, match="A100-40GB"):
        load_app(monkeypatch, GPU="RTX9090")


# ---- model registry --------------------------------------------------------------------------------


# ---- modal serve / deploy output -------------------------------------------------------------------


def test_modal_env_sets_every_key_and_ignores_the_shell(monkeypatch):
    shell = {"APP_NAME": "stray", "MODEL_REVISION": "for-another-model", "GPU_COUNT": "3", "PATH": "/usr/bin"}
    env = modal_env(ServeConfig(model="16k", gpu="L4", fast_boot=True), base=shell)
    assert env["APP_NAME"] == "" and env["MODEL_REVISION"] == "" and env["GPU_COUNT"] == "1"
    assert env["PATH"] == "/usr/bin"
    app = load_app(monkeypatch, **{k: v for k, v in env.items() if k in ServeConfig.ENV.values()})
    assert app.VARIANT.short_name == "16k" and app.CONFIG.fast_boot and app.GPU_TYPE.name == "L4"
    assert app.APP_NAME == "lightonocr-16k"
