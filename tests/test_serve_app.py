"""serve/app.py imported offline under each variant, GPU and boot mode: its Modal configuration (what Modal
1.6.4 records for the function and the image), the exact vLLM argv (the same one start_vllm builds), and
every registered model family served with its own pins and flags. No Modal account is used: nothing here
talks to Modal. The boot watchdog is tested in test_modal_boot.py, the API key in test_modal_keys.py."""

import dataclasses
import importlib.util
import itertools
import json
import shlex

import pytest
from conftest import ROOT

from lighton_lab.endpoints.modal_serve import modal_env
from lighton_lab.endpoints.vllm_serve import start_vllm
from lighton_lab.errors import ModelError
from lighton_lab.models import variants as registry
from lighton_lab.models.gpus import GPUS, resolve_gpu
from lighton_lab.models.serving import ServeConfig, image_packages
from lighton_lab.models.variants import VARIANTS, resolve_model

APP = ROOT / "serve" / "app.py"
KEY = "test-key-0123456789"
SNAPSHOT = "/root/.cache/huggingface/hub/models--x--y/snapshots/0123456789abcdef0123456789abcdef01234567"
_count = itertools.count()


def isolate_user_config(tmp_path, monkeypatch):
    """Importing the app by hand stores its key in the user's config folder: point it at a temp folder."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    return tmp_path / "config"


@pytest.fixture(autouse=True)
def user_config(tmp_path, monkeypatch):
    return isolate_user_config(tmp_path, monkeypatch)


def load_app(monkeypatch, **env):
    """Import serve/app.py as `modal` does on this machine, with these environment variables only."""
    for key in (*ServeConfig.ENV.values(), "VLLM_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    spec = importlib.util.spec_from_file_location(f"serve_app_{next(_count)}", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_as_start_modal(monkeypatch, config: ServeConfig, key: str | None = KEY):
    """The app as `start_modal` has `modal serve` import it: every ServeConfig key, and the API key."""
    env = modal_env(config, base={}, api_key=key)
    return load_app(
        monkeypatch, **{k: v for k, v in env.items() if k in (*ServeConfig.ENV.values(), "VLLM_API_KEY")}
    )


def _original(obj):
    """The object behind Modal's synchronicity wrapper (modal.Function -> modal._functions._Function)."""
    if type(obj).__name__.startswith("_"):
        return obj
    return next(getattr(obj, n) for n in vars(obj) if n.startswith("_sync_original"))


def _cells(function) -> dict:
    return dict(zip(function.__code__.co_freevars, (c.cell_contents for c in function.__closure__)))


def recorded(app) -> dict:
    """What Modal 1.6.4 recorded for the `serve` function when the app was imported (nothing is sent):
    the arguments its loader will put in the function definition, and the web-server configuration."""
    original = _original(app.serve)
    cells = _cells(original._load)
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
        "secrets": [secret_values(s) for s in cells["secrets"]],
        "image": cells["image"],
    }


def secret_values(secret) -> dict[str, str]:
    """What a `modal.Secret.from_dict` will send when the app is deployed."""
    return _cells(_original(secret)._load)["load_env_dict"]()


def image_steps(image, builder_version: str = "2026.10") -> list[str]:
    """Every Dockerfile line Modal will build for the image, base layers first."""
    steps, seen = [], set()

    def walk(layer) -> None:
        layer = _original(layer)
        if id(layer) in seen:
            return
        seen.add(id(layer))
        cells = _cells(layer._load)
        for value in cells.values():
            for base in value.values() if isinstance(value, dict) else [value]:
                if type(base).__name__ == "_Image":
                    walk(base)
        if cells.get("dockerfile_function"):
            steps.extend(cells["dockerfile_function"](builder_version).commands)

    walk(image)
    return steps


def pip_line(app) -> str:
    (line,) = [s for s in image_steps(app.vllm_image) if "pip install" in s]
    return line


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
    app = load_app(monkeypatch, MODEL_ID=model, GPU=gpu, FAST_BOOT=int(fast_boot), VLLM_API_KEY=KEY)
    variant, card = resolve_model(model), resolve_gpu(gpu)
    spec = app.serve._spec_  # Modal's own record of the function's resources
    assert spec.gpus == f"{card.name}:1"
    assert set(spec.volumes) == {"/root/.cache/huggingface", "/root/.cache/vllm"}
    assert app.app.name == variant.app_name == app.APP_NAME
    modal_sees = recorded(app)
    assert modal_sees["max_inputs"] == card.max_num_seqs  # what one vLLM replica batches: the GPU is filled
    assert modal_sees["target_inputs"] < modal_sees["max_inputs"]
    # the boot has its own limit, longer than a request's; the app's watchdog gives up before Modal does
    assert modal_sees["startup_timeout"] > modal_sees["timeout"]
    assert modal_sees["web_server_startup_timeout"] == modal_sees["startup_timeout"] == 23 * 60
    assert app.BOOT_TIMEOUT_S == 20 * 60 < modal_sees["startup_timeout"]
    assert modal_sees["scaledown_window"] == 15 * 60 and not modal_sees["requires_proxy_auth"]
    assert modal_sees["secrets"] == [{"VLLM_API_KEY": KEY}]  # closed by default
    assert app.IMAGE_ENV["MODEL_ID"] == variant.hf_id  # baked into the image: the container sees it too
    assert app.IMAGE_ENV["FLASHINFER_CUDA_ARCH_LIST"] == card.cuda_arch
    assert app.IMAGE_ENV["FLASHINFER_WORKSPACE_BASE"].startswith(
        "/root/.cache/vllm/"
    )  # JIT cache on the volume
    assert "TORCH_CUDA_ARCH_LIST" not in app.IMAGE_ENV  # does nothing for a prebuilt vLLM 0.30 wheel
    assert app.IMAGE_ENV["HF_XET_HIGH_PERFORMANCE"] == "1"
    assert app.CUDA_IMAGE.startswith("nvidia/cuda:13.0.")  # the vllm 0.30.0 wheel is a CUDA 13 build
    assert f"FROM {app.CUDA_IMAGE}" in image_steps(modal_sees["image"])
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


