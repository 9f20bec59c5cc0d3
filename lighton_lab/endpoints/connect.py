"""An Endpoint for a server that is already running (a deployment, a server started elsewhere)."""

from __future__ import annotations

import os

import httpx

from lighton_lab.endpoints.endpoint import Endpoint, auth_headers
from lighton_lab.errors import EndpointError


def connect(
    url: str | None = None,
    model: str | None = None,
    headers: dict[str, str] | None = None,
    gpu: str | None = None,
    timeout: float = 30.0,
    capacity: int | None = None,
) -> Endpoint:
    """An Endpoint for a running server; the model defaults to the first the server lists."""
    url = url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise EndpointError(
            "connect() needs a URL (or LIGHTON_LAB_URL), e.g. https://you--lightonocr-1b-serve.modal.run"
        )
    endpoint = Endpoint(
        url, model or "", headers if headers is not None else auth_headers(), "remote", gpu, capacity=capacity
    )
    try:
        return endpoint.described(timeout=timeout)
    except (httpx.HTTPError, KeyError, ValueError, IndexError) as exc:
        if not model:
            raise EndpointError(
                f"{endpoint.base_url}/v1/models did not answer ({exc}). Check the URL, that the app is running "
                "(`modal app list`), and MODAL_KEY/MODAL_SECRET if it requires proxy auth."
            ) from None
        return endpoint
