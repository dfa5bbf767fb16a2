"""Named parameters of the read-only queries both backends run: ``$name`` in the text, values bound, never pasted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

_NAME: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def used(statement: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parameters a statement names (DuckDB refuses values it was given but does not use)."""
    if not params:
        return {}
    names = set(_NAME.findall(statement))
    missing = names - set(params)
    if missing:
        raise ValueError(f"the query needs parameters it was not given: {', '.join(sorted(missing))}")
    return {name: value for name, value in params.items() if name in names}


def to_pyformat(statement: str) -> str:
    """``$name`` as psycopg's ``%(name)s`` (a literal ``%`` doubled)."""
    return _NAME.sub(r"%(\1)s", statement.replace("%", "%%"))
