"""Processes, threads and event loops: helpers that outlive their parent must not, and async code must
run from plain scripts and from Jupyter (whose loop is already running) alike.

A notebook kernel restart or ``kill -9`` of a sweep ends the parent without running any cleanup, and
pool workers blocked on their task queue would then live on, holding memory (and, for OCR workers, a
core). Every pool this package starts calls ``exit_with_parent`` in its workers.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int | None = None, poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process once its parent is gone.

    Pass the parent's pid as the pool saw it (``initargs=(os.getpid(),)``): a worker still starting up when
    its parent is killed would otherwise read its new parent (init) as "the parent" and never exit.
    """
    parent = parent or os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def run_async(make_coro, stop: threading.Event | None = None):
    """``asyncio.run(make_coro())`` here, or in a helper thread when this thread already runs a loop
    (Jupyter). A KeyboardInterrupt sets ``stop`` (launch nothing new) and waits for the coroutine."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="lighton-lab-async")
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:  # kernel interrupt: stop launching, keep what finished
        if stop is not None:
            stop.set()
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")
