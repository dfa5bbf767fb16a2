"""Property-based fuzzing of the API's own OpenAPI schema (schemathesis): no input makes it answer 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from filled_stores import Filled, filled_stores
from tiktrend.api import create_app
from tiktrend.query import open_reader
from tiktrend.settings import Settings

EXAMPLES = 15  # per operation: reaches every parameter's edges, keeps the suite fast


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[schemathesis.schemas.BaseSchema]:
    filled: Filled = filled_stores(tmp_path_factory, pg_database)
    reader = open_reader(filled.duckdb)
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(Settings(data_dir=tmp, database_url=filled.duckdb, reports_dir=tmp), reader=reader)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    reader.close()


def test_no_input_makes_the_api_fail(api_schema: schemathesis.schemas.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
