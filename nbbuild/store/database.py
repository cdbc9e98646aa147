"""The course's SQLite store, kept outside the output folder (``COURSE/.nbbuild``).

It holds, per course:

* ``notebooks``: the last build of each notebook: the source's stat and digest,
  the parts of its execution and export keys (so a plan can say *why* it is
  stale), its outputs and status. Failed notebooks are recorded as failed, so the
  next build runs them again.
* ``executions``: executed code-cell outputs, addressed by execution key, with
  ``dependencies``: the fingerprint of every course file that execution read.
* ``notebook_runs``: run times, so the next build starts the longest first.
* ``builds``: every build's figures (its JSON report), for ``nbbuild report``
  and the warning when a build is much slower than comparable ones.

Only the build process writes it, under the build lock. A store that cannot be
opened is reported, with ``nbbuild cache clear`` as the way out.

The schema version is kept in ``PRAGMA user_version``; ``MIGRATIONS[n]`` brings a
database from version ``n`` to ``n + 1``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from nbbuild.errors import NbbuildError
from nbbuild.store.schema import DB_NAME, MIGRATIONS, SCHEMA_VERSION, expected_columns


class Fingerprint(NamedTuple):
    """A file as last seen: course-relative path, mtime, size, sha256."""

    path: str
    mtime_ns: int
    size: int
    digest: str


@dataclass
class NotebookRecord:
    """What the store knows of one notebook's last build."""

    source: str
    src_mtime_ns: int
    src_size: int
    src_digest: str
    title: str
    exec_parts: dict[str, Any]
    exec_key: str
    export_parts: dict[str, Any]
    outputs: dict[str, str] = field(default_factory=dict)
    status: str = "built"


class BuildRow(NamedTuple):
    """One earlier build: id, Unix time, comparability key, wall seconds, summary."""

    id: int
    created: float
    comparable: str
    wall: float
    summary: dict[str, Any]


