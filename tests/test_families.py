"""Each family is asked as its authors ask it and read as they read it: through a capture server (a real HTTP
server on loopback that records each request and answers in the family's own format), every registered
variant's request carries its cited prompt, in its order, at its page size, with its sampling and extra
fields; its answer is scored on the page's text only (olmOCR's front matter apart, DeepSeek's tags, dots.ocr's
JSON and Chandra's HTML read back). The values checked by hand below are the authors' (files cited)."""

from __future__ import annotations

import base64
import io
import json

import pytest
from conftest import TEXT, canned_server, make_pdf
from PIL import Image

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.engines.responses import completion
from lighton_lab.models.family import messages
from lighton_lab.models.grounding import Block
from lighton_lab.models.variants import VARIANTS
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Grid
from lighton_lab.sweep.run import run_sweep

LETTER_PT = 792  # a Letter page's long side in points: at D DPI it is 792 / 72 * D pixels


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("families")
    make_pdf(folder / "page.pdf", [TEXT])
    (folder / "page.gt.txt").write_text(TEXT)
    return Corpus.load(folder)


def answer_of(variant, mode: str) -> bytes:
    """What the family would write for a page that says TEXT: one block over the page."""
    raw = variant.family.emulate(TEXT, [Block("text", (60, 60, 940, 200), TEXT)], 1000, 1000, mode)
    body = completion("chatcmpl-1", variant.hf_id, raw, "stop", {"prompt_tokens": 10, "completion_tokens": 20,
                                                                     "total_tokens": 30}, "fp")  # fmt: skip
    return json.dumps(body).encode()


def ask(corpus, tmp_path, name: str, mode: str | None = None):
    """Sweep the one-page corpus with ``name`` through a capture server: (the request, the row)."""
    variant = VARIANTS[name]
    with canned_server(answer_of(variant, mode or variant.default_mode)) as url:
        endpoint = Endpoint(url, variant.hf_id, kind="remote", models=(variant.hf_id,))
        grid = Grid(model=[name], mode=mode, stream=False)
        frame = run_sweep(corpus, grid, endpoint, Store(tmp_path / "s.sqlite"), progress=False)
        (request,) = canned_server.requests
    return request, frame.iloc[0]


