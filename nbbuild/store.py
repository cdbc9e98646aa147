"""The course's SQLite store, kept outside the output folder (``COURSE/.nbbuild``).

For now it remembers how long each notebook took, so the next build can start the
longest notebooks first (a long notebook started last would otherwise run alone at
the end while the other workers sit idle). This history is only a scheduling hint:
a store that cannot be opened or read is reported and ignored, never fatal.

The schema version is kept in ``PRAGMA user_version``; ``_MIGRATIONS[n]`` brings a
database from version ``n`` to ``n + 1``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import NbbuildError

DB_NAME = "nbbuild.db"

_MIGRATIONS = [
    # 0 -> 1
    """
    CREATE TABLE notebook_runs (
        source   TEXT PRIMARY KEY,   -- path relative to the course, '/'-separated
        seconds  REAL NOT NULL,      -- execute + export wall time of the last run
        status   TEXT NOT NULL,
        built_at REAL NOT NULL       -- Unix time
    );
    """,
]
SCHEMA_VERSION = len(_MIGRATIONS)


class StoreError(NbbuildError):
    """The store cannot be opened, read, or is from a newer nbbuild."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; `nbbuild cache clear` removes it")


class Store:
    """One course's database. A context manager; ``close`` is idempotent."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / DB_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(self.path, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(f"{self.path}: cannot be used ({exc})") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        db, self._db = getattr(self, "_db", None), None
        if db is not None:
            db.close()

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
                self._db.executescript(_MIGRATIONS[step])
                self._db.execute(f"PRAGMA user_version = {step + 1}")

    def durations(self, sources: Iterable[str]) -> dict[str, float]:
        """Last known run time of each of ``sources`` that has one."""
        assert self._db is not None
        wanted = set(sources)
        rows = self._db.execute("SELECT source, seconds FROM notebook_runs")
        return {source: seconds for source, seconds in rows if source in wanted}

    def record_runs(self, runs: Mapping[str, tuple[float, str]]) -> None:
        """Remember ``{source: (seconds, status)}`` of this build's notebooks."""
        assert self._db is not None
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT INTO notebook_runs (source, seconds, status, built_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(source) DO UPDATE SET "
                "seconds = excluded.seconds, status = excluded.status, "
                "built_at = excluded.built_at",
                [(s, secs, status, now) for s, (secs, status) in runs.items()],
            )


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
