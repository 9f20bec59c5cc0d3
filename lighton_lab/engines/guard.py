"""The server's door: the API key on every ``/v1`` path (as vLLM's ``--api-key`` middleware checks it), and the
HTTP request counts for ``/metrics`` (by path and status, unknown paths as one label)."""

from __future__ import annotations

from lighton_lab.engines.prometheus import ServerMetrics

_PATHS = {"/health", "/version", "/v1/models", "/v1/chat/completions", "/metrics"}


class Guard:
    """ASGI middleware: the API key on every ``/v1`` path (as vLLM's), and request counts for /metrics."""

    def __init__(self, app, metrics: ServerMetrics, api_key: str | None):
        self.app, self.metrics, self.api_key = app, metrics, api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen = {"status": 500}

        async def counting_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            if self.api_key and scope["path"].startswith("/v1") and not self._authorized(scope):
                from starlette.responses import JSONResponse

                response = JSONResponse({"error": "Unauthorized"}, status_code=401)  # vLLM's flat body
                return await response(scope, receive, counting_send)
            await self.app(scope, receive, counting_send)
        finally:
            path = scope["path"] if scope["path"] in _PATHS else "other"
            self.metrics.http.labels(scope["method"], path, str(seen["status"])).inc()

    def _authorized(self, scope) -> bool:
        """RFC 9110: the scheme is case-insensitive (``bearer`` works); the key is compared exactly."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.api_key
