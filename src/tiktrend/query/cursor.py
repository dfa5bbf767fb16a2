"""Opaque, stable cursors for paged trend lists: where the last page ended, and which detections it read."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class CursorError(ValueError):
    """A cursor that was not made by this API for this query."""


def _fingerprint(filters: dict[str, Any]) -> str:
    text = json.dumps(filters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrendCursor:
    """The last row of a page (its sort key) and the time of the latest detection the first page saw."""

    snapshot: datetime
    time_window: str
    detector: str
    rank: int
    keyword: str

    def encode(self, filters: dict[str, Any]) -> str:
        """base64url JSON, bound to the filters of the query it pages through."""
        body = {
            "s": self.snapshot.isoformat(),
            "k": [self.time_window, self.detector, self.rank, self.keyword],
            "f": _fingerprint(filters),
        }
        return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, filters: dict[str, Any]) -> TrendCursor:
        """The cursor in ``text``; CursorError when it is malformed or belongs to other filters."""
        try:
            body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            window, detector, rank, keyword = body["k"]
            cursor = cls(datetime.fromisoformat(body["s"]), str(window), str(detector), int(rank), str(keyword))
            fingerprint = body["f"]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise CursorError("the cursor is not one this API returned: pass next_cursor unchanged") from exc
        if fingerprint != _fingerprint(filters):
            raise CursorError("the cursor belongs to a query with other filters: keep the filters of the first page")
        return cursor
