"""The keys of a sweep's work: which render a page at a DPI and cap is (the render cache), and which stored
result answers a configuration at each step of the temperature ladder.

A result's key is the hash of (pixels, served model, parameters) (``store.schema.result_key``). A retry on
the ladder is another request: its temperature is the ladder's and its parameters carry ``ladder_step``, so
a retry at the same temperature as the first request (olmOCR's ladder starts 0.1, 0.1) is asked again, not
read back from the store.

Output caps and older stores: a request with ``max_tokens`` is also answered by a stored answer to the same
request without it that stopped by itself within the cap (``stored_answer``): the cap would not have touched
it. Stores written before LightOnOCR's profile had a cap (12,288) so keep answering their pages with no new
request; a stored answer that ran longer, or was cut, is asked again under the cap.
"""

from __future__ import annotations

from pathlib import Path

from lighton_lab.corpus.corpus import Page
from lighton_lab.store.schema import Result, result_key
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Config

RENDER_VERSION = "1"  # bump when rendering changes: cached render hashes are then ignored


def render_source(page: Page, dpi: float, max_side: int | None, image_format: str) -> str:
    """The render cache's key: the file (path, size, modification time), the page, DPI, cap and format."""
    stat = Path(page.path).stat()
    parts = (Path(page.path).resolve(), stat.st_size, stat.st_mtime_ns, page.index, dpi, max_side, image_format,
             RENDER_VERSION)  # fmt: skip
    return "|".join(map(str, parts))


def render_error_key(page: Page, config: Config, model: str) -> str:
    """Key of the stored error of a page that could not be rendered (there are no pixels to hash)."""
    return result_key(
        f"render-error:{page.path}:{page.index}:{config.dpi}:{config.max_side}", model, config.request
    )


def step_params(config: Config, step: int, ladder: tuple[float, ...]) -> dict:
    """The key's parameters of the ``step``-th request of a configuration (0: the first, as the grid asks).
    A retry is asked warmer or as warm, never colder: LightOnOCR's 0.2 on olmOCR's ladder (0.1, 0.1, 0.2,
    0.3, ...) retries at 0.2, 0.2, 0.3, ...; olmOCR's own 0.1 follows its ladder exactly."""
    if step == 0:
        return config.request
    temperature = ladder[min(step, len(ladder) - 1)]
    first = config.request.get("temperature")
    if first is not None:
        temperature = max(temperature, first)
    return {**config.request, "temperature": temperature, "ladder_step": step}


def step_key(image_hash: str, model: str, config: Config, step: int, ladder: tuple[float, ...]) -> str:
    return result_key(image_hash, model, step_params(config, step, ladder))


def uncapped_key(image_hash: str, model: str, config: Config, step: int, ladder) -> tuple[str, int] | None:
    """The key of the same request without its output cap, and the cap; None for a request without one."""
    params = step_params(config, step, ladder)
    cap = params.get("max_tokens")
    if cap is None:
        return None
    return result_key(image_hash, model, {k: v for k, v in params.items() if k != "max_tokens"}), cap


def within_cap(result: Result | None, cap: int) -> bool:
    """An answer that stopped by itself within ``cap`` tokens: what the capped request would have got."""
    return (result is not None and result.ok and result.finish_reason == "stop"
            and result.completion_tokens is not None and result.completion_tokens <= cap)  # fmt: skip


def stored_answer(
    store: Store, image_hash: str, model: str, config: Config, step: int, ladder
) -> Result | None:
    """The stored result of a request (failed ones included), or an uncapped answer within its cap."""
    found = store.get(step_key(image_hash, model, config, step, ladder))
    if found is not None and found.ok:
        return found
    uncapped = uncapped_key(image_hash, model, config, step, ladder)
    if uncapped is not None:
        earlier = store.get(uncapped[0])
        if within_cap(earlier, uncapped[1]):
            return earlier
    return found
