"""The local engine server over real loopback HTTP: the unmodified openai SDK, curl, concurrency, errors."""

import asyncio
import base64
import json
import shutil
import subprocess
import threading
import time

import httpx
import openai
import pytest
from conftest import HAS_TESSERACT

from lighton_lab.corpus.corpus import Corpus
from lighton_lab.render import render_page, to_data_url
from lighton_lab.scoring.text import score


@pytest.fixture(scope="module")
def page(sample):
    return Corpus.load(sample).filter("report.pdf")[0]


@pytest.fixture(scope="module")
def image_url(page):
    return to_data_url(render_page(page, dpi=150))


def messages(url):
    """The request LightOnOCR users send: one user message, one image, no prompt."""
    return [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]


def test_health_and_models(local_server):
    assert httpx.get(local_server.base_url + "/health").status_code == 200
    listing = httpx.get(local_server.openai_base_url + "/models").json()
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert ids[0] == "rapidocr/ppocr-v6"
    if HAS_TESSERACT:
        assert any(i.startswith("tesseract/eng") for i in ids)


def test_openai_sdk_sync(local_server, image_url, page):
    client = openai.OpenAI(base_url=local_server.openai_base_url, api_key="unused")
    for model in local_server.models:
        response = client.chat.completions.create(
            model=model, messages=messages(image_url), max_tokens=4096, temperature=0.2, top_p=0.9
        )
        text = response.choices[0].message.content
        assert response.choices[0].finish_reason == "stop"
        assert score(page.ground_truth, text).cer < 0.05, (model, text)
        assert response.usage.completion_tokens > 50
        assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_openai_sdk_stream_equals_non_stream(local_server, image_url):
    client = openai.OpenAI(base_url=local_server.openai_base_url, api_key="unused")
    whole = client.chat.completions.create(model=local_server.model, messages=messages(image_url))
    chunks = client.chat.completions.create(
        model=local_server.model,
        messages=messages(image_url),
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for chunk in chunks:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        usage = chunk.usage or usage
    assert len(pieces) > 3
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == "stop"
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_openai_sdk_async_stream_and_not(local_server, image_url):
    async def run():
        client = openai.AsyncOpenAI(base_url=local_server.openai_base_url, api_key="unused")
        whole = await client.chat.completions.create(model=local_server.model, messages=messages(image_url))
        stream = await client.chat.completions.create(
            model=local_server.model, messages=messages(image_url), stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return whole.choices[0].message.content, text

    whole, streamed = asyncio.run(run())
    assert whole == streamed and len(whole) > 100


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_plain_curl(local_server, image_url, tmp_path):
    body = tmp_path / "request.json"
    body.write_text(
        json.dumps({"model": local_server.model, "messages": messages(image_url), "max_tokens": 20})
    )
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            local_server.openai_base_url + "/chat/completions",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{body}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    answer = json.loads(out)
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 20
    body.write_text(
        json.dumps({"model": local_server.model, "messages": messages(image_url), "stream": True})
    )
    stream = subprocess.run(
        [
            "curl",
            "-sN",
            "-X",
            "POST",
            local_server.openai_base_url + "/chat/completions",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            f"@{body}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    events = [line for line in stream.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


def test_max_tokens_truncates_like_a_language_model(local_server, image_url):
    client = openai.OpenAI(base_url=local_server.openai_base_url, api_key="unused")
    response = client.chat.completions.create(
        model=local_server.model, messages=messages(image_url), max_tokens=7
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 7
    assert response.choices[0].message.content.startswith("Field notes")


def test_sixteen_concurrent_requests_do_not_block_health(local_server, sample):
    pages = Corpus.load(sample).pages[:8]
    urls = [
        to_data_url(render_page(p, dpi=72 + 3 * i)) for i, p in enumerate(pages * 2)
    ]  # 16 distinct images
    health_times = []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            t = time.perf_counter()
            assert httpx.get(local_server.base_url + "/health", timeout=5).status_code == 200
            health_times.append(time.perf_counter() - t)
            time.sleep(0.1)

    async def burst():
        async with httpx.AsyncClient(timeout=300) as client:
            calls = [
                client.post(
                    local_server.openai_base_url + "/chat/completions",
                    json={"model": local_server.model, "messages": messages(u)},
                )
                for u in urls
            ]
            return await asyncio.gather(*calls)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        responses = asyncio.run(burst())
    finally:
        stop.set()
        prober.join()
    assert [r.status_code for r in responses] == [200] * 16
    assert all(r.json()["choices"][0]["message"]["content"] for r in responses)
    assert len(health_times) >= 5
    assert max(health_times) < 1.0


def _post(endpoint, body, raw=False):
    data = body if raw else json.dumps(body).encode()
    return httpx.post(
        endpoint.openai_base_url + "/chat/completions",
        content=data,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010800000000"
        "3a7e9b550000000a4944415478da63f80f00010101001b0f5e2d0000000049454e44ae426082"
    )
).decode()

ERROR_CASES = [
    # (name, body, raw, status, words in the message)
    ("not json", b"{oops", True, 400, "JSON decode error"),
    ("no messages", {"model": "rapidocr/ppocr-v6"}, False, 400, "messages"),
    (
        "bad part",
        {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
        False,
        400,
        "validation errors for ValidatorIterator",
    ),
    (
        "bad max_tokens",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_1PX}}
                    ],
                }
            ],
            "max_tokens": -3,
        },
        False,
        400,
        "max_tokens must be at least 1",
    ),
    ("no image", {"messages": [{"role": "user", "content": "hello"}]}, False, 400, "No image"),
    (
        "two images",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_1PX}}
                    ]
                    * 2,
                }
            ]
        },
        False,
        400,
        "At most 1",
    ),
    (
        "remote url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.org/page.png"}}],
                }
            ]
        },
        False,
        400,
        "inline",
    ),
    (
        "bad base64",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@not-base64"}}
                    ],
                }
            ]
        },
        False,
        400,
        "base64",
    ),
    (
        "undecodable image",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "data:image/png;base64," + base64.b64encode(b"garbage" * 20).decode()
                            },
                        }
                    ],
                }
            ]
        },
        False,
        400,
        "Failed to load image",
    ),
    (
        "unknown model",
        {
            "model": "lightonai/LightOnOCR-1B-1025",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_1PX}}
                    ],
                }
            ],
        },
        False,
        404,
        "does not exist",
    ),
]


@pytest.mark.parametrize("name,body,raw,status,words", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_errors_are_openai_error_json(local_server, name, body, raw, status, words):
    response = _post(local_server, body, raw)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert words in error["message"]
    assert error["type"]


def test_payload_over_the_limit_is_413(local_server):
    big = "data:image/png;base64," + "A" * (21 * 1024 * 1024)
    response = _post(
        local_server,
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": big}}]}]},
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]


def test_sdk_raises_typed_errors(local_server):
    client = openai.OpenAI(base_url=local_server.openai_base_url, api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=messages("data:image/png;base64," + PNG_1PX))


def test_metrics_are_prometheus_text(local_server, image_url):
    _post(local_server, {"model": local_server.model, "messages": messages(image_url)})
    text = httpx.get(local_server.base_url + "/metrics").text
    assert 'lighton_lab_http_requests_total{method="POST",path="/v1/chat/completions",status="200"}' in text
    assert 'lighton_lab_request_duration_seconds_bucket{le="+Inf"}' in text
    assert "lighton_lab_pages_in_flight 0" in text
    assert "vllm:generation_tokens_total" in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)


@pytest.mark.slow
@pytest.mark.skipif(not __import__("os").path.isdir("/proc"), reason="needs /proc (Linux)")
def test_ocr_workers_die_with_a_killed_server():
    import os
    import signal

    from conftest import alive, child_pids

    from lighton_lab.endpoints.local import start_local

    endpoint = start_local(engines="rapidocr", workers=2)
    workers = child_pids(endpoint.process.pid)
    assert len(workers) >= 2
    os.kill(endpoint.process.pid, signal.SIGKILL)
    endpoint.process.wait()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in workers), "OCR workers outlived their killed server"
