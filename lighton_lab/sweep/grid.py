"""What a sweep asks: the grid of configurations, resolved into concrete request keys, and which endpoint
serves each model.

Parameters left at ``None`` take the model's profile (``models.Variant``: its DPI, longest edge, sampling,
output cap and default mode) when the grid is expanded, so every stored key and every row shows the values
that were really sent: ``Grid(model=["3-4b"])`` asks at 2048 px, temperature 0.1, top_p 1.0 and no
max_tokens; ``["1b"]`` at 1540 px, 0.2, 0.9; ``["olmocr-2"]`` at 1288 px, 0.1 and 8000 tokens, with its
prompt. The local CPU engines have no profile: they get the renderer's default DPI and cap and no sampling
parameters (they ignore them).

A request's key holds its mode and a fingerprint of its prompt when it has one (``"mode"``, ``"prompt"``),
so a grounding answer is never reused for a plain request; LightOnOCR's plain request (the image alone) keeps
the key it always had, and stores written before modes existed are found again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lighton_lab.endpoints.endpoint import Endpoint
from lighton_lab.errors import LabError, UsageError
from lighton_lab.models.grounding import PROMPT as GROUNDING
from lighton_lab.models.variants import DEFAULT_MODEL, Variant, profile_for, resolve_model
from lighton_lab.render import DEFAULT_DPI, cap_for

MODES = ("plain", "grounding")
NOT_SENT = ("image_format", "mode", "prompt", "ladder_step")  # parts of the key that are not request fields


@dataclass(frozen=True)
class Config:
    """One point of the grid: how a page is rendered and what is asked of which model."""

    dpi: float
    max_side: int | None
    variant: str  # the name used in the grid: "1b", "rapidocr/ppocr-v6", ...
    params: tuple  # sorted (name, value) request parameters, profile defaults resolved

    @property
    def request(self) -> dict:
        """The key's parameters (what identifies the request, mode and prompt included)."""
        return dict(self.params)

    @property
    def mode(self) -> str:
        return self.request.get("mode", "plain")

    @property
    def sent(self) -> dict:
        """The request fields sent as they are (sampling, output cap, extras)."""
        return {k: v for k, v in self.params if k not in NOT_SENT}


class Grid:
    """The configurations to sweep. List-valued arguments are axes; scalars are fixed; ``None`` is the profile.

    ``Grid(dpi=[100, 200], temperature=[0.0, 0.2], model=["1b", "32k"])`` has 2 x 2 x 2 = 8 configurations;
    ``Grid(model=["3-1b"], mode=["plain", "grounding"])`` asks LightOnOCR-3 for text and for boxes. Other
    request parameters (``seed``, ``repetition_penalty``, ...) pass through and are part of each result's key.

    >>> [(c.max_side, c.request) for c in Grid(model=["3-4b", "1b"]).configs()]  # doctest: +NORMALIZE_WHITESPACE
    [(2048, {'max_tokens': 12288, 'temperature': 0.1, 'top_p': 1.0}),
     (1540, {'max_tokens': 12288, 'temperature': 0.2, 'top_p': 0.9})]
    """

    def __init__(
        self,
        dpi=None,
        temperature=None,
        model=(DEFAULT_MODEL,),
        max_side=None,
        max_tokens=None,
        top_p=None,
        mode=None,
        stream: bool = True,
        image_format: str = "PNG",
        **params,
    ):
        self.dpi = _as_list(dpi)
        self.temperature = _as_list(temperature)
        self.model = [str(m) for m in _as_list(model)]
        self.max_side = _as_list(max_side)
        self.mode = _as_list(mode)
        self.stream = stream
        self.image_format = image_format.upper()  # one spelling in keys and render sources
        self.params = {"max_tokens": max_tokens, "top_p": top_p, **params}
        if not (self.dpi and self.temperature and self.model and self.max_side and self.mode):
            raise UsageError(
                "every axis of a Grid needs at least one value (dpi, temperature, model, max_side, mode)"
            )
        for d in self.dpi:
            if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float)) or d <= 0):
                raise UsageError(f"dpi values must be positive numbers, got {d!r}")
        for m in self.mode:
            if m not in (None, *MODES):
                raise UsageError(f"mode must be 'plain' or 'grounding' (or None: the model's), got {m!r}")
        for model in self.model:  # a mode a model does not have fails here, before anything is rendered
            profile = profile_for(model)
            for m in self.mode:
                if profile is not None and m is not None:
                    profile.prompt(m)

    def configs(self) -> list[Config]:
        axes = {k: _as_list(v) for k, v in self.params.items()}
        configs = []
        for model in self.model:
            profile = profile_for(model)
            defaults = profile.request_defaults() if profile else {}
            for dpi, max_side, temperature, mode, *values in itertools.product(
                self.dpi, self.max_side, self.temperature, self.mode, *axes.values()
            ):
                request = {"temperature": temperature, **dict(zip(axes, values))}
                request = {k: defaults.get(k) if v is None else v for k, v in request.items()}
                request.update({k: v for k, v in defaults.items() if k not in request})
                request = {k: v for k, v in request.items() if v is not None}
                request.update(_mode_keys(profile, mode))
                if self.image_format != "PNG":
                    request["image_format"] = self.image_format  # other pixels reach the model
                cap = max_side if max_side is not None else cap_for(model)
                page_dpi = dpi if dpi is not None else (profile.dpi if profile else DEFAULT_DPI)
                configs.append(Config(page_dpi, cap, model, tuple(sorted(request.items()))))
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
            "mode": self.mode,
            "stream": self.stream,
            "image_format": self.image_format,
            **self.params,
        }

    def __repr__(self) -> str:
        return "Grid(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def _mode_keys(profile: Variant | None, mode: str | None) -> dict:
    """The key's mode and prompt fingerprint: nothing for a plain request of the image alone (the keys stores
    have always had), else the mode (when not plain) and the prompt's digest."""
    if profile is None:
        prompt_text = GROUNDING if mode == "grounding" else None
        resolved = mode or "plain"
        digest = None if prompt_text is None else _digest(prompt_text)
    else:
        resolved = mode or profile.default_mode
        digest = profile.prompt(resolved).digest()
    keys = {} if resolved == "plain" else {"mode": resolved}
    return {**keys, **({"prompt": digest} if digest else {})}


def _digest(text: str) -> str:
    from lighton_lab.models.family import Prompt

    return Prompt(text).digest()


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
