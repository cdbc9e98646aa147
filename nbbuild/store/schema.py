"""The store's tables, in one place: each migration brings a database from version
``n`` to ``n + 1`` (``PRAGMA user_version``), and the columns this version reads.
"""

from __future__ import annotations

import functools
import sqlite3

DB_NAME = "nbbuild.db"


MIGRATIONS = [
    # 0 -> 1
    """
    CREATE TABLE notebook_runs (
        source   TEXT PRIMARY KEY,   -- path relative to the course, '/'-separated
        seconds  REAL NOT NULL,      -- execute + export wall time of the last run
        status   TEXT NOT NULL,
        built_at REAL NOT NULL       -- Unix time
    );
    """,
    # 1 -> 2: the build cache
    """
    CREATE TABLE notebooks (
        source       TEXT PRIMARY KEY,
        src_mtime_ns INTEGER NOT NULL,
        src_size     INTEGER NOT NULL,
        src_digest   TEXT NOT NULL,
        title        TEXT NOT NULL,
        exec_parts   TEXT NOT NULL,   -- JSON: what the execution key covers
        exec_key     TEXT NOT NULL,
        export_parts TEXT NOT NULL,   -- JSON: what the export key covers
        outputs      TEXT NOT NULL,   -- JSON: {format: path relative to the output folder}
        status       TEXT NOT NULL,   -- built | failed | errored
        built_at     REAL NOT NULL
    );
    CREATE TABLE executions (
        key     TEXT PRIMARY KEY,     -- execution key
        payload BLOB NOT NULL,        -- zlib-compressed JSON: code cells' outputs
        created REAL NOT NULL
    );
    CREATE TABLE dependencies (
        key      TEXT NOT NULL,       -- execution key
        path     TEXT NOT NULL,       -- course-relative
        mtime_ns INTEGER NOT NULL,
        size     INTEGER NOT NULL,
        digest   TEXT NOT NULL,
        PRIMARY KEY (key, path)
    );
    """,
    # 2 -> 3: every build's figures
    """
    CREATE TABLE builds (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        created     REAL NOT NULL,
        comparable  TEXT NOT NULL,    -- builds with the same key can be compared
        wall        REAL NOT NULL,
        summary     TEXT NOT NULL,    -- JSON: counts, workers, cpu, database time
        report      BLOB NOT NULL     -- zlib-compressed JSON build report
    );
    """,
]


SCHEMA_VERSION = len(MIGRATIONS)


@functools.cache
def expected_columns() -> dict[str, set[str]]:
    """Every table's columns, as the migrations create them."""
    db = sqlite3.connect(":memory:")
    try:
        for script in MIGRATIONS:
            db.executescript(script)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")}
                for t in tables if not t.startswith("sqlite_")}
    finally:
        db.close()
