"""Fixtures shared by the whole suite: configuration, and real databases.

PostgreSQL comes from ``tests/harness/postgres.py``: the server named by
``LIFECYCLE_TEST_POSTGRES_URL`` when that is set, otherwise a throwaway server started
once per session. A server that cannot be had makes the tests that need it fail (the
harness raises); nothing here skips.

Hypothesis profiles: ``default`` keeps the suite's example counts bounded;
``HYPOTHESIS_PROFILE=long`` tries twenty times more examples in the tests that size their
budget with ``tests.support.hypothesis_budget`` (the fuzz tests) and 2,000 in the others.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from lifecycle.scoring import ScoringConfig, load_scoring
from lifecycle.templates import TemplateRegistry, load_templates
from tests.harness.postgres import fresh_database, postgres_server

settings.register_profile("long", max_examples=2_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _no_lifecycle_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read ``LIFECYCLE_*``: a developer's shell must not change test results."""
    for name in list(os.environ):
        if name.startswith("LIFECYCLE_") and not name.startswith("LIFECYCLE_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def templates() -> TemplateRegistry:
    return load_templates()


@pytest.fixture(scope="session")
def scoring() -> ScoringConfig:
    return load_scoring()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Base URL of a PostgreSQL server for this session."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg_database_url(postgres_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    with fresh_database(postgres_url) as url:
        yield url


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lifecycle.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.integration),
        pytest.param("postgres", marks=[pytest.mark.integration, pytest.mark.postgres]),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each backend the engine supports."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_database_url")
    else:
        url = request.getfixturevalue("sqlite_database_url")
    return url
