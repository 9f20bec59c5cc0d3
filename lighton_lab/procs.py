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


def run_async(make_coro, stop: threading.Event | None = None, abort: threading.Event | None = None,
              on_interrupt=None):  # fmt: skip
    """``asyncio.run(make_coro())`` here, or in a helper thread when this thread already runs a loop
    (Jupyter), with Ctrl-C (a kernel interrupt) made graceful: the first sets ``stop`` (the coroutine sends
    nothing new and finishes what is in flight), the second sets ``abort`` (it gives up what is in flight);
    ``on_interrupt(count)`` says so to the user. The coroutine watches both events and returns; the caller
    decides what an interruption means once what was paid for is stored. Without ``stop``, Ctrl-C raises as
    usual."""
    import asyncio

    stop = stop if stop is not None else threading.Event()
    abort = abort if abort is not None else threading.Event()
    count = [0]

    def interrupted() -> None:
        count[0] += 1
        (stop if count[0] == 1 else abort).set()
        if on_interrupt is not None:
            on_interrupt(count[0])

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(make_coro, interrupted)
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(make_coro())
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="lighton-lab-async")
    thread.start()
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:  # kernel interrupt: the first stops, the second abandons
            interrupted()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _run_here(make_coro, interrupted):
    """``asyncio.run`` with SIGINT routed to ``interrupted`` while it runs (main thread only)."""
    import asyncio
    import signal

    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(make_coro())
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, lambda signum, frame: interrupted())
    try:
        return asyncio.run(make_coro())
    finally:
        signal.signal(signal.SIGINT, previous)
