"""What a sweep asks: the grid of configurations, resolved into concrete request keys, and which endpoint
serves each model.

Parameters left at ``None`` take the model's profile (``models.Variant``: longest edge, temperature,
top_p, max_tokens policy) when the grid is expanded, so every stored key and every row shows the values
that were really sent: ``Grid(model=["3-4b"])`` asks at 2048 px, temperature 0.1, top_p 1.0 and no
max_tokens; ``["1b"]`` at 1540 px, 0.2, 0.9. The local CPU engines have no profile: they get the
renderer's default cap and no sampling parameters (they ignore them).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.errors import LabError, UsageError
from lighton_lab.models.variants import DEFAULT_MODEL, profile_for, resolve_model
from lighton_lab.render import DEFAULT_DPI, cap_for


@dataclass(frozen=True)
class Config:
    """One point of the grid: how a page is rendered and what is asked of which model."""

    dpi: float
    max_side: int | None
    variant: str  # the name used in the grid: "1b", "rapidocr/ppocr-v6", ...
    params: tuple  # sorted (name, value) request parameters, profile defaults resolved

    @property
    def request(self) -> dict:
        return dict(self.params)


class Grid:
    """The configurations to sweep. List-valued arguments are axes; scalars are fixed; ``None`` is the profile.

    ``Grid(dpi=[100, 200], temperature=[0.0, 0.2], model=["1b", "32k"])`` has 2 x 2 x 2 = 8 configurations.
    Other request parameters (``seed``, ``repetition_penalty``, ...) pass through and are part of each
    result's key.

    >>> [(c.max_side, c.request) for c in Grid(model=["3-4b", "1b"]).configs()]
    [(2048, {'temperature': 0.1, 'top_p': 1.0}), (1540, {'temperature': 0.2, 'top_p': 0.9})]
    """

    def __init__(
        self,
        dpi=(DEFAULT_DPI,),
        temperature=None,
        model=(DEFAULT_MODEL,),
        max_side=None,
        max_tokens=None,
        top_p=None,
        stream: bool = False,
        image_format: str = "PNG",
        **params,
    ):
        self.dpi = _as_list(dpi)
        self.temperature = _as_list(temperature)
        self.model = [str(m) for m in _as_list(model)]
        self.max_side = _as_list(max_side)
        self.stream, self.image_format = (
            stream,
            image_format.upper(),
        )  # one spelling in keys and render sources
        self.params = {"max_tokens": max_tokens, "top_p": top_p, **params}
        if not (self.dpi and self.temperature and self.model and self.max_side):
            raise UsageError(
                "every axis of a Grid needs at least one value (dpi, temperature, model, max_side)"
            )
        for d in self.dpi:
            if not isinstance(d, (int, float)) or d <= 0:
                raise UsageError(f"dpi values must be positive numbers, got {d!r}")

    def configs(self) -> list[Config]:
        axes = {k: _as_list(v) for k, v in self.params.items()}
        configs = []
        for model in self.model:
            profile = profile_for(model)
            defaults = profile.request_defaults() if profile else {}
            for dpi, max_side, temperature, *values in itertools.product(
                self.dpi, self.max_side, self.temperature, *axes.values()
            ):
                request = {"temperature": temperature, **dict(zip(axes, values))}
                request = {k: defaults.get(k) if v is None else v for k, v in request.items()}
                request.update({k: v for k, v in defaults.items() if k not in request})
                request = {k: v for k, v in request.items() if v is not None}
                if self.image_format != "PNG":
                    request["image_format"] = self.image_format  # other pixels reach the model
                cap = max_side if max_side is not None else cap_for(model)
                configs.append(Config(dpi, cap, model, tuple(sorted(request.items()))))
        return sorted(
            configs, key=lambda c: (c.dpi, self.model.index(c.variant))
        )  # stable: caps keep their order

    def __len__(self) -> int:
        return len(self.configs())

    def to_dict(self) -> dict:
        """The constructor's arguments (``Grid(**grid.to_dict())`` is the same grid)."""
        return {
            "dpi": self.dpi,
            "temperature": self.temperature,
            "model": self.model,
            "max_side": self.max_side,
            "stream": self.stream,
            "image_format": self.image_format,
            **self.params,
        }

    def __repr__(self) -> str:
        return "Grid(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, range)) else [value]


def served_models(endpoints: Endpoint | Mapping[str, Endpoint] | Iterable[Endpoint]) -> list[str]:
    """The grid model names the endpoints offer: a mapping's keys, else every served model of each endpoint."""
    if isinstance(endpoints, Mapping):
        return list(endpoints)
    pool = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
    return [m for e in pool for m in (e.models or (e.model,))]


def resolve_endpoints(
    models: Iterable[str], endpoints: Endpoint | Mapping[str, Endpoint] | Iterable[Endpoint]
) -> dict[str, Endpoint]:
    """Map each grid model name to the Endpoint that serves it.

    Accepts a mapping, one Endpoint (the local server serves several models: each grid model must be
    one of them), or a list of Endpoints (matched by served model id or LightOnOCR short name).
    """
    models = list(models)
    if isinstance(endpoints, Mapping):
        missing = [m for m in models if m not in endpoints]
        if missing:
            raise LabError(f"no endpoint for model(s) {missing}: pass endpoints={{name: Endpoint}} for each")
        return dict(endpoints)
    pool = [endpoints] if isinstance(endpoints, Endpoint) else list(endpoints)
    found: dict[str, Endpoint] = {}
    for name in models:
        for endpoint in pool:
            served = endpoint.models or (endpoint.model,)
            if name in served:
                found[name] = endpoint.with_model(name)
                break
            try:
                hf_id = resolve_model(name).hf_id
            except LabError:
                continue
            if hf_id in served:
                found[name] = endpoint.with_model(hf_id)
                break
        else:
            served = sorted({m for e in pool for m in (e.models or (e.model,))})
            raise LabError(
                f"no endpoint serves {name!r}; the endpoints serve: {', '.join(served)}. "
                "Start one with start_modal(model=...) or start_local()."
            )
    return found
