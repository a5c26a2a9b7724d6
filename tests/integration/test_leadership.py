"""Leadership on a real PostgreSQL: one worker of a database leads (relays, runs the
policies) at a time; it keeps the lead while its session lives, and another worker
takes over once it closes or its connection dies."""

from __future__ import annotations

import psycopg
import pytest

from streams.leadership import Leadership

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_one_worker_leads_and_another_takes_over_when_it_stops(pg_database_url: str) -> None:
    first, second = Leadership(pg_database_url), Leadership(pg_database_url)
    try:
        assert first.is_leader()
        assert first.is_leader()  # asking again keeps the lead
        assert not second.is_leader()
        first.close()
        assert second.is_leader()
        assert not first.is_leader()  # a new session: the lead is taken
    finally:
        first.close()
        second.close()


def test_a_leader_whose_connection_died_loses_the_lead(pg_database_url: str) -> None:
    first, second = Leadership(pg_database_url), Leadership(pg_database_url)
    try:
        assert first.is_leader()
        session = first._lease._conn  # type: ignore[attr-defined]  # the adapter's own
        assert session is not None
        pid = session.info.backend_pid
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert second.is_leader()
    finally:
        first.close()
        second.close()


def test_workers_of_other_keys_do_not_compete(pg_database_url: str) -> None:
    first, other = Leadership(pg_database_url), Leadership(pg_database_url, key=42)
    try:
        assert first.is_leader()
        assert other.is_leader()
    finally:
        first.close()
        other.close()
