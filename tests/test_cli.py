"""The `lighton-lab` command as a user runs it (real subprocesses, real local server), and the README
matching the CLI."""

import re
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLE

CLI = [sys.executable, "-m", "lighton_lab.cli"]


def run(*args, timeout=300, check=True):
    return subprocess.run(
        CLI + list(args), capture_output=True, text=True, timeout=timeout, check=check, cwd=ROOT
    )


@pytest.mark.slow
def test_models_table_lists_variants_gpus_and_costs():
    out = run("models").stdout
    for text in (
        "lightonai/LightOnOCR-0.9B-32k-1025",
        "lightonai/LightOnOCR-2-1B",
        "H100",
        "A100-40GB",
        "B200",
    ):
        assert text in out


def test_ocr_health_and_models_against_a_running_server(local_server):
    done = run("ocr", str(SAMPLE / "table.pdf"), "--url", local_server.base_url, "--dpi", "150")
    assert "Notebook, lined" in done.stdout
    assert "CER" in done.stderr and "table.pdf#1" in done.stderr
    health = run("health", "--url", local_server.base_url)
    assert "HTTP 200" in health.stdout and "rapidocr/ppocr-v6" in health.stdout
    assert "rapidocr/ppocr-v6" in run("models", "--url", local_server.base_url).stdout


def test_bench_prints_the_guide_block_with_server_metrics(local_server):
    out = run(
        "bench",
        "--url",
        local_server.base_url,
        "--pdf",
        str(SAMPLE / "report.pdf"),
        "--pages",
        "1-3",
        "--parallel",
        "4",
        "--metrics",
        "--gpu",
        "H100",
    ).stdout
    for line in (
        "Total pages:                 3",
        "Parallel requests:           4",
        "Throughput:",
        "Latency p50 / p95 / p99:",
        "Time to first token",
        "Cost per 1,000 pages:",
        "server requests:",
    ):
        assert line in out, out


def test_sweep_command_writes_store_and_report(local_server, tmp_path):
    out = run(
        "sweep",
        str(SAMPLE),
        "--url",
        local_server.base_url,
        "--model",
        local_server.model,
        "--dpi",
        "100",
        "--store",
        str(tmp_path / "s.sqlite"),
        "--report",
        str(tmp_path),
    ).stdout
    assert "CER [95% CI]" in out and (tmp_path / "report.html").exists() and (tmp_path / "s.sqlite").exists()


@pytest.mark.slow
def test_serve_without_a_modal_token_fails_fast_with_the_fix():
    done = run("serve", "--model", "32k", "--gpu", "L4", check=False, timeout=60)
    assert done.returncode == 2
    assert "modal token new" in done.stderr


def test_bad_page_range_is_a_clear_error(local_server):
    done = run("ocr", str(SAMPLE / "table.pdf"), "--page", "9", "--url", local_server.base_url, check=False)
    assert done.returncode == 2 and "outside 1-1" in done.stderr


def test_readme_names_every_command_and_no_other():
    from lighton_lab.cli.main import build_parser

    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    readme = (ROOT / "README.md").read_text()
    mentioned = set(re.findall(r"lighton-lab ([a-z][a-z-]+)", readme))
    assert commands - mentioned == set(), f"undocumented commands: {commands - mentioned}"
    assert mentioned - commands == set(), f"README names commands that do not exist: {mentioned - commands}"


@pytest.mark.parametrize(
    "target",
    [
        "demo",
        "test",
        "bench",
        "lab",
        "screenshot",
        "serve",
        "serve-32k",
        "serve-16k",
        "serve-fast",
        "deploy",
        "health",
        "models",
        "logs",
        "containers",
        "test-endpoint",
        "benchmark",
    ],
)
def test_makefile_targets_exist(target):
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), re.M)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["health", "test-endpoint", "benchmark"])
def test_modal_make_targets_say_which_variable_to_set(target):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("LIGHTON_LAB_URL", "MODAL_URL")}
    done = subprocess.run(
        ["make", "-s", target], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert (
        done.returncode == 2
        and f"make {target} MODAL_URL=" in done.stdout
        and "LIGHTON_LAB_URL" in done.stdout
    )
    dry = subprocess.run(
        ["make", "-n", target],
        cwd=ROOT,
        env={**env, "LIGHTON_LAB_URL": "https://x.modal.run"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--url https://x.modal.run" in dry.stdout
