"""Fixtures of the notifications tests: two citizens and a database whose settings name an SMTP
server or an SMS gateway."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from yiwang.core.actor import Actor
from yiwang.core.db import Database
from yiwang.core.settings import Settings

ALICE_ID = "01JALICE000000000000000000"
BOB_ID = "01JBOB00000000000000000000"


@pytest.fixture
def alice() -> Actor:
    return Actor(kind="citizen", user_id=ALICE_ID, username="alice")


@pytest.fixture
def bob() -> Actor:
    return Actor(kind="citizen", user_id=BOB_ID, username="bob")


@pytest.fixture
def db_with(settings: Settings) -> Iterator[Callable[..., Database]]:
    """``db_with(smtp_host=..., ...)``: a Database of the test's database under changed settings."""
    made: list[Database] = []

    def build(**changes: Any) -> Database:
        database = Database(settings.model_copy(update=changes))
        made.append(database)
        return database

    yield build
    for database in made:
        database.dispose()
