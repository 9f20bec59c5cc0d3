"""OCRClient and AsyncOCRClient against the real local server: streaming, retries through injected faults
(503, 429 + Retry-After, dropped connections, stalls, malformed answers, Modal's 303), truncation."""

import asyncio
import time

import httpx
import pytest
from conftest import canned_server, chat_posts
from PIL import Image, ImageDraw

from lighton_lab.client.ocr import AsyncOCRClient, OCRClient, RetryPolicy
from lighton_lab.corpus.synth import font_path
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.endpoints.local import start_local
from lighton_lab.errors import OCRRequestError

FAST = RetryPolicy(attempts=8, backoff_s=0.05, max_backoff_s=0.3, budget_s=60)


@pytest.fixture(scope="module")
def page_image():
    from PIL import ImageFont

    image = Image.new("L", (740, 740), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(font_path()), 36)
    draw.text((30, 40), "The quick brown fox jumps", font=font, fill=0)
    draw.text((30, 140), "over the lazy dog 1234", font=font, fill=0)
    return image


def _server(**faults):
    return start_local(engines="rapidocr", workers=1, faults=faults or None)


@pytest.fixture(scope="module")
def clean():
    with _server() as endpoint:
        yield endpoint


def test_sync_async_and_stream_agree(clean, page_image):
    client = OCRClient(clean, retry=FAST)
    plain = client.ocr(page_image)
    streamed = client.ocr(page_image, stream=True)

    async def run():
        async with AsyncOCRClient(clean, retry=FAST) as aclient:
            return await aclient.ocr(page_image), await aclient.ocr(page_image, stream=True)

    async_plain, async_streamed = asyncio.run(run())
    assert "quick brown fox" in plain.text
    assert plain.text == streamed.text == async_plain.text == async_streamed.text
    assert plain.finish_reason == streamed.finish_reason == "stop"
    assert streamed.ttft_s is not None and 0 < streamed.ttft_s <= streamed.latency_s
    assert plain.ttft_s is None
    assert streamed.completion_tokens == plain.completion_tokens > 5
    assert plain.attempts == 1 and not plain.truncated


def test_truncation_is_flagged(clean, page_image):
    result = OCRClient(clean, retry=FAST).ocr(page_image, max_tokens=3)
    assert result.truncated and result.finish_reason == "length"
    assert result.completion_tokens == 3


def test_no_retry_on_400(clean):
    before = chat_posts(clean)
    with pytest.raises(OCRRequestError) as info:
        OCRClient(clean, retry=FAST).ocr(b"this is not an image")
    assert info.value.status == 400
    assert "Failed to load image" in str(info.value)
    assert chat_posts(clean) - before == 1


def test_unknown_model_is_not_retried(clean, page_image):
    with pytest.raises(OCRRequestError, match="/v1/models"):
        OCRClient(clean.with_model("lightonai/LightOnOCR-1B-1025"), retry=FAST).ocr(page_image)


@pytest.mark.slow
def test_413_explains_the_image_size_rule():
    with start_local(engines="rapidocr", workers=1, max_payload_mb=0.01) as small:
        big = Image.effect_noise((400, 400), 80)
        with pytest.raises(OCRRequestError, match="1540 or 2048 px"):
            OCRClient(small, retry=FAST).ocr(big)


def _many(endpoint, image, n=4, stream=False, read_timeout=None):
    client = OCRClient(endpoint, retry=FAST, **({"read_timeout": read_timeout} if read_timeout else {}))
    return [client.ocr(image, stream=stream) for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 0.5, "error_status": 503, "seed": 1},
        {"error_rate": 0.5, "error_status": 500, "seed": 2},
        {"rate_limit_rate": 0.5, "retry_after_s": 0.2, "seed": 3},
        {"drop_rate": 0.5, "seed": 4},
        {"malformed_rate": 0.5, "seed": 2},
    ],
    ids=["503", "500", "429", "drop", "malformed"],
)
def test_retries_ride_through_faults(page_image, faults):
    with _server(**faults) as endpoint:
        results = _many(endpoint, page_image) + _many(endpoint, page_image, stream=True)
    assert all("quick brown fox" in r.text for r in results)
    assert any(r.attempts > 1 for r in results[:4])
    assert any(r.attempts > 1 for r in results[4:])


