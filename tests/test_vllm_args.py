"""Every registered model's `vllm serve` argv parses under vLLM 0.30.0's own argument parser.

``tests/fixtures/vllm_0.30.0_serve_args.json`` is a dump of the 302 actions of the real ``vllm serve``
parser (built as ``vllm/entrypoints/cli/main.py`` builds it): option strings, nargs, types with the type
they wrap, choices, defaults. The tests rebuild a strict ``argparse`` parser from it (no abbreviations,
unknown flags refused, types and choices checked) and parse each variant's exact argv, both as
``start_vllm`` runs it and as the Modal app runs it (a snapshot path under ``--served-model-name``).

Where vLLM itself can be imported (this interpreter, or the one ``$VLLM_PYTHON`` names, e.g. a venv with
``vllm==0.30.0``), a slow test builds the real parser, checks the fixture is exactly its dump and parses
every argv with it, including vLLM's post-parse checks. Regenerate the fixture with
``VLLM_PYTHON=/path/to/python python tests/test_vllm_args.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lighton_lab.models.serving import vllm_command
from lighton_lab.models.variants import VARIANTS, VLLM_VERSION

FIXTURE = Path(__file__).parent / "fixtures" / f"vllm_{VLLM_VERSION}_serve_args.json"
SNAPSHOT = "/root/.cache/huggingface/hub/models--x--y/snapshots/0123456789abcdef0123456789abcdef01234567"

# Run with vLLM's interpreter: argv[1] is a JSON file of {name: argv after `vllm serve`}, argv[2] the output.
# vLLM logs to stdout, so the result goes to a file.
DUMP = r"""
import contextlib, importlib.metadata, io, json, os, sys
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")  # build the parser on a machine without a GPU
import vllm.entrypoints.cli.benchmark.main, vllm.entrypoints.cli.collect_env, vllm.entrypoints.cli.launch
import vllm.entrypoints.cli.openai, vllm.entrypoints.cli.run_batch, vllm.entrypoints.cli.serve
from vllm.utils.argparse_utils import FlexibleArgumentParser

