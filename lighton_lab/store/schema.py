"""What the store holds, defined once: the ``Result`` record (its fields are the results table's columns),
the content key, and the ordered migrations of older files."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, fields


@dataclass(frozen=True, kw_only=True)
class Result:
    """One request's outcome, as stored. Adding a field adds a column: write its migration below.

    Built with keywords only (``Result(key=..., document=..., ...)``) and never changed in place:
    ``dataclasses.replace`` makes the answered version of a pending result.
    """

    key: str
    document: str
    page: int  # 1-based page number (a column name older stores already have)
    image_hash: str | None
    dpi: float
    effective_dpi: float | None
    max_side: int | None
    width: int | None
    height: int | None
    variant: str
    model: str
    params: dict
    reference: str | None
    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    attempts: int | None = None
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    endpoint: str | None = None
    run_id: int | None = None
    # schema 2
    output_format: str | None = None  # "markdown" (LightOnOCR, VLMs) or "text" (CPU engines)
    reference_format: str | None = None  # "text" or "markdown": how the ground truth was written

    @property
    def ok(self) -> bool:
        return self.error is None


COLUMNS = [f.name for f in fields(Result)]
_SQL_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "dict": "TEXT", "bool": "INTEGER"}


def _column_sql(name: str) -> str:
    kind = next(f.type for f in fields(Result) if f.name == name).split("|")[0].strip()
    return f"{name} {_SQL_TYPES[kind]}" + (" PRIMARY KEY" if name == "key" else "")


def _output_format_v2(db: sqlite3.Connection) -> None:
    """Schema 2: formats of output and reference. Before it, every local-engine answer was plain text
    and every other endpoint served LightOnOCR, which writes Markdown; reference formats were not kept
    (NULL: the page's ground-truth file decides when the store is read with a corpus)."""
    for column in ("output_format", "reference_format"):
        db.execute(f"ALTER TABLE results ADD COLUMN {_column_sql(column)}")
    db.execute(
        "UPDATE results SET output_format = CASE WHEN endpoint = 'local' THEN 'text' ELSE 'markdown' END"
    )


# version -> the function that upgrades a store of version - 1 to it (in one transaction)
MIGRATIONS = {2: _output_format_v2}
SCHEMA_VERSION = max(MIGRATIONS)

TABLES = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, kind TEXT, started REAL, finished REAL, status TEXT,
    corpus TEXT, grid TEXT, endpoints TEXT, versions TEXT, notes TEXT
);
CREATE TABLE IF NOT EXISTS results ({", ".join(_column_sql(c) for c in COLUMNS)});
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE TABLE IF NOT EXISTS renders (
    source TEXT PRIMARY KEY, image_hash TEXT, effective_dpi REAL, width INTEGER, height INTEGER
);
"""


def result_key(image_hash: str, model: str, params: dict) -> str:
    """Content key of a request: same pixels, same model, same parameters -> same answer to reuse."""
    payload = json.dumps({"image": image_hash, "model": model, "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