@pytest.mark.slow
def test_retry_after_is_honoured(page_image):
    with _server(rate_limit_rate=0.6, retry_after_s=0.5, seed=11) as endpoint:
        started = time.monotonic()
        results = _many(endpoint, page_image, n=4)
    retries = sum(r.attempts - 1 for r in results)
    assert retries >= 1
    assert time.monotonic() - started >= 0.5 * retries


@pytest.mark.slow
def test_stalled_stream_hits_the_timeout_and_is_retried(page_image):
    with _server(stall_rate=0.5, stall_s=5, seed=6) as endpoint:
        results = _many(endpoint, page_image, n=4, stream=True, read_timeout=1.0)
    assert all("quick brown fox" in r.text for r in results)
    assert any(r.attempts > 1 for r in results)


@pytest.mark.slow
def test_persistent_malformed_answers_become_a_clear_error(page_image):
    with (
        _server(malformed_rate=1.0, seed=7) as endpoint,
        pytest.raises(OCRRequestError, match="malformed") as info,
    ):
        OCRClient(endpoint, retry=RetryPolicy(attempts=3, backoff_s=0.01)).ocr(page_image)
    assert info.value.retryable


@pytest.mark.slow
def test_cold_start_connection_refused_then_recovery(page_image):
    endpoint = start_local(engines="rapidocr", workers=1, start_delay=4, wait=False)
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(endpoint.base_url + "/health", timeout=1)
        result = OCRClient(
            endpoint, retry=RetryPolicy(attempts=30, backoff_s=0.5, max_backoff_s=2, budget_s=120)
        ).ocr(page_image)
        assert result.attempts > 1
        assert "quick brown fox" in result.text
    finally:
        endpoint.stop()


@pytest.mark.slow
def test_modal_303_redirect_is_followed(page_image):
    """The answer takes a second before its first token (latency_s), five times the redirect delay: a 303 is
    certain, however fast the machine reads the page."""
    faults = {"redirect_after_s": 0.2, "latency_s": 1.0}
    with start_local(engines="rapidocr", workers=1, faults=faults, cache_size=0) as endpoint:
        result = OCRClient(endpoint, retry=FAST).ocr(page_image)
        metrics = httpx.get(endpoint.base_url + "/metrics").text
    assert "quick brown fox" in result.text
    assert 'path="/v1/chat/completions",status="303"' in metrics


@pytest.mark.slow
@pytest.mark.parametrize(
    "body,words",
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not a chat completion"),
        (b'{"id": "x", "object": "chat.completion", "choices": []}', "no choices"),
        (
            b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", '
            b'"choices": [{"index": 0, "message": {"role": "assistant"}, "finish_reason": "stop"}]}',
            "no content",
        ),
    ],
)
def test_each_malformed_answer_shape_is_named(page_image, body, words):
    """A real HTTP server on loopback answers 200 with each malformed body; the client names what is wrong."""
    with canned_server(body) as url, pytest.raises(OCRRequestError, match=words):
        OCRClient(Endpoint(url, "m"), retry=RetryPolicy(attempts=1)).ocr(page_image)


@pytest.mark.slow
def test_an_empty_page_is_a_valid_answer(page_image):
    body = (
        b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0, '
        b'"message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}]}'
    )
    with canned_server(body) as url:
        result = OCRClient(Endpoint(url, "m"), retry=RetryPolicy(attempts=1)).ocr(page_image)
    assert result.text == "" and result.finish_reason == "stop"


@pytest.mark.slow
def test_profile_defaults_are_sent_and_none_is_not(page_image):
    """LightOnOCR-3 gets its profile (temperature 0.1, top_p 1.0, cap 12288); a local engine gets nothing."""
    body = (
        b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0, '
        b'"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}'
    )
    with canned_server(body) as url:
        OCRClient(Endpoint(url, "lightonai/LightOnOCR-3-4B"), retry=RetryPolicy(attempts=1)).ocr(page_image)
        OCRClient(Endpoint(url, "rapidocr/ppocr-v6"), retry=RetryPolicy(attempts=1)).ocr(
            page_image, max_tokens=9
        )
        sent = canned_server.requests
    assert {k: sent[0][k] for k in ("temperature", "top_p")} == {"temperature": 0.1, "top_p": 1.0}
    assert sent[0]["max_tokens"] == 12288
    assert "temperature" not in sent[1] and "top_p" not in sent[1] and sent[1]["max_tokens"] == 9
