"""The local server answers as vLLM does wherever a client can tell: each case over real loopback HTTP,
checking the status and the body (vLLM 0.30's statuses; its sampling-parameter messages)."""

import base64
import io
import json
import re

import httpx
import openai
import pytest
from conftest import ROOT
from PIL import Image, ImageDraw, ImageFont

from lighton_lab.corpus.synth import font_path
from lighton_lab.endpoints.local import start_local


def page_png(mode: str = "L") -> bytes:
    """A small page with two lines of text; mode RGBA: black glyphs on a fully transparent black background."""
    image = Image.new("L", (700, 300), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(font_path()), 40)
    draw.text((30, 60), "Transparent pages", font=font, fill=0)
    draw.text((30, 160), "are read on white 42", font=font, fill=0)
    if mode == "RGBA":  # every RGB value black: only the alpha channel carries the text
        image = Image.merge("RGBA", (Image.new("L", image.size, 0),) * 3 + (image.point(lambda v: 255 - v),))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def request(url: str, **extra) -> dict:
    return {
        "model": "rapidocr/ppocr-v6",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
        **extra,
    }


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.fixture(scope="module")
def server():
    with start_local(
        engines="rapidocr",
        workers=1,
        cache_size=0,
        max_payload_mb=2,
        served_model_names={"lightonai/LightOnOCR-2-1B": "rapidocr/ppocr-v6"},
    ) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def page():
    return data_url(page_png())


def post(server, body, content_type="application/json", raw=False, headers=None):
    return httpx.post(
        server.openai_base_url + "/chat/completions",
        content=body if raw else json.dumps(body),
        headers={"Content-Type": content_type, **(headers or {})},
        timeout=120,
    )


