"""A sweep's rows: for each (page, configuration) of the plan, the stored result that answers it.

Two configurations can share one stored result: at 150 and 200 DPI a Letter page is capped to the same
1540 px image, so it was asked once; each row still says which configuration it answers. A configuration
retried on the temperature ladder is answered by its last attempt (``ladder_step`` says which); the
earlier attempts stay in the store.
"""

from __future__ import annotations

from lighton_lab.client.loops import looped
from lighton_lab.corpus.corpus import Page
from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.frames.rows import empty_frame, row
from lighton_lab.models.grounding import Furniture
from lighton_lab.store.schema import Result
from lighton_lab.store.store import Store
from lighton_lab.sweep.grid import Config
from lighton_lab.sweep.keys import render_error_key, render_source, stored_answer


def retried(result: Result, step: int, ladder: tuple[float, ...]) -> bool:
    """Whether the sweep asked again after this answer: it looped or was cut, and the ladder goes on."""
    cut = result.finish_reason in ("length", "loop") or looped(result.text)
    return bool(ladder) and result.ok and cut and step + 1 < len(ladder)


def plan_rows(
    pages: list[Page],
    configs: list[Config],
    endpoints: dict[str, Endpoint],
    store: Store,
    normalization: str = "markdown",
    image_format: str = "PNG",
    ladders: dict | None = None,
    furniture: Furniture = "keep",
):
    """Rows for the (page, configuration) pairs of a sweep that have a stored result, in plan order."""
    import pandas as pd

    rows = []
    for page in pages:
        sources = {}  # one file stat and one lookup per (DPI, cap), not per configuration
        for config in configs:
            model = endpoints[config.variant].model
            if (config.dpi, config.max_side) not in sources:
                sources[config.dpi, config.max_side] = store.render_of(
                    render_source(page, config.dpi, config.max_side, image_format)
                )
            source = sources[config.dpi, config.max_side]
            ladder = (ladders or {}).get(config, ())
            result = _answer(store, source.image_hash, model, config, ladder) if source is not None else None
            if result is None:
                result = store.get(render_error_key(page, config, model))
            if result is None:
                continue
            values = row(result, normalization, page, furniture)
            values.update(document=page.document, page_number=page.page_number, dpi=config.dpi,
                          max_side=config.max_side, variant=config.variant, mode=config.mode,
                          gpu=endpoints[config.variant].gpu)  # fmt: skip
            rows.append(values)
    frame = pd.DataFrame(rows) if rows else empty_frame(normalization)
    frame.attrs["normalization"] = normalization
    return frame


def _answer(store: Store, image_hash: str, model: str, config: Config, ladder) -> Result | None:
    """The configuration's last stored attempt along the ladder."""
    step, found = 0, None
    while True:
        result = stored_answer(store, image_hash, model, config, step, ladder)
        if result is None:
            return found
        found = result
        if not retried(result, step, ladder):
            return found
        step += 1