def _contains(argv: list[str], flags: tuple[str, ...]) -> bool:
    return any(argv[i : i + len(flags)] == list(flags) for i in range(len(argv) - len(flags) + 1))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_registered_model_serves_with_its_family_pins_and_flags(monkeypatch, name):
    """Issue 21's Done-when: the app imports under modal 1.6.4 for every family, as start_modal selects it."""
    variant = VARIANTS[name]
    app = load_as_start_modal(monkeypatch, ServeConfig(model=name, gpu="H100"))
    modal_sees = recorded(app)
    assert variant == app.VARIANT and app.app.name == variant.app_name
    assert app.IMAGE_ENV["MODEL_ID"] == variant.hf_id
    installed = shlex.split(pip_line(app).split("--compile-bytecode", 1)[1])
    assert sorted(installed) == sorted(image_packages(variant))
    assert f"transformers=={variant.family.transformers_version}" in installed and "vllm==0.30.0" in installed
    assert modal_sees["secrets"] == [{"VLLM_API_KEY": KEY}]
    argv = app.command(SNAPSHOT)
    assert argv[:5] == ["vllm", "serve", SNAPSHOT, "--served-model-name", variant.hf_id]
    assert _contains(argv, variant.family.vllm_flags) and _contains(argv, variant.vllm_flags)
    options = [a for a in argv if a.startswith("--")]
    assert len(options) == len(set(options)), f"a flag given twice: {argv}"


def test_models_of_the_same_pins_share_one_image_layer_and_other_pins_get_their_own(monkeypatch):
    lines = {
        name: pip_line(load_as_start_modal(monkeypatch, ServeConfig(model=name)))
        for name in ("1b", "olmocr-2")
    }
    assert image_packages(VARIANTS["1b"]) == image_packages(VARIANTS["olmocr-2"])
    assert lines["1b"] == lines["olmocr-2"]  # the same layer: Modal builds it once
    olmocr = VARIANTS["olmocr-2"]
    pinned = dataclasses.replace(
        olmocr.family, transformers_version="5.10.4", extra_packages=("addict==2.4.0",)
    )
    monkeypatch.setitem(registry.VARIANTS, "olmocr-2", dataclasses.replace(olmocr, family=pinned))
    line = pip_line(load_as_start_modal(monkeypatch, ServeConfig(model="olmocr-2")))
    assert "transformers==5.10.4" in line and "addict==2.4.0" in line and line != lines["1b"]


@pytest.mark.parametrize("gpu", ["H100", "H200"])
def test_max_inputs_covers_the_vllm_batch(monkeypatch, gpu):
    """Done-when of the serving issue: for H100 and H200, Modal's hard per-container cap is at least what
    vLLM batches, and the startup timeout is longer than the request timeout."""
    app = load_app(monkeypatch, GPU=gpu, GPU_COUNT=2, VLLM_API_KEY=KEY)
    argv = app.command()
    batch = int(argv[argv.index("--max-num-seqs") + 1]) * int(argv[argv.index("--data-parallel-size") + 1])
    modal_sees = recorded(app)
    assert modal_sees["max_inputs"] >= batch == 2 * GPUS[gpu].max_num_seqs
    assert modal_sees["startup_timeout"] > modal_sees["timeout"]


def test_max_num_seqs_overrides_the_table_and_the_cap_follows(monkeypatch):
    app = load_app(monkeypatch, GPU="H100", MAX_NUM_SEQS=384, VLLM_API_KEY=KEY)
    argv = app.command()
    assert argv[argv.index("--max-num-seqs") + 1] == "384" != str(GPUS["H100"].max_num_seqs)
    modal_sees = recorded(app)
    assert modal_sees["max_inputs"] == 384 and modal_sees["target_inputs"] == 307


