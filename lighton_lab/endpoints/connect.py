"""An Endpoint for a server that is already running (a deployment, a server started elsewhere)."""

from __future__ import annotations

import os

import httpx

from lighton_lab.endpoints import keys
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
    """An Endpoint for a running server; the model defaults to the first the server lists.

    Headers: ``headers`` when given; else the environment's (``auth_headers``: Modal proxy auth,
    ``LIGHTON_LAB_API_KEY``), and, when that holds no bearer token, the API key stored for this URL's
    app by ``start_modal(deploy=True)`` or ``modal deploy serve/app.py`` (``endpoints/keys.py``).
    """
    url = url or os.environ.get("LIGHTON_LAB_URL")
    if not url:
        raise EndpointError(
            "connect() needs a URL (or LIGHTON_LAB_URL), e.g. https://you--lightonocr-1b-serve.modal.run"
        )
    if headers is None:
        headers = auth_headers()
        stored = None if "Authorization" in headers else keys.key_for_url(url)
        if stored:
            headers["Authorization"] = f"Bearer {stored}"
    endpoint = Endpoint(url, model or "", headers, "remote", gpu, capacity=capacity)
    try:
        return endpoint.described(timeout=timeout)
    except (httpx.HTTPError, KeyError, ValueError, IndexError) as exc:
        if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 401:
            raise EndpointError(
                f"{endpoint.base_url} wants an API key (401). Connect from the machine that deployed it "
                f"(its key is in {keys.keys_path()}), or set LIGHTON_LAB_API_KEY to the app's key."
            ) from None
        if not model:
            raise EndpointError(
                f"{endpoint.base_url}/v1/models did not answer ({exc}). Check the URL, that the app is running "
                "(`modal app list`), and MODAL_KEY/MODAL_SECRET if it requires proxy auth."
            ) from None
        return endpoint
