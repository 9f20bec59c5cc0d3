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


def bad(message, param=None, kind="BadRequestError", status=400):
    """The error body vLLM 0.30.0 answered for the case (executed against its own server code)."""
    return status, {"message": message, "type": kind, "param": param, "code": status}


def invalid(message, param):
    """FastAPI's body validation error as vLLM's handler words it."""
    return bad(message, param, kind="Bad Request")


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
OK = (200, None)
CASES = [
    # (name, body or callable(page) -> body, content type, (status, exact error body or None))
    (
        "temperature 3",
        lambda p: request(p, temperature=3),
        "application/json",
        bad("temperature must be in [0, 2], got 3.0. (parameter=temperature, value=3.0)", "temperature"),
    ),
    (
        "presence_penalty 3",
        lambda p: request(p, presence_penalty=3),
        "application/json",
        bad("presence_penalty must be in [-2, 2], got 3.0."),
    ),
    (
        "presence_penalty -3",
        lambda p: request(p, presence_penalty=-3),
        "application/json",
        bad("presence_penalty must be in [-2, 2], got -3.0."),
    ),
    (
        "frequency_penalty 3",
        lambda p: request(p, frequency_penalty=3),
        "application/json",
        bad("frequency_penalty must be in [-2, 2], got 3.0."),
    ),
    (
        "frequency_penalty -3",
        lambda p: request(p, frequency_penalty=-3),
        "application/json",
        bad("frequency_penalty must be in [-2, 2], got -3.0."),
    ),
    (
        "repetition_penalty 0",
        lambda p: request(p, repetition_penalty=0),
        "application/json",
        bad("repetition_penalty must be greater than zero, got 0.0."),
    ),
    (
        "top_k -2",
        lambda p: request(p, top_k=-2),
        "application/json",
        bad("top_k must be 0 (disable), or at least 1, got -2."),
    ),
    ("top_k -1 is 'disabled'", lambda p: request(p, top_k=-1, max_tokens=3), "application/json", OK),
    ("min_p 2", lambda p: request(p, min_p=2), "application/json", bad("min_p must be in [0, 1], got 2.0.")),
    (
        "min_tokens over max_tokens",
        lambda p: request(p, min_tokens=10, max_tokens=5),
        "application/json",
        bad("min_tokens must be less than or equal to max_tokens=5, got 10."),
    ),
    (
        "empty stop string",
        lambda p: request(p, stop=[""]),
        "application/json",
        bad("stop cannot contain an empty string."),
    ),
    (
        "seed abc",
        lambda p: request(p, seed="abc"),
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'int_parsing', 'loc': 'body.seed', 'msg': 'Input should be a valid "
            "integer, unable to parse string as an integer', 'input': 'abc'}",
            "body.seed",
        ),
    ),
    (
        "seed 2**64",
        lambda p: request(p, seed=2**64),
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'less_than_equal', 'loc': 'body.seed', 'msg': 'Input should be less "
            "than or equal to 9223372036854775807', 'input': '18446744073709551616', "
            "'ctx': {'le': 9223372036854775807}}",
            "body.seed",
        ),
    ),
    (
        "max_tokens over max_model_len",
        lambda p: request(p, max_tokens=20000),
        "application/json",
        bad(
            "max_tokens=20000 cannot be greater than max_model_len=max_total_tokens=16384. Please request fewer "
            "output tokens. (parameter=max_tokens, value=20000)",
            "max_tokens",
        ),
    ),
    (
        "max_completion_tokens over max_model_len",
        lambda p: request(p, max_completion_tokens=20000),
        "application/json",
        bad(
            "max_completion_tokens=20000 cannot be greater than max_model_len=max_total_tokens=16384. Please request "
            "fewer output tokens. (parameter=max_completion_tokens, value=20000)",
            "max_completion_tokens",
        ),
    ),
    (
        "max_tokens leaving too few tokens for the prompt",
        lambda p: request(p, max_tokens=16380),
        "application/json",
        bad(
            "This model's maximum context length is 16384 tokens. However, you requested 16380 output tokens and your "
            "prompt contains at least 5 input tokens, for a total of at least 16385 tokens. Please reduce the length "
            "of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=5)",
            "input_tokens",
        ),
    ),
    (
        "max_tokens leaving no token for the prompt",
        lambda p: request(p, max_tokens=16384),
        "application/json",
        bad(
            "This model's maximum context length is 16384 tokens. However, you requested 16384 output tokens and your "
            "prompt contains 52 characters (more than 0 characters, which is the upper bound for 0 input tokens). "
            "Please reduce the length of the input prompt or the number of requested output tokens. "
            "(parameter=input_text, value=52)",
            "input_text",
        ),
    ),
    (
        "max_tokens past the image tokens is cut, not refused",
        lambda p: request(p, max_tokens=16374),
        "application/json",
        OK,
    ),
    (
        "empty tools",
        lambda p: request(p, tools=[]),
        "application/json",
        bad(
            "`tools` must not be an empty array. Either provide at least one tool or omit the field entirely. "
            "(parameter=tools)",
            "tools",
        ),
    ),
    (
        "tools with auto tool choice",
        lambda p: request(p, tools=[TOOL], tool_choice="auto"),
        "application/json",
        bad('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
    ),
    (
        "tools default to auto tool choice",
        lambda p: request(p, tools=[TOOL]),
        "application/json",
        bad('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
    ),
    (
        "tools with tool choice none",
        lambda p: request(p, tools=[TOOL], tool_choice="none", max_tokens=3),
        "application/json",
        OK,
    ),
    (
        "tool choice without tools",
        lambda p: request(p, tool_choice="auto"),
        "application/json",
        bad("When using `tool_choice`, `tools` must be set. (parameter=tool_choice)", "tool_choice"),
    ),
    (
        "request chat template",
        lambda p: request(p, chat_template="{{ messages }}"),
        "application/json",
        bad(
            "Chat template is passed with request, but --trust-request-chat-template is not set. Refused request "
            "with untrusted chat template."
        ),
    ),
    (
        "temperature as a numeric string",
        lambda p: request(p, temperature="0.5", max_tokens=3),
        "application/json",
        OK,
    ),
    ("max_tokens as a whole float", lambda p: request(p, max_tokens=5.0), "application/json", OK),
    ("max_tokens as a numeric string", lambda p: request(p, max_tokens="5"), "application/json", OK),
    (
        "max_tokens 5.5",
        lambda p: request(p, max_tokens=5.5),
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'int_from_float', 'loc': 'body.max_tokens', 'msg': 'Input should be a "
            "valid integer, got a number with a fractional part', 'input': '5.5'}",
            "body.max_tokens",
        ),
    ),
    (
        "temperature abc",
        lambda p: request(p, temperature="abc"),
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'float_parsing', 'loc': 'body.temperature', 'msg': 'Input should be "
            "a valid number, unable to parse string as a number', 'input': 'abc'}",
            "body.temperature",
        ),
    ),
    (
        "image as application/octet-stream",
        lambda p: request(p.replace("image/png", "application/octet-stream"), max_tokens=3),
        "application/json",
        OK,
    ),
    (
        "PNG labelled as JPEG",
        lambda p: request(p.replace("image/png", "image/jpeg"), max_tokens=3),
        "application/json",
        OK,
    ),
    (
        "data URL without base64",
        lambda p: request(p.replace(";base64", "")),
        "application/json",
        bad("Only base64 data URLs are supported for now.", kind="NotImplementedError", status=501),
    ),
    (
        "data URL without comma",
        lambda p: request("data:image/png;base64"),
        "application/json",
        bad("Invalid data URL 'data:image/png;base64': missing ',' separator."),
    ),
    (
        "invalid base64",
        lambda p: request("data:image/png;base64,iVB!!"),
        "application/json",
        bad("Non-base64 digit found"),
    ),
    (
        "not an image",
        lambda p: request("data:image/png;base64," + base64.b64encode(b"hello").decode()),
        "application/json",
        bad("Failed to load image: cannot identify image file <_io.BytesIO object>"),
    ),
    (
        "two images",
        lambda p: {
            "model": "rapidocr/ppocr-v6",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": p}},
                        {"type": "image_url", "image_url": {"url": p}},
                    ],
                }
            ],
        },
        "application/json",
        bad("At most 1 image(s) may be provided in one prompt. (parameter=image)", "image"),
    ),
    (
        "top_p 0",
        lambda p: request(p, top_p=0),
        "application/json",
        bad("top_p must be in (0, 1], got 0.0. (parameter=top_p, value=0.0)", "top_p"),
    ),
    (
        "top_p 5",
        lambda p: request(p, top_p=5),
        "application/json",
        bad("top_p must be in (0, 1], got 5.0. (parameter=top_p, value=5.0)", "top_p"),
    ),
    (
        "negative temperature",
        lambda p: request(p, temperature=-1),
        "application/json",
        bad("temperature must be non-negative, got -1.0. (parameter=temperature, value=-1.0)", "temperature"),
    ),
    ("n 0", lambda p: request(p, n=0), "application/json", bad("n must be at least 1, got 0.")),
    (
        "max_tokens 0",
        lambda p: request(p, max_tokens=0),
        "application/json",
        bad("max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)", "max_tokens"),
    ),
    (
        "stream_options without stream",
        lambda p: request(p, stream_options={"include_usage": True}),
        "application/json",
        bad(
            "Stream options can only be defined when `stream=True`. (parameter=stream_options)",
            "stream_options",
        ),
    ),
    (
        "top_logprobs without logprobs",
        lambda p: request(p, top_logprobs=2),
        "application/json",
        bad(
            "when using `top_logprobs`, `logprobs` must be set to true. (parameter=top_logprobs)",
            "top_logprobs",
        ),
    ),
    (
        "not json",
        b"{oops",
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'json_invalid', 'loc': 'body.1', 'msg': 'JSON decode error', "
            "'input': '<dict of 0 items>', 'ctx': {'error': 'Expecting property name enclosed in double quotes'}}",
            "body.1",
        ),
    ),
    (
        "a JSON array",
        b"[1, 2]",
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'model_attributes_type', 'loc': 'body', 'msg': 'Input should be a "
            "valid dictionary or object to extract fields from', 'input': '<list of 2 items>'}",
            "body",
        ),
    ),
    (
        "an empty body",
        b"",
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'missing', 'loc': 'body', 'msg': 'Field required', 'input': 'None'}",
            "body",
        ),
    ),
    (
        "no messages",
        {"model": "rapidocr/ppocr-v6"},
        "application/json",
        invalid(
            "1 validation error:\n  {'type': 'missing', 'loc': 'body.messages', 'msg': 'Field required', "
            "'input': '<dict of 1 items>'}",
            "body.messages",
        ),
    ),
    (
        "empty messages",
        {"model": "rapidocr/ppocr-v6", "messages": []},
        "application/json",
        bad("Cannot apply chat template to an empty conversation. Provide at least one message."),
    ),
    (
        "text/plain content type",
        lambda p: request(p),
        "text/plain",
        invalid("1 validation error:\n  Unsupported Media Type: Only 'application/json' is allowed", None),
    ),
    ("json with charset is fine", lambda p: request(p, max_tokens=3), "application/json; charset=utf-8", OK),
    (
        "unknown model",
        lambda p: request(p, model="nope"),
        "application/json",
        bad("The model `nope` does not exist.", "model", kind="NotFoundError", status=404),
    ),
    (
        "model left out",
        lambda p: {k: v for k, v in request(p, max_tokens=3).items() if k != "model"},
        "application/json",
        OK,
    ),
    (
        "chat_template_kwargs accepted",
        lambda p: request(p, max_tokens=3, chat_template_kwargs={"enable_thinking": False}),
        "application/json",
        OK,
    ),
]
# What vLLM honours but deterministic engines cannot: refused with a clear 400 (vLLM answers 200).
REFUSED = [
    ("n 2", lambda p: request(p, n=2), "n > 1 is not supported"),
    (
        "response_format",
        lambda p: request(p, response_format={"type": "json_object"}),
        "response_format is not supported",
    ),
    ("logprobs", lambda p: request(p, logprobs=True), "logprobs are not supported"),
    ("oversized image", lambda p: request(data_url(huge_png())), "decompression-bomb limit"),
]


