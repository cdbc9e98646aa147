import sqlite3

import pytest

from nbbuild.store.database import Store, StoreError
from nbbuild.store.schema import SCHEMA_VERSION


def test_run_times_round_trip_and_update(tmp_path):
    with Store(tmp_path / ".nbbuild") as store:
        store.record_runs({"a.ipynb": (1.5, "built"), "b.py": (0.2, "failed")})
        store.record_runs({"a.ipynb": (2.5, "built")})
        assert store.durations(["a.ipynb", "b.py", "new.ipynb"]) == {"a.ipynb": 2.5, "b.py": 0.2}
    with Store(tmp_path / ".nbbuild") as again:  # persisted on disk
        assert again.durations(["a.ipynb"]) == {"a.ipynb": 2.5}


def test_schema_version_and_wal(tmp_path):
    Store(tmp_path).close()
    db = sqlite3.connect(tmp_path / "nbbuild.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    db = sqlite3.connect(tmp_path / "nbbuild.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer nbbuild"):
        Store(tmp_path)


def test_garbage_file_is_a_store_error(tmp_path):
    (tmp_path / "nbbuild.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot be used"):
        Store(tmp_path)


def test_close_is_idempotent(tmp_path):
    store = Store(tmp_path)
    store.close()
    store.close()


def test_time_in_the_database_is_measured(tmp_path):
    with Store(tmp_path) as store:
        opened = store.seconds
        assert opened > 0
        store.record_runs({"a.ipynb": (1.0, "built")})
        store.durations(["a.ipynb"])
        assert store.seconds > opened
