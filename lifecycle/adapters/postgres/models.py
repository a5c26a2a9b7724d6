"""The PostgreSQL adapter's model store: learned models on the server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from lifecycle.adapters.base import MODELS_TABLE, ModelTable
from lifecycle.adapters.postgres.events import create_tables

__all__ = ["PostgresModelStore"]


class PostgresModelStore(ModelTable):
    """:class:`~lifecycle.adapters.base.ModelTable` on the server: moments as
    ``TIMESTAMPTZ``, bytes as ``BYTEA``; a write locks the table against other writers
    (readers go on), so two activations run one after the other rather than colliding on
    the one-active index."""

    mark = "%s"
    blob = "BYTEA"
    time = "TIMESTAMPTZ"

    def __init__(self, url: str) -> None:
        self._url = url

    def _connect(self) -> Any:
        return psycopg.connect(self._url, autocommit=True)

    def _create_tables(self, conn: Any) -> None:
        create_tables(conn, self.ddl)

    @contextmanager
    def _write(self, conn: Any) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {MODELS_TABLE} IN SHARE ROW EXCLUSIVE MODE")
            yield cur
