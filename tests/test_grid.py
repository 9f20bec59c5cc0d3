"""Grids resolve each model's profile into concrete request keys; grid models resolve to endpoints. Pure tables."""

import pytest

from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.errors import LabError
from lighton_lab.models.variants import VARIANTS
from lighton_lab.sweep.grid import Grid, resolve_endpoints

# LightOn's lightonocr/models.py and model cards: 1540 px for the Pixtral models (generations 1-2 and
# 3-1B), 2048 px for 3-0.8B and 3-4B; top_p 0.9 for generations 1-2, 1.0 for 3; temperature 0.2 on the
# cards, 0.1 for LightOnOCR-3 ("Use temperature 0.1, not greedy"); output cap 12288 (LightOn's benchmark).
PROFILES = {
    "1b": (1540, 0.2, 0.9),
    "32k": (1540, 0.2, 0.9),
    "16k": (1540, 0.2, 0.9),
    "2-1b": (1540, 0.2, 0.9),
    "3-1b": (1540, 0.1, 1.0),
    "3-0.8b": (2048, 0.1, 1.0),
    "3-4b": (2048, 0.1, 1.0),
}
# The peers, as each family's file cites its authors: (DPI, longest side sent (None: the model's processor
# resizes), default mode, sampling and output cap). olmOCR: 1288 px, 0.1, 8000 tokens (olmocr/pipeline.py);
# DeepSeek-OCR: 144 DPI, greedy, the rest of its 8192 context (DeepSeek-OCR-vllm/config.py); PaddleOCR-VL:
# greedy, 4096 (its vLLM recipe); dots.ocr: 0.1, top_p 1.0, 16384 (dots_ocr/model/inference.py); Chandra 2:
# 192 DPI, 3072 px, 0.0, top_p 0.1, 12384 (chandra/settings.py); GLM-OCR: its generation_config;
# Nanonets-OCR2: greedy, 15000.
PEERS = {
    "olmocr-2": (200, 1288, "plain", {"max_tokens": 8000, "temperature": 0.1}),
    "olmocr-2-bf16": (200, 1288, "plain", {"max_tokens": 8000, "temperature": 0.1}),
    "deepseek-ocr": (144, None, "grounding", {"temperature": 0.0}),  # the rest of the 8192 context (see file)
    "deepseek-ocr-2": (144, None, "grounding", {"temperature": 0.0}),
    "paddleocr-vl": (200, None, "plain", {"max_tokens": 4096, "temperature": 0.0}),
    "paddleocr-vl-1.5": (200, None, "plain", {"max_tokens": 4096, "temperature": 0.0}),
    "dots-ocr": (200, None, "grounding", {"max_tokens": 16384, "temperature": 0.1, "top_p": 1.0}),
    "dots-mocr": (200, None, "grounding", {"max_tokens": 16384, "temperature": 0.1, "top_p": 1.0}),
    "chandra-2": (192, 3072, "grounding", {"max_tokens": 12384, "temperature": 0.0, "top_p": 0.1}),
    "glm-ocr": (200, 3500, "plain", {"max_tokens": 8192, "repetition_penalty": 1.1, "temperature": 0.0,
                                     "top_k": 1, "top_p": 1e-05}),
    "nanonets-ocr2": (200, None, "plain", {"max_tokens": 15000, "temperature": 0.0}),
}  # fmt: skip


def test_every_variant_has_its_profile_case():
    assert set(PROFILES) | set(PEERS) == set(VARIANTS)


@pytest.mark.parametrize("model", sorted(PROFILES))
def test_profile_resolves_into_the_key(model):
    (config,) = Grid(model=[model]).configs()
    cap, temperature, top_p = PROFILES[model]
    assert (config.max_side, config.request) == (
        cap,
        {"temperature": temperature, "top_p": top_p, "max_tokens": 12288},
    )


@pytest.mark.parametrize("model", sorted(PEERS))
def test_peer_profile_resolves_into_the_key(model):
    (config,) = Grid(model=[model]).configs()
    dpi, cap, mode, sampling = PEERS[model]
    prompt = VARIANTS[model].prompt(mode).digest()
    expected = {**sampling, "prompt": prompt, **({"mode": mode} if mode != "plain" else {})}
    assert (config.dpi, config.max_side, config.mode, config.request) == (dpi, cap, mode, expected)


