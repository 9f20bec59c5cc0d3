"""The answers' bodies as vLLM 0.30.0 writes them: the chat completion, its stream of chunks, the model list.

Field names and order follow what vLLM's server emits (executed; see tests/test_engines_protocol.py):
``system_fingerprint`` on the completion and on the stream's finishing chunk (or its usage chunk), the
``finish_reason`` on the chunk of the last token (when the answer stops by itself that token is the
end-of-sequence token, which reads as an empty string), ``usage`` with the end-of-sequence token counted,
one card per served name in ``/v1/models`` with ``root``, ``parent``, ``max_model_len`` and ``permission``.
"""

from __future__ import annotations

import hashlib
import time
import uuid


def fingerprint(version: str, settings: str) -> str:
    """``lighton-lab-<version>-<8 hex>``, as vLLM's ``vllm-<version>-<hash of its config>``."""
    return f"lighton-lab-{version}-{hashlib.sha256(settings.encode()).hexdigest()[:8]}"


def request_id(header: str | None = None) -> str:
    """``chatcmpl-`` and the request's ``X-Request-Id``, else 16 random hex digits (vLLM's rule)."""
    return "chatcmpl-" + (header or uuid.uuid4().hex[:16])


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }


def completion(rid: str, model: str, text: str, finish: str, counts: dict, system_fingerprint: str) -> dict:
    message = {"role": "assistant", "content": text, "refusal": None, "annotations": None, "audio": None,
               "function_call": None, "reasoning": None}  # fmt: skip
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
                "stop_reason": None,
                "token_ids": None,
            }
        ],  # fmt: skip
        "service_tier": None,
        "system_fingerprint": system_fingerprint,
        "usage": {**counts, "prompt_tokens_details": None, "completion_tokens_details": None},
    }


class Chunks:
    """The chunks of one streamed answer, built as the tokens come."""

    def __init__(self, rid: str, model: str, system_fingerprint: str, include_usage: bool):
        self.head = {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self.fingerprint, self.include_usage = system_fingerprint, include_usage

    def first(self) -> dict:
        choice = {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        return {**self.head, "choices": [choice], "prompt_token_ids": None, "prompt_text": None}

    def content(self, text: str, finish: str | None = None) -> dict:
        choice = {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": finish}
        if finish is not None:
            choice["stop_reason"] = None
        choice["token_ids"] = None
        chunk = {**self.head, "choices": [choice]}
        if finish is not None and not self.include_usage:
            chunk["system_fingerprint"] = self.fingerprint
        return chunk

    def usage(self, counts: dict) -> dict:
        return {**self.head, "choices": [], "usage": counts, "system_fingerprint": self.fingerprint}


def model_cards(
    served: list[str], roots: dict[str, str], max_model_len: int, extras: dict | None = None
) -> dict:
    """``GET /v1/models``: one card per served name; ``root`` is the model a name serves (an alias's engine).
    ``extras[name]`` is added as the card's ``lighton_lab`` field (vLLM's cards have no such field; clients
    ignore unknown fields): the engine behind the name, how its answers read, which family it stands in for."""
    created = int(time.time())

    def card(name: str) -> dict:
        permission = {"id": f"modelperm-{uuid.uuid4().hex[:16]}", "object": "model_permission", "created": created,
                      "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                      "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False,
                      "organization": "*", "group": None, "is_blocking": False}  # fmt: skip
        found = {"id": name, "object": "model", "created": created, "owned_by": "lighton-lab",
                 "root": roots.get(name, name), "parent": None, "max_model_len": max_model_len,
                 "permission": [permission]}  # fmt: skip
        if extras and name in extras:
            found["lighton_lab"] = extras[name]
        return found

    return {"object": "list", "data": [card(name) for name in served]}