def build():  # vllm/entrypoints/cli/main.py
    parser = FlexibleArgumentParser(prog="vllm", description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    found = None
    for module in (vllm.entrypoints.cli.openai, vllm.entrypoints.cli.serve, vllm.entrypoints.cli.launch,
                   vllm.entrypoints.cli.benchmark.main, vllm.entrypoints.cli.collect_env,
                   vllm.entrypoints.cli.run_batch):
        for cmd in module.cmd_init():
            sub = cmd.subparser_init(subparsers)
            if cmd.name == "serve":
                found = (sub, cmd)
    return parser, *found

def name(t):
    if t is None:
        return None
    qualname = getattr(t, "__qualname__", None) or getattr(t, "__name__", None) or repr(t)
    module = getattr(t, "__module__", None)
    return qualname if module in (None, "builtins") else f"{module}.{qualname}"

def wrapped(t):  # optional_type(parse_type(json.loads)): the types inside the closures, outer first
    chain = []
    while True:
        code, closure = getattr(t, "__code__", None), getattr(t, "__closure__", None) or ()
        inner = dict(zip(getattr(code, "co_freevars", ()), closure)).get("return_type")
        if inner is None:
            return chain or None
        t = inner.cell_contents
        chain.append(name(t))

def jsonable(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return repr(v)

def dump(serve):
    return [{"option_strings": list(a.option_strings), "dest": a.dest, "nargs": a.nargs, "type": name(a.type),
             "wraps": wrapped(a.type), "choices": None if a.choices is None else [jsonable(c) for c in a.choices],
             "const": jsonable(a.const), "default": repr(a.default), "action": type(a).__name__,
             "required": a.required} for a in serve._actions]

def parse(parser, cmd, argv):
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            namespace = parser.parse_args(["serve", *argv])
        cmd.validate(namespace)  # validate_parsed_serve_args
    except BaseException as exc:  # argparse exits after printing why; vLLM's checks raise
        return {"ok": False, "error": f"{type(exc).__name__}: {exc} {said.getvalue().strip()[-500:]}"}
    return {"ok": True, "namespace": {k: jsonable(v) for k, v in vars(namespace).items()}}

argvs = json.load(open(sys.argv[1]))
real_stdout, sys.stdout = sys.stdout, sys.stderr
parser, serve, cmd = build()
result = {"version": importlib.metadata.version("vllm"), "actions": dump(serve),
          "parsed": {key: parse(parser, cmd, argv) for key, argv in argvs.items()}}
json.dump(result, open(sys.argv[2], "w"), indent=1)
"""


# ---- the parser rebuilt from the fixture -----------------------------------------------------------------


def _human_readable_int(value: str) -> int:
    """vllm/utils/argparse_utils.py human_readable_int: 25.6k -> 25,600, 1K -> 1,024."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value.strip())
    if not match:
        return int(value)
    number, suffix = match.groups()
    scale = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}.get(suffix) or 2 ** (
        10 * "KMGT".index(suffix) + 10
    )
    return int(float(number) * scale)


def _json_object(value: str) -> dict:
    parsed = json.loads(value)
    if not isinstance(parsed, dict):
        raise ValueError(f"{value!r} is not a JSON object")
    return parsed


SIMPLE = {
    None: str,
    "int": int,
    "float": float,
    "str": str,
    "json.loads": json.loads,
    "vllm.utils.argparse_utils.human_readable_int": _human_readable_int,
    "vllm.utils.argparse_utils.human_readable_int_or_auto": lambda v: (
        -1 if v.strip() in ("-1", "auto") else _human_readable_int(v)
    ),
    # a JSON object, or a string (engine/arg_utils.py union_dict_and_str)
    "vllm.engine.arg_utils.union_dict_and_str": lambda v: (
        json.loads(v) if re.match(r"(?s)^\s*{.*}\s*$", v) else v
    ),
    # a config dataclass given as JSON, validated by pydantic: here only its JSON object shape is checked
    "vllm.engine.arg_utils._compute_kwargs.<locals>.parse_dataclass": _json_object,
    # the kernel-backend and device-id options: strings vLLM checks later
    "vllm.engine.arg_utils.EngineArgs.add_cli_args.<locals>.<lambda>": str,
}


def converter(action: dict):
    """The type function of an action, from its dumped name and the types it wraps."""
    return _chain([action["type"], *(action["wraps"] or [])])


def _chain(names: list[str | None]):
    head, rest = names[0] or "", names[1:]
    if head.endswith("optional_type.<locals>._optional_type"):  # engine/arg_utils.py: "" or "None" is None
        inner = _chain(rest)
        return lambda v: None if v in ("", "None") else inner(v)
    if head.endswith("parse_type.<locals>._parse_type"):
        return _chain(rest)
    return SIMPLE[names[0]]


class StrictParser(argparse.ArgumentParser):
    def error(self, message):  # raise instead of printing usage and exiting
        raise ValueError(message)


def rebuilt_parser(actions: list[dict]) -> StrictParser:
    """``vllm serve``'s parser from the dump: the same options, nargs, types and choices; nothing else. The
    namespace holds only the options given (vLLM's defaults are not its business)."""
    parser = StrictParser(
        prog="vllm serve", allow_abbrev=False, add_help=False, argument_default=argparse.SUPPRESS
    )
    for a in actions:
        options, kind = a["option_strings"], a["action"]
        if kind == "_HelpAction":
            continue
        if not options:  # the positional model (`vllm serve MODEL`)
            parser.add_argument(a["dest"], nargs=a["nargs"], type=converter(a))
        elif kind == "BooleanOptionalAction":
            positive = [o for o in options if not o.startswith("--no-")]
            parser.add_argument(*positive, dest=a["dest"], action=argparse.BooleanOptionalAction)
        elif kind == "_StoreTrueAction":
            parser.add_argument(*options, dest=a["dest"], action="store_true")
        else:  # _StoreAction, _AppendAction, LoRAParserAction: values
            extra = {"const": a["const"]} if a["nargs"] == "?" else {}
            parser.add_argument(
                *options,
                dest=a["dest"],
                nargs=a["nargs"],
                type=converter(a),
                choices=a["choices"],
                action="append" if kind == "_AppendAction" else "store",
                **extra,
            )
    return parser


@pytest.fixture(scope="module")
def dumped() -> dict:
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def parser(dumped) -> StrictParser:
    return rebuilt_parser(dumped["actions"])


def argvs() -> dict[str, list[str]]:
    """Each variant's argv after `vllm serve`, as start_vllm and as the Modal app run it, with the options
    that change it (fast boot, replicas, tensor shards where the heads divide, a revision, a batch size)."""
    cases = {}
    for name, variant in sorted(VARIANTS.items()):
        cases[name] = vllm_command(variant, host="0.0.0.0", gpu="H100")[2:]
        cases[f"{name} on Modal"] = vllm_command(
            variant, host="0.0.0.0", gpu="H100", fast_boot=True, gpu_count=2, weights=SNAPSHOT
        )[2:]
    cases["1b pinned"] = vllm_command("1b", revision="abc123", max_num_seqs=384, gpu="B200")[2:]
    cases["2-1b tensor"] = vllm_command("2-1b", gpu="H100", gpu_count=4, parallelism="tensor")[2:]
    return cases


def test_the_fixture_is_vllm_0_30_0s_serve_parser(dumped):
    assert dumped["version"] == VLLM_VERSION == "0.30.0"
    assert len(dumped["actions"]) == 302
    assert all(
        converter(a) for a in dumped["actions"]
    )  # every type of the dump has a converter (or KeyError)


@pytest.mark.parametrize("case", sorted(argvs()))
def test_every_variant_argv_parses_under_the_rebuilt_parser(parser, case):
    argv = argvs()[case]
    parsed = vars(parser.parse_args(argv))
    assert parsed["model_tag"] == argv[0]
    assert parsed["port"] == 8000 and isinstance(parsed["max_num_seqs"], int)
    assert parsed["limit_mm_per_prompt"] == {"image": 1}  # every family sends one page per request
    if "on Modal" in case:
        assert parsed["served_model_name"] == [VARIANTS[case.split()[0]].hf_id] and parsed["enforce_eager"]
        assert "revision" not in parsed and parsed["data_parallel_size"] == 2


REFUSED = [
    (["m", "--disable-log-requests"], "unrecognized arguments: --disable-log-requests"),  # gone in 0.30
    # vLLM takes an abbreviation (its parser allows them); this one does not, so every flag we send is whole
    (["m", "--max-num-seq", "8"], "unrecognized arguments"),
    (["m", "--max-num-seqs", "many"], "invalid"),
    (["m", "--uvicorn-log-level", "loud"], "invalid choice"),
    (["m", "--limit-mm-per-prompt", "{image: 1}"], "invalid"),
    (["m", "--mm-processor-kwargs", "[1]"], None),  # any JSON: vLLM checks its shape later
]


@pytest.mark.parametrize("argv,message", REFUSED)
def test_the_rebuilt_parser_refuses_what_vllm_refuses(parser, argv, message):
    if message is None:
        parser.parse_args(argv)
        return
    with pytest.raises(ValueError, match=message):
        parser.parse_args(argv)


def test_families_that_need_remote_code_have_the_flag():
    """vLLM 0.30.0 has no config class for dots.ocr (model_type ``dots_ocr``): its configuration is the
    repository's own code. DeepSeek-OCR (vLLM's recipe) and PaddleOCR-VL (the recipe; vLLM then takes the
    hub processor's ``min_pixels``/``max_pixels``, which the requests send) pass it too."""
    for key in ("dots", "deepseek", "paddleocr_vl"):
        assert all("--trust-remote-code" in v.serve_flags() for v in VARIANTS.values() if v.family.key == key)
    assert "--logits-processors" in VARIANTS["deepseek-ocr"].serve_flags()


# ---- the real parser, where vLLM can be imported --------------------------------------------------------


def vllm_python() -> str | None:
    """An interpreter with vLLM: ``$VLLM_PYTHON``, else this one if it has vllm, else None."""
    if os.environ.get("VLLM_PYTHON"):
        return os.environ["VLLM_PYTHON"]
    return sys.executable if importlib.util.find_spec("vllm") else None


def run_real_parser(python: str, cases: dict[str, list[str]]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        given, result = Path(folder) / "argvs.json", Path(folder) / "result.json"
        given.write_text(json.dumps(cases))
        done = subprocess.run(
            [python, "-c", DUMP, str(given), str(result)],
            env={**os.environ, "VLLM_TARGET_DEVICE": "cpu"},
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(result.read_text())


@pytest.mark.slow
@pytest.mark.skipif(
    vllm_python() is None, reason="vllm is not importable here; set VLLM_PYTHON to a python with it"
)
def test_the_real_vllm_parser_agrees(dumped, parser):
    cases = argvs()
    real = run_real_parser(
        vllm_python(), {**cases, **{f"refused {i}": argv for i, (argv, _) in enumerate(REFUSED)}}
    )
    for i, (argv, message) in enumerate(REFUSED):  # the real parser refuses (and accepts) the same
        abbreviated = argv[1] == "--max-num-seq"
        assert real["parsed"][f"refused {i}"]["ok"] is (message is None or abbreviated), argv
    assert real["version"] == VLLM_VERSION
    assert real["actions"] == dumped["actions"]  # the fixture is exactly the real parser's dump
    for case, argv in cases.items():
        outcome = real["parsed"][case]
        assert outcome["ok"], f"{case}: {outcome['error']}"
        ours = vars(parser.parse_args(argv))
        differ = {
            k: (v, outcome["namespace"].get(k)) for k, v in ours.items() if outcome["namespace"].get(k) != v
        }
        assert not differ, f"{case}: the rebuilt parser reads these differently: {differ}"


if __name__ == "__main__":  # regenerate the fixture from the real parser
    python = vllm_python()
    if python is None:
        sys.exit("set VLLM_PYTHON to a python with vllm installed")
    real = run_real_parser(python, {})
    FIXTURE.write_text(json.dumps({"version": real["version"], "actions": real["actions"]}, indent=1) + "\n")
    print(f"wrote {len(real['actions'])} actions of vllm {real['version']} to {FIXTURE}")
