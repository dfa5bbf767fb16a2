"""Shared fixtures: real DuckDB files and data directories under pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_file() -> Callable[[str], Path]:
    """A file of the shared real samples, or a skip that says where it was expected."""

    def find(name: str) -> Path:
        path = SHARED_DATA / name
        if not path.exists():
            pytest.skip(f"shared sample {path} is not present (it sits beside the repository)")
        return path

    return find


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def store(settings: Settings) -> Iterator[DuckDBStore]:
    with DuckDBStore(settings.database_url) as opened:
        yield opened