def test_exact_argv_of_the_default_and_of_a_snapshot(monkeypatch):
    app = load_app(monkeypatch, VLLM_API_KEY=KEY)
    flags = (
        "--host 0.0.0.0 --port 8000 --limit-mm-per-prompt '{\"image\": 1}' --mm-processor-cache-gb 0 "
        "--no-enable-prefix-caching --max-num-seqs 64"
    )
    assert shlex.join(app.command()) == f"vllm serve lightonai/LightOnOCR-1B-1025 {flags}"
    # at boot: the snapshot of the resolved commit, served under the Hugging Face id; no --revision with it
    pinned = load_app(monkeypatch, MODEL_REVISION="abc123", VLLM_API_KEY=KEY)
    assert pinned.command()[3:5] == ["--revision", "abc123"]
    assert shlex.join(pinned.command(SNAPSHOT)) == (
        f"vllm serve {SNAPSHOT} --served-model-name lightonai/LightOnOCR-1B-1025 {flags}"
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
        VLLM_API_KEY=KEY,
    )
    assert app.serve._spec_.gpus == "H100:2"
    modal_sees = recorded(app)
    assert modal_sees["requires_proxy_auth"] and modal_sees["scaledown_window"] == 5 * 60
    assert modal_sees["secrets"] == [{"VLLM_API_KEY": KEY}]  # the key stays on top of proxy auth
    assert modal_sees["max_inputs"] == 200 and modal_sees["target_inputs"] == 160
    assert (modal_sees["min_containers"], modal_sees["max_containers"]) == (1, 4)
    argv = app.command()
    assert argv[argv.index("--data-parallel-size") + 1] == "2"  # replicas: a 1B model fits one GPU
    assert argv[argv.index("--max-num-seqs") + 1] == str(GPUS["H100"].max_num_seqs)  # per replica
    assert app.IMAGE_ENV["REQUIRE_PROXY_AUTH"] == "1"


def test_tensor_parallelism_when_asked_and_the_heads_divide(monkeypatch):
    argv = load_app(monkeypatch, GPU="H100", GPU_COUNT=2, PARALLELISM="tensor", VLLM_API_KEY=KEY).command()
    assert argv[argv.index("--tensor-parallel-size") + 1] == "2" and "--data-parallel-size" not in argv
    with pytest.raises(ModelError, match="attention heads"):
        load_app(monkeypatch, GPU="H100", GPU_COUNT=3, PARALLELISM="tensor")


def test_lightonocr3_flags(monkeypatch):
    argv = load_app(monkeypatch, MODEL_ID="3-4b", GPU="H100", VLLM_API_KEY=KEY).command()
    assert (
        argv[argv.index("--max-model-len") + 1] == "24576"
    )  # LightOn's benchmark: 12,288 out, room for the page
    assert json.loads(argv[argv.index("--default-chat-template-kwargs") + 1]) == {"enable_thinking": False}


def test_unknown_names_fail_at_import_with_the_known_ones(monkeypatch):
    with pytest.raises(ModelError, match="Known: 1b"):
        load_app(monkeypatch, MODEL_ID="llama")
    with pytest.raises(ModelError, match="A100-40GB"):
        load_app(monkeypatch, GPU="RTX9090")


def test_modal_env_sets_every_key_and_ignores_the_shell(monkeypatch):
    shell = {
        "APP_NAME": "stray",
        "MODEL_REVISION": "for-another-model",
        "GPU_COUNT": "3",
        "VLLM_API_KEY": "a key from the shell",
        "PATH": "/usr/bin",
    }
    env = modal_env(ServeConfig(model="16k", gpu="L4", fast_boot=True), base=shell)
    assert env["APP_NAME"] == "" and env["MODEL_REVISION"] == "" and env["GPU_COUNT"] == "1"
    assert env["PATH"] == "/usr/bin" and "VLLM_API_KEY" not in env  # only start_modal's own key goes in
    assert modal_env(ServeConfig(), base=shell, api_key=KEY)["VLLM_API_KEY"] == KEY
    app = load_app(monkeypatch, **{k: v for k, v in env.items() if k in ServeConfig.ENV.values()})
    assert app.VARIANT.short_name == "16k" and app.CONFIG.fast_boot and app.GPU_TYPE.name == "L4"
    assert app.APP_NAME == "lightonocr-16k"


def test_provenance_records_the_configuration_as_served_and_no_secret():
    config = ServeConfig(model="olmocr-2", gpu="H200", max_num_seqs=96, revision="abc123")
    record = json.loads(json.dumps(config.provenance()))  # JSON as it is stored
    assert record["model"] == "allenai/olmOCR-2-7B-1025-FP8" and record["revision"] == "abc123"
    assert (
        record["max_num_seqs"] == 96 and record["max_inputs"] == 96 and record["app_name"] == "ocr-olmocr-2"
    )
    assert record["require_api_key"] is True and "key" not in json.dumps(record).replace(
        "require_api_key", ""
    )
    assert record["packages"] == list(image_packages(VARIANTS["olmocr-2"]))
    assert record["vllm_command"][:5] == ["vllm", "serve", config.model, "--revision", "abc123"]
    assert ServeConfig(gpu="H100").provenance()["max_num_seqs"] == GPUS["H100"].max_num_seqs  # resolved
    with pytest.raises(ModelError, match="max_num_seqs must be at least 1"):
        ServeConfig(max_num_seqs=0)