def huge_png() -> bytes:
    """20,000 x 10,000 px, over Pillow's decompression-bomb limit (2 x 89,478,485 px); a few KB as PNG."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 10_000), 1).save(buffer, format="PNG")
    return buffer.getvalue()


CASES = [
    # (name, body or callable(page) -> body, content type, status, words in the message)
    (
        "text/plain content type",
        lambda p: request(p),
        "text/plain",
        400,
        "Only 'application/json' is allowed",
    ),
    (
        "json with charset is fine",
        lambda p: request(p, max_tokens=3),
        "application/json; charset=utf-8",
        200,
        None,
    ),
    ("not json", b"{oops", "application/json", 400, "not valid JSON"),
    ("no messages", {"model": "rapidocr/ppocr-v6"}, "application/json", 400, "messages"),
    ("top_p 0", lambda p: request(p, top_p=0), "application/json", 400, "top_p must be in (0, 1], got 0"),
    ("top_p 5", lambda p: request(p, top_p=5), "application/json", 400, "top_p must be in (0, 1], got 5"),
    (
        "negative temperature",
        lambda p: request(p, temperature=-1),
        "application/json",
        400,
        "temperature must be non-negative",
    ),
    (
        "max_tokens 0",
        lambda p: request(p, max_tokens=0),
        "application/json",
        400,
        "max_tokens must be at least 1",
    ),
    ("n 0", lambda p: request(p, n=0), "application/json", 400, "n must be at least 1"),
    ("n 2 not honoured", lambda p: request(p, n=2), "application/json", 400, "n > 1 is not supported"),
    (
        "stream_options without stream",
        lambda p: request(p, stream_options={"include_usage": True}),
        "application/json",
        400,
        "Stream options can only be defined when `stream=True`",
    ),
    (
        "response_format",
        lambda p: request(p, response_format={"type": "json_object"}),
        "application/json",
        400,
        "response_format is not supported",
    ),
    ("logprobs", lambda p: request(p, logprobs=True), "application/json", 400, "logprobs are not supported"),
    (
        "oversized image",
        lambda p: request(data_url(huge_png())),
        "application/json",
        400,
        "decompression-bomb limit",
    ),
    (
        "chat_template_kwargs accepted",
        lambda p: request(p, max_tokens=3, chat_template_kwargs={"enable_thinking": False}),
        "application/json",
        200,
        None,
    ),
]


@pytest.mark.parametrize("name,body,content_type,status,words", CASES, ids=[c[0] for c in CASES])
def test_request_checks_match_vllm(server, page, name, body, content_type, status, words):
    body = body(page) if callable(body) else body
    response = post(server, body, content_type, raw=isinstance(body, bytes))
    assert response.status_code == status, response.text
    if words:
        error = response.json()["error"]
        assert words in error["message"] and error["code"] == status and error["type"] == "BadRequestError"


def test_the_sdk_raises_bad_request_as_for_vllm(server, page):
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="EMPTY", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="top_p"):
        client.chat.completions.create(model="rapidocr/ppocr-v6", messages=request(page)["messages"], top_p=7)


def test_transparent_pages_are_read_on_white(server):
    answer = post(server, request(data_url(page_png("RGBA"))))
    assert answer.status_code == 200
    assert "Transparent" in answer.json()["choices"][0]["message"]["content"]


def test_payload_limit_is_in_megabytes_of_a_million_bytes(server):
    limit = 2_000_000
    over = post(server, b"x" * (limit + 1), raw=True)
    under = post(server, b"x" * (limit - 1), raw=True)
    assert over.status_code == 413 and "2.0 MB" in over.json()["error"]["message"]
    assert under.status_code == 400  # not JSON, but under the limit


def test_served_model_name_aliases(server, page):
    listed = [m["id"] for m in httpx.get(server.openai_base_url + "/models").json()["data"]]
    assert listed == ["rapidocr/ppocr-v6", "lightonai/LightOnOCR-2-1B"]
    answer = post(server, {**request(page), "model": "lightonai/LightOnOCR-2-1B"})
    assert answer.status_code == 200 and answer.json()["model"] == "lightonai/LightOnOCR-2-1B"


@pytest.mark.slow
def test_api_key_guards_every_v1_path_and_the_scheme_is_case_insensitive(monkeypatch, page):
    monkeypatch.setenv("LIGHTON_LAB_API_KEY", "s3cret")
    with start_local(engines="rapidocr", workers=1, require_api_key=True) as endpoint:
        base = endpoint.base_url
        assert httpx.get(base + "/health").status_code == 200  # vLLM leaves /health open too
        assert httpx.get(base + "/v1/models").status_code == 401
        assert httpx.get(base + "/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(base + "/v1/models", headers={"Authorization": "bearer s3cret"}).status_code == 200
        answer = httpx.post(
            base + "/v1/chat/completions",
            json=request(page, max_tokens=3),
            headers={"Authorization": "BEARER s3cret"},
            timeout=120,
        )
        assert answer.status_code == 200


def docs_snippet(title: str) -> str:
    """A code block of docs/local-server.md, marked ``<!-- title -->``: the docs are run as written."""
    text = (ROOT / "docs" / "local-server.md").read_text()
    match = re.search(rf"<!-- {title} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"docs/local-server.md has no python block after <!-- {title} -->"
    return match.group(1)


def test_lighton_client_snippet_in_the_docs_runs_against_the_local_server(server, tmp_path):
    """docs/local-server.md's copy of what LightOn's client (lightonocr/client.py) sends, run as written."""
    image = tmp_path / "page.png"
    image.write_bytes(page_png())
    namespace = {"BASE_URL": server.openai_base_url, "IMAGE": str(image)}
    exec(docs_snippet("lighton-client"), namespace)
    assert "Transparent" in namespace["text"]
    assert namespace["model"] == "rapidocr/ppocr-v6"


def test_a_fourth_engine_is_one_file_and_one_registry_line(monkeypatch):
    """docs/local-server.md's engine example, registered with one line, serves through the worker-side code path."""
    import types

    from lighton_lab.engines import ocr, registry

    module = types.ModuleType("lighton_lab.engines.upper")
    module.__package__ = "lighton_lab.engines"
    exec(docs_snippet("fourth-engine"), module.__dict__)
    monkeypatch.setitem(registry.ENGINES, "upper", module.UpperEngine())  # the one registry line
    assert registry.resolve_engines(["rapidocr", "upper"]) == ["rapidocr/ppocr-v6", "upper/size"]
    ocr.init_worker(["upper/size"])
    result = ocr.recognize("upper/size", page_png())
    assert result.text == "PAGE OF 700 BY 300 PIXELS" and (result.width, result.height) == (700, 300)
