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
    # schema 3
    mode: str | None = None  # "plain" or "grounding" (None: plain, the only mode before schema 3)
    family: str | None = None  # whose output this is, so it is read with its family's adapter
    ladder_step: int | None = None  # 0: the first request of a page; k: the k-th retry on the ladder

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


def _modes_and_provenance_v3(db: sqlite3.Connection) -> None:
    """Schema 3: each result's mode, family and ladder step; each run's provenance; request leases. Before
    it every request was LightOnOCR's plain mode or a local engine's (NULL reads as plain, the family from
    the model name); old runs' provenance is unknown and says so."""
    for column in ("mode", "family", "ladder_step"):
        db.execute(f"ALTER TABLE results ADD COLUMN {_column_sql(column)}")
    db.execute("ALTER TABLE runs ADD COLUMN provenance TEXT")
    db.execute(
        "UPDATE runs SET provenance = ?", (json.dumps({"unknown": "written before runs kept provenance"}),)
    )
    db.execute(LEASES.strip().rstrip(";"))  # execute, not executescript: that would commit half a migration


# version -> the function that upgrades a store of version - 1 to it (in one transaction)
MIGRATIONS = {2: _output_format_v2, 3: _modes_and_provenance_v3}
SCHEMA_VERSION = max(MIGRATIONS)

# A request being asked by a sweep: claimed before it is sent, so two sweeps on one store never pay twice.
# The owner renews its lease while the request is in flight; an expired lease (a crashed sweep) is taken over.
LEASES = """
CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
"""

TABLES = (
    LEASES
    + f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, kind TEXT, started REAL, finished REAL, status TEXT,
    corpus TEXT, grid TEXT, endpoints TEXT, versions TEXT, notes TEXT, provenance TEXT
);
CREATE TABLE IF NOT EXISTS results ({", ".join(_column_sql(c) for c in COLUMNS)});
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE TABLE IF NOT EXISTS renders (
    source TEXT PRIMARY KEY, image_hash TEXT, effective_dpi REAL, width INTEGER, height INTEGER
);
"""
)


def result_key(image_hash: str, model: str, params: dict) -> str:
    """Content key of a request: same pixels, same model, same parameters -> same answer to reuse."""
    payload = json.dumps({"image": image_hash, "model": model, "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