@pytest.mark.parametrize("name,body,content_type,expected", CASES, ids=[c[0] for c in CASES])
def test_request_checks_match_vllm(server, page, name, body, content_type, expected):
    body = body(page) if callable(body) else body
    response = post(server, body, content_type, raw=isinstance(body, bytes))
    status, error = expected
    assert response.status_code == status, response.text
    assert response.json()["error"] == error if error else response.json()["object"] == "chat.completion"


def test_a_part_without_a_type_is_refused_as_vllm_refuses_it(server, page):
    """vLLM validates content parts lazily, as it iterates them, against the OpenAI part types: a part without
    "type" fails all of them (run against vLLM 0.30.0's server, this is a 400, not an inferred image part)."""
    body = {
        "model": "rapidocr/ppocr-v6",
        "messages": [{"role": "user", "content": [{"image_url": {"url": page}}]}],
    }
    error = post(server, body).json()["error"]
    assert (error["code"], error["type"], error["param"]) == (400, "BadRequestError", None)
    assert error["message"].startswith(
        "7 validation errors for ValidatorIterator\n0.ChatCompletionContentPartTextParam.text\n  Field required "
        "[type=missing, input_value={'image_url': {'url': 'da"
    )


@pytest.mark.parametrize("name,body,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_what_the_engines_cannot_honour_is_refused_clearly(server, page, name, body, words):
    response = post(server, body(page))
    assert response.status_code == 400 and words in response.json()["error"]["message"]


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


def test_served_model_name_aliases_and_the_model_cards(server, page):
    cards = httpx.get(server.openai_base_url + "/models").json()["data"]
    assert [c["id"] for c in cards] == ["rapidocr/ppocr-v6", "lightonai/LightOnOCR-2-1B"]
    assert [c["root"] for c in cards] == ["rapidocr/ppocr-v6", "rapidocr/ppocr-v6"]  # what each name serves
    assert all(c["parent"] is None and c["max_model_len"] == 16384 for c in cards)
    assert cards[0]["permission"][0]["object"] == "model_permission"
    answer = post(server, {**request(page), "model": "lightonai/LightOnOCR-2-1B"})
    assert answer.status_code == 200
    assert answer.json()["model"] == "rapidocr/ppocr-v6"  # vLLM answers with the model's first served name


def test_completions_carry_a_fingerprint_and_the_version_is_served(server, page):
    body = post(server, request(page)).json()
    assert body["system_fingerprint"].startswith("lighton-lab-")
    usage = body["usage"]
    assert list(usage)[:3] == ["prompt_tokens", "total_tokens", "completion_tokens"]
    assert httpx.get(server.base_url + "/version").json()["version"]


def test_the_stream_finishes_on_its_last_token_as_vllm_does(server, page):
    """Stopped by itself: the end-of-sequence token, empty, carries "stop"; cut by max_tokens: the last content
    chunk carries "length". The usage chunk comes after, with the fingerprint."""

    def events(**extra):
        with httpx.stream(
            "POST",
            server.openai_base_url + "/chat/completions",
            json=request(page, stream=True, stream_options={"include_usage": True}, **extra),
            timeout=120,
        ) as response:
            lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "[DONE]"
        return [json.loads(line) for line in lines[:-1]]

    stopped = events()
    assert stopped[-2]["choices"][0] == {
        "index": 0,
        "delta": {"content": ""},
        "logprobs": None,
        "finish_reason": "stop",
        "stop_reason": None,
        "token_ids": None,
    }
    assert stopped[-1]["choices"] == [] and stopped[-1]["system_fingerprint"].startswith("lighton-lab-")
    cut = events(max_tokens=2)
    assert cut[-2]["choices"][0]["finish_reason"] == "length" and cut[-2]["choices"][0]["delta"]["content"]
    assert cut[-1]["usage"]["completion_tokens"] == 2


@pytest.mark.slow
def test_api_key_guards_every_v1_path_and_the_scheme_is_case_insensitive(monkeypatch, page):
    monkeypatch.setenv("LIGHTON_LAB_API_KEY", "s3cret")
    with start_local(engines="rapidocr", workers=1, require_api_key=True) as endpoint:
        base = endpoint.base_url
        assert httpx.get(base + "/health").status_code == 200  # vLLM leaves /health open too
        refused = httpx.get(base + "/v1/models")
        assert refused.status_code == 401 and refused.json() == {"error": "Unauthorized"}  # vLLM's flat body
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


@pytest.mark.slow
def test_max_model_len_bounds_the_prompt_and_the_answer(page):
    """--max-model-len: an image whose tokens pass it is refused as vLLM refuses it; otherwise the answer is
    cut at the context left after the prompt, whatever max_tokens asked (vLLM's get_max_tokens)."""
    with start_local(engines="rapidocr", workers=1, max_model_len=285) as small:
        big = Image.new("L", (1540, 1540), 255)
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
        refused = post(small, request(data_url(buffer.getvalue())))
        assert refused.status_code == 400
        assert refused.json()["error"]["message"] == (
            "Input length (3032) exceeds model's maximum context length (285)."
        )  # 8 prompt tokens, one of them the image's placeholder, and 55 x 55 image tokens
        cut = post(small, request(page, max_tokens=200)).json()
        prompt = cut["usage"]["prompt_tokens"]  # 7 + 25 x 11 image tokens for the 700 x 300 page
        assert prompt == 282
        assert (
            cut["choices"][0]["finish_reason"] == "length"
            and cut["usage"]["completion_tokens"] == 285 - prompt
        )
