"""One settings object, read from ``TIKTREND_*`` environment variables (and ``.env``) at the edge."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about a tiktrend deployment; algorithms never read this directly."""

    model_config = SettingsConfigDict(env_prefix="TIKTREND_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Root of the raw zone, quarantine and simulator output.")
    database_url: str = Field(
        default="",
        description="duckdb:///path/file.duckdb (default: <data_dir>/tiktrend.duckdb) or postgresql://...",
    )
    chunk_size: int = Field(default=20_000, ge=1, description="Records normalized and loaded per batch chunk.")
    max_caption_chars: int = Field(default=10_000, ge=1, description="Longer captions are quarantined as oversized.")
    # Extraction (extract/): optional heavy models, all local, none downloaded at run time.
    embed_model_path: Path | None = Field(
        default=None, description="Local sentence-transformers model for keyword merges (default: the bundled MiniLM)."
    )
    merge_threshold: float = Field(default=0.9, gt=0, le=1, description="Cosine similarity that merges two keywords.")
    whisper_model_dir: Path | None = Field(default=None, description="Local faster-whisper model; speech-to-text off.")
    spark_master: str = Field(default="local[*]", description="Spark master URL for `tiktrend extract --engine spark`.")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"duckdb:///{self.data_dir / 'tiktrend.duckdb'}"
        return self

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def sim_dir(self) -> Path:
        return self.data_dir / "sim"
