"""Shared fixtures: the packaged DGN database is loaded once per test session; virtual CAN channels."""

from __future__ import annotations

import pytest

from coachiq.rvc.codec import Codec
from coachiq.rvc.spec import SpecDatabase
from coachiq.rvc.spec_load import load_database
from tests.can.conftest import channel as channel
from tests.can.conftest import peer as peer


@pytest.fixture(scope="session")
def db() -> SpecDatabase:
    """The packaged DGN database."""
    return load_database()


@pytest.fixture(scope="session")
def codec(db: SpecDatabase) -> Codec:
    """A codec over the packaged database."""
    return Codec(db)
