"""The read-only HTTP API (FastAPI): ``create_app`` builds it over the store the settings name."""

from __future__ import annotations

from tiktrend.api.app import create_app

__all__ = ["create_app"]
