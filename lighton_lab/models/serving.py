"""How a model variant is served on Modal: one frozen ServeConfig, its timeouts, its autoscaling, the
packages of its image and the boot-failure report the app prints and ``start_modal`` reads.

``start_modal`` builds a ServeConfig and passes it to ``modal serve|deploy serve/app.py`` as environment
variables (``to_env``); ``serve/app.py`` reads it back with ``from_env`` and bakes it into the image. One
definition on both sides, so a key cannot be written by one and forgotten by the other. The same holds for
the boot-failure report: written by ``boot_failure_report`` in the container, read by ``read_boot_failure``
from the CLI's output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from lighton_lab.config import Parallelism
from lighton_lab.errors import ModelError
from lighton_lab.models.gpus import DEFAULT_GPU, GPU, resolve_gpu
from lighton_lab.models.variants import (
    DEFAULT_MODEL,
    MODAL_NAME_LIMIT,
    VLLM_VERSION,
    Variant,
    resolve_model,
)


def check_parallelism(variant: Variant, gpu: GPU, gpu_count: int, parallelism: Parallelism) -> None:
    """Refuse GPU counts that Modal or vLLM would refuse later, after a paid image build and boot."""
    if parallelism not in ("data", "tensor"):
        raise ModelError(f"parallelism must be 'data' or 'tensor', got {parallelism!r}")
    if not 1 <= gpu_count <= gpu.max_count:
        raise ModelError(
            f"{gpu.name} containers take 1 to {gpu.max_count} GPUs, got {gpu_count}. "
            "For more throughput raise max_containers instead: each container is one more replica."
        )
    if parallelism == "tensor" and gpu_count > 1:
        heads = variant.attention_heads
        if heads is None or heads % gpu_count:
            raise ModelError(
                f"tensor parallelism over {gpu_count} GPUs needs the decoder's attention heads "
                f"({heads or 'unknown'} for {variant.hf_id}) to divide evenly. A model this size fits one GPU: "
                "use parallelism='data' (one replica per GPU) or more containers."
            )


def vllm_command(
    model: str | Variant,
    port: int = 8000,
    host: str | None = None,
    gpu: str | GPU | None = None,
    gpu_count: int = 1,
    fast_boot: bool = False,
    max_num_seqs: int | None = None,
    served_model_name: str | None = None,
    revision: str | None = None,
    parallelism: Parallelism = "data",
    weights: str | None = None,
) -> list[str]:
    """The exact ``vllm serve`` argv for a variant, as the model cards give it.

    Several GPUs serve as data-parallel replicas by default (``--data-parallel-size``): a 1B model fits
    one GPU, and replicas add throughput without the communication that tensor parallelism costs.
    ``--max-num-seqs`` is per replica (default: the GPU table's starting point).

    ``weights`` is a local snapshot to load instead of the Hugging Face id: the Modal app resolves the
    revision to a commit at boot and serves ``.../snapshots/<commit>``, named by the id
    (``--served-model-name``) so clients keep asking for the id while ``/v1/models``' ``root`` shows the
    commit. A snapshot is one commit already, so ``revision`` is not passed with it.

    >>> " ".join(vllm_command("32k", gpu="H100", fast_boot=True))  # doctest: +NORMALIZE_WHITESPACE
    'vllm serve lightonai/LightOnOCR-0.9B-32k-1025 --port 8000 --limit-mm-per-prompt {"image": 1}
     --mm-processor-cache-gb 0 --no-enable-prefix-caching --max-num-seqs 128 --enforce-eager'
    """
    variant = model if isinstance(model, Variant) else resolve_model(model)
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    check_parallelism(variant, card, gpu_count, parallelism)
    cmd = ["vllm", "serve", weights or variant.hf_id]
    if revision and not weights:
        cmd += ["--revision", revision]
    if served_model_name or weights:
        cmd += ["--served-model-name", served_model_name or variant.hf_id]
    if host:
        cmd += ["--host", host]
    cmd += ["--port", str(port), *variant.serve_flags()]
    cmd += ["--max-num-seqs", str(max_num_seqs or card.max_num_seqs)]
    if fast_boot:
        cmd.append("--enforce-eager")  # no torch.compile, no CUDA graphs: boots in ~1 min instead of ~3
    if gpu_count > 1:
        flag = "--data-parallel-size" if parallelism == "data" else "--tensor-parallel-size"
        cmd += [flag, str(gpu_count)]
    return cmd


def batch_capacity(
    gpu: str | GPU | None,
    gpu_count: int = 1,
    parallelism: Parallelism = "data",
    max_num_seqs: int | None = None,
) -> int:
    """Requests one container's vLLM runs at once: ``--max-num-seqs`` per replica times the replicas."""
    card = gpu if isinstance(gpu, GPU) else resolve_gpu(gpu)
    replicas = gpu_count if parallelism == "data" else 1
    return (max_num_seqs or card.max_num_seqs) * replicas


def image_packages(variant: Variant) -> tuple[str, ...]:
    """What ``pip install`` puts in the variant's image: vLLM, its family's transformers pin and extras.

    Families with the same pins get the same list, hence the same image layer: Modal builds it once."""
    family = variant.family
    return (
        f"vllm=={VLLM_VERSION}",  # 0.27.1 makes LightOnOCR loop; see docs/modal.md
        f"transformers=={family.transformers_version}",  # 5.17 breaks the 1B models on vLLM 0.30.0
        "huggingface-hub[hf_xet]>=0.34",
        *family.extra_packages,
    )


MINUTES = 60  # seconds
REQUEST_TIMEOUT_MINUTES = 10  # one request inside the container; Modal answers 303 after 150 s anyway
# A first boot downloads the weights (2 GB for the 1B models, ~9 GB for 3-4B, ~16 GB for a 7B: 1-5 min on a
# slow hub day), imports vLLM (~1 min), compiles and captures CUDA graphs (~2-3 min) and JIT-builds
# FlashInfer's sampler (~1-2 min when its cache on the volume is empty). 20 minutes covers the worst case
# twice over; warm boots take 1-3 minutes. The app's boot watchdog gives up after this long.
STARTUP_TIMEOUT_MINUTES = 20
# Modal's own startup limit is a backstop a little later: the watchdog starts after the image pull and the
# imports, and its report (why vLLM did not boot) must reach the log before Modal kills the container.
MODAL_STARTUP_TIMEOUT_MINUTES = STARTUP_TIMEOUT_MINUTES + 3
TARGET_FRACTION = 0.8  # autoscale at 80% of the batch: headroom before a request must queue

# Said wherever an app is served without a key (start_modal and serve/app.py run by hand).
OPEN_APP_WARNING = (
    "require_api_key=False: this app answers anyone who has its URL, and every stranger's request can start "
    "a GPU container on your bill. Leave the key on, or add require_proxy_auth=True."
)

# Every line of the report serve/app.py prints when vLLM does not boot starts with this; start_modal reads
# it from `modal serve`'s (or `modal app logs`') output and raises with it instead of waiting.
BOOT_FAILURE = "[lighton-lab boot failure]"
_BOOT_END = "end of report"


def boot_failure_report(reason: str, log_tail: Iterable[str]) -> str:
    """The lines the container prints before it fails: the reason, vLLM's last log lines, an end mark."""
    lines = [f"{BOOT_FAILURE} {reason}", *(f"{BOOT_FAILURE} | {line}" for line in log_tail)]
    return "\n".join([*lines, f"{BOOT_FAILURE} {_BOOT_END}"])


@dataclass(frozen=True)
class BootFailure:
    """A boot-failure report read back from the CLI's output."""

    reason: str
    log_tail: tuple[str, ...]
    complete: bool  # the end mark arrived: every line of the report is here


def read_boot_failure(output: str) -> BootFailure | None:
    """The first boot-failure report in ``output`` (Modal may put colours or prefixes before a line)."""
    reason, tail = None, []
    for line in output.splitlines():
        at = line.find(BOOT_FAILURE)
        if at < 0:
            continue
        text = line[at + len(BOOT_FAILURE) :].strip()
        if reason is None:
            reason = text
        elif text == _BOOT_END:
            return BootFailure(reason, tuple(tail), True)
        elif text.startswith("|"):
            tail.append(text[2:])
    return None if reason is None else BootFailure(reason, tuple(tail), False)


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``serve/app.py`` needs, passed through the environment of ``modal serve|deploy``.

    Precedence: ``start_modal``'s arguments become a ServeConfig whose ``to_env()`` sets every key in the
    child's environment (a stray ``APP_NAME`` in your shell never leaks in); ``modal serve serve/app.py``
    run by hand reads ``from_env()``: your shell's variables, then these defaults. The app bakes the values
    into the image because Modal does not forward the local environment into containers.

    ``max_inputs=None`` takes what one container's vLLM batches (``--max-num-seqs`` x replicas), so the
    GPU is filled before Modal starts a second container; ``target_inputs`` (default 80% of it) is where
    the autoscaler adds containers, up to ``max_containers``. ``max_num_seqs=None`` takes the GPU table's
    starting point; measure the knee with ``lighton-lab bench --parallel`` and pass it here.

    ``require_api_key`` (default on) gives the app a random key, sent to the container as a Modal Secret
    (vLLM reads ``VLLM_API_KEY``): the key itself is never part of this configuration or the image.
    """

    model: str = DEFAULT_MODEL
    gpu: str = DEFAULT_GPU
    gpu_count: int = 1
    parallelism: Parallelism = "data"  # several GPUs: "data" replicas (default) or "tensor" shards
    fast_boot: bool = False
    require_proxy_auth: bool = False
    scaledown_minutes: int = 15  # idle time before the GPU is released
    max_inputs: int | None = None
    target_inputs: int | None = None
    min_containers: int = 0
    max_containers: int | None = None  # None: Modal's own limit
    revision: str | None = None  # pin a commit to avoid surprises when the Hugging Face repo updates
    app_name: str | None = None  # default: lightonocr-<short name>
    max_num_seqs: int | None = None  # vLLM's batch per replica; None: the GPU table's starting point
    require_api_key: bool = True  # False serves an open endpoint: anyone with the URL spends your GPU time

    ENV = {
        "model": "MODEL_ID",
        "gpu": "GPU",
        "gpu_count": "GPU_COUNT",
        "parallelism": "PARALLELISM",
        "fast_boot": "FAST_BOOT",
        "require_proxy_auth": "REQUIRE_PROXY_AUTH",
        "scaledown_minutes": "SCALEDOWN_MINUTES",
        "max_inputs": "MAX_INPUTS",
        "target_inputs": "TARGET_INPUTS",
        "min_containers": "MIN_CONTAINERS",
        "max_containers": "MAX_CONTAINERS",
        "revision": "MODEL_REVISION",
        "app_name": "APP_NAME",
        "max_num_seqs": "MAX_NUM_SEQS",
        "require_api_key": "REQUIRE_API_KEY",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", self.variant.hf_id)  # one spelling: "1b" and its id are one config
        object.__setattr__(self, "gpu", self.card.name)
        check_parallelism(self.variant, self.card, self.gpu_count, self.parallelism)
        name = self.resolved_app_name
        if not re.fullmatch(rf"[A-Za-z0-9._-]{{1,{MODAL_NAME_LIMIT}}}", name):
            raise ModelError(
                f"app name {name!r} is not a valid Modal name: at most {MODAL_NAME_LIMIT} letters, "
                "digits, '-', '_' or '.'"
            )
        if self.resolved_target_inputs > self.resolved_max_inputs:
            raise ModelError(
                f"target_inputs ({self.target_inputs}) cannot exceed max_inputs "
                f"({self.resolved_max_inputs}): Modal refuses it"
            )
        if self.max_containers is not None and self.max_containers < max(1, self.min_containers):
            raise ModelError("max_containers must be at least 1 and at least min_containers")
        if self.max_num_seqs is not None and self.max_num_seqs < 1:
            raise ModelError(f"max_num_seqs must be at least 1, got {self.max_num_seqs}")

    @property
    def variant(self) -> Variant:
        return resolve_model(self.model)

    @property
    def card(self) -> GPU:
        return resolve_gpu(self.gpu)

    @property
    def resolved_app_name(self) -> str:
        return self.app_name or self.variant.app_name

    @property
    def resolved_max_inputs(self) -> int:
        return self.max_inputs or batch_capacity(
            self.card, self.gpu_count, self.parallelism, self.max_num_seqs
        )

    @property
    def resolved_target_inputs(self) -> int:
        return self.target_inputs or max(1, int(self.resolved_max_inputs * TARGET_FRACTION))

    @property
    def capacity(self) -> int | None:
        """Requests the deployment takes at once (all containers), or None when containers are unbounded."""
        if self.max_containers is None:
            return None
        return self.resolved_max_inputs * self.max_containers

    def vllm_command(
        self, port: int = 8000, host: str | None = "0.0.0.0", weights: str | None = None
    ) -> list[str]:
        return vllm_command(
            self.variant,
            port=port,
            host=host,
            gpu=self.card,
            gpu_count=self.gpu_count,
            fast_boot=self.fast_boot,
            max_num_seqs=self.max_num_seqs,
            revision=self.revision,
            parallelism=self.parallelism,
            weights=weights,
        )

    def provenance(self) -> dict:
        """What a run may record about this configuration (no secret is part of it): every field, the
        values it resolves to, the image's packages and the vLLM argv (the model as its Hugging Face id;
        the container serves the snapshot of the commit it resolved, which ``/v1/models`` shows)."""
        return {
            **asdict(self),
            "app_name": self.resolved_app_name,
            "max_num_seqs": self.max_num_seqs or self.card.max_num_seqs,
            "max_inputs": self.resolved_max_inputs,
            "target_inputs": self.resolved_target_inputs,
            "packages": list(image_packages(self.variant)),
            "vllm_command": self.vllm_command(),
        }

    def to_env(self) -> dict[str, str]:
        """Every key, explicitly (empty for None): the child sees exactly this configuration."""
        env = {}
        for name, key in self.ENV.items():
            value = getattr(self, name)
            env[key] = (
                ("1" if value else "0") if isinstance(value, bool) else ("" if value is None else str(value))
            )
        env["MODEL_ID"] = self.variant.hf_id
        env["GPU"] = self.card.name
        return env

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServeConfig:
        """Read the keys of ``ENV`` (missing or empty: the default); bad values raise ModelError."""
        import os
        from dataclasses import fields as dc_fields

        env = os.environ if env is None else env
        values = {}
        for f in dc_fields(cls):
            raw = env.get(cls.ENV[f.name], "").strip()
            if not raw:
                continue
            if f.type in ("bool",):
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif f.type in ("int", "int | None"):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ModelError(f"{cls.ENV[f.name]}={raw!r} is not a whole number") from None
            else:
                values[f.name] = raw
        return cls(**values)
