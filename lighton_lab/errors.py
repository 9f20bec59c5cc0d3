"""The workbench's exceptions: one small hierarchy whose messages tell the user the next step.

Catch ``LabError`` to handle anything the workbench raises on purpose; a bare library traceback
reaching the user is a bug.
"""

from __future__ import annotations


class LabError(Exception):
    """Something the user can fix; the message says how."""


class UsageError(LabError, ValueError):
    """An argument the workbench does not take (a DPI of 0, an unknown normalization); the message says
    which values it takes."""


class CorpusError(LabError, ValueError):
    """A document or its ground truth cannot be read: the message names the file (and page) and the fix."""


class RenderError(LabError, ValueError):
    """A page could not be turned into an image."""


class ModelError(LabError, ValueError):
    """An unknown model variant or GPU name; the message lists the known ones."""


class StoreError(LabError, RuntimeError):
    """A result store that cannot be opened as it is (e.g. written by a newer version); nothing was changed."""


class EndpointError(LabError, RuntimeError):
    """An endpoint could not be started or reached."""


class OCRRequestError(LabError, RuntimeError):
    """One OCR request failed for good (after retries); the sweep stores it as that page's error."""

    def __init__(self, message: str, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable
