"""Models: names and ids resolve to variants with their profiles; GPUs; ServeConfig, the one definition of the
Modal app's configuration, written by start_modal and read by serve/app.py."""

import dataclasses

import pytest

from lighton_lab.errors import ModelError
from lighton_lab.models.gpus import GPUS
from lighton_lab.models.serving import ServeConfig
from lighton_lab.models.variants import VARIANTS, resolve_model

ROUND_TRIP = [
    ("model", "3-4b", "lightonai/LightOnOCR-3-4B"),
    ("gpu", "h100", "H100"),
    ("gpu_count", 4, 4),
    ("parallelism", "tensor", "tensor"),
    ("fast_boot", True, True),
    ("require_proxy_auth", True, True),
    ("scaledown_minutes", 3, 3),
    ("max_inputs", 96, 96),
    ("target_inputs", 50, 50),
    ("min_containers", 1, 1),
    ("max_containers", 6, 6),
    ("revision", "abc123", "abc123"),
    ("app_name", "my-ocr", "my-ocr"),
    ("max_num_seqs", 256, 256),
    ("require_api_key", False, False),
]


def test_every_field_has_a_round_trip_case():
    assert {f.name for f in dataclasses.fields(ServeConfig)} == {name for name, _, _ in ROUND_TRIP}


@pytest.mark.parametrize("name,value,stored", ROUND_TRIP)
def test_each_field_round_trips_through_the_environment(name, value, stored):
    base = {"model": "1b", "gpu": "H100"}
    config = ServeConfig(
        **{**base, name: value} if name != "parallelism" else {**base, name: value, "gpu_count": 2}
    )
    env = config.to_env()
    assert set(env) == set(ServeConfig.ENV.values())  # every key, set explicitly
    again = ServeConfig.from_env(env)
    assert again == config and getattr(again, name) == stored


def test_defaults_fill_the_gpu():
    config = ServeConfig(gpu="H100")
    assert config.resolved_max_inputs == 128 and config.resolved_target_inputs == 102
    assert ServeConfig(gpu="H200", gpu_count=2).resolved_max_inputs == 512  # two replicas of 256


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"gpu_count": 9, "gpu": "H100"}, "1 to 8"),
        ({"gpu_count": 5, "gpu": "A10"}, "1 to 4"),
        ({"gpu_count": 3, "parallelism": "tensor"}, "attention heads"),
        ({"gpu_count": 2, "parallelism": "tensor", "model": "3-4b"}, "unknown"),
        ({"parallelism": "pipeline"}, "'data' or 'tensor'"),
        ({"app_name": "x" * 65}, "not a valid Modal name"),
        ({"app_name": "has space"}, "not a valid Modal name"),
        ({"max_inputs": 10, "target_inputs": 20}, "cannot exceed"),
        ({"max_containers": 0}, "at least 1"),
    ],
)
def test_bad_configurations_fail_before_anything_is_paid_for(arguments, message):
    with pytest.raises(ModelError, match=message):
        ServeConfig(**arguments)


def test_bad_environment_values_name_the_variable():
    with pytest.raises(ModelError, match="GPU_COUNT='two'"):
        ServeConfig.from_env({"GPU_COUNT": "two"})


@pytest.mark.parametrize("model", ["lightonai/LightOnOCR-2-1B-" + "fine-tuned-on-very-long-names-" * 3, "1b"])
def test_app_names_fit_modal(model):
    name = ServeConfig(model=model).resolved_app_name
    assert len(name) <= 64 and name.startswith("lightonocr-")
    assert name == resolve_model(model).app_name


@pytest.mark.parametrize(
    "name,hf_id",
    [
        ("1b", "lightonai/LightOnOCR-1B-1025"),
        (None, "lightonai/LightOnOCR-1B-1025"),
        ("32k", "lightonai/LightOnOCR-0.9B-32k-1025"),
        ("16K", "lightonai/LightOnOCR-0.9B-16k-1025"),
        ("LightOnOCR-1B-32k", "lightonai/LightOnOCR-0.9B-32k-1025"),
        ("lightonai/LightOnOCR-1B-16k", "lightonai/LightOnOCR-0.9B-16k-1025"),
        ("2-1b", "lightonai/LightOnOCR-2-1B"),
        ("lightonai/LightOnOCR-2-1B", "lightonai/LightOnOCR-2-1B"),
        ("3-1b", "lightonai/LightOnOCR-3-1B"),
        ("me/LightOnOCR-2-1B-finetuned", "me/LightOnOCR-2-1B-finetuned"),
    ],
)
def test_resolve_model(name, hf_id):
    assert resolve_model(name).hf_id == hf_id


def test_registry_facts():
    assert resolve_model("1b").vocab_size > 150_000
    assert resolve_model("32k").vocab_size < resolve_model("1b").vocab_size
    assert resolve_model("3-0.8b").longest_edge == 2048 and resolve_model("3-1b").longest_edge == 1540
    assert resolve_model("me/LightOnOCR-2-1B-ft").generation == 2
    assert {"T4", "L4", "A10", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200"} == set(GPUS)
    assert len({v.app_name for v in VARIANTS.values()}) == len(VARIANTS)
