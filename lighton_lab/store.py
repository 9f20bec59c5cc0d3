"""The result store: one SQLite file that survives kernel restarts, kills and reruns.

Results are keyed by content: the hash of (rendered image pixels, served model id, request parameters).
The same page at the same settings is never paid for twice, whichever sweep asked first, and a sweep
that is interrupted (Stop button, KeyboardInterrupt, kernel restart, ``kill -9``) loses at most the
requests that were in flight: every finished request is committed on its own, in WAL mode.

Failed requests are stored too (with ``error`` set) so a report can show them, but they do not count
as done: the next run asks again. Scores are not stored: they are recomputed from the stored text and
the reference under whatever normalisation profile the analysis asks for.

Tables: ``runs`` (grid, endpoints without secrets, package versions, start/end), ``results`` (one row
per key), ``renders`` (page source + DPI + cap -> image hash, so a resumed sweep need not re-render
pages whose results are all stored).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

DEFAULT_PATH = Path("runs") / "lab.sqlite"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT, kind TEXT, started REAL, finished REAL, status TEXT,
    corpus TEXT, grid TEXT, endpoints TEXT, versions TEXT, notes TEXT
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    run_id INTEGER, document TEXT, page INTEGER, image_hash TEXT,
    dpi REAL, effective_dpi REAL, max_side INTEGER, width INTEGER, height INTEGER,
    variant TEXT, model TEXT, params TEXT, reference TEXT,
    text TEXT, finish_reason TEXT, prompt_tokens INTEGER, completion_tokens INTEGER,
    latency_s REAL, ttft_s REAL, attempts INTEGER, error TEXT,
    started REAL, finished REAL, endpoint TEXT
);
CREATE INDEX IF NOT EXISTS results_run ON results(run_id);
CREATE TABLE IF NOT EXISTS renders (
    source TEXT PRIMARY KEY, image_hash TEXT, effective_dpi REAL, width INTEGER, height INTEGER
);
"""


@dataclass
class Result:
    """One request's outcome, as stored."""

    key: str
    document: str
    page: int  # 1-based
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

    @property
    def ok(self) -> bool:
        return self.error is None


_COLUMNS = [f.name for f in fields(Result)]


def result_key(image_hash: str, model: str, params: dict) -> str:
    """Content key of a request: same pixels, same model, same parameters -> same answer to reuse."""
    payload = json.dumps({"image": image_hash, "model": model, "params": params}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class Store:
    """``Store(path)``: open (or create) a result store. Safe to use from one thread at a time per
    connection; the sweep writes from its event-loop thread while widgets read from another."""

    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as db:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes, fast enough per row
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # ---- runs -----------------------------------------------------------------------------------

    def start_run(self, name: str, kind: str, corpus: str, grid: dict, endpoints: dict, versions: dict) -> int:
        cur = self._conn().execute(
            "INSERT INTO runs (name, kind, started, status, corpus, grid, endpoints, versions) VALUES (?,?,?,?,?,?,?,?)",
            (name, kind, time.time(), "running", corpus, json.dumps(grid, default=str),
             json.dumps(endpoints, default=str), json.dumps(versions)),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished", notes: dict | None = None) -> None:
        self._conn().execute("UPDATE runs SET finished = ?, status = ?, notes = ? WHERE id = ?",
                             (time.time(), status, json.dumps(notes or {}, default=str), run_id))

    def runs(self):
        import pandas as pd

        return pd.read_sql_query("SELECT * FROM runs ORDER BY id", self._conn())

    # ---- results --------------------------------------------------------------------------------

    def put(self, result: Result) -> None:
        """Insert or replace one result and commit it (autocommit: one transaction per row)."""
        row = asdict(result)
        row["params"] = json.dumps(row["params"], sort_keys=True)
        placeholders = ",".join("?" for _ in _COLUMNS)
        self._conn().execute(f"INSERT OR REPLACE INTO results ({','.join(_COLUMNS)}) VALUES ({placeholders})",
                             [row[c] for c in _COLUMNS])

    def get(self, key: str) -> Result | None:
        row = self._conn().execute("SELECT * FROM results WHERE key = ?", (key,)).fetchone()
        return _to_result(row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, Result]:
        found: dict[str, Result] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            rows = conn.execute(f"SELECT * FROM results WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update({row["key"]: _to_result(row) for row in rows})
        return found

    def done(self, keys: list[str]) -> set[str]:
        """The keys whose successful result is stored (failed ones are asked again)."""
        return {k for k, r in self.get_many(keys).items() if r.ok}

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def results(self, run_id: int | None = None) -> list[Result]:
        sql, args = "SELECT * FROM results", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return [_to_result(r) for r in self._conn().execute(sql + " ORDER BY document, page, model", args)]

    # ---- render cache ---------------------------------------------------------------------------

    def render_of(self, source: str) -> sqlite3.Row | None:
        return self._conn().execute("SELECT * FROM renders WHERE source = ?", (source,)).fetchone()

    def put_render(self, source: str, image_hash: str, effective_dpi: float, width: int, height: int) -> None:
        self._conn().execute("INSERT OR REPLACE INTO renders VALUES (?,?,?,?,?)",
                             (source, image_hash, effective_dpi, width, height))

    # ---- export ---------------------------------------------------------------------------------

    def to_dataframe(self, run_id: int | None = None, profile: str = "markdown"):
        """Every stored result as rows, scored under ``profile`` (see ``sweep.to_dataframe``)."""
        from .sweep import results_to_dataframe

        return results_to_dataframe(self.results(run_id), profile=profile)

    def to_parquet(self, path: str | Path, run_id: int | None = None, profile: str = "markdown") -> Path:
        path = Path(path)
        frame = self.to_dataframe(run_id, profile)
        frame.drop(columns=["params"], errors="ignore").to_parquet(path, index=False)
        return path

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]


def _to_result(row: sqlite3.Row) -> Result:
    values = {c: row[c] for c in _COLUMNS}
    values["params"] = json.loads(values["params"] or "{}")
    return Result(**values)
