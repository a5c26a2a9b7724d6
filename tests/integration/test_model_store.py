"""The learned models' table (:class:`~lifecycle.adapters.protocol.ModelStore`) on a real
SQLite file and a real PostgreSQL database, through :func:`lifecycle.adapters.adapter_for`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from lifecycle.adapters import adapter_for
from lifecycle.adapters.protocol import ModelStore

T = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def models(database_url: str) -> ModelStore:
    return adapter_for(database_url).model_store()


def test_an_empty_store_has_no_model(models: ModelStore) -> None:
    assert models.rows() == []
    assert models.get("0123456789abcdef") is None
    assert models.active_id() is None


def test_put_stores_once_and_gives_the_bytes_back(models: ModelStore) -> None:
    data = bytes(range(256)) * 40  # every byte value, NUL included
    assert models.put("aaaa000011112222", "aaaa0000" * 8, T, T + timedelta(seconds=1), data)
    assert not models.put("aaaa000011112222", "ffff" * 16, T, T, b"other")  # nothing changes
    assert models.get("aaaa000011112222") == ("aaaa0000" * 8, data)
    [row] = models.rows()
    assert row == ("aaaa000011112222", "aaaa0000" * 8, T, T + timedelta(seconds=1), False, data)


def test_rows_are_oldest_first_with_times_in_utc(models: ModelStore) -> None:
    paris = timezone(timedelta(hours=2))
    models.put("b" * 16, "b" * 64, T, T + timedelta(hours=1), b"b")
    models.put("a" * 16, "a" * 64, T, (T + timedelta(hours=2)).astimezone(paris), b"a")
    rows = models.rows()
    assert [r[0] for r in rows] == ["b" * 16, "a" * 16]  # by stored_at, not by id
    assert rows[1][3] == T + timedelta(hours=2)


def test_activate_keeps_one_active_model(models: ModelStore) -> None:
    for name in "abc":
        models.put(name * 16, name * 64, T, T, name.encode())
    models.activate("a" * 16)
    assert models.active_id() == "a" * 16
    models.activate("c" * 16)
    assert models.active_id() == "c" * 16
    assert [r[4] for r in models.rows()] == [False, False, True]
    models.activate(None)
    assert models.active_id() is None
    assert not any(r[4] for r in models.rows())


def test_activating_an_unknown_id_changes_nothing(models: ModelStore) -> None:
    models.put("a" * 16, "a" * 64, T, T, b"a")
    models.activate("a" * 16)
    with pytest.raises(LookupError, match="no model 'zzzz'"):
        models.activate("zzzz")
    assert models.active_id() == "a" * 16  # the clearing was rolled back


def test_racing_activations_leave_exactly_one_active(database_url: str) -> None:
    store = adapter_for(database_url).model_store()
    names = "abcdef"
    for name in names:
        store.put(name * 16, name * 64, T, T, name.encode())
    store.active_id()  # the table exists before the threads' stores open it

    def activate(name: str) -> None:
        adapter_for(database_url).model_store().activate(name * 16)

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(activate, names * 3))
    assert sum(r[4] for r in store.rows()) == 1
    assert store.active_id() in {name * 16 for name in names}


def test_a_second_store_of_the_same_database_sees_the_models(database_url: str) -> None:
    first = adapter_for(database_url).model_store()
    first.put("a" * 16, "a" * 64, T, T, b"\x00artifact")
    first.activate("a" * 16)
    second = adapter_for(database_url).model_store()
    assert second.get("a" * 16) == ("a" * 64, b"\x00artifact")
    assert second.active_id() == "a" * 16