def image_size(request: dict) -> tuple[int, int]:
    url = next(p for p in request["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        return image.size


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_is_asked_with_its_profile_and_read_by_its_adapter(corpus, tmp_path, name):
    variant = VARIANTS[name]
    request, row = ask(corpus, tmp_path, name)
    prompt = variant.prompt(variant.default_mode)
    url = "data:image/png;base64,..."
    expected = messages(prompt, url)
    sent = json.loads(json.dumps(request["messages"]).replace(request_url(request), url))
    assert sent == expected
    longest = LETTER_PT / 72 * variant.dpi
    assert max(image_size(request)) == round(min(longest, variant.longest_edge or longest))
    for field, value in {**variant.request_defaults(), **variant.family.extra_body}.items():
        assert request[field] == value, field
    assert ("max_tokens" in request) == (variant.max_tokens is not None)
    assert row["mode"] == variant.default_mode and row["family"] == variant.family.key
    assert row["error"] is None or row["error"] != row["error"]  # no error (None or NaN)
    assert row["cer"] == 0.0, row["text"]


def request_url(request: dict) -> str:
    return next(p for p in request["messages"][-1]["content"] if p["type"] == "image_url")["image_url"]["url"]


def test_lightonocr_is_asked_with_the_image_alone_at_1540_px(corpus, tmp_path):
    # lightonai/LightOnOCR lightonocr/client.py: one user turn, the image alone; 1540 px (models.py);
    # temperature 0.2, top_p 0.9; enable_thinking off on every request; output cap 12288 (LightOn's benchmark)
    request, _ = ask(corpus, tmp_path, "1b")
    (turn,) = request["messages"]
    assert [p["type"] for p in turn["content"]] == ["image_url"]
    assert max(image_size(request)) == 1540
    assert (request["temperature"], request["top_p"], request["max_tokens"]) == (0.2, 0.9, 12288)
    assert request["chat_template_kwargs"] == {"enable_thinking": False}


def test_lightonocr_3_grounding_sends_the_word_after_the_image(corpus, tmp_path):
    request, row = ask(corpus, tmp_path, "3-4b", mode="grounding")
    assert [p.get("text") for p in request["messages"][0]["content"]] == [None, "grounding"]
    assert max(image_size(request)) == 2048 and request["top_p"] == 1.0
    assert row["blocks"] == 1 and row["grounding_errors"] == 0


def test_olmocr_gets_its_v4_prompt_first_at_1288_px_and_its_front_matter_is_not_scored(corpus, tmp_path):
    # allenai/olmocr olmocr/pipeline.py build_page_query: the prompt, then the image; 1288 px; 0.1; 8000 tokens
    request, row = ask(corpus, tmp_path, "olmocr-2")
    text, image = request["messages"][0]["content"]
    try:
        from olmocr.prompts.prompts import build_no_anchoring_v4_yaml_prompt
    except ImportError:
        build_no_anchoring_v4_yaml_prompt = None
    if build_no_anchoring_v4_yaml_prompt is not None:  # the olmocr extra installed: its own function
        assert text["text"] == build_no_anchoring_v4_yaml_prompt()
    assert text["text"].startswith("Attached is one page of a document") and image["type"] == "image_url"
    assert max(image_size(request)) == 1288
    assert (request["temperature"], request["max_tokens"]) == (0.1, 8000)
    assert row["raw"].startswith("---\nprimary_language:") and "primary_language" not in row["text"]
    assert json.loads(row["metadata"])["primary_language"] == "en"
    assert row["cer"] == 0.0


def test_deepseek_ocr_is_greedy_with_its_ngram_guard_and_tags_removed(corpus, tmp_path):
    # deepseek-ai/DeepSeek-OCR DeepSeek-OCR-vllm/config.py and run_dpsk_ocr_pdf.py; vllm-project/recipes
    request, row = ask(corpus, tmp_path, "deepseek-ocr")
    image, text = request["messages"][0]["content"]
    assert image["type"] == "image_url" and text["text"] == "<|grounding|>Convert the document to markdown."
    assert max(image_size(request)) == 1584  # 144 DPI, no cap: vLLM tiles the page
    # their offline max_tokens 8192 is the whole 8192 context: over HTTP, no max_tokens asks for the same
    assert (request["temperature"], request["skip_special_tokens"], "max_tokens" in request) == (
        0.0,
        False,
        False,
    )
    assert request["vllm_xargs"]["ngram_size"] == 30 and request["vllm_xargs"]["window_size"] == 90
    assert "<|ref|>" in row["raw"] and "<|ref|>" not in row["text"] and row["blocks"] == 1


def test_a_mode_a_family_lacks_is_refused():
    from lighton_lab.errors import ModelError

    with pytest.raises(ModelError, match="has no grounding mode"):
        Grid(model=["olmocr-2"], mode="grounding")


@pytest.mark.parametrize("name", ["3-4b", "deepseek-ocr", "dots-ocr", "chandra-2"])
def test_boxes_come_back_on_lightons_grid_from_each_familys_frame(name):
    """dots.ocr writes pixels of its resized image, DeepSeek 0-999, Chandra and LightOn 0-1000: each adapter
    puts them back on 0-1000 of the image sent, with LightOn's labels."""
    family = VARIANTS[name].family
    blocks = [Block("section", (100, 40, 900, 80), "Title"), Block("text", (100, 100, 480, 900), "Body text"),
              Block("page_number", (480, 950, 520, 980), "7")]  # fmt: skip
    raw = family.emulate("Title\n\nBody text\n\n7", blocks, 1700, 2200, "grounding")
    read = family.adapt(raw, "grounding", 1700, 2200, "keep")
    folio = "footer" if name in ("dots-ocr", "chandra-2") else "page_number"  # their label sets have no folio
    assert [b.label for b in read.blocks] == ["section", "text", folio]
    for got, sent in zip(read.blocks, blocks):
        assert max(abs(a - b) for a, b in zip(got.box, sent.box)) <= 2, (got.box, sent.box)
    assert read.problems == ()