CONFIG_CASES = [
    # (grid arguments, expected [(dpi, cap, variant, request)])
    ({"model": ["rapidocr/ppocr-v6"]}, [(200, 1540, "rapidocr/ppocr-v6", {})]),
    (
        {"model": ["3-4b"], "max_side": 1024, "temperature": 0.0},
        [(200, 1024, "3-4b", {"temperature": 0.0, "top_p": 1.0, "max_tokens": 12288})],
    ),
    (
        {"model": ["1b"], "max_tokens": 4096, "top_p": 0.95},
        [(200, 1540, "1b", {"max_tokens": 4096, "temperature": 0.2, "top_p": 0.95})],
    ),
    (
        {"model": ["1b", "tesseract/eng"], "dpi": [100, 200]},
        [
            (100, 1540, "1b", {"temperature": 0.2, "top_p": 0.9, "max_tokens": 12288}),
            (100, 1540, "tesseract/eng", {}),
            (200, 1540, "1b", {"temperature": 0.2, "top_p": 0.9, "max_tokens": 12288}),
            (200, 1540, "tesseract/eng", {}),
        ],
    ),
    (
        {"model": ["rapidocr/ppocr-v6"], "temperature": [0.0, 0.7], "seed": [1, 2]},
        [(200, 1540, "rapidocr/ppocr-v6", {"temperature": t, "seed": s}) for t in (0.0, 0.7) for s in (1, 2)],
    ),
    (
        {"model": ["2-1b"], "image_format": "jpeg"},
        [
            (
                200,
                1540,
                "2-1b",
                {"temperature": 0.2, "top_p": 0.9, "max_tokens": 12288, "image_format": "JPEG"},
            )
        ],
    ),
    (
        {"model": ["3-0.8b"], "max_side": [1024, 1280, 1540, 2048]},
        [
            (200, cap, "3-0.8b", {"temperature": 0.1, "top_p": 1.0, "max_tokens": 12288})
            for cap in (1024, 1280, 1540, 2048)
        ],
    ),
]


@pytest.mark.parametrize("arguments,expected", CONFIG_CASES)
def test_grid_configs(arguments, expected):
    configs = Grid(**arguments).configs()
    assert [(c.dpi, c.max_side, c.variant, c.request) for c in configs] == expected
    assert len(Grid(**arguments)) == len(expected)


def test_grid_round_trips_through_its_record():
    grid = Grid(dpi=[100, 150], model=["1b", "3-4b"], temperature=[0.0, 0.1], max_tokens=8000)
    assert Grid(**grid.to_dict()).configs() == grid.configs()


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"dpi": []}, "at least one value"),
        ({"dpi": [0]}, "positive"),
        ({"dpi": ["200"]}, "positive"),
    ],
)
def test_bad_grids_say_what_is_wrong(arguments, message):
    with pytest.raises(ValueError, match=message):
        Grid(**arguments)


LOCAL = Endpoint(
    "http://127.0.0.1:1", "rapidocr/ppocr-v6", kind="local", models=("rapidocr/ppocr-v6", "tesseract/eng")
)
MODAL_1B = Endpoint(
    "https://a.modal.run",
    "lightonai/LightOnOCR-1B-1025",
    kind="modal",
    models=("lightonai/LightOnOCR-1B-1025",),
)
MODAL_32K = Endpoint("https://b.modal.run", "lightonai/LightOnOCR-0.9B-32k-1025", kind="modal")

RESOLVE_CASES = [
    # (grid models, endpoints, expected {model: (base_url, served model)})
    (["tesseract/eng"], LOCAL, {"tesseract/eng": ("http://127.0.0.1:1", "tesseract/eng")}),
    (
        ["1b", "32k"],
        [MODAL_1B, MODAL_32K],
        {
            "1b": ("https://a.modal.run", "lightonai/LightOnOCR-1B-1025"),
            "32k": ("https://b.modal.run", "lightonai/LightOnOCR-0.9B-32k-1025"),
        },
    ),
    (
        ["lightonai/LightOnOCR-1B-1025"],
        [LOCAL, MODAL_1B],
        {"lightonai/LightOnOCR-1B-1025": ("https://a.modal.run", "lightonai/LightOnOCR-1B-1025")},
    ),
    (["mine"], {"mine": MODAL_32K}, {"mine": ("https://b.modal.run", "lightonai/LightOnOCR-0.9B-32k-1025")}),
]


@pytest.mark.parametrize("models,endpoints,expected", RESOLVE_CASES)
def test_endpoint_resolution(models, endpoints, expected):
    found = resolve_endpoints(models, endpoints)
    assert {m: (e.base_url, e.model) for m, e in found.items()} == expected


@pytest.mark.parametrize(
    "models,endpoints,message",
    [
        (["2-1b"], [LOCAL, MODAL_1B], "no endpoint serves '2-1b'"),
        (["x"], {"y": LOCAL}, "no endpoint for model"),
    ],
)
def test_unresolvable_models_name_what_is_served(models, endpoints, message):
    with pytest.raises(LabError, match=message):
        resolve_endpoints(models, endpoints)