class StoreError(NbbuildError):
    """The store cannot be opened, read, or is from a newer nbbuild."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; `nbbuild cache clear` removes it")


def _timed(method):
    """Add the wall time of a database operation to ``self.seconds``."""

    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - began

    return timed


class Store:
    """One course's database. A context manager; ``close`` is idempotent.

    ``seconds`` is the wall time spent in database operations so far, so a
    build can report it as its own figure.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / DB_NAME
        self.seconds = 0.0
        #: Set once the file was found deleted or replaced (``check_present``).
        self.gone = False
        began = time.perf_counter()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(self.path, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode, NORMAL syncs at checkpoints, not at every commit: still
            # never corrupt; a power cut may lose the last records, which only
            # means rebuilding those notebooks. FULL cost ~7 ms per notebook.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._identity = _identity(self.path)
        except StoreError:
            self.close()
            raise
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"{self.path}: cannot be used ({exc})") from None
        finally:
            self.seconds += time.perf_counter() - began

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()

    def check_present(self) -> None:
        """Raise ``StoreError`` if the database file was deleted or replaced since it
        was opened: records written to a deleted file would be silently lost."""
        if self.gone or _identity(self.path) != self._identity:
            self.gone = True
            raise StoreError(f"{self.path} was deleted or replaced during the build, so this "
                             "build's records are not kept (the next build does the work again)")

    def _migrate(self) -> None:
        assert self._db is not None
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer nbbuild (schema {version}, this one "
                f"knows {SCHEMA_VERSION})"
            )
        with self._db:
            for step in range(version, SCHEMA_VERSION):
                self._db.executescript(MIGRATIONS[step])
                self._db.execute(f"PRAGMA user_version = {step + 1}")
        self._verify()

    def _verify(self) -> None:
        """The tables and columns this version reads must be there: a database with
        the right version and the wrong tables is damaged, not a crash later."""
        assert self._db is not None
        for table, columns in expected_columns().items():
            found = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if not found:
                raise StoreError(f"{self.path} is damaged: table {table} is missing")
            missing = sorted(columns - found)
            if missing:
                raise StoreError(
                    f"{self.path} is damaged: table {table} lacks {', '.join(missing)}")

    # -- the build cache ------------------------------------------------------

    @_timed
    def notebook(self, source: str) -> NotebookRecord | None:
        assert self._db is not None
        row = self._db.execute(
            "SELECT source, src_mtime_ns, src_size, src_digest, title, exec_parts, exec_key,"
            " export_parts, outputs, status FROM notebooks WHERE source = ?",
            (source,),
        ).fetchone()
        if row is None:
            return None
        return NotebookRecord(
            source=row[0],
            src_mtime_ns=row[1],
            src_size=row[2],
            src_digest=row[3],
            title=row[4],
            exec_parts=json.loads(row[5]),
            exec_key=row[6],
            export_parts=json.loads(row[7]),
            outputs=json.loads(row[8]),
            status=row[9],
        )

    @_timed
    def execution(self, key: str) -> dict[str, Any] | None:
        assert self._db is not None
        row = self._db.execute("SELECT payload FROM executions WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(zlib.decompress(row[0]))

    @_timed
    def dependencies(self, key: str) -> list[Fingerprint]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT path, mtime_ns, size, digest FROM dependencies WHERE key = ? ORDER BY path",
            (key,),
        )
        return [Fingerprint(*row) for row in rows]

    @_timed
    def forget(self, source: str) -> None:
        """Drop what is known of a notebook that is gone (its executions stay: they
        are content-addressed, and a renamed notebook finds its own again)."""
        assert self._db is not None
        with self._db:
            self._db.execute("DELETE FROM notebooks WHERE source = ?", (source,))
            self._db.execute("DELETE FROM notebook_runs WHERE source = ?", (source,))

    @_timed
    def dependents(self, paths: Iterable[str]) -> set[str]:
        """Sources (store keys) whose recorded execution read any of ``paths``."""
        assert self._db is not None
        found: set[str] = set()
        for path in paths:
            rows = self._db.execute(
                "SELECT n.source FROM notebooks n JOIN dependencies d ON d.key = n.exec_key "
                "OR d.key = 'failed:' || n.exec_key WHERE d.path = ?",
                (path,),
            )
            found.update(row[0] for row in rows)
        return found

    @_timed
    def record_notebook(
        self,
        record: NotebookRecord,
        execution: tuple[dict[str, Any], list[Fingerprint]] | None = None,
        execution_key: str | None = None,
    ) -> None:
        """Record one notebook's build, and its new execution if it ran (under
        ``execution_key``, by default the record's); one transaction."""
        assert self._db is not None
        self.check_present()
        now = time.time()
        key = execution_key or record.exec_key
        with self._db:
            if execution is not None:
                payload, fingerprints = execution
                blob = zlib.compress(json.dumps(payload).encode("utf-8"))
                self._db.execute(
                    "INSERT OR REPLACE INTO executions (key, payload, created) VALUES (?, ?, ?)",
                    (key, blob, now),
                )
                self._db.execute("DELETE FROM dependencies WHERE key = ?", (key,))
                self._db.executemany(
                    "INSERT INTO dependencies (key, path, mtime_ns, size, digest)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(key, *fp) for fp in fingerprints],
                )
            self._db.execute(
                "INSERT OR REPLACE INTO notebooks (source, src_mtime_ns, src_size, src_digest,"
                " title, exec_parts, exec_key, export_parts, outputs, status, built_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.source,
                    record.src_mtime_ns,
                    record.src_size,
                    record.src_digest,
                    record.title,
                    json.dumps(record.exec_parts, sort_keys=True),
                    record.exec_key,
                    json.dumps(record.export_parts, sort_keys=True),
                    json.dumps(record.outputs, sort_keys=True),
                    record.status,
                    now,
                ),
            )

    # -- build history -------------------------------------------------------

    @_timed
    def record_build(self, comparable: str, report: dict[str, Any]) -> None:
        assert self._db is not None
        self.check_present()
        summary = {k: report[k] for k in ("workers", "counts", "cpu_seconds", "database_seconds")}
        blob = zlib.compress(json.dumps(report).encode("utf-8"))
        with self._db:
            self._db.execute(
                "INSERT INTO builds (created, comparable, wall, summary, report)"
                " VALUES (?, ?, ?, ?, ?)",
                (time.time(), comparable, report["wall_seconds"], json.dumps(summary), blob),
            )

    @_timed
    def builds(self, limit: int, comparable: str | None = None) -> list[BuildRow]:
        """The last ``limit`` builds (newest first), optionally only comparable ones."""
        assert self._db is not None
        query = "SELECT id, created, comparable, wall, summary FROM builds"
        args: tuple = ()
        if comparable is not None:
            query += " WHERE comparable = ?"
            args = (comparable,)
        rows = self._db.execute(query + " ORDER BY id DESC LIMIT ?", (*args, limit))
        return [BuildRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    @_timed
    def build_report(self, build_id: int) -> dict[str, Any]:
        assert self._db is not None
        row = self._db.execute("SELECT report FROM builds WHERE id = ?", (build_id,)).fetchone()
        return json.loads(zlib.decompress(row[0]))

    # -- run times -----------------------------------------------------------

    @_timed
    def durations(self, sources: Iterable[str]) -> dict[str, float]:
        """Last known run time of each of ``sources`` that has one."""
        assert self._db is not None
        wanted = set(sources)
        rows = self._db.execute("SELECT source, seconds FROM notebook_runs")
        return {source: seconds for source, seconds in rows if source in wanted}

    @_timed
    def record_runs(self, runs: Mapping[str, tuple[float, str]]) -> None:
        """Remember ``{source: (seconds, status)}`` of this build's notebooks."""
        assert self._db is not None
        self.check_present()
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT INTO notebook_runs (source, seconds, status, built_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET "
                "seconds = excluded.seconds, status = excluded.status, "
                "built_at = excluded.built_at",
                [(s, secs, status, now) for s, (secs, status) in runs.items()],
            )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def store_info(directory: Path) -> dict[str, object]:
    """What ``nbbuild cache info`` shows; never raises for a damaged database."""
    path = directory / DB_NAME
    info: dict[str, object] = {"path": str(path), "exists": path.exists()}
    if not path.exists():
        return info
    files = [p for p in directory.glob(DB_NAME + "*") if p.is_file()]
    info["bytes"] = sum(p.stat().st_size for p in files)
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            info["schema"] = db.execute("PRAGMA user_version").fetchone()[0]
            info["notebooks"] = db.execute("SELECT COUNT(*) FROM notebook_runs").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error as exc:
        info["error"] = str(exc)
    return info


def clear_store(directory: Path) -> list[Path]:
    """Delete the database (and its WAL files), however damaged; the removed files."""
    removed = []
    for path in sorted(directory.glob(DB_NAME + "*")):
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed
