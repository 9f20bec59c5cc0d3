"""Worker pools die with their parent, even when the parent is killed while the workers are still starting."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, alive, child_pids

SCRIPT = """
import sys, time
from lighton_lab.render import render_pool

if __name__ == "__main__":
    pool = render_pool(2)
    futures = [pool.submit(time.sleep, 60) for _ in range(2)]  # starts the workers (spawn: seconds each)
    print("started", flush=True)
    time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_workers_killed_parent_during_their_start_up_exit(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 10
    while len(child_pids(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    workers = child_pids(parent.pid)
    os.kill(parent.pid, signal.SIGKILL)  # at once: the workers are still importing, before their initializer
    parent.wait()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert workers and not any(alive(pid) for pid in workers)
