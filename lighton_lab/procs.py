"""Worker-process hygiene: helpers that outlive their parent must not.

A notebook kernel restart or ``kill -9`` of a sweep ends the parent without running any cleanup, and
pool workers blocked on their task queue would then live on, holding memory (and, for OCR workers, a
core). Every pool this package starts calls ``exit_with_parent`` in its workers.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process once its parent is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()
