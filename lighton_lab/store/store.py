"""The result store: one SQLite file that survives kernel restarts, kills, reruns and upgrades.

Results are keyed by content: the hash of (rendered image pixels, served model id, request parameters).
The same page at the same settings is never paid for twice, whichever sweep asked first, and a sweep
that is interrupted (Stop button, KeyboardInterrupt, kernel restart, ``kill -9``) loses at most the
requests that were in flight: every finished request is committed on its own, in WAL mode.

Failed requests are stored too (with ``error`` set) so a report can show them, but they do not count
as done: the next run asks again. Scores are not stored: they are recomputed from the stored text and
the reference under whatever normalisation the analysis asks for (``frames``).

Tables: ``meta`` (``schema_version``), ``runs`` (grid, endpoints without secrets, package versions,
start/end, notes), ``results`` (one row per key; its columns are the fields of ``Result``, the one
definition), ``renders`` (page source + DPI + cap -> image hash, so a resumed sweep need not re-render).

Upgrades: a file written by an older version is copied to ``NAME.bak-vN`` and then migrated in place,
in one transaction, by the ordered ``MIGRATIONS`` (columns added with defaults, back-filled where the
stored data says what they should be). A file written by a newer version is refused, untouched.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from lighton_lab.config import store_path
from lighton_lab.errors import StoreError
from lighton_lab.render import RenderedPage
from lighton_lab.store.schema import COLUMNS, MIGRATIONS, SCHEMA_VERSION, TABLES, Result

_JSON_COLUMNS = ("grid", "endpoints", "versions", "notes", "provenance")


class Store:
    """``Store(path)``: open (or create, or upgrade) a result store. Safe to use from one thread at a time
    per connection; the sweep writes from its event-loop thread while widgets read from another."""

    def __init__(self, path: str | Path | None = None):
        self.path = store_path(path)
        if self.path.is_dir():
            raise StoreError(
                f"{self.path.resolve()} is a folder: give the store a file name, e.g. {self.path}/lab.sqlite"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of the store {self.path}: {exc.strerror}") from None
        self._local = threading.local()
        self.upgraded_from: int | None = None  # the version an upgrade started from, when one ran
        self._open()

    def _open(self) -> None:
        try:
            db = self._conn()
            version = _stored_version(db)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(
                f"{self.path.resolve()} is not a result store ({exc}): point --store at a .sqlite file that a "
                "sweep wrote, or at a new name to start one"
            ) from None
        if version is None:  # a new file
            db.executescript(TABLES)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            return
        if version > SCHEMA_VERSION:
            self.close()
            raise StoreError(
                f"{self.path} was written by a newer lighton-lab (store schema {version}; this version "
                f"reads up to {SCHEMA_VERSION}). Upgrade lighton-lab (pip install -U lighton-lab) to "
                "open it; the file was not changed."
            )
        if version < SCHEMA_VERSION:
            self._upgrade(db, version)

    def _upgrade(self, db: sqlite3.Connection, version: int) -> None:
        """Copy the file to NAME.bak-vN (SQLite's online backup: consistent under WAL), then migrate."""
        backup = self.path.with_name(f"{self.path.name}.bak-v{version}")
        if not backup.exists():
            target = sqlite3.connect(backup)
            with target:
                db.backup(target)
            target.close()
        try:
            db.execute("BEGIN IMMEDIATE")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](db)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.upgraded_from = version

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

    @property
    def schema_version(self) -> int:
        return _stored_version(self._conn()) or SCHEMA_VERSION

    # ---- runs -----------------------------------------------------------------------------------

    def start_run(
        self,
        name: str,
        kind: str,
        corpus: str,
        grid: dict,
        endpoints: dict,
        versions: dict,
        provenance: dict | None = None,
    ) -> int:
        cur = self._conn().execute(
            "INSERT INTO runs (name, kind, started, status, corpus, grid, endpoints, versions, provenance) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (
                name,
                kind,
                time.time(),
                "running",
                corpus,
                json.dumps(grid, default=str),
                json.dumps(endpoints, default=str),
                json.dumps(versions),
                json.dumps(provenance or {}, default=str),
            ),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished", notes: dict | None = None) -> None:
        self._conn().execute(
            "UPDATE runs SET finished = ?, status = ?, notes = ? WHERE id = ?",
            (time.time(), status, json.dumps(notes or {}, default=str), run_id),
        )

    def runs(self):
        import pandas as pd

        return pd.read_sql_query("SELECT * FROM runs ORDER BY id", self._conn())

    def runs_of(self, kind: str) -> list[dict]:
        """Finished runs of one kind ("sweep", "bench"), newest first, JSON columns decoded."""
        ids = [
            r[0]
            for r in self._conn().execute(
                "SELECT id FROM runs WHERE kind = ? AND status = 'finished' ORDER BY id DESC", (kind,)
            )
        ]
        return [self.run(i) for i in ids]

    def run(self, run_id: int) -> dict:
        """One run with its JSON columns decoded (grid, endpoints, versions, notes, provenance)."""
        row = self._conn().execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path} has no run {run_id}: see Store.runs() for the ones it has")
        return {
            k: (json.loads(row[k]) if k in _JSON_COLUMNS and row[k] else row[k])
            for k in row.keys()  # noqa: SIM118 (a sqlite3.Row is not a dict)
        }

    # ---- results --------------------------------------------------------------------------------

    def put(self, result: Result) -> None:
        """Insert or replace one result and commit it (autocommit: one transaction per row)."""
        row = asdict(result)
        row["params"] = json.dumps(row["params"], sort_keys=True)
        placeholders = ",".join("?" for _ in COLUMNS)
        self._conn().execute(
            f"INSERT OR REPLACE INTO results ({','.join(COLUMNS)}) VALUES ({placeholders})",
            [row[c] for c in COLUMNS],
        )

    def get(self, key: str) -> Result | None:
        row = self._conn().execute("SELECT * FROM results WHERE key = ?", (key,)).fetchone()
        return _to_result(row) if row else None

    def get_many(self, keys: list[str]) -> dict[str, Result]:
        found: dict[str, Result] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
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
        return [
            _to_result(r) for r in self._conn().execute(sql + " ORDER BY document, page, model, key", args)
        ]

    # ---- leases: a request is claimed before it is sent -------------------------------------------------

    def claim(self, key: str, owner: str, ttl_s: float) -> str | None:
        """Claim ``key`` for ``owner`` for ``ttl_s`` seconds, unless another owner's lease is still live.
        Returns None when the claim is ours, else the other owner (whose answer to wait for)."""
        now = time.time()
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")  # one writer at a time: two sweeps cannot both win the same key
        try:
            row = db.execute("SELECT owner, expires FROM leases WHERE key = ?", (key,)).fetchone()
            if row is not None and row["owner"] != owner and _live(row["owner"], row["expires"], now):
                db.execute("COMMIT")
                return row["owner"]
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?)", (key, owner, now + ttl_s))
            db.execute("COMMIT")
            return None
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def renew(self, keys: list[str], owner: str, ttl_s: float) -> None:
        """Push the expiry of ``owner``'s live leases on ``keys`` (a request still in flight)."""
        expires = time.time() + ttl_s
        self._conn().executemany(
            "UPDATE leases SET expires = ? WHERE key = ? AND owner = ?", [(expires, k, owner) for k in keys]
        )

    def release(self, key: str, owner: str) -> None:
        self._conn().execute("DELETE FROM leases WHERE key = ? AND owner = ?", (key, owner))

    def leases(self, live: bool = True) -> int:
        """How many requests are claimed right now (``live``) or at all (expired claims of a crashed sweep)."""
        sql = "SELECT COUNT(*) FROM leases" + (" WHERE expires > ?" if live else "")
        return self._conn().execute(sql, (time.time(),) if live else ()).fetchone()[0]

    def live_owner(self, key: str) -> str | None:
        """Who holds a live claim on ``key`` (None: nobody, or a claim that lapsed or whose sweep died)."""
        row = self._conn().execute("SELECT owner, expires FROM leases WHERE key = ?", (key,)).fetchone()
        return row["owner"] if row and _live(row["owner"], row["expires"], time.time()) else None

    # ---- render cache ---------------------------------------------------------------------------

    def render_of(self, source: str) -> RenderedPage | None:
        """The cached render of a page source (file, page, DPI, cap, format), without its image, or None."""
        row = (
            self._conn()
            .execute(
                "SELECT image_hash, effective_dpi, width, height FROM renders WHERE source = ?", (source,)
            )
            .fetchone()
        )
        return RenderedPage(*row) if row else None

    def put_render(self, source: str, render: RenderedPage) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO renders VALUES (?,?,?,?,?)",
            (source, render.image_hash, render.effective_dpi, render.width, render.height),
        )

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]


def _stored_version(db: sqlite3.Connection) -> int | None:
    """The file's schema version; None for a new (empty) file."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            return int(row[0])
    return 1 if "results" in tables else None  # results without a version: the first schema


def _to_result(row: sqlite3.Row) -> Result:
    keys = set(row.keys())
    values = {c: row[c] for c in COLUMNS if c in keys}
    values["params"] = json.loads(values["params"] or "{}")
    return Result(**values)


def lease_owner() -> str:
    """A sweep's name in the leases table: host, process id and a random part (two sweeps in one process)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _live(owner: str, expires: float, now: float) -> bool:
    """A claim holds until it expires, or until its sweep is seen dead: a sweep killed on this machine
    (``kill -9``, a crashed kernel) frees its claims at once instead of after the lease time. Another
    machine's sweeps cannot be seen, so theirs hold until they expire."""
    if expires <= now:
        return False
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
